/**
 * Upload and finalize benchmarks for the embedded store, each a ratio against a baseline measured
 * in the same run on the same machine. Run with `npm run build && node --import tsx bench/upload.ts`
 * (about 2 minutes and 5 GiB of temporary disk; `--size-mib N` changes the large file's size).
 *
 * 1. A multipart upload of the large file (8 MiB parts, 4 in flight, every part's SHA-256 computed
 *    by the client and sent in x-amz-checksum-sha256) from createSession to the receipt, against
 *    `cp` plus `openssl dgst -sha256` of the same file, and against @tus/server 2 with its
 *    FileStore receiving the same bytes as 4 parallel uploads (which hashes nothing). The same
 *    client also sends the parts to a bare node:http server that discards them: the floor of any
 *    HTTP upload with this client on this machine.
 * 2. The finalize call alone after a large and after a 16 MiB upload, multipart and direct, seven
 *    of each in pairs of alternating order on a server that has finalized once before, with the
 *    server's peak RSS growth during finalize.
 * 3. createSession for 2,048 distinct files in 32 jobs from 64 concurrent clients, against a no-op
 *    procedure, in alternating rounds of 256 calls.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { FileStore } from '@tus/file-store';
import { Server as TusServer } from '@tus/server';

import { Api, createJob, type CreatedJob, type DeclaredBundle, type Receipt, type SessionData } from '../test/helpers/api';
import { makeTempDir, startServer, type TestServer } from '../test/helpers/server';

const MIB = 1024 * 1024;
const PART_SIZE = 8 * MIB;
const IN_FLIGHT = 4;
/** Parts above this size are streamed from disk instead of read into memory first. */
const STREAM_ABOVE_BYTES = 64 * MIB;
const sizeArgument = process.argv.indexOf('--size-mib');
const LARGE_MIB = sizeArgument > 0 ? Number(process.argv[sizeArgument + 1]) : 1024;

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function makeFile(directory: string, sizeMib: number): string {
  const file = path.join(directory, `input-${sizeMib}m.csv`);
  const handle = fs.openSync(file, 'w');
  const block = Buffer.from(`id,value\n${'1234567,abcdefghij\n'.repeat(Math.ceil(MIB / 19))}`.slice(0, MIB));
  for (let index = 0; index < sizeMib; index += 1) {
    block.write(randomBytes(8).toString('hex'), 100);
    fs.writeSync(handle, block);
  }
  fs.closeSync(handle);
  return file;
}

/** Reads a part of the file into memory, as a browser slices a File. */
function readPart(file: string, offset: number, length: number): Buffer {
  const handle = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(length);
    fs.readSync(handle, buffer, 0, length, offset);
    return buffer;
  } finally {
    fs.closeSync(handle);
  }
}

/** Keeps one connection per part in flight open across parts, as a browser does. */
const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });

/** PUTs one in-memory part with node:http and returns the status, the ETag and the body. */
function putPart(url: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; etag: string | null; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'PUT', agent, headers: { ...headers, 'content-length': String(body.length) } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => {
        const etag = response.headers.etag;
        resolve({ status: response.statusCode ?? 0, etag: typeof etag === 'string' ? etag : null, text });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

async function runPool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next]!;
        next += 1;
        await work(item);
      }
    }),
  );
}

async function declareSession(api: Api, job: CreatedJob, file: string, role: string): Promise<SessionData> {
  const sizeBytes = fs.statSync(file).size;
  const bundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files: [{ filename: path.basename(file), sizeBytes, role }] }, { token: job.token });
  return api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
}

/** Sends every part with its checksum, 4 in flight, and returns the part list for finalize. */
async function sendParts(api: Api, job: CreatedJob, session: SessionData, file: string): Promise<{ partNumber: number; etag: string }[]> {
  const sizeBytes = fs.statSync(file).size;
  const urls = session.strategy === 'direct' ? [{ partNumber: 1, url: session.url! }] : [...session.parts!];
  if (session.strategy === 'multipart' && urls.length < session.partCount!) {
    // createSession signs the first 100 parts; refreshUrls signs the rest.
    const partNumbers = Array.from({ length: session.partCount! - urls.length }, (_, index) => urls.length + index + 1);
    const refreshed = await api.ok<{ parts: { partNumber: number; url: string }[] }>('mutation', 'uploads.refreshUrls', { uploadSessionId: session.uploadSessionId, partNumbers }, { token: job.token });
    urls.push(...refreshed.parts);
  }
  const partSize = session.strategy === 'direct' ? sizeBytes : session.partSize!;
  const parts: { partNumber: number; etag: string }[] = [];
  await runPool(urls, IN_FLIGHT, async ({ partNumber, url }) => {
    const offset = (partNumber - 1) * partSize;
    const length = Math.min(partSize, sizeBytes - offset);
    if (length > STREAM_ABOVE_BYTES) {
      // A whole-file direct PUT streams from disk (without a checksum header) instead of holding
      // the file in memory, as a browser sends a large File.
      const stream = Readable.toWeb(fs.createReadStream(file, { start: offset, end: offset + length - 1 })) as ReadableStream<Uint8Array>;
      const init: RequestInit & { duplex: 'half' } = { method: 'PUT', body: stream, headers: { 'content-length': String(length) }, duplex: 'half' };
      const response = await fetch(url, init);
      if (response.status !== 200) throw new Error(`PUT ${partNumber} failed: ${response.status} ${await response.text()}`);
      parts.push({ partNumber, etag: response.headers.get('etag')! });
      return;
    }
    const { status, etag, text } = await sendPart(url, file, offset, length);
    if (status !== 200 || etag === null) throw new Error(`PUT ${partNumber} failed: ${status} ${text}`);
    parts.push({ partNumber, etag });
  });
  return parts;
}

/** Reads a part, computes its SHA-256 as the client's checksum, and PUTs it. */
function sendPart(url: string, file: string, offset: number, length: number): ReturnType<typeof putPart> {
  const body = readPart(file, offset, length);
  const checksum = createHash('sha256').update(body).digest('base64');
  return putPart(url, body, { 'x-amz-checksum-sha256': checksum });
}

/**
 * Times the same client (8 MiB parts with checksums, 4 in flight) sending the file to a bare
 * node:http server in its own process, which reads each body and discards it.
 */
async function discardFloor(file: string): Promise<number> {
  const script = fileURLToPath(new URL('./discard-server.mjs', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString('utf8').trim())));
    child.once('exit', (code) => reject(new Error(`discard server exited with ${code}`)));
  });
  try {
    const sizeBytes = fs.statSync(file).size;
    const partNumbers = Array.from({ length: Math.ceil(sizeBytes / PART_SIZE) }, (_, index) => index + 1);
    const start = process.hrtime.bigint();
    await runPool(partNumbers, IN_FLIGHT, async (partNumber) => {
      const offset = (partNumber - 1) * PART_SIZE;
      const { status } = await sendPart(`http://127.0.0.1:${port}/${partNumber}`, file, offset, Math.min(PART_SIZE, sizeBytes - offset));
      if (status !== 200) throw new Error(`discard PUT ${partNumber} failed: ${status}`);
    });
    return seconds(start);
  } finally {
    child.kill();
  }
}

function readRssKib(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
}

/**
 * MiB of the session's parts that the server read back from its data file for the whole-file hash
 * instead of hashing them as they streamed in, from its debug log. Waits for the finalize log line
 * first, so every line logged before it has arrived.
 */
async function readBackMib(server: TestServer, session: SessionData): Promise<number> {
  await server.waitForLog((entry) => entry.event === 'session.finalized' && entry.uploadSessionId === session.uploadSessionId);
  const lines = server.logs.filter((entry) => entry.event === 'hash.part_read_back' && entry.uploadSessionId === session.uploadSessionId);
  return lines.reduce((total, entry) => total + (entry.sizeBytes as number), 0) / MIB;
}

async function finalizeTimed(server: TestServer, api: Api, job: CreatedJob, session: SessionData, parts: { partNumber: number; etag: string }[]): Promise<FinalizeTiming> {
  const pid = server.process.pid!;
  // VmHWM is the peak since the process started. Writing 5 to clear_refs (Linux 4.0 and later)
  // resets it to the current RSS, so the peak read afterwards is the peak during finalize.
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const rssBefore = readRssKib(pid, 'VmRSS');
  const start = process.hrtime.bigint();
  const receipt = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
  const elapsed = seconds(start);
  if (!receipt.success) throw new Error(`finalize failed: ${JSON.stringify(receipt)}`);
  const rssGrowthMib = (readRssKib(pid, 'VmHWM') - rssBefore) / 1024;
  return { seconds: elapsed, rssGrowthMib, readBackMib: session.strategy === 'multipart' ? await readBackMib(server, session) : 0 };
}

type FinalizeTiming = { seconds: number; rssGrowthMib: number; readBackMib: number };

const FINALIZE_RUNS = 7;
const THROUGHPUT_ROUND = 256;

function median(runs: FinalizeTiming[]): FinalizeTiming {
  return [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)]!;
}

/** Uploads a file into a new job and times its finalize call alone. */
async function uploadAndFinalize(server: TestServer, api: Api, file: string): Promise<FinalizeTiming> {
  const job = await createJob(api);
  const session = await declareSession(api, job, file, 'primary_dataset');
  return finalizeTimed(server, api, job, session, await sendParts(api, job, session, file));
}

/**
 * Times finalize after `FINALIZE_RUNS` uploads of each file, in pairs whose order alternates
 * (large then small, small then large, ...), so that neither size always follows the other.
 * `firstLarge` is a large run already measured, which counts as the first pair's large run.
 * The server must have finalized an upload before: the first finalize of a process also pays for
 * loading and compiling its code path, whatever the file's size.
 */
async function finalizePairs(server: TestServer, api: Api, large: string, small: string, firstLarge?: FinalizeTiming): Promise<{ large: FinalizeTiming[]; small: FinalizeTiming[] }> {
  const largeRuns: FinalizeTiming[] = [];
  const smallRuns: FinalizeTiming[] = [];
  for (let run = 0; run < FINALIZE_RUNS; run += 1) {
    if (run % 2 === 0) {
      largeRuns.push(run === 0 && firstLarge ? firstLarge : await uploadAndFinalize(server, api, large));
      smallRuns.push(await uploadAndFinalize(server, api, small));
    } else {
      smallRuns.push(await uploadAndFinalize(server, api, small));
      largeRuns.push(await uploadAndFinalize(server, api, large));
    }
  }
  return { large: largeRuns, small: smallRuns };
}

async function tusBaseline(file: string, directory: string): Promise<number> {
  const storeDir = path.join(directory, 'tus');
  fs.mkdirSync(storeDir);
  const tus = new TusServer({ path: '/files', datastore: new FileStore({ directory: storeDir }) });
  const server = http.createServer((request, response) => void tus.handle(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  const sizeBytes = fs.statSync(file).size;
  const share = Math.ceil(sizeBytes / IN_FLIGHT);
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, index) => {
      const offset = index * share;
      const length = Math.min(share, sizeBytes - offset);
      const created = await fetch(`http://127.0.0.1:${port}/files`, { method: 'POST', headers: { 'tus-resumable': '1.0.0', 'upload-length': String(length) } });
      const location = new URL(created.headers.get('location')!, `http://127.0.0.1:${port}`).toString();
      // Sent in 8 MiB PATCH requests, the same chunking as the multipart parts.
      for (let sent = 0; sent < length; sent += PART_SIZE) {
        const chunk = readPart(file, offset + sent, Math.min(PART_SIZE, length - sent));
        const patched = await fetch(location, {
          method: 'PATCH',
          headers: { 'tus-resumable': '1.0.0', 'upload-offset': String(sent), 'content-type': 'application/offset+octet-stream' },
          body: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length) as unknown as BodyInit,
        });
        if (patched.status !== 204) throw new Error(`tus PATCH failed: ${patched.status}`);
      }
    }),
  );
  const elapsed = seconds(start);
  server.close();
  return elapsed;
}

/**
 * createSession for `jobCount` jobs of 64 files each (the default INLET_MAX_SESSIONS_PER_JOB), from
 * 64 concurrent clients, against the same number of no-op calls.
 */
async function createSessionThroughput(api: Api, jobCount: number): Promise<{ sessionsPerSecond: number; pingsPerSecond: number }> {
  const targets: { job: CreatedJob; bundleId: string; fileId: string }[] = [];
  for (let index = 0; index < jobCount; index += 1) {
    const job = await createJob(api);
    // The job's first bundle must hold its primary dataset, so the first file gets that role.
    const files = Array.from({ length: 64 }, (_, position) => ({ filename: `file-${position}.csv`, sizeBytes: 1000 + position, role: position === 0 ? 'primary_dataset' : 'secondary_dataset' }));
    const bundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files }, { token: job.token });
    for (const file of bundle.files) targets.push({ job, bundleId: bundle.bundleId, fileId: file.fileId });
  }

  // The two kinds of call alternate in rounds of 256, so that a change in the machine's load
  // during the run weighs on both alike.
  let sessionSeconds = 0;
  let pingSeconds = 0;
  for (let offset = 0; offset < targets.length; offset += THROUGHPUT_ROUND) {
    const round = targets.slice(offset, offset + THROUGHPUT_ROUND);
    let begin = process.hrtime.bigint();
    await runPool(round, 64, async ({ job, bundleId, fileId }) => {
      const response = await api.mutation('uploads.createSession', { jobId: job.jobId, bundleId, fileId }, { token: job.token });
      if (response.status !== 200) throw new Error(`createSession failed: ${JSON.stringify(response.body)}`);
    });
    sessionSeconds += seconds(begin);

    begin = process.hrtime.bigint();
    await runPool(round, 64, async ({ job }) => {
      const response = await api.query('system.ping', undefined, { token: job.token });
      if (response.status !== 200) throw new Error('ping failed');
    });
    pingSeconds += seconds(begin);
  }
  return { sessionsPerSecond: targets.length / sessionSeconds, pingsPerSecond: targets.length / pingSeconds };
}

async function main(): Promise<void> {
  const directory = makeTempDir('inlet-bench-');
  const results: string[] = [`Machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, large file ${LARGE_MIB} MiB`];
  const large = makeFile(directory, LARGE_MIB);
  const small = makeFile(directory, 16);
  // Read both files once, so every measurement starts from the page cache.
  execFileSync('cat', [large, small], { stdio: ['ignore', 'ignore', 'inherit'] });

  // Baseline: the copy-and-hash limit of this machine.
  let start = process.hrtime.bigint();
  execFileSync('sh', ['-c', `cp "${large}" "${directory}/copy.csv" && openssl dgst -sha256 "${directory}/copy.csv" > /dev/null`]);
  const copyAndHash = seconds(start);
  fs.rmSync(path.join(directory, 'copy.csv'));

  // The same with the copy made durable (`sync FILE` fsyncs it), as the store does with every part
  // before it counts. Dirty pages of earlier writes are flushed first so they do not add to it.
  execFileSync('sync');
  start = process.hrtime.bigint();
  execFileSync('sh', ['-c', `cp "${large}" "${directory}/copy.csv" && sync "${directory}/copy.csv" && openssl dgst -sha256 "${directory}/copy.csv" > /dev/null`]);
  const durableCopyAndHash = seconds(start);
  fs.rmSync(path.join(directory, 'copy.csv'));
  execFileSync('sync');

  const tus = await tusBaseline(large, directory);
  fs.rmSync(path.join(directory, 'tus'), { recursive: true });
  const floor = await discardFloor(large);

  // Multipart: the whole upload, then finalize alone for both sizes.
  const multipartServer = await startServer({ INLET_MULTIPART_THRESHOLD_BYTES: String(16 * MIB) }, makeTempDir('inlet-bench-data-'));
  // Each server's data dir contains every uploaded copy (several GiB), so it is removed once the server stops.
  const stopAndRemove = async (server: TestServer): Promise<void> => {
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  };
  const api = new Api(multipartServer.baseUrl);
  // Each server finalizes one untimed upload first (see finalizePairs).
  await uploadAndFinalize(multipartServer, api, small);
  const job = await createJob(api);

  start = process.hrtime.bigint();
  const session = await declareSession(api, job, large, 'primary_dataset');
  const parts = await sendParts(api, job, session, large);
  const largeFinalize = await finalizeTimed(multipartServer, api, job, session, parts);
  const upload = seconds(start);

  // Finalize takes tens of milliseconds, so each size is finalized several times and the median kept.
  const multipartRuns = await finalizePairs(multipartServer, api, large, small, largeFinalize);
  const largeMultipart = median(multipartRuns.large);
  const smallMultipart = median(multipartRuns.small);

  const throughput = await createSessionThroughput(api, 32);
  await stopAndRemove(multipartServer);

  // Direct: raise the threshold so both files go up in one PUT.
  const directServer = await startServer({ INLET_MULTIPART_THRESHOLD_BYTES: String(64 * 1024 * MIB) }, makeTempDir('inlet-bench-data-'));
  const directApi = new Api(directServer.baseUrl);
  await uploadAndFinalize(directServer, directApi, small);
  const directRuns = await finalizePairs(directServer, directApi, large, small);
  const directLarge = median(directRuns.large);
  const directSmall = median(directRuns.small);
  await stopAndRemove(directServer);

  const ratio = (a: number, b: number): string => (a / b).toFixed(2);
  const runTimes = (runs: FinalizeTiming[]): string => runs.map((run) => (run.seconds * 1000).toFixed(0)).join(', ');
  const peakGrowth = (runs: FinalizeTiming[]): string => Math.max(...runs.map((run) => run.rssGrowthMib)).toFixed(1);
  results.push(
    `upload ${LARGE_MIB} MiB multipart: ${upload.toFixed(2)} s; cp + openssl dgst: ${copyAndHash.toFixed(2)} s; ratio ${ratio(upload, copyAndHash)} (goal <= 1.2)`,
    `cp + sync + openssl dgst (the copy made durable): ${durableCopyAndHash.toFixed(2)} s; Inlet / that ${ratio(upload, durableCopyAndHash)}`,
    `tus FileStore, 4 parallel uploads: ${tus.toFixed(2)} s; Inlet / tus ratio ${ratio(upload, tus)} (goal <= 1.2)`,
    `floor, same client to a server that discards the bytes: ${floor.toFixed(2)} s; floor / (cp + openssl dgst) ${ratio(floor, copyAndHash)}; Inlet / floor ${ratio(upload, floor)}`,
    `finalize multipart, median of ${FINALIZE_RUNS}: ${largeMultipart.seconds.toFixed(3)} s after ${LARGE_MIB} MiB, ${smallMultipart.seconds.toFixed(3)} s after 16 MiB; ratio ${ratio(largeMultipart.seconds, smallMultipart.seconds)} (goal <= 1.5); largest peak RSS growth ${peakGrowth(multipartRuns.large)} MiB (goal < 64)`,
    `  each run in ms, ${LARGE_MIB} MiB: ${runTimes(multipartRuns.large)}; 16 MiB: ${runTimes(multipartRuns.small)}`,
    `read back for the whole-file hash, each ${LARGE_MIB} MiB multipart upload: ${multipartRuns.large.map((run) => run.readBackMib.toFixed(0)).join(', ')} MiB`,
    `finalize direct, median of ${FINALIZE_RUNS}: ${directLarge.seconds.toFixed(3)} s after ${LARGE_MIB} MiB, ${directSmall.seconds.toFixed(3)} s after 16 MiB; ratio ${ratio(directLarge.seconds, directSmall.seconds)} (goal <= 1.5); largest peak RSS growth ${peakGrowth(directRuns.large)} MiB (goal < 64)`,
    `  each run in ms, ${LARGE_MIB} MiB: ${runTimes(directRuns.large)}; 16 MiB: ${runTimes(directRuns.small)}`,
    `createSession, 64 concurrent clients: ${throughput.sessionsPerSecond.toFixed(0)}/s; no-op procedure ${throughput.pingsPerSecond.toFixed(0)}/s; ratio ${ratio(throughput.sessionsPerSecond, throughput.pingsPerSecond)} (goal >= 0.5)`,
  );
  fs.rmSync(directory, { recursive: true, force: true });
  process.stdout.write(`${results.join('\n')}\n`);
}

await main();
