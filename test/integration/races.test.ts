import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Api, createJob, putBytes, sha256Hex, type CreatedJob, type DeclaredBundle, type Receipt, type SessionData } from '../helpers/api';
import { makeTempDir, startServer, type TestServer } from '../helpers/server';

const PART_SIZE = 64 * 1024;
const TEST_ENV = {
  INLET_TEST_MODE: 'true',
  INLET_MULTIPART_THRESHOLD_BYTES: String(PART_SIZE),
  INLET_PART_SIZE_BYTES: String(PART_SIZE),
};

let server: TestServer;
let api: Api;

before(async () => {
  server = await startServer(TEST_ENV);
  api = new Api(server.baseUrl);
});

after(async () => {
  await server.stop();
});

function filled(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let index = 0; index < size; index += 1) bytes[index] = 0x41 + ((index * 7 + seed) % 26);
  for (let index = 63; index < size; index += 64) bytes[index] = 0x0a;
  return bytes;
}

async function declare(job: CreatedJob, filename: string, sizeBytes: number, role = 'primary_dataset'): Promise<{ bundleId: string; fileId: string }> {
  const bundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files: [{ filename, sizeBytes, role }] }, { token: job.token });
  return { bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId };
}

async function session(job: CreatedJob, filename: string, bytes: Buffer): Promise<SessionData> {
  const file = await declare(job, filename, bytes.length);
  return api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, ...file }, { token: job.token });
}

function storedBytes(job: CreatedJob, receipt: Receipt): Buffer {
  const manifest = JSON.parse(fs.readFileSync(path.join(server.dataDir, 'workspaces/default', job.jobId, 'inputs/manifest.json'), 'utf8')) as { datasets: { dataset_key: string; rel_path: string }[] };
  const entry = manifest.datasets.find((dataset) => dataset.dataset_key === receipt.datasetKey);
  assert.ok(entry, `dataset ${receipt.datasetKey} is in manifest.json`);
  return fs.readFileSync(path.join(server.dataDir, 'workspaces/default', job.jobId, entry.rel_path));
}

describe('races', () => {
  test('concurrent createSession returns one session', async () => {
    const job = await createJob(api);
    const file = await declare(job, 'once.csv', PART_SIZE * 3);
    const sessions = await Promise.all(
      Array.from({ length: 30 }, () => api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, ...file }, { token: job.token })),
    );
    assert.equal(new Set(sessions.map((entry) => entry.uploadSessionId)).size, 1);
    const live = await api.ok<{ sessions: unknown[] }>('query', 'uploads.listSessions', { jobId: job.jobId }, { token: job.token });
    assert.equal(live.sessions.length, 1);
  });

  test('re-sent first part keeps hash true', async () => {
    // The whole-file hash advances in the background after each part; re-sending part 1 while it
    // runs must never leave a receipt whose SHA-256 describes the earlier bytes.
    for (let trial = 0; trial < 6; trial += 1) {
      const job = await createJob(api);
      const first = filled(PART_SIZE * 12, trial);
      const upload = await session(job, `rehash-${trial}.csv`, first);
      const partUrl = (partNumber: number): string => upload.parts!.find((part) => part.partNumber === partNumber)!.url;
      const parts = new Map<number, string>();
      for (let partNumber = 2; partNumber <= upload.partCount!; partNumber += 1) {
        const response = await putBytes(partUrl(partNumber), first.subarray((partNumber - 1) * PART_SIZE, partNumber * PART_SIZE));
        parts.set(partNumber, response.headers.get('etag')!);
      }
      await putBytes(partUrl(1), first.subarray(0, PART_SIZE));

      const changed = Buffer.from(first);
      changed.fill(0x5a, 0, 100);
      const resent = await putBytes(partUrl(1), changed.subarray(0, PART_SIZE));
      assert.equal(resent.status, 200);
      parts.set(1, resent.headers.get('etag')!);

      const list = [...parts].map(([partNumber, etag]) => ({ partNumber, etag }));
      const receipt = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: upload.uploadSessionId, parts: list }, { token: job.token });
      assert.equal(receipt.sha256, sha256Hex(changed), `trial ${trial}: receipt describes the bytes sent last`);
      assert.equal(sha256Hex(storedBytes(job, receipt)), receipt.sha256, `trial ${trial}: stored file matches the receipt`);
    }
  });

  test('same-bytes re-PUT racing finalize loses nothing', async () => {
    for (let trial = 0; trial < 20; trial += 1) {
      const job = await createJob(api);
      const bytes = filled(1000, trial);
      const upload = await session(job, `direct-${trial}.csv`, bytes);
      const first = await putBytes(upload.url!, bytes);
      const parts = [{ partNumber: 1, etag: first.headers.get('etag')! }];

      const [again, finalized] = await Promise.all([
        putBytes(upload.url!, bytes),
        api.mutation<Receipt>('uploads.finalize', { uploadSessionId: upload.uploadSessionId, parts }, { token: job.token }),
      ]);
      assert.ok([200, 404].includes(again.status), `trial ${trial}: re-PUT answered ${again.status}`);
      assert.equal(finalized.status, 200, `trial ${trial}: ${JSON.stringify(finalized.body)}`);
      const receipt = finalized.body.result!.data;
      assert.equal(receipt.success, true);
      assert.equal(sha256Hex(storedBytes(job, receipt)), sha256Hex(bytes));
    }
  });

  test('PUT into a session aborted mid-body', async () => {
    const job = await createJob(api);
    const bytes = filled(5000, 3);
    const upload = await session(job, 'midbody.csv', bytes);
    const url = new URL(upload.url!);

    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(url, { method: 'PUT', headers: { 'content-length': bytes.length } }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      // Abort the session once all but the last byte are on the wire, then send the last byte.
      request.write(bytes.subarray(0, bytes.length - 1), () => {
        void api
          .ok('mutation', 'uploads.abort', { uploadSessionId: upload.uploadSessionId }, { token: job.token })
          .then(() => request.end(bytes.subarray(bytes.length - 1)));
      });
    });

    const { status, body } = await answer;
    assert.equal(status, 404);
    assert.match(body, /NoSuchUpload/);
  });

  test('abort of an expired session says expired', async () => {
    const short = await startServer({ ...TEST_ENV, INLET_URL_TTL_SECONDS: '1', INLET_SESSION_TTL_SECONDS: '1' }, makeTempDir());
    try {
      const shortApi = new Api(short.baseUrl);
      const job = await createJob(shortApi);
      const bundle = await shortApi.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files: [{ filename: 'old.csv', sizeBytes: 10, role: 'primary_dataset' }] }, { token: job.token });
      const created = await shortApi.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
      while (Date.now() <= Date.parse(created.sessionExpiresAt) + 200) await new Promise((resolve) => setTimeout(resolve, 50));

      const aborted = await shortApi.mutation('uploads.abort', { uploadSessionId: created.uploadSessionId }, { token: job.token });
      assert.equal(aborted.status, 409);
      assert.equal(aborted.body.error?.data.errorCode, 'UPLOAD_SESSION_EXPIRED');
    } finally {
      await short.stop();
    }
  });

  test('two processes serve full uploads together', async () => {
    const dataDir = makeTempDir();
    const [one, two] = await Promise.all([startServer(TEST_ENV, dataDir), startServer(TEST_ENV, dataDir)]);
    try {
      const apis = [new Api(one.baseUrl), new Api(two.baseUrl)];
      const outcomes = await Promise.all(
        Array.from({ length: 16 }, async (_, worker) => {
          const first = apis[worker % 2]!;
          const second = apis[(worker + 1) % 2]!;
          const job = await createJob(first);
          const bytes = filled(PART_SIZE * 2 + 100, worker);
          const bundle = await second.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files: [{ filename: `w${worker}.csv`, sizeBytes: bytes.length, role: 'primary_dataset' }] }, { token: job.token });
          const created = await first.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
          const parts = await Promise.all(
            created.parts!.map(async (part) => {
              const base = part.partNumber % 2 === 0 ? two.baseUrl : one.baseUrl;
              const response = await putBytes(part.url.replace(/^http:\/\/[^/]+/, base), bytes.subarray((part.partNumber - 1) * PART_SIZE, part.partNumber * PART_SIZE));
              assert.equal(response.status, 200, await response.text());
              return { partNumber: part.partNumber, etag: response.headers.get('etag')! };
            }),
          );
          const receipt = await second.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: created.uploadSessionId, parts }, { token: job.token });
          return receipt.sha256 === sha256Hex(bytes);
        }),
      );
      assert.deepEqual(outcomes, Array.from({ length: 16 }, () => true));
      const errors = [...one.logs, ...two.logs].filter((entry) => Number(entry.level) >= 50);
      assert.deepEqual(errors, []);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  });
});
