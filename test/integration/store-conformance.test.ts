/**
 * One suite that both object stores pass: the embedded store and S3 (a real Ceph RADOS Gateway on
 * 127.0.0.1, see scripts/s3-test-server.sh). Every case goes through the real server over HTTP;
 * only the checks of where bytes ended up differ per store.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';

import { Api, createJob, putBytes, sha256Base64, sha256Hex, type CreatedJob, type DeclaredBundle, type Receipt, type SessionData } from '../helpers/api';
import { getObject, multipartUploads, objectExists, s3Env, s3TestServer, type S3TestServer } from '../helpers/s3';
import { makeTempDir, startServer, type TestServer } from '../helpers/server';

const PART_SIZE = 256;
const BASE_ENV = {
  INLET_TEST_MODE: 'true',
  INLET_MULTIPART_THRESHOLD_BYTES: String(2 * PART_SIZE),
  INLET_PART_SIZE_BYTES: String(PART_SIZE),
  INLET_FINALIZE_LEASE_SECONDS: '1',
};

interface FinalizeFailure {
  success: false;
  retryable: boolean;
  errorCode: string;
  partNumbers?: number[];
}

interface PartListing {
  status: string;
  parts: { partNumber: number; sizeBytes: number; etag: string; sha256: string | null }[];
}

/** How a store is selected, and where its bytes can be inspected from outside the server. */
interface StoreUnderTest {
  kind: 'local' | 's3';
  env(): Record<string, string>;
  /** A workspace file's bytes, or null when it is not there. */
  workspaceFile(dataDir: string, job: CreatedJob, relPath: string): Promise<Buffer | null>;
  /** True when the store contains nothing of the session any more: no parts, no upload. */
  sessionObjectsGone(dataDir: string, job: CreatedJob, uploadSessionId: string): Promise<boolean>;
}

let s3: S3TestServer | null = null;

const STORES: StoreUnderTest[] = [
  {
    kind: 'local',
    env: () => ({}),
    workspaceFile: (dataDir, job, relPath) => {
      const file = path.join(dataDir, 'workspaces/default', job.jobId, relPath);
      return Promise.resolve(fs.existsSync(file) ? fs.readFileSync(file) : null);
    },
    sessionObjectsGone: (dataDir, job, uploadSessionId) =>
      Promise.resolve(!fs.existsSync(path.join(dataDir, 'objects/default', job.jobId, uploadSessionId))),
  },
  {
    kind: 's3',
    env: () => s3Env(s3!),
    workspaceFile: (_dataDir, job, relPath) => getObject(s3!, `tenants/default/jobs/${job.jobId}/${relPath}`),
    sessionObjectsGone: async (_dataDir, job, uploadSessionId) => {
      const key = `uploads/default/${job.jobId}/${uploadSessionId}`;
      return !(await objectExists(s3!, key)) && (await multipartUploads(s3!, key)).length === 0;
    },
  },
];

function csvBytes(size: number, seed: string): Buffer {
  let text = 'id,value\n';
  for (let row = 1; text.length < size; row += 1) text += `${row},${seed}${row * 7}\n`;
  return Buffer.from(text.slice(0, size - 1) + '\n');
}

function partOf(bytes: Buffer, partNumber: number): Buffer {
  return bytes.subarray((partNumber - 1) * PART_SIZE, partNumber * PART_SIZE);
}

async function declareAndCreate(api: Api, job: CreatedJob, filename: string, bytes: Buffer): Promise<SessionData & { checksumsInUrl: boolean }> {
  const bundle = await api.ok<DeclaredBundle>(
    'mutation',
    'bundles.declare',
    { jobId: job.jobId, files: [{ filename, sizeBytes: bytes.length, role: 'primary_dataset' }] },
    { token: job.token },
  );
  return api.ok('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
}

async function putOk(url: string, body: Buffer, headers: Record<string, string> = {}): Promise<string> {
  const response = await putBytes(url, body, headers);
  assert.equal(response.status, 200, `PUT failed: ${await response.text()}`);
  const etag = response.headers.get('etag');
  assert.ok(etag, 'PUT returned no ETag');
  return etag;
}

async function putAllParts(session: SessionData, bytes: Buffer): Promise<{ partNumber: number; etag: string }[]> {
  if (session.strategy === 'direct') return [{ partNumber: 1, etag: await putOk(session.url!, bytes) }];
  const parts = [];
  for (const part of session.parts!) parts.push({ partNumber: part.partNumber, etag: await putOk(part.url, partOf(bytes, part.partNumber)) });
  return parts;
}

function finalize(api: Api, job: CreatedJob, session: SessionData, parts: { partNumber: number; etag: string; sha256?: string }[]): Promise<Receipt | FinalizeFailure> {
  return api.ok('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
}

/** Finalizes, calling again while the result is FINALIZE_IN_PROGRESS (a crashed claim's lease running out). */
async function finalizeUntilSettled(api: Api, job: CreatedJob, session: SessionData, parts: { partNumber: number; etag: string }[]): Promise<Receipt> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const result = await finalize(api, job, session, parts);
    if (result.success) return result;
    assert.equal(result.errorCode, 'FINALIZE_IN_PROGRESS', `unexpected finalize failure ${JSON.stringify(result)}`);
  }
  throw new Error('finalize never settled');
}

/** Breaks the signature of a signed URL of either store, keeping everything else. */
function tamperSignature(url: string): string {
  const parsed = new URL(url);
  for (const name of ['signature', 'X-Amz-Signature']) {
    const value = parsed.searchParams.get(name);
    if (value !== null) {
      parsed.searchParams.set(name, (value[0] === '0' ? '1' : '0') + value.slice(1));
      return parsed.toString();
    }
  }
  throw new Error(`URL has no signature: ${url}`);
}

before(async () => {
  s3 = await s3TestServer();
});

after(async () => {
  await s3?.stop();
});

for (const store of STORES) {
  describe(`${store.kind} store`, () => {
    let server: TestServer;
    let api: Api;

    before(async () => {
      server = await startServer({ ...BASE_ENV, ...store.env() });
      api = new Api(server.baseUrl);
    });

    after(async () => {
      await server?.stop();
    });

    test('direct upload reaches workspace', async () => {
      const job = await createJob(api);
      const bytes = csvBytes(300, 'direct');
      const session = await declareAndCreate(api, job, 'small.csv', bytes);
      assert.equal(session.strategy, 'direct');
      assert.equal(session.checksumsInUrl, store.kind === 's3');

      const parts = await putAllParts(session, bytes);
      const receipt = await finalize(api, job, session, parts);
      assert.equal(receipt.success, true, JSON.stringify(receipt));
      if (!receipt.success) return;
      assert.equal(receipt.sha256, sha256Hex(bytes));

      const stored = await store.workspaceFile(server.dataDir, job, `inputs/${receipt.datasetKey}.csv`);
      assert.deepEqual(stored, bytes);
      const manifest = JSON.parse((await store.workspaceFile(server.dataDir, job, 'inputs/manifest.json'))!.toString('utf8')) as { datasets: { sha256: string }[] };
      assert.deepEqual(manifest.datasets.map((dataset) => dataset.sha256), [receipt.sha256]);
      const jobJson = JSON.parse((await store.workspaceFile(server.dataDir, job, 'job.json'))!.toString('utf8')) as { inputs: { fingerprint: string } };
      assert.equal(jobJson.inputs.fingerprint, receipt.fingerprint);
      assert.equal(await store.sessionObjectsGone(server.dataDir, job, receipt.uploadSessionId), true);
    });

    test('zero-byte direct upload finalizes', async () => {
      const job = await createJob(api);
      const session = await declareAndCreate(api, job, 'empty.csv', Buffer.alloc(0));
      const parts = await putAllParts(session, Buffer.alloc(0));
      const receipt = await finalize(api, job, session, parts);
      assert.equal(receipt.success, true, JSON.stringify(receipt));
      if (!receipt.success) return;
      assert.equal(receipt.sha256, sha256Hex(Buffer.alloc(0)));
      assert.deepEqual(await store.workspaceFile(server.dataDir, job, `inputs/${receipt.datasetKey}.csv`), Buffer.alloc(0));
    });

    test('multipart upload in any order', async () => {
      const job = await createJob(api);
      const bytes = csvBytes(PART_SIZE * 4 + 100, 'multi');
      const session = await declareAndCreate(api, job, 'big.csv', bytes);
      assert.equal(session.strategy, 'multipart');
      assert.equal(session.partCount, 5);

      const etags = new Map<number, string>();
      for (const part of [...session.parts!].reverse()) etags.set(part.partNumber, await putOk(part.url, partOf(bytes, part.partNumber)));
      const parts = [...etags].map(([partNumber, etag]) => ({ partNumber, etag }));

      const receipt = await finalize(api, job, session, parts);
      assert.equal(receipt.success, true, JSON.stringify(receipt));
      if (!receipt.success) return;
      assert.equal(receipt.sha256, sha256Hex(bytes));
      assert.deepEqual(await store.workspaceFile(server.dataDir, job, `inputs/${receipt.datasetKey}.csv`), bytes);
      assert.equal(await store.sessionObjectsGone(server.dataDir, job, receipt.uploadSessionId), true);

      const listing = await api.ok<PartListing>('query', 'uploads.listParts', { uploadSessionId: session.uploadSessionId }, { token: job.token });
      assert.equal(listing.status, 'finalized');
      assert.deepEqual(
        listing.parts.map((part) => part.sha256),
        [1, 2, 3, 4, 5].map((partNumber) => sha256Hex(partOf(bytes, partNumber))),
      );
    });

    test('listParts reports stored parts', async () => {
      const job = await createJob(api);
      const bytes = csvBytes(PART_SIZE * 3, 'list');
      const session = await declareAndCreate(api, job, 'list.csv', bytes);
      const first = await putOk(session.parts![0]!.url, partOf(bytes, 1));
      const third = await putOk(session.parts![2]!.url, partOf(bytes, 3));

      const listing = await api.ok<PartListing>('query', 'uploads.listParts', { uploadSessionId: session.uploadSessionId }, { token: job.token });
      assert.equal(listing.status, 'issued');
      assert.deepEqual(
        listing.parts.map((part) => part.partNumber),
        [1, 3],
      );
      assert.deepEqual(
        listing.parts.map((part) => part.etag.replaceAll('"', '')),
        [first, third].map((etag) => etag.replaceAll('"', '')),
      );
      assert.deepEqual(
        listing.parts.map((part) => part.sizeBytes),
        [PART_SIZE, PART_SIZE],
      );

      const refreshed = await api.ok<{ parts: { partNumber: number }[] }>('mutation', 'uploads.refreshUrls', { uploadSessionId: session.uploadSessionId }, { token: job.token });
      assert.deepEqual(
        refreshed.parts.map((part) => part.partNumber),
        [2],
      );

      const incomplete = await finalize(api, job, session, [
        { partNumber: 1, etag: first },
        { partNumber: 2, etag: 'missing' },
        { partNumber: 3, etag: third },
      ]);
      assert.equal(incomplete.success, false);
      if (incomplete.success) return;
      assert.equal(incomplete.errorCode, 'UPLOAD_INCOMPLETE');
      assert.deepEqual(incomplete.partNumbers, [2]);
    });

    test('refreshed URL binds part checksum', async () => {
      const job = await createJob(api);
      const bytes = csvBytes(PART_SIZE * 2, 'bind');
      const session = await declareAndCreate(api, job, 'bind.csv', bytes);
      const checksum = sha256Base64(partOf(bytes, 1));
      const refreshed = await api.ok<{ parts: { partNumber: number; url: string }[] }>(
        'mutation',
        'uploads.refreshUrls',
        { uploadSessionId: session.uploadSessionId, checksums: [{ partNumber: 1, sha256: sha256Hex(partOf(bytes, 1)) }] },
        { token: job.token },
      );
      const url = refreshed.parts[0]!.url;

      const withoutHeader = await putBytes(url, partOf(bytes, 1));
      assert.equal(withoutHeader.status, 403, 'a PUT without the bound checksum header must be refused');
      await putOk(url, partOf(bytes, 1), { 'x-amz-checksum-sha256': checksum });
    });

    test('bad part named by checksum', async (t: TestContext) => {
      const job = await createJob(api);
      const bytes = csvBytes(PART_SIZE * 3, 'bad');
      const session = await declareAndCreate(api, job, 'bad.csv', bytes);
      const good2 = partOf(bytes, 2);
      const refreshed = await api.ok<{ parts: { partNumber: number; url: string }[] }>(
        'mutation',
        'uploads.refreshUrls',
        { uploadSessionId: session.uploadSessionId, checksums: [{ partNumber: 2, sha256: sha256Hex(good2) }] },
        { token: job.token },
      );
      const corrupt = Buffer.from(good2);
      corrupt[10] = corrupt[10]! ^ 0xff;

      const etag1 = await putOk(session.parts![0]!.url, partOf(bytes, 1));
      const etag3 = await putOk(session.parts![2]!.url, partOf(bytes, 3));
      const badPut = await putBytes(refreshed.parts[0]!.url, corrupt, { 'x-amz-checksum-sha256': sha256Base64(good2) });
      if (badPut.status === 400) {
        assert.match(await badPut.text(), /BadDigest/);
      } else {
        assert.equal(badPut.status, 200);
        t.diagnostic(`${store.kind} store accepted a part whose body does not match x-amz-checksum-sha256; finalize's own hashing must catch it`);
        const result = await finalize(api, job, session, [
          { partNumber: 1, etag: etag1, sha256: sha256Hex(partOf(bytes, 1)) },
          { partNumber: 2, etag: badPut.headers.get('etag')!, sha256: sha256Hex(good2) },
          { partNumber: 3, etag: etag3, sha256: sha256Hex(partOf(bytes, 3)) },
        ]);
        assert.equal(result.success, false, 'finalize accepted a corrupt part');
        if (result.success) return;
        assert.equal(result.errorCode, 'CHECKSUM_MISMATCH');
        assert.equal(result.retryable, true);
        assert.deepEqual(result.partNumbers, [2]);

        const listing = await api.ok<PartListing>('query', 'uploads.listParts', { uploadSessionId: session.uploadSessionId }, { token: job.token });
        assert.deepEqual(
          listing.parts.map((part) => part.partNumber),
          [1, 3],
          'the bad part must read as missing while the good ones stay',
        );
      }

      // Sending the good bytes again completes the upload with the other parts untouched.
      const again = await api.ok<{ parts: { partNumber: number; url: string }[] }>(
        'mutation',
        'uploads.refreshUrls',
        { uploadSessionId: session.uploadSessionId, checksums: [{ partNumber: 2, sha256: sha256Hex(good2) }] },
        { token: job.token },
      );
      const etag2 = await putOk(again.parts[0]!.url, good2, { 'x-amz-checksum-sha256': sha256Base64(good2) });
      const listing = await api.ok<PartListing>('query', 'uploads.listParts', { uploadSessionId: session.uploadSessionId }, { token: job.token });
      const receipt = await finalize(
        api,
        job,
        session,
        listing.parts.map((part) => ({ partNumber: part.partNumber, etag: part.partNumber === 2 ? etag2 : part.etag })),
      );
      assert.equal(receipt.success, true, JSON.stringify(receipt));
      if (!receipt.success) return;
      assert.equal(receipt.sha256, sha256Hex(bytes));
      assert.deepEqual(await store.workspaceFile(server.dataDir, job, `inputs/${receipt.datasetKey}.csv`), bytes);
    });

    test('tampered signature is refused', async () => {
      const job = await createJob(api);
      const bytes = csvBytes(300, 'tamper');
      const session = await declareAndCreate(api, job, 'tamper.csv', bytes);
      const response = await putBytes(tamperSignature(session.url!), bytes);
      assert.equal(response.status, 403);

      const wrongSize = await putBytes(session.url!, bytes.subarray(1));
      assert.ok(wrongSize.status === 400 || wrongSize.status === 403, `a body of the wrong size got ${wrongSize.status}`);
    });

    test('abort deletes stored parts', async () => {
      const job = await createJob(api);
      const bytes = csvBytes(PART_SIZE * 2, 'abort');
      const session = await declareAndCreate(api, job, 'abort.csv', bytes);
      await putOk(session.parts![0]!.url, partOf(bytes, 1));

      const aborted = await api.ok<{ status: string }>('mutation', 'uploads.abort', { uploadSessionId: session.uploadSessionId }, { token: job.token });
      assert.equal(aborted.status, 'aborted');
      assert.equal(await store.sessionObjectsGone(server.dataDir, job, session.uploadSessionId), true);

      const late = await putBytes(session.parts![1]!.url, partOf(bytes, 2));
      assert.equal(late.status, 404);
      assert.match(await late.text(), /NoSuchUpload/);
    });

    test('concurrent finalize returns one receipt', async () => {
      const job = await createJob(api);
      const bytes = csvBytes(PART_SIZE * 3 + 10, 'race');
      const session = await declareAndCreate(api, job, 'race.csv', bytes);
      const parts = await putAllParts(session, bytes);

      const results = await Promise.all(Array.from({ length: 6 }, () => finalize(api, job, session, parts)));
      const receipts = results.filter((result): result is Receipt => result.success);
      assert.equal(receipts.length, results.length, JSON.stringify(results));
      for (const receipt of receipts) assert.deepEqual(receipt, receipts[0]);

      const manifest = await api.ok<{ datasets: { datasetKey: string }[] }>('query', 'inputs.manifest', { jobId: job.jobId }, { token: job.token });
      assert.deepEqual(
        manifest.datasets.map((dataset) => dataset.datasetKey),
        [receipts[0]!.datasetKey],
      );
    });

    test('preview and download read stored bytes', async () => {
      const job = await createJob(api);
      const bytes = Buffer.from('name,score\nada,1\ngrace,2\n');
      const session = await declareAndCreate(api, job, 'scores.csv', bytes);
      const receipt = await finalize(api, job, session, await putAllParts(session, bytes));
      assert.equal(receipt.success, true);

      const preview = await api.ok<{ columns: { name: string }[]; rowCount: number }>('query', 'inputs.preview', { jobId: job.jobId }, { token: job.token });
      assert.deepEqual(
        preview.columns.map((column) => column.name),
        ['name', 'score'],
      );
      assert.equal(preview.rowCount, 2);

      const download = await api.ok<{ url: string }>('query', 'inputs.downloadUrl', { jobId: job.jobId, datasetKey: (receipt as Receipt).datasetKey }, { token: job.token });
      const response = await fetch(download.url);
      assert.equal(response.status, 200);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes);
      assert.match(response.headers.get('content-disposition') ?? '', /scores\.csv/);
    });

    test('deleted job leaves no objects', async () => {
      const job = await createJob(api);
      const bytes = csvBytes(300, 'delete');
      const session = await declareAndCreate(api, job, 'delete.csv', bytes);
      const receipt = await finalize(api, job, session, await putAllParts(session, bytes));
      assert.equal(receipt.success, true);
      const pending = await declareAndCreate(api, job, 'pending.csv', csvBytes(PART_SIZE * 2, 'pending'));
      await putOk(pending.parts![0]!.url, partOf(csvBytes(PART_SIZE * 2, 'pending'), 1));

      await api.ok('mutation', 'jobs.delete', { jobId: job.jobId }, { token: job.token });
      assert.equal(await store.workspaceFile(server.dataDir, job, 'inputs/manifest.json'), null);
      assert.equal(await store.workspaceFile(server.dataDir, job, `inputs/${(receipt as Receipt).datasetKey}.csv`), null);
      assert.equal(await store.sessionObjectsGone(server.dataDir, job, pending.uploadSessionId), true);
    });

    test('expired URL and session are refused', async () => {
      const shortLived = await startServer({
        ...BASE_ENV,
        ...store.env(),
        INLET_URL_TTL_SECONDS: '1',
        INLET_SESSION_TTL_SECONDS: '2',
        INLET_SWEEP_INTERVAL_SECONDS: '1',
      });
      try {
        const shortApi = new Api(shortLived.baseUrl);
        const job = await createJob(shortApi);
        const bytes = csvBytes(PART_SIZE * 2, 'expiry');
        const session = await declareAndCreate(shortApi, job, 'expiry.csv', bytes);
        await putOk(session.parts![0]!.url, partOf(bytes, 1));

        // Waits for the clock, not for the server: the URL's own expiry time must pass.
        while (Date.now() <= Date.parse(session.expiresAt) + 1000) await new Promise((resolve) => setTimeout(resolve, 100));
        const late = await putBytes(session.parts![1]!.url, partOf(bytes, 2));
        assert.equal(late.status, 403);

        await shortLived.waitForLog((entry) => entry.event === 'session.expired' && entry.uploadSessionId === session.uploadSessionId, 10_000);
        assert.equal(await store.sessionObjectsGone(shortLived.dataDir, job, session.uploadSessionId), true);
        const refresh = await shortApi.mutation('uploads.refreshUrls', { uploadSessionId: session.uploadSessionId }, { token: job.token });
        assert.equal(refresh.body.error?.data.errorCode, 'UPLOAD_SESSION_EXPIRED');
      } finally {
        await shortLived.stop();
      }
    });

    const crashPoints = ['finalize.after_claim', 'finalize.after_stage', 'finalize.after_place', 'finalize.after_commit'];
    if (store.kind === 's3') crashPoints.push('finalize.after_complete');
    for (const point of crashPoints) {
      test(`crash at ${point} recovers`, async () => {
        const dataDir = makeTempDir();
        const bytes = csvBytes(PART_SIZE * 3 + 50, point);
        const crashing = await startServer({ ...BASE_ENV, ...store.env(), INLET_TEST_CRASH_AT: point }, dataDir);
        const crashApi = new Api(crashing.baseUrl);
        let job: CreatedJob;
        let session: SessionData;
        let parts: { partNumber: number; etag: string }[];
        try {
          job = await createJob(crashApi);
          session = await declareAndCreate(crashApi, job, 'crash.csv', bytes);
          parts = await putAllParts(session, bytes);
          const exited = new Promise((resolve) => crashing.process.once('exit', resolve));
          await assert.rejects(finalize(crashApi, job, session, parts));
          await exited;
        } finally {
          await crashing.stop();
        }

        const restarted = await startServer({ ...BASE_ENV, ...store.env() }, dataDir);
        try {
          const restartedApi = new Api(restarted.baseUrl);
          const receipt = await finalizeUntilSettled(restartedApi, job, session, parts);
          assert.equal(receipt.sha256, sha256Hex(bytes));
          const replay = await finalize(restartedApi, job, session, parts);
          assert.deepEqual(replay, receipt);

          assert.deepEqual(await store.workspaceFile(dataDir, job, `inputs/${receipt.datasetKey}.csv`), bytes);
          assert.equal(await store.sessionObjectsGone(dataDir, job, session.uploadSessionId), true);
          const manifest = JSON.parse((await store.workspaceFile(dataDir, job, 'inputs/manifest.json'))!.toString('utf8')) as { datasets: { dataset_key: string }[] };
          assert.deepEqual(
            manifest.datasets.map((dataset) => dataset.dataset_key),
            [receipt.datasetKey],
          );
        } finally {
          await restarted.stop();
        }
      });
    }
  });
}
