/**
 * The server entry: start-up once, in order, then Next's handler and the object-byte routes on one
 * port. Object PUTs are served here by a plain Node handler, never by Next, because Next's request
 * timeout would cut slow uploads and its proxy layer truncates large bodies.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import next from 'next';

import { type Config, ConfigError, loadConfig } from './config';
import { openDatabase } from './db/client';
import { migrateUnderLock } from './db/migrate';
import { loadEnvFile } from './env-file';
import { ensureTenant } from './jobs';
import { createLogger } from './logger';
import { repairAllProjections } from './manifest';
import { crashPoint } from './crash';
import { InletError } from './errors';
import type { Logger } from './logger';
import { setRuntime, type Runtime } from './runtime';
import { createObjectStore } from './storage/create-store';
import { LocalObjectStore } from './storage/local-store';
import type { ObjectStore } from './storage/object-store';
import { setRetainedBytesLimit } from './storage/multipart-hash';
import { handleObjectRequest } from './storage/object-routes';
import { checkBucket } from './storage/s3-check';
import { S3ObjectStore } from './storage/s3-store';
import { loadSigningSecret } from './storage/signing';
import { startSweeper } from './sweeper';
import { DataPaths } from './workspace';

/** Walks up from this file to the folder with package.json: the app's root in src/ and in dist/. */
function findProjectRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(directory, 'package.json'))) {
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error('Cannot find the project root (package.json) above the server entry.');
    directory = parent;
  }
  return directory;
}

/**
 * Stops start-up when the bucket is missing or unreachable with these credentials, and logs the
 * CORS rule to set when browsers could not PUT parts or read their ETag.
 */
async function checkS3Store(store: S3ObjectStore, config: Config, logger: Logger): Promise<void> {
  const s3 = config.s3!;
  const origin = config.publicUrl === null ? null : new URL(config.publicUrl).origin;
  let check;
  try {
    check = await checkBucket(store, s3, origin);
  } catch (error) {
    if (error instanceof InletError) {
      process.stderr.write(`Inlet cannot use the S3 object store: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  logger.info({ event: 'startup.object_store', bucket: s3.bucket, endpoint: s3.endpoint ?? 'AWS S3', region: s3.region }, `objects are kept in S3 bucket ${s3.bucket}`);
  if (!check.corsOk) {
    logger.warn(
      { event: 'startup.s3_cors_missing', bucket: s3.bucket, reason: check.reason, cors: JSON.parse(check.corsJson) as unknown },
      `Browsers cannot upload to bucket ${s3.bucket}: ${check.reason}. Set this CORS configuration on the bucket (docs/OPERATIONS.md):\n${check.corsJson}`,
    );
  }
}

async function main(): Promise<void> {
  const dev = process.argv.includes('--dev');

  // 1. Configuration: an invalid value stops start-up with a message naming the key.
  const projectRoot = findProjectRoot();
  loadEnvFile(projectRoot);
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel, dev);
  setRetainedBytesLimit(config.hashRetainBytes);
  if (config.testMode) {
    logger.warn({ event: 'startup.test_mode' }, 'INLET_TEST_MODE is on: test-only settings are allowed; never use this in production');
  }

  // 2. Data dir and database, with migrations applied under an exclusive lock.
  const paths = new DataPaths(config.dataDir);
  fs.mkdirSync(config.dataDir, { recursive: true });
  const db = openDatabase(paths.databaseFile);
  await migrateUnderLock(db, config.dataDir, path.join(projectRoot, 'drizzle'));
  ensureTenant(db, 'default', new Date());

  // 3. The signing secret, created once with an exclusive create so that all processes share it,
  //    and the object store, which must be reachable before the server takes requests.
  const signingSecret = loadSigningSecret(config.dataDir);
  const runtime: Runtime = { projectRoot, config, db, logger, paths, store: null as unknown as ObjectStore, signingSecret };
  runtime.store = createObjectStore(config, paths, signingSecret, db, (point) => crashPoint(runtime, point), logger);
  const { store } = runtime;
  if (store instanceof S3ObjectStore) await checkS3Store(store, config, logger);
  setRuntime(runtime);

  const repaired = await repairAllProjections(db, store);
  if (repaired > 0) logger.info({ event: 'startup.projections_repaired', jobs: repaired }, 'rewrote stale manifest.json and job.json files');

  // 4. The sweeper, then the HTTP server.
  const sweeper = startSweeper(runtime);

  const nextApp = next({ dev, dir: projectRoot, hostname: config.hostname, port: config.port, turbopack: dev });
  const handleNext = nextApp.getRequestHandler();
  await nextApp.prepare();

  const server = http.createServer((request, response) => {
    if (request.url?.startsWith('/api/objects/')) {
      if (store instanceof LocalObjectStore) {
        void handleObjectRequest(runtime, store, request, response);
      } else {
        // With S3, signed URLs point at the bucket; nothing is served here.
        response.writeHead(404, { 'content-type': 'text/plain' }).end('Objects are kept in S3; use the signed URL the API returned.\n');
      }
      return;
    }
    handleNext(request, response).catch((error: unknown) => {
      logger.error({ event: 'request.failed', err: error }, 'request failed');
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  // Uploads of large parts over slow links may take longer than Node's default 300 s request
  // timeout, so a request has no total limit. Instead a connection that sends nothing for the idle
  // timeout (60 s) is closed, which also frees the part slot of a client that stalled mid-PUT. The
  // PUT handler then receives a body that ends early and keeps nothing of the part.
  server.requestTimeout = 0;
  server.headersTimeout = config.socketIdleTimeoutMs;
  server.timeout = config.socketIdleTimeoutMs;
  // An idle keep-alive connection must be closed by the keep-alive timeout, which the Keep-Alive
  // header announces to clients. Closing it by the idle timeout would race a client reusing it.
  server.keepAliveTimeout = Math.min(server.keepAliveTimeout, config.socketIdleTimeoutMs / 2);
  server.on('timeout', (socket: Socket) => {
    logger.info(
      { event: 'http.idle_timeout', remoteAddress: socket.remoteAddress, timeoutMs: config.socketIdleTimeoutMs },
      'closed a connection that sent nothing within the idle timeout',
    );
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.hostname, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info(
    { event: 'startup.ready', listenUrl: `http://${config.hostname}:${port}`, dataDir: config.dataDir, openMode: config.openMode, objectStore: config.objectStore },
    `Inlet listening on http://${config.hostname}:${port}`,
  );
  if (config.openMode) {
    logger.info({ event: 'startup.open_mode' }, 'Open mode is on: anyone who can reach this server may create jobs in tenant "default"');
  }

  const shutdown = (signal: string): void => {
    logger.info({ event: 'shutdown', signal }, 'shutting down');
    sweeper.stop();
    server.close(() => {
      db.$client.close();
      process.exit(0);
    });
    server.closeIdleConnections();
    // Open uploads keep connections busy; give them a moment, then stop anyway.
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES') {
    const { address, port } = error as { address?: string; port?: number };
    const reason = code === 'EADDRINUSE' ? 'is already in use' : 'needs privileges this process lacks';
    process.stderr.write(`Inlet failed to start: ${address ?? 'the address'}:${port ?? '?'} ${reason}; set PORT (and HOSTNAME) to another address.\n`);
  } else {
    process.stderr.write(`Inlet failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
});
