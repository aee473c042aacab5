import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Api, createJob, putBytes, sha256Base64, sha256Hex, type CreatedJob, type DeclaredBundle, type Receipt, type SessionData } from '../helpers/api';
import { startServer, type TestServer } from '../helpers/server';

// Small parts through test mode: the multipart threshold is 1 KiB and parts are 256 bytes.
const PART_SIZE = 256;
const TEST_ENV = {
  INLET_TEST_MODE: 'true',
  INLET_MULTIPART_THRESHOLD_BYTES: '1024',
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

function csvBytes(size: number): Buffer {
  const header = 'id,payload\n';
  let body = header;
  for (let row = 1; body.length < size; row += 1) body += `${row},${randomBytes(8).toString('hex')}\n`;
  return Buffer.from(body.slice(0, size - 1) + '\n');
}

async function startMultipart(job: CreatedJob, filename: string, bytes: Buffer, role = 'primary_dataset'): Promise<SessionData> {
  const bundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files: [{ filename, sizeBytes: bytes.length, role }] }, { token: job.token });
  return api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
}

function slice(bytes: Buffer, partNumber: number): Buffer {
  return bytes.subarray((partNumber - 1) * PART_SIZE, partNumber * PART_SIZE);
}

async function putPart(session: SessionData, bytes: Buffer, partNumber: number, url?: string): Promise<{ partNumber: number; etag: string }> {
  const partUrl = url ?? session.parts!.find((part) => part.partNumber === partNumber)!.url;
  const response = await putBytes(partUrl, slice(bytes, partNumber));
  assert.equal(response.status, 200, `PUT of part ${partNumber}: ${await response.text()}`);
  return { partNumber, etag: response.headers.get('etag')! };
}

describe('multipart uploads', () => {
  test('parts out of order assemble', async () => {
    const job = await createJob(api);
    const bytes = csvBytes(PART_SIZE * 5 + 100);
    const session = await startMultipart(job, 'ooo.csv', bytes);
    assert.equal(session.strategy, 'multipart');
    assert.equal(session.partSize, PART_SIZE);
    assert.equal(session.partCount, 6);

    const order = [6, 2, 4, 1, 5, 3];
    const parts = await Promise.all(order.map((partNumber) => putPart(session, bytes, partNumber)));
    const result = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });

    assert.equal(result.success, true);
    assert.equal(result.sha256, sha256Hex(bytes));
    const stored = fs.readFileSync(path.join(server.dataDir, 'workspaces/default', job.jobId, `inputs/${result.datasetKey}.csv`));
    assert.equal(stored.equals(bytes), true);
  });

  test('exact multiple has no empty part', async () => {
    const job = await createJob(api);
    const bytes = csvBytes(PART_SIZE * 8);
    const session = await startMultipart(job, 'exact.csv', bytes);
    assert.equal(session.partCount, 8);
    assert.equal(session.parts!.length, 8);

    const parts = [];
    for (let partNumber = 1; partNumber <= 8; partNumber += 1) parts.push(await putPart(session, bytes, partNumber));
    const result = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
    assert.equal(result.sha256, sha256Hex(bytes));
    assert.equal(result.sizeBytes, PART_SIZE * 8);
  });

  test('missing part is reported in-band', async () => {
    const job = await createJob(api);
    const bytes = csvBytes(PART_SIZE * 4 + 1);
    const session = await startMultipart(job, 'gap.csv', bytes);
    const parts = [await putPart(session, bytes, 1), await putPart(session, bytes, 2), await putPart(session, bytes, 4)];

    const listed = [...parts, { partNumber: 3, etag: '"0000"' }, { partNumber: 5, etag: '"0000"' }];
    const result = await api.ok<{ success: boolean; errorCode: string; retryable: boolean; partNumbers: number[] }>(
      'mutation',
      'uploads.finalize',
      { uploadSessionId: session.uploadSessionId, parts: listed },
      { token: job.token },
    );
    assert.equal(result.success, false);
    assert.equal(result.errorCode, 'UPLOAD_INCOMPLETE');
    assert.equal(result.retryable, true);
    assert.deepEqual(result.partNumbers, [3, 5]);

    parts.push(await putPart(session, bytes, 3), await putPart(session, bytes, 5));
    const done = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
    assert.equal(done.sha256, sha256Hex(bytes));
  });

  test('wrong etag names its part', async () => {
    const job = await createJob(api);
    const bytes = csvBytes(PART_SIZE * 4 + 10);
    const session = await startMultipart(job, 'etag.csv', bytes);
    const parts = [];
    for (let partNumber = 1; partNumber <= 5; partNumber += 1) parts.push(await putPart(session, bytes, partNumber));

    const tampered = parts.map((part) => (part.partNumber === 2 ? { ...part, etag: `"${'0'.repeat(64)}"` } : part));
    const result = await api.ok<{ success: boolean; errorCode: string; partNumbers: number[] }>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts: tampered }, { token: job.token });
    assert.equal(result.errorCode, 'CHECKSUM_MISMATCH');
    assert.deepEqual(result.partNumbers, [2]);

    // ETags are compared without quotes and surrounding whitespace.
    const loose = parts.map((part) => ({ ...part, etag: `  ${part.etag.replaceAll('"', '')} ` }));
    const done = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts: loose }, { token: job.token });
    assert.equal(done.success, true);
  });

  test('bad part checksum is refused and resent', async () => {
    const job = await createJob(api);
    const bytes = csvBytes(PART_SIZE * 4 + 10);
    const session = await startMultipart(job, 'digest.csv', bytes);
    const url = session.parts![0]!.url;

    const wrong = await putBytes(url, slice(bytes, 1), { 'x-amz-checksum-sha256': sha256Base64('other bytes') });
    assert.equal(wrong.status, 400);
    assert.match(await wrong.text(), /<Code>BadDigest<\/Code>/);
    const before = await api.ok<{ parts: unknown[] }>('query', 'uploads.listParts', { uploadSessionId: session.uploadSessionId }, { token: job.token });
    assert.equal(before.parts.length, 0);

    const right = await putBytes(url, slice(bytes, 1), { 'x-amz-checksum-sha256': sha256Base64(slice(bytes, 1)) });
    assert.equal(right.status, 200);
    const listing = await api.ok<{ parts: { partNumber: number; sha256: string }[] }>('query', 'uploads.listParts', { uploadSessionId: session.uploadSessionId }, { token: job.token });
    assert.deepEqual(listing.parts.map((part) => part.partNumber), [1]);
  });

  test('refresh signs the parts not yet stored', async () => {
    const job = await createJob(api);
    const bytes = csvBytes(PART_SIZE * 4 + 5);
    const session = await startMultipart(job, 'refresh.csv', bytes);
    const first = await putPart(session, bytes, 1);

    const refreshed = await api.ok<{ parts: { partNumber: number; url: string }[] }>('mutation', 'uploads.refreshUrls', { uploadSessionId: session.uploadSessionId }, { token: job.token });
    assert.deepEqual(refreshed.parts.map((part) => part.partNumber), [2, 3, 4, 5]);

    const parts = [first];
    for (const part of refreshed.parts) parts.push(await putPart(session, bytes, part.partNumber, part.url));
    const result = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
    assert.equal(result.sha256, sha256Hex(bytes));

    const listing = await api.ok<{ status: string; parts: unknown[] }>('query', 'uploads.listParts', { uploadSessionId: session.uploadSessionId }, { token: job.token });
    assert.equal(listing.status, 'finalized');
    assert.equal(listing.parts.length, 5);
  });

  test('bound checksum must be sent', async () => {
    const job = await createJob(api);
    const bytes = csvBytes(PART_SIZE * 4 + 5);
    const session = await startMultipart(job, 'bound.csv', bytes);
    const checksum = sha256Hex(slice(bytes, 2));
    const refreshed = await api.ok<{ parts: { partNumber: number; url: string }[] }>(
      'mutation',
      'uploads.refreshUrls',
      { uploadSessionId: session.uploadSessionId, checksums: [{ partNumber: 2, sha256: checksum }] },
      { token: job.token },
    );
    const url = refreshed.parts[0]!.url;

    const without = await putBytes(url, slice(bytes, 2));
    assert.equal(without.status, 403);
    const withChecksum = await putBytes(url, slice(bytes, 2), { 'x-amz-checksum-sha256': Buffer.from(checksum, 'hex').toString('base64') });
    assert.equal(withChecksum.status, 200);
  });

  test('second createSession returns the live session', async () => {
    const job = await createJob(api);
    const bytes = csvBytes(PART_SIZE * 4 + 5);
    const bundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files: [{ filename: 'again.csv', sizeBytes: bytes.length, role: 'primary_dataset' }] }, { token: job.token });
    const input = { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId };
    const first = await api.ok<SessionData>('mutation', 'uploads.createSession', input, { token: job.token });
    const second = await api.ok<SessionData>('mutation', 'uploads.createSession', input, { token: job.token });
    assert.equal(second.uploadSessionId, first.uploadSessionId);

    const sessions = await api.ok<{ sessions: { uploadSessionId: string; storedPartCount: number; file: { filename: string } }[] }>('query', 'uploads.listSessions', { jobId: job.jobId }, { token: job.token });
    assert.deepEqual(sessions.sessions.map((session) => [session.uploadSessionId, session.file.filename, session.storedPartCount]), [[first.uploadSessionId, 'again.csv', 0]]);
  });

  test('abort deletes stored parts', async () => {
    const job = await createJob(api);
    const bytes = csvBytes(PART_SIZE * 4 + 5);
    const session = await startMultipart(job, 'abort.csv', bytes);
    await putPart(session, bytes, 1);
    const sessionDir = path.join(server.dataDir, 'objects/default', job.jobId, session.uploadSessionId);
    assert.equal(fs.existsSync(sessionDir), true);

    const aborted = await api.ok<{ status: string }>('mutation', 'uploads.abort', { uploadSessionId: session.uploadSessionId }, { token: job.token });
    assert.equal(aborted.status, 'aborted');
    assert.equal(fs.existsSync(sessionDir), false);

    const put = await putBytes(session.parts![1]!.url, slice(bytes, 2));
    assert.equal(put.status, 404);
    assert.match(await put.text(), /NoSuchUpload/);
    const finalize = await api.mutation('uploads.finalize', { uploadSessionId: session.uploadSessionId, parts: [] }, { token: job.token });
    assert.equal(finalize.body.error?.data.errorCode, 'UPLOAD_SESSION_ENDED');
  });

  test('re-sent part replaces the stored one', async () => {
    const job = await createJob(api);
    const bytes = csvBytes(PART_SIZE * 4 + 5);
    const session = await startMultipart(job, 'resend.csv', bytes);
    const wrongBytes = Buffer.from(slice(bytes, 1));
    wrongBytes[10] = 0x41;
    const wrong = await putBytes(session.parts![0]!.url, wrongBytes);
    assert.equal(wrong.status, 200);

    const parts = [];
    for (let partNumber = 1; partNumber <= 5; partNumber += 1) parts.push(await putPart(session, bytes, partNumber));
    const result = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
    assert.equal(result.sha256, sha256Hex(bytes));
  });
});
