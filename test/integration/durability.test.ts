import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import Database from 'better-sqlite3';

import { Api, createJob, putBytes, sha256Base64, sha256Hex, type CreatedJob, type DeclaredBundle, type Receipt, type SessionData } from '../helpers/api';
import { makeTempDir, startServer, type TestServer } from '../helpers/server';

const PART_SIZE = 256;
const BASE_ENV = {
  INLET_TEST_MODE: 'true',
  INLET_MULTIPART_THRESHOLD_BYTES: '1024',
  INLET_PART_SIZE_BYTES: String(PART_SIZE),
  INLET_FINALIZE_LEASE_SECONDS: '1',
};

function bytesOf(size: number, seed: string): Buffer {
  let text = 'id,value\n';
  for (let row = 1; text.length < size; row += 1) text += `${row},${seed}${row * 7}\n`;
  return Buffer.from(text.slice(0, size - 1) + '\n');
}

async function declareAndCreate(api: Api, job: CreatedJob, filename: string, bytes: Buffer): Promise<SessionData> {
  const bundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files: [{ filename, sizeBytes: bytes.length, role: 'primary_dataset' }] }, { token: job.token });
  return api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
}

function partUrls(session: SessionData): { partNumber: number; url: string }[] {
  return session.strategy === 'direct' ? [{ partNumber: 1, url: session.url! }] : session.parts!;
}

function slice(session: SessionData, bytes: Buffer, partNumber: number): Buffer {
  if (session.strategy === 'direct') return bytes;
  return bytes.subarray((partNumber - 1) * PART_SIZE, partNumber * PART_SIZE);
}

/** Finalizes, calling again while the answer is FINALIZE_IN_PROGRESS (a crashed claim's lease running out). */
async function finalizeUntilSettled(api: Api, job: CreatedJob, session: SessionData, parts: { partNumber: number; etag: string }[]): Promise<Receipt> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const result = await api.ok<Receipt | { success: false; errorCode: string; retryAfterMs?: number }>(
      'mutation',
      'uploads.finalize',
      { uploadSessionId: session.uploadSessionId, parts },
      { token: job.token },
    );
    if (result.success) return result;
    assert.equal(result.errorCode, 'FINALIZE_IN_PROGRESS', `unexpected finalize failure ${JSON.stringify(result)}`);
  }
  throw new Error('finalize never settled');
}

/** Checks the data dir is consistent: no stray temporary files, a valid manifest, an intact database. */
function assertConsistent(dataDir: string, job: CreatedJob, receipt: Receipt): void {
  const strays: string[] = [];
  const walk = (directory: string): void => {
    if (!fs.existsSync(directory)) return;
    for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
      const full = path.join(directory, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.tmp') || entry.name.endsWith('.staged')) strays.push(full);
    }
  };
  walk(path.join(dataDir, 'workspaces'));
  walk(path.join(dataDir, 'objects'));
  assert.deepEqual(strays, [], 'stray temporary files');
  assert.equal(fs.existsSync(path.join(dataDir, 'objects/default', job.jobId, receipt.uploadSessionId)), false, 'session objects left behind');

  const workspace = path.join(dataDir, 'workspaces/default', job.jobId);
  const manifest = JSON.parse(fs.readFileSync(path.join(workspace, 'inputs/manifest.json'), 'utf8')) as { datasets: { dataset_key: string; sha256: string; rel_path: string }[] };
  assert.deepEqual(
    manifest.datasets.map((dataset) => dataset.dataset_key),
    [receipt.datasetKey],
  );
  assert.equal(sha256Hex(fs.readFileSync(path.join(workspace, manifest.datasets[0]!.rel_path))), receipt.sha256);

  const db = new Database(path.join(dataDir, 'inlet.db'), { readonly: true });
  try {
    assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
  } finally {
    db.close();
  }
}

async function waitForExit(server: TestServer): Promise<void> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return;
  await new Promise((resolve) => server.process.once('exit', resolve));
}

/** `storedParts`: how many parts listParts shows after the restart (the crashed PUT's, or none). */
const PUT_CRASH_POINTS = [
  { point: 'put.before_rename', strategy: 'direct', size: 600, storedParts: 0 },
  { point: 'put.before_record', strategy: 'direct', size: 600, storedParts: 0 },
  { point: 'put.before_record', strategy: 'multipart', size: PART_SIZE * 4 + 30, storedParts: 0 },
  // Part 1 is the next part for the whole-file hash, so it was hashed as it streamed in.
  { point: 'put.after_record', strategy: 'multipart', size: PART_SIZE * 4 + 30, storedParts: 1 },
];

const FINALIZE_CRASH_POINTS = ['finalize.after_claim', 'finalize.after_stage', 'finalize.after_place', 'finalize.after_commit'];

describe('crash safety', () => {
  for (const { point, strategy, size, storedParts } of PUT_CRASH_POINTS) {
    test(`PUT survives kill at ${point} (${strategy})`, async () => {
      const dataDir = makeTempDir();
      const crashing = await startServer({ ...BASE_ENV, INLET_TEST_CRASH_AT: point }, dataDir);
      const api = new Api(crashing.baseUrl);
      const job = await createJob(api);
      const bytes = bytesOf(size, point);
      const session = await declareAndCreate(api, job, 'crash.csv', bytes);
      assert.equal(session.strategy, strategy);

      const first = partUrls(session)[0]!;
      await assert.rejects(putBytes(first.url, slice(session, bytes, 1)));
      await waitForExit(crashing);

      const restarted = await startServer(BASE_ENV, dataDir);
      try {
        const again = new Api(restarted.baseUrl);
        const listed = await again.ok<{ parts: { partNumber: number; etag: string }[] }>('query', 'uploads.listParts', { uploadSessionId: session.uploadSessionId }, { token: job.token });
        assert.equal(listed.parts.length, storedParts, 'a part counts once it is recorded, and not before');

        const refreshed = await again.ok<{ parts: { partNumber: number; url: string }[] }>('mutation', 'uploads.refreshUrls', { uploadSessionId: session.uploadSessionId }, { token: job.token });
        const parts = listed.parts.map(({ partNumber, etag }) => ({ partNumber, etag }));
        for (const part of refreshed.parts) {
          const response = await putBytes(part.url.replace(crashing.baseUrl, restarted.baseUrl), slice(session, bytes, part.partNumber));
          assert.equal(response.status, 200);
          parts.push({ partNumber: part.partNumber, etag: response.headers.get('etag')! });
        }
        const receipt = await finalizeUntilSettled(again, job, session, parts);
        assert.equal(receipt.sha256, sha256Hex(bytes));
        assertConsistent(dataDir, job, receipt);
      } finally {
        await restarted.stop();
      }
    });
  }

  for (const point of FINALIZE_CRASH_POINTS) {
    for (const strategy of ['direct', 'multipart'] as const) {
      test(`finalize survives kill at ${point} (${strategy})`, async () => {
        const dataDir = makeTempDir();
        const crashing = await startServer({ ...BASE_ENV, INLET_TEST_CRASH_AT: point }, dataDir);
        const api = new Api(crashing.baseUrl);
        const job = await createJob(api);
        const bytes = bytesOf(strategy === 'direct' ? 700 : PART_SIZE * 5 + 11, `${point}-${strategy}`);
        const session = await declareAndCreate(api, job, 'crash.csv', bytes);

        const parts = [];
        for (const part of partUrls(session)) {
          const response = await putBytes(part.url, slice(session, bytes, part.partNumber));
          assert.equal(response.status, 200);
          parts.push({ partNumber: part.partNumber, etag: response.headers.get('etag')! });
        }
        await assert.rejects(api.mutation('uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token }));
        await waitForExit(crashing);

        const restarted = await startServer(BASE_ENV, dataDir);
        try {
          const again = new Api(restarted.baseUrl);
          const receipt = await finalizeUntilSettled(again, job, session, parts);
          assert.equal(receipt.sha256, sha256Hex(bytes));
          assert.equal(receipt.sizeBytes, bytes.length);

          const replay = await again.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
          assert.deepEqual(replay, receipt);
          assertConsistent(dataDir, job, receipt);
        } finally {
          await restarted.stop();
        }
      });
    }
  }
});

describe('two processes on one data dir', () => {
  test('200 concurrent finalize calls agree', async () => {
    const dataDir = makeTempDir();
    const [first, second] = await Promise.all([startServer(BASE_ENV, dataDir), startServer(BASE_ENV, dataDir)]);
    try {
      const api = new Api(first.baseUrl);
      const other = new Api(second.baseUrl);
      const job = await createJob(api);
      const bytes = bytesOf(PART_SIZE * 6 + 3, 'two-processes');
      const session = await declareAndCreate(api, job, 'shared.csv', bytes);

      const parts = await Promise.all(
        session.parts!.map(async (part) => {
          const response = await putBytes(part.url, slice(session, bytes, part.partNumber));
          assert.equal(response.status, 200);
          return { partNumber: part.partNumber, etag: response.headers.get('etag')! };
        }),
      );

      const calls = Array.from({ length: 200 }, (_, index) => finalizeUntilSettled(index % 2 === 0 ? api : other, job, session, parts));
      const receipts = await Promise.all(calls);
      for (const receipt of receipts) assert.deepEqual(receipt, receipts[0]);
      assert.equal(receipts[0]!.sha256, sha256Hex(bytes));

      const manifest = await other.ok<{ datasets: unknown[] }>('query', 'inputs.manifest', { jobId: job.jobId }, { token: job.token });
      assert.equal(manifest.datasets.length, 1);
      assertConsistent(dataDir, job, receipts[0]!);
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });
});

describe('expiry', () => {
  test('expired URL is refreshed mid-upload', async () => {
    // Three seconds leave the first PUT time to finish on a loaded machine before the URLs expire.
    const server = await startServer({ ...BASE_ENV, INLET_URL_TTL_SECONDS: '3' });
    try {
      const api = new Api(server.baseUrl);
      const job = await createJob(api);
      const bytes = bytesOf(PART_SIZE * 4 + 20, 'expiry');
      const session = await declareAndCreate(api, job, 'slow.csv', bytes);
      const firstPut = await putBytes(session.parts![0]!.url, slice(session, bytes, 1));
      assert.equal(firstPut.status, 200);

      // Wait until the issued URLs are past their expiry, as a slow client would be.
      while (Date.now() <= Date.parse(session.expiresAt) + 1000) await new Promise((resolve) => setTimeout(resolve, 100));
      const stale = await putBytes(session.parts![1]!.url, slice(session, bytes, 2));
      assert.equal(stale.status, 403);
      assert.match(await stale.text(), /expired/);

      const refreshed = await api.ok<{ parts: { partNumber: number; url: string }[] }>('mutation', 'uploads.refreshUrls', { uploadSessionId: session.uploadSessionId }, { token: job.token });
      assert.deepEqual(refreshed.parts.map((part) => part.partNumber), [2, 3, 4, 5]);
      const parts = [{ partNumber: 1, etag: firstPut.headers.get('etag')! }];
      for (const part of refreshed.parts) {
        const response = await putBytes(part.url, slice(session, bytes, part.partNumber));
        assert.equal(response.status, 200);
        parts.push({ partNumber: part.partNumber, etag: response.headers.get('etag')! });
      }
      const receipt = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
      assert.equal(receipt.sha256, sha256Hex(bytes));
    } finally {
      await server.stop();
    }
  });

  test('receipt replays after the session lifetime', async () => {
    const server = await startServer({ ...BASE_ENV, INLET_URL_TTL_SECONDS: '3', INLET_SESSION_TTL_SECONDS: '4', INLET_SWEEP_INTERVAL_SECONDS: '1' });
    try {
      const api = new Api(server.baseUrl);
      const job = await createJob(api);
      const bytes = bytesOf(300, 'lifetime');
      const session = await declareAndCreate(api, job, 'old.csv', bytes);
      const put = await putBytes(session.url!, bytes);
      const parts = [{ partNumber: 1, etag: put.headers.get('etag')! }];
      const receipt = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });

      // An unfinished session of the same job, which the sweeper must expire meanwhile.
      const leftover = await declareAndCreate(api, job, 'left.csv', bytesOf(200, 'left'));
      while (Date.now() <= Date.parse(session.sessionExpiresAt) + 1500) await new Promise((resolve) => setTimeout(resolve, 100));
      const expired = await api.mutation('uploads.refreshUrls', { uploadSessionId: leftover.uploadSessionId }, { token: job.token });
      assert.equal(expired.body.error?.data.errorCode, 'UPLOAD_SESSION_EXPIRED');

      const replay = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
      assert.deepEqual(replay, receipt);
    } finally {
      await server.stop();
    }
  });
});

/** Sends the head of a part's body, then ends the connection without sending the rest. */
async function putHeadThenDisconnect(url: string, body: Buffer, sentBytes: number): Promise<void> {
  const request = http.request(url, { method: 'PUT', headers: { 'content-length': String(body.length) } });
  request.on('error', () => {});
  await new Promise<void>((resolve) => request.write(body.subarray(0, sentBytes), () => resolve()));
  request.destroy();
}

/** Sends the head of a part's body, then nothing; resolves when the server closes the connection. */
function putHeadThenStall(url: string, body: Buffer, sentBytes: number): Promise<{ elapsedMs: number; responded: boolean }> {
  return new Promise((resolve) => {
    const request = http.request(url, { method: 'PUT', headers: { 'content-length': String(body.length) } });
    let responded = false;
    let sentAt = 0;
    request.on('response', () => {
      responded = true;
    });
    request.on('error', () => {});
    request.on('close', () => resolve({ elapsedMs: Date.now() - sentAt, responded }));
    request.write(body.subarray(0, sentBytes), () => {
      sentAt = Date.now();
    });
  });
}

async function listedParts(api: Api, job: CreatedJob, session: SessionData): Promise<{ partNumber: number; etag: string; sha256: string }[]> {
  const listed = await api.ok<{ parts: { partNumber: number; etag: string; sha256: string }[] }>('query', 'uploads.listParts', { uploadSessionId: session.uploadSessionId }, { token: job.token });
  return listed.parts;
}

/** PUTs every part not yet stored, in order, then finalizes with the stored parts' ETags. */
async function completeAndFinalize(api: Api, job: CreatedJob, session: SessionData, bytes: Buffer, partSize: number): Promise<Receipt> {
  const stored = new Set((await listedParts(api, job, session)).map((part) => part.partNumber));
  for (const part of session.parts!) {
    if (stored.has(part.partNumber)) continue;
    const response = await putBytes(part.url, bytes.subarray((part.partNumber - 1) * partSize, part.partNumber * partSize));
    assert.equal(response.status, 200, `PUT of part ${part.partNumber}: ${await response.text()}`);
  }
  const parts = (await listedParts(api, job, session)).map(({ partNumber, etag }) => ({ partNumber, etag }));
  return api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
}

/**
 * Starts a PUT and sends the first `headBytes` of the body. `finish` sends the rest and resolves
 * with the status, `abort` closes the connection mid-body.
 */
function startPut(url: string, body: Buffer, headBytes: number, headers: Record<string, string> = {}): { finish(): Promise<number>; abort(): void } {
  const request = http.request(url, { method: 'PUT', headers: { 'content-length': String(body.length), ...headers } });
  const status = new Promise<number>((resolve, reject) => {
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
  });
  // An aborted PUT rejects `status`, and no caller awaits it then.
  status.catch(() => {});
  request.write(body.subarray(0, headBytes));
  return {
    finish: () => {
      request.end(body.subarray(headBytes));
      return status;
    },
    abort: () => request.destroy(),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Part numbers the server read back from the data file for the whole-file hash, in order. Waits
 * for the session's finalize log line first, so every line logged before it has arrived.
 */
async function readBackParts(server: TestServer, session: SessionData): Promise<number[]> {
  await server.waitForLog((entry) => entry.event === 'session.finalized' && entry.uploadSessionId === session.uploadSessionId);
  return server.logs
    .filter((entry) => entry.event === 'hash.part_read_back' && entry.uploadSessionId === session.uploadSessionId)
    .map((entry) => entry.partNumber as number);
}

/** Returns a copy of `bytes` with the last byte flipped, which a PUT without a checksum stores. */
function corrupted(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeUInt8(copy.readUInt8(copy.length - 1) ^ 1, copy.length - 1);
  return copy;
}

// Parts of 64 KiB arrive in several chunks, so a PUT can fail after some of them were hashed.
const LARGE_PART_SIZE = 64 * 1024;
const LARGE_PART_ENV = { ...BASE_ENV, INLET_PART_SIZE_BYTES: String(LARGE_PART_SIZE) };

describe('whole-file hash of parts hashed as they stream in', () => {
  let server: TestServer;
  let api: Api;

  before(async () => {
    server = await startServer(LARGE_PART_ENV);
    api = new Api(server.baseUrl);
  });

  after(async () => {
    await server.stop();
  });

  test('aborted in-order PUT then re-PUT', async () => {
    const job = await createJob(api);
    const bytes = bytesOf(LARGE_PART_SIZE * 3 + 500, 'aborted-in-order');
    const session = await declareAndCreate(api, job, 'aborted.csv', bytes);
    const part1 = bytes.subarray(0, LARGE_PART_SIZE);

    await putHeadThenDisconnect(session.parts![0]!.url, part1, LARGE_PART_SIZE / 2);
    const aborted = await server.waitForLog((entry) => entry.event === 'object.put_aborted' && entry.uploadSessionId === session.uploadSessionId);
    assert.ok((aborted.receivedBytes as number) > 0, 'the server received part of the body before the abort');
    assert.deepEqual(await listedParts(api, job, session), []);

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
  });

  test('BadDigest in-order PUT then re-PUT', async () => {
    const job = await createJob(api);
    const bytes = bytesOf(LARGE_PART_SIZE * 3 + 500, 'bad-digest-in-order');
    const session = await declareAndCreate(api, job, 'digest.csv', bytes);
    await putBytes(session.parts![0]!.url, bytes.subarray(0, LARGE_PART_SIZE));

    const part2 = bytes.subarray(LARGE_PART_SIZE, 2 * LARGE_PART_SIZE);
    const corrupted = Buffer.from(part2);
    corrupted.writeUInt8(corrupted.readUInt8(corrupted.length - 1) ^ 1, corrupted.length - 1);
    const rejected = await putBytes(session.parts![1]!.url, corrupted, { 'x-amz-checksum-sha256': sha256Base64(part2) });
    assert.equal(rejected.status, 400);
    assert.match(await rejected.text(), /BadDigest/);
    assert.deepEqual((await listedParts(api, job, session)).map((part) => part.partNumber), [1]);

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
  });

  test('4 PUTs in flight, at most one read back', async () => {
    const job = await createJob(api);
    const partCount = 48;
    const bytes = bytesOf(LARGE_PART_SIZE * partCount, 'four-in-flight');
    const session = await declareAndCreate(api, job, 'in-flight.csv', bytes);
    const queue = [...session.parts!];
    const worker = async (): Promise<void> => {
      for (let part = queue.shift(); part; part = queue.shift()) {
        const body = bytes.subarray((part.partNumber - 1) * LARGE_PART_SIZE, part.partNumber * LARGE_PART_SIZE);
        assert.equal((await putBytes(part.url, body)).status, 200, `PUT of part ${part.partNumber}`);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
    const readBack = await readBackParts(server, session);
    // A part whose PUT is recorded before the PUT of the part ahead of it arrives is read back.
    assert.ok(readBack.length <= 1, `parts read back: ${readBack.join(', ')}`);
  });

  test('reversed parts hashed from memory', async () => {
    const job = await createJob(api);
    const bytes = bytesOf(LARGE_PART_SIZE * 3 + 500, 'last-to-first');
    const session = await declareAndCreate(api, job, 'reversed.csv', bytes);
    for (const part of [...session.parts!].reverse()) {
      const body = bytes.subarray((part.partNumber - 1) * LARGE_PART_SIZE, part.partNumber * LARGE_PART_SIZE);
      assert.equal((await putBytes(part.url, body)).status, 200, `PUT of part ${part.partNumber}`);
    }

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
    assert.deepEqual(await readBackParts(server, session), []);
  });

  test('parked part re-sent with other bytes', async () => {
    const job = await createJob(api);
    const bytes = bytesOf(LARGE_PART_SIZE * 3 + 500, 'parked-re-sent');
    const session = await declareAndCreate(api, job, 'parked.csv', bytes);
    const part2 = bytes.subarray(LARGE_PART_SIZE, 2 * LARGE_PART_SIZE);
    const wrong = Buffer.from(part2);
    wrong.writeUInt8(wrong.readUInt8(10) ^ 1, 10);
    assert.equal((await putBytes(session.parts![1]!.url, wrong)).status, 200);
    assert.equal((await putBytes(session.parts![1]!.url, part2)).status, 200);

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
    assert.deepEqual(await readBackParts(server, session), []);
  });

  test('in-order part re-sent with other bytes', async () => {
    const job = await createJob(api);
    const bytes = bytesOf(LARGE_PART_SIZE * 3 + 500, 'resent-in-order');
    const session = await declareAndCreate(api, job, 'resent.csv', bytes);
    const wrong = Buffer.from(bytes.subarray(0, LARGE_PART_SIZE));
    wrong.writeUInt8(wrong.readUInt8(10) ^ 1, 10);
    assert.equal((await putBytes(session.parts![0]!.url, wrong)).status, 200);
    assert.equal((await putBytes(session.parts![1]!.url, bytes.subarray(LARGE_PART_SIZE, 2 * LARGE_PART_SIZE))).status, 200);
    assert.equal((await putBytes(session.parts![0]!.url, bytes.subarray(0, LARGE_PART_SIZE))).status, 200);

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
  });
});

describe('whole-file hash chained across parts', () => {
  // Part 1's PUT waits between storing its body and recording it, so later parts record first.
  const RECORD_DELAY_MS = 2000;
  let server: TestServer;
  let api: Api;

  before(async () => {
    server = await startServer({ ...LARGE_PART_ENV, INLET_TEST_RECORD_DELAY_PARTS: '1', INLET_TEST_RECORD_DELAY_MS: String(RECORD_DELAY_MS) });
    api = new Api(server.baseUrl);
  });

  after(async () => {
    await server.stop();
  });

  const partOf = (bytes: Buffer, partNumber: number): Buffer => bytes.subarray((partNumber - 1) * LARGE_PART_SIZE, partNumber * LARGE_PART_SIZE);

  test('parts recorded before the part ahead', async () => {
    const job = await createJob(api);
    const bytes = bytesOf(LARGE_PART_SIZE * 3 + 500, 'chained-out-of-order');
    const session = await declareAndCreate(api, job, 'chained.csv', bytes);
    const urls = session.parts!.map((part) => part.url);

    const finished: number[] = [];
    const put = async (partNumber: number): Promise<void> => {
      const response = await putBytes(urls[partNumber - 1]!, partOf(bytes, partNumber));
      assert.equal(response.status, 200, `PUT of part ${partNumber}`);
      finished.push(partNumber);
    };
    const first = put(1);
    await sleep(200);
    await Promise.all([put(2), put(3), put(4), first]);
    assert.equal(finished.at(-1), 1, 'part 1 was recorded after the parts behind it');

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
    assert.deepEqual(await readBackParts(server, session), []);
  });

  test('aborted PUT under a completed part', async () => {
    const job = await createJob(api);
    const bytes = bytesOf(LARGE_PART_SIZE * 3 + 500, 'chain-aborted');
    const session = await declareAndCreate(api, job, 'aborted.csv', bytes);
    const urls = session.parts!.map((part) => part.url);
    assert.equal((await putBytes(urls[0]!, partOf(bytes, 1))).status, 200);

    const part2 = startPut(urls[1]!, partOf(bytes, 2), LARGE_PART_SIZE / 2);
    await sleep(200);
    assert.equal((await putBytes(urls[2]!, partOf(bytes, 3))).status, 200);
    part2.abort();
    await server.waitForLog((entry) => entry.event === 'object.put_aborted' && entry.uploadSessionId === session.uploadSessionId && entry.partNumber === 2);
    assert.deepEqual((await listedParts(api, job, session)).map((part) => part.partNumber), [1, 3]);

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
    // Part 3 stayed parked in memory and built on the hash of part 2's second PUT.
    assert.deepEqual(await readBackParts(server, session), []);
  });

  test('BadDigest after the next part chained', async () => {
    const job = await createJob(api);
    const bytes = bytesOf(LARGE_PART_SIZE * 3 + 500, 'chain-bad-digest');
    const session = await declareAndCreate(api, job, 'digest.csv', bytes);
    const urls = session.parts!.map((part) => part.url);
    assert.equal((await putBytes(urls[0]!, partOf(bytes, 1))).status, 200);

    // Part 3 is streaming when part 2's whole body arrives, so part 3 builds on part 2's hash.
    const part3 = startPut(urls[2]!, partOf(bytes, 3), LARGE_PART_SIZE / 2);
    await sleep(200);
    const rejected = await putBytes(urls[1]!, corrupted(partOf(bytes, 2)), { 'x-amz-checksum-sha256': sha256Base64(partOf(bytes, 2)) });
    assert.equal(rejected.status, 400);
    assert.match(await rejected.text(), /BadDigest/);
    assert.equal(await part3.finish(), 200);

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
    assert.deepEqual(await readBackParts(server, session), [3]);
  });

  test('re-PUT of a part under a chain', async () => {
    const job = await createJob(api);
    const bytes = bytesOf(LARGE_PART_SIZE * 3 + 500, 'chain-re-put');
    const session = await declareAndCreate(api, job, 're-put.csv', bytes);
    const urls = session.parts!.map((part) => part.url);

    let part1Recorded = false;
    const part1 = putBytes(urls[0]!, partOf(bytes, 1)).then((response) => {
      part1Recorded = true;
      return response.status;
    });
    await sleep(200);
    // Parts 2 and 3 are recorded while part 1 waits, each on the hash of the part before it.
    assert.equal((await putBytes(urls[1]!, corrupted(partOf(bytes, 2)))).status, 200);
    assert.equal((await putBytes(urls[2]!, partOf(bytes, 3))).status, 200);
    assert.equal((await putBytes(urls[1]!, partOf(bytes, 2))).status, 200);
    assert.equal(part1Recorded, false, 'part 2 was sent again before part 1 was recorded');
    assert.equal(await part1, 200);

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
    assert.deepEqual(await readBackParts(server, session), [3]);
  });
});

describe('memory for parts the hash has not reached', () => {
  // Room for two parked parts: a third one makes the part parked longest give up its bytes.
  let server: TestServer;
  let api: Api;

  before(async () => {
    server = await startServer({ ...LARGE_PART_ENV, INLET_TEST_HASH_RETAIN_BYTES: String(2 * LARGE_PART_SIZE) });
    api = new Api(server.baseUrl);
  });

  after(async () => {
    await server.stop();
  });

  test('oldest parked parts are read back', async () => {
    const job = await createJob(api);
    const bytes = bytesOf(LARGE_PART_SIZE * 4 + 500, 'evicted');
    const session = await declareAndCreate(api, job, 'evicted.csv', bytes);
    for (const partNumber of [5, 4, 3, 2, 1]) {
      const body = bytes.subarray((partNumber - 1) * LARGE_PART_SIZE, partNumber * LARGE_PART_SIZE);
      assert.equal((await putBytes(session.parts![partNumber - 1]!.url, body)).status, 200, `PUT of part ${partNumber}`);
    }

    const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
    assert.equal(receipt.sha256, sha256Hex(bytes));
    assert.deepEqual((await readBackParts(server, session)).sort(), [4, 5]);
  });
});

describe('idle timeout', () => {
  test('stalled PUT is cut and not counted', async () => {
    const idleTimeoutMs = 1000;
    const server = await startServer({ ...LARGE_PART_ENV, INLET_TEST_SOCKET_IDLE_TIMEOUT_MS: String(idleTimeoutMs) });
    try {
      const api = new Api(server.baseUrl);
      const job = await createJob(api);
      const bytes = bytesOf(LARGE_PART_SIZE * 2 + 700, 'stalled');
      const session = await declareAndCreate(api, job, 'stalled.csv', bytes);

      const stalled = await putHeadThenStall(session.parts![0]!.url, bytes.subarray(0, LARGE_PART_SIZE), LARGE_PART_SIZE / 2);
      assert.equal(stalled.responded, false, 'a cut PUT gets no response');
      assert.ok(stalled.elapsedMs >= idleTimeoutMs - 50, `closed after ${stalled.elapsedMs} ms, before the ${idleTimeoutMs} ms timeout`);
      await server.waitForLog((entry) => entry.event === 'http.idle_timeout');
      await server.waitForLog((entry) => entry.event === 'object.put_aborted' && entry.uploadSessionId === session.uploadSessionId);
      assert.deepEqual(await listedParts(api, job, session), []);

      const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
      assert.equal(receipt.sha256, sha256Hex(bytes));
    } finally {
      await server.stop();
    }
  });
});

describe('full disk', () => {
  /** Mounts a 1 MiB tmpfs and points the data dir's objects/ and workspaces/ at it; returns why not when it cannot. */
  function mountSmallDisk(dataDir: string): { disk: string } | { skip: string } {
    if (process.getuid?.() !== 0) return { skip: 'needs root to mount a small tmpfs' };
    const disk = makeTempDir('inlet-full-disk-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk], { stdio: 'pipe' });
    } catch (error) {
      return { skip: `mount -t tmpfs failed: ${(error as Error).message.split('\n')[0]}` };
    }
    for (const name of ['objects', 'workspaces']) {
      fs.mkdirSync(path.join(disk, name));
      fs.symlinkSync(path.join(disk, name), path.join(dataDir, name));
    }
    return { disk };
  }

  /** Fills the file system at `disk` with one file until a write fails with ENOSPC. */
  function fillDisk(disk: string): string {
    const filler = path.join(disk, 'filler');
    const handle = fs.openSync(filler, 'w');
    const block = Buffer.alloc(4096, 1);
    try {
      for (;;) fs.writeSync(handle, block);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    } finally {
      fs.closeSync(handle);
    }
    return filler;
  }

  test('ENOSPC while writing a part', async (context) => {
    const dataDir = makeTempDir();
    const mounted = mountSmallDisk(dataDir);
    if ('skip' in mounted) {
      process.stdout.write(`# skipped: ${mounted.skip}\n`);
      context.skip(mounted.skip);
      return;
    }
    const server = await startServer(LARGE_PART_ENV, dataDir);
    try {
      const api = new Api(server.baseUrl);
      const job = await createJob(api);
      const bytes = bytesOf(LARGE_PART_SIZE * 2 + 900, 'full-disk');
      const session = await declareAndCreate(api, job, 'full.csv', bytes);
      assert.equal((await putBytes(session.parts![0]!.url, bytes.subarray(0, LARGE_PART_SIZE))).status, 200);

      const filler = fillDisk(mounted.disk);
      const part2 = bytes.subarray(LARGE_PART_SIZE, 2 * LARGE_PART_SIZE);
      const rejected = await putBytes(session.parts![1]!.url, part2, { 'x-amz-checksum-sha256': sha256Base64(part2) });
      assert.equal(rejected.status, 503);
      assert.match(await rejected.text(), /<Code>ServiceUnavailable<\/Code>/);
      await server.waitForLog((entry) => entry.event === 'object.disk_full');
      assert.deepEqual((await listedParts(api, job, session)).map((part) => part.partNumber), [1], 'the failed part is not counted');

      fs.rmSync(filler);
      const receipt = await completeAndFinalize(api, job, session, bytes, LARGE_PART_SIZE);
      assert.equal(receipt.sha256, sha256Hex(bytes));
    } finally {
      await server.stop();
      execFileSync('umount', [mounted.disk]);
    }
  });
});

describe('logs', () => {
  test('tokens and signatures never reach the log', async () => {
    const server = await startServer(BASE_ENV);
    try {
      const api = new Api(server.baseUrl);
      const job = await createJob(api);
      const bytes = bytesOf(PART_SIZE * 4 + 1, 'logs');
      const session = await declareAndCreate(api, job, 'logged.csv', bytes);
      const parts = [];
      for (const part of session.parts!) {
        const response = await putBytes(part.url, slice(session, bytes, part.partNumber));
        parts.push({ partNumber: part.partNumber, etag: response.headers.get('etag')! });
      }
      await api.ok('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
      await api.query('jobs.get', { jobId: job.jobId }, { token: `${job.token}-wrong` });
      await putBytes(`${session.parts![0]!.url}0`, Buffer.from('x'));
      await server.waitForLog((entry) => entry.event === 'object.put_rejected');
      await server.waitForLog((entry) => entry.event === 'session.finalized');

      const text = server.logs.map((entry) => JSON.stringify(entry)).join('\n');
      const signatures = session.parts!.map((part) => new URL(part.url).searchParams.get('signature')!);
      assert.equal(text.includes(job.token), false, 'job token in the log');
      for (const signature of signatures) assert.equal(text.includes(signature), false, 'URL signature in the log');

      const events = new Set(server.logs.map((entry) => entry.event));
      for (const event of ['session.created', 'session.finalized', 'object.put_rejected']) assert.ok(events.has(event), `missing log event ${event}`);
    } finally {
      await server.stop();
    }
  });
});
