// A bare node:http server for bench/upload.ts. It reads every request body, discards it and
// responds 200, so the client's time against it is the floor of an HTTP upload on this machine.
// Prints its port on stdout once it listens on 127.0.0.1.
import http from 'node:http';

const server = http.createServer((request, response) => {
  request.on('data', () => {});
  request.on('end', () => {
    response.writeHead(200, { etag: '"discarded"', 'content-length': 0 });
    response.end();
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
