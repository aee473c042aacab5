import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import Database from 'better-sqlite3';

import { signedQuery } from '../../src/server/storage/signing';
import { Api, createJob, putBytes, sha256Hex, type CreatedJob, type DeclaredBundle, type SessionData } from '../helpers/api';
import { startServer, type TestServer } from '../helpers/server';
import { snapshotDataDir } from '../helpers/snapshot';

const PROJECT_ROOT = path.resolve(import.meta.dirname, '../..');
const PART_SIZE = 256;
const MAX_FILE_SIZE = 10 * 1024 * 1024;
const TEST_ENV = {
  INLET_TEST_MODE: 'true',
  INLET_MULTIPART_THRESHOLD_BYTES: '1024',
  INLET_PART_SIZE_BYTES: String(PART_SIZE),
  INLET_MAX_FILE_SIZE_BYTES: String(MAX_FILE_SIZE),
  INLET_MAX_BUNDLE_FILES: '5',
};

interface Outcome {
  status: number;
  code: string | undefined;
  message?: string | undefined;
}

interface Case {
  name: string;
  run: () => Promise<Outcome>;
  status: number;
  code: string;
  /** Pattern the error message must match, where its wording matters. */
  message?: RegExp;
  /** Cases whose rejected bytes may land in an unrecorded range of a multipart data file. */
  allowDataFileBytes?: boolean;
}

let server: TestServer;
let api: Api;
let job: CreatedJob;
let otherJob: CreatedJob;
let lockedJob: CreatedJob;
let emptyJob: CreatedJob;
let bundle: DeclaredBundle;
let direct: SessionData;
let multipart: SessionData;
let lockedSession: SessionData;
let datasetKey: string;
let expiredToken: string;
let otherTenantKey: string;
const DIRECT_BYTES = Buffer.from('id,value\n1,2\n3,4\n');
const MULTIPART_BYTES = Buffer.alloc(PART_SIZE * 4 + 10, 'x');

async function trpc(kind: 'query' | 'mutation', procedure: string, input: unknown, token?: string, tenantId?: string): Promise<Outcome> {
  const response = kind === 'query' ? await api.query(procedure, input, { token, tenantId }) : await api.mutation(procedure, input, { token, tenantId });
  return { status: response.status, code: response.body.error?.data.errorCode, message: response.body.error?.message };
}

async function raw(method: string, procedure: string, body: string | undefined, headers: Record<string, string> = {}): Promise<Outcome> {
  const response = await fetch(`${server.baseUrl}/api/trpc/${procedure}`, { method, headers: { 'content-type': 'application/json', ...headers }, body });
  const parsed = (await response.json()) as { error?: { data?: { errorCode?: string } } };
  return { status: response.status, code: parsed.error?.data?.errorCode };
}

async function put(url: string, body: Buffer | ReadableStream<Uint8Array>, headers: Record<string, string> = {}, method = 'PUT'): Promise<Outcome> {
  const init: RequestInit & { duplex?: 'half' } =
    body instanceof ReadableStream ? { method, body, headers, duplex: 'half' } : { method, body: new Uint8Array(body), headers };
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, code: /<Code>([A-Za-z]+)<\/Code>/.exec(text)?.[1] };
}

/** A body sent with chunked transfer encoding, so the server learns its length only as it streams. */
function chunked(bytes: Buffer): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new Uint8Array(bytes));
      controller.close();
    },
  });
}

function withQuery(url: string, change: (query: URLSearchParams) => void): string {
  const parsed = new URL(url);
  change(parsed.searchParams);
  return parsed.toString();
}

function expiredUrl(session: SessionData, partNumber: number, size: number): string {
  const secret = Buffer.from(fs.readFileSync(path.join(server.dataDir, 'signing.key'), 'utf8').trim(), 'hex');
  const objectPath = `/api/objects/uploads/${session.uploadSessionId}/${partNumber}`;
  const query = signedQuery(secret, 'PUT', objectPath, { expires: Math.floor(Date.now() / 1000) - 60, size });
  return `${server.baseUrl}${objectPath}?${query}`;
}

function declare(target: CreatedJob, files: unknown[]): Promise<Outcome> {
  return trpc('mutation', 'bundles.declare', { jobId: target.jobId, files }, target.token);
}

const file = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({ filename: 'data.csv', sizeBytes: 10, role: 'secondary_dataset', ...overrides });

before(async () => {
  server = await startServer(TEST_ENV);
  api = new Api(server.baseUrl);

  job = await createJob(api);
  otherJob = await createJob(api);
  emptyJob = await createJob(api);
  lockedJob = await createJob(api);

  bundle = await api.ok<DeclaredBundle>(
    'mutation',
    'bundles.declare',
    {
      jobId: job.jobId,
      files: [
        { filename: 'main.csv', sizeBytes: DIRECT_BYTES.length, role: 'primary_dataset' },
        { filename: 'big.csv', sizeBytes: MULTIPART_BYTES.length, role: 'secondary_dataset' },
        { filename: 'later.csv', sizeBytes: 20, role: 'secondary_dataset' },
      ],
    },
    { token: job.token },
  );
  direct = await api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
  multipart = await api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[1]!.fileId }, { token: job.token });

  // One finalized dataset in a second job, for the dataset procedures.
  const otherBundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: otherJob.jobId, files: [{ filename: 'x.csv', sizeBytes: 4, role: 'primary_dataset' }] }, { token: otherJob.token });
  const otherSession = await api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: otherJob.jobId, bundleId: otherBundle.bundleId, fileId: otherBundle.files[0]!.fileId }, { token: otherJob.token });
  const otherPut = await putBytes(otherSession.url!, Buffer.from('a\n1\n'));
  const receipt = await api.ok<{ datasetKey: string }>('mutation', 'uploads.finalize', { uploadSessionId: otherSession.uploadSessionId, parts: [{ partNumber: 1, etag: otherPut.headers.get('etag')! }] }, { token: otherJob.token });
  datasetKey = receipt.datasetKey;

  // A locked job with a session that was issued before the lock.
  const lockedBundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: lockedJob.jobId, files: [{ filename: 'l.csv', sizeBytes: 4, role: 'primary_dataset' }] }, { token: lockedJob.token });
  lockedSession = await api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: lockedJob.jobId, bundleId: lockedBundle.bundleId, fileId: lockedBundle.files[0]!.fileId }, { token: lockedJob.token });
  await api.ok('mutation', 'jobs.lock', { jobId: lockedJob.jobId }, { token: lockedJob.token });

  // A tenant key of another tenant, made with the admin command on the same data dir.
  const created = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'admin', 'tenant', 'create', 'acme', '--json'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, INLET_DATA_DIR: server.dataDir },
    encoding: 'utf8',
  });
  otherTenantKey = (JSON.parse(created) as { key: string }).key;

  // An expired job token, written straight into the database as time passing would leave it.
  expiredToken = 'inlet_job_expired-token-for-tests';
  const db = new Database(path.join(server.dataDir, 'inlet.db'));
  db.prepare("insert into tokens (id, kind, tenant_id, job_id, secret_sha256, created_at, expires_at) values ('tok_expired', 'job', 'default', ?, ?, '2020-01-01T00:00:00.000Z', '2020-01-02T00:00:00.000Z')").run(job.jobId, sha256Hex(expiredToken));
  db.close();
});

after(async () => {
  await server.stop();
});

const CASES: Case[] = [
  // Request framing and routing.
  { name: 'malformed JSON body', run: () => raw('POST', 'jobs.create', '{"title": '), status: 400, code: 'INPUT_INVALID' },
  { name: 'JSON array as input', run: () => raw('POST', 'jobs.create', '[1,2]'), status: 400, code: 'INPUT_INVALID' },
  { name: 'unknown procedure', run: () => raw('POST', 'jobs.nope', '{}'), status: 404, code: 'INPUT_INVALID' },
  { name: 'mutation called as query', run: () => raw('GET', 'jobs.create', undefined), status: 405, code: 'INPUT_INVALID' },
  { name: 'PUT to a procedure', run: () => raw('PUT', 'jobs.create', '{}'), status: 405, code: 'INPUT_INVALID' },
  { name: 'form-encoded mutation', run: () => raw('POST', 'jobs.create', 'title=x', { 'content-type': 'application/x-www-form-urlencoded' }), status: 415, code: 'INPUT_INVALID' },
  { name: 'batch of 51 calls', run: () => raw('POST', `${Array.from({ length: 51 }, () => 'jobs.create').join(',')}?batch=1`, JSON.stringify(Object.fromEntries(Array.from({ length: 51 }, (_, index) => [index, {}])))), status: 400, code: 'INPUT_INVALID' },
  { name: 'title too long', run: () => trpc('mutation', 'jobs.create', { title: 'x'.repeat(201) }), status: 400, code: 'INPUT_INVALID' },
  { name: 'unknown field in create', run: () => trpc('mutation', 'jobs.create', { title: 't', owner: 'me' }), status: 400, code: 'INPUT_INVALID' },

  // Authentication and tenancy.
  { name: 'job token creating a job', run: () => trpc('mutation', 'jobs.create', {}, job.token), status: 403, code: 'FORBIDDEN' },
  { name: 'malformed tenant header', run: () => trpc('mutation', 'jobs.create', {}, undefined, 'Bad_Tenant'), status: 400, code: 'INPUT_INVALID' },
  { name: 'anonymous job in other tenant', run: () => trpc('mutation', 'jobs.create', {}, undefined, 'acme'), status: 401, code: 'AUTH_REQUIRED' },
  { name: 'get job without token', run: () => trpc('query', 'jobs.get', { jobId: job.jobId }), status: 401, code: 'AUTH_REQUIRED' },
  { name: 'get job with unknown token', run: () => trpc('query', 'jobs.get', { jobId: job.jobId }, 'inlet_job_unknown'), status: 401, code: 'AUTH_INVALID' },
  { name: 'basic auth scheme', run: () => raw('GET', `jobs.get?input=${encodeURIComponent(JSON.stringify({ jobId: job.jobId }))}`, undefined, { authorization: 'Basic dXNlcjpwYXNz' }), status: 401, code: 'AUTH_INVALID' },
  { name: 'expired job token', run: () => trpc('query', 'jobs.get', { jobId: job.jobId }, expiredToken), status: 401, code: 'AUTH_EXPIRED' },
  { name: 'token of another job', run: () => trpc('query', 'jobs.get', { jobId: job.jobId }, otherJob.token), status: 404, code: 'JOB_NOT_FOUND' },
  { name: 'unknown job id', run: () => trpc('query', 'jobs.get', { jobId: 'job_00000000000000000000' }, job.token), status: 404, code: 'JOB_NOT_FOUND' },
  { name: 'malformed job id', run: () => trpc('query', 'jobs.get', { jobId: '../job' }, job.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'tenant header mismatch', run: () => trpc('query', 'jobs.get', { jobId: job.jobId }, job.token, 'acme'), status: 401, code: 'AUTH_INVALID' },
  { name: 'other tenant key sees no job', run: () => trpc('query', 'jobs.get', { jobId: job.jobId }, otherTenantKey), status: 404, code: 'JOB_NOT_FOUND' },
  { name: 'list jobs with job token', run: () => trpc('query', 'jobs.list', {}, job.token), status: 403, code: 'FORBIDDEN' },
  { name: 'list jobs anonymously', run: () => trpc('query', 'jobs.list', {}), status: 401, code: 'AUTH_REQUIRED' },
  { name: 'lock with other job token', run: () => trpc('mutation', 'jobs.lock', { jobId: job.jobId }, otherJob.token), status: 404, code: 'JOB_NOT_FOUND' },
  { name: 'delete with other tenant key', run: () => trpc('mutation', 'jobs.delete', { jobId: job.jobId }, otherTenantKey), status: 404, code: 'JOB_NOT_FOUND' },

  // Declarations: filenames.
  { name: 'empty filename', run: () => declare(job, [file({ filename: '' })]), status: 400, code: 'INPUT_FILENAME_UNSAFE' },
  { name: 'blank filename', run: () => declare(job, [file({ filename: '   ' })]), status: 400, code: 'INPUT_FILENAME_UNSAFE' },
  { name: 'path traversal filename', run: () => declare(job, [file({ filename: '../etc/passwd.csv' })]), status: 400, code: 'INPUT_FILENAME_UNSAFE' },
  { name: 'backslash filename', run: () => declare(job, [file({ filename: 'dir\\data.csv' })]), status: 400, code: 'INPUT_FILENAME_UNSAFE' },
  { name: 'dot-dot filename', run: () => declare(job, [file({ filename: '..', role: 'other' })]), status: 400, code: 'INPUT_FILENAME_UNSAFE' },
  { name: 'NUL in filename', run: () => declare(job, [file({ filename: 'a\u0000.csv' })]), status: 400, code: 'INPUT_FILENAME_UNSAFE' },
  { name: 'newline in filename', run: () => declare(job, [file({ filename: 'a\nb.csv' })]), status: 400, code: 'INPUT_FILENAME_UNSAFE' },
  { name: 'lone surrogate filename', run: () => declare(job, [file({ filename: 'a\ud800b.csv' })]), status: 400, code: 'INPUT_FILENAME_UNSAFE' },
  { name: 'bidi override filename', run: () => declare(job, [file({ filename: 'report\u202Evsc.exe' })]), status: 400, code: 'INPUT_FILENAME_UNSAFE' },
  { name: 'filename over 255 bytes', run: () => declare(job, [file({ filename: `${'数'.repeat(85)}.csv` })]), status: 400, code: 'INPUT_FILENAME_UNSAFE' },

  // Declarations: roles, formats and sizes.
  { name: 'unknown role', run: () => declare(job, [file({ role: 'primary' })]), status: 400, code: 'INPUT_ROLE_INVALID' },
  { name: 'empty role', run: () => declare(job, [file({ role: '' })]), status: 400, code: 'INPUT_ROLE_INVALID' },
  { name: 'two primaries', run: () => declare(job, [file({ role: 'primary_dataset' }), file({ filename: 'b.csv', role: 'primary_dataset' })]), status: 400, code: 'INPUT_PRIMARY_DATASET_MULTIPLE' },
  { name: 'first bundle without primary', run: () => declare(emptyJob, [file()]), status: 400, code: 'INPUT_PRIMARY_DATASET_MISSING' },
  { name: 'pdf as dataset', run: () => declare(job, [file({ filename: 'codebook.pdf' })]), status: 400, code: 'INPUT_UNSUPPORTED_FORMAT' },
  { name: 'dataset without extension', run: () => declare(job, [file({ filename: 'data' })]), status: 400, code: 'INPUT_UNSUPPORTED_FORMAT' },
  { name: 'negative size', run: () => declare(job, [file({ sizeBytes: -1 })]), status: 400, code: 'INPUT_INVALID' },
  { name: 'fractional size', run: () => declare(job, [file({ sizeBytes: 1.5 })]), status: 400, code: 'INPUT_INVALID' },
  { name: 'size as string', run: () => declare(job, [file({ sizeBytes: '10' })]), status: 400, code: 'INPUT_INVALID' },
  { name: 'huge size', run: () => declare(job, [file({ sizeBytes: 1e300 })]), status: 400, code: 'INPUT_INVALID' },
  { name: 'size above the limit', run: () => declare(job, [file({ sizeBytes: MAX_FILE_SIZE + 1 })]), status: 413, code: 'UPLOAD_FILE_SIZE_LIMIT_EXCEEDED' },
  { name: 'no files', run: () => declare(job, []), status: 400, code: 'INPUT_INVALID' },
  { name: 'too many files', run: () => declare(job, Array.from({ length: 6 }, (_, index) => file({ filename: `f${index}.csv` }))), status: 413, code: 'BUNDLE_FILES_LIMIT_EXCEEDED' },
  { name: 'upper-case sha256', run: () => declare(job, [file({ sha256: 'A'.repeat(64) })]), status: 400, code: 'INPUT_INVALID' },
  { name: 'mime type with newline', run: () => declare(job, [file({ mimeType: 'text/csv\r\nx-evil: 1' })]), status: 400, code: 'INPUT_INVALID' },
  { name: 'negative lastModified', run: () => declare(job, [file({ lastModified: -5 })]), status: 400, code: 'INPUT_INVALID' },
  { name: 'files not an array', run: () => trpc('mutation', 'bundles.declare', { jobId: job.jobId, files: { filename: 'a.csv' } }, job.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'declare in locked job', run: () => declare(lockedJob, [file()]), status: 409, code: 'JOB_LOCKED' },

  // Sessions.
  { name: 'session for unknown bundle', run: () => trpc('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: 'bdl_00000000000000000000', fileId: bundle.files[2]!.fileId }, job.token), status: 404, code: 'BUNDLE_NOT_FOUND' },
  { name: 'session for unknown file', run: () => trpc('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: 'file_00000000000000000000' }, job.token), status: 404, code: 'FILE_NOT_FOUND' },
  { name: 'session with other job token', run: () => trpc('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[2]!.fileId }, otherJob.token), status: 404, code: 'JOB_NOT_FOUND' },
  { name: 'session in locked job', run: () => trpc('mutation', 'uploads.createSession', { jobId: lockedJob.jobId, bundleId: bundle.bundleId, fileId: bundle.files[2]!.fileId }, lockedJob.token), status: 409, code: 'JOB_LOCKED' },
  { name: 'refresh unknown session', run: () => trpc('mutation', 'uploads.refreshUrls', { uploadSessionId: 'ups_00000000000000000000' }, job.token), status: 404, code: 'UPLOAD_SESSION_NOT_FOUND' },
  { name: 'refresh part zero', run: () => trpc('mutation', 'uploads.refreshUrls', { uploadSessionId: multipart.uploadSessionId, partNumbers: [0] }, job.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'refresh part out of range', run: () => trpc('mutation', 'uploads.refreshUrls', { uploadSessionId: multipart.uploadSessionId, partNumbers: [99] }, job.token), status: 400, code: 'UPLOAD_PARTS_INVALID' },
  { name: 'refresh with bad checksum', run: () => trpc('mutation', 'uploads.refreshUrls', { uploadSessionId: multipart.uploadSessionId, checksums: [{ partNumber: 1, sha256: 'zz' }] }, job.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'refresh other job session', run: () => trpc('mutation', 'uploads.refreshUrls', { uploadSessionId: multipart.uploadSessionId }, otherJob.token), status: 404, code: 'UPLOAD_SESSION_NOT_FOUND' },
  { name: 'refresh aborted session', run: () => trpc('mutation', 'uploads.refreshUrls', { uploadSessionId: lockedSession.uploadSessionId }, lockedJob.token), status: 409, code: 'UPLOAD_SESSION_ENDED' },
  { name: 'list parts of other job', run: () => trpc('query', 'uploads.listParts', { uploadSessionId: direct.uploadSessionId }, otherJob.token), status: 404, code: 'UPLOAD_SESSION_NOT_FOUND' },
  { name: 'list sessions of other job', run: () => trpc('query', 'uploads.listSessions', { jobId: job.jobId }, otherJob.token), status: 404, code: 'JOB_NOT_FOUND' },
  { name: 'abort unknown session', run: () => trpc('mutation', 'uploads.abort', { uploadSessionId: 'ups_00000000000000000000' }, job.token), status: 404, code: 'UPLOAD_SESSION_NOT_FOUND' },

  // Finalize part lists.
  { name: 'finalize with no parts', run: () => trpc('mutation', 'uploads.finalize', { uploadSessionId: multipart.uploadSessionId, parts: [] }, job.token), status: 400, code: 'UPLOAD_PARTS_INVALID' },
  { name: 'finalize duplicate part', run: () => trpc('mutation', 'uploads.finalize', { uploadSessionId: direct.uploadSessionId, parts: [{ partNumber: 1, etag: 'a' }, { partNumber: 1, etag: 'a' }] }, job.token), status: 400, code: 'UPLOAD_PARTS_INVALID' },
  { name: 'finalize part beyond count', run: () => trpc('mutation', 'uploads.finalize', { uploadSessionId: direct.uploadSessionId, parts: [{ partNumber: 2, etag: 'a' }] }, job.token), status: 400, code: 'UPLOAD_PARTS_INVALID' },
  { name: 'finalize empty etag', run: () => trpc('mutation', 'uploads.finalize', { uploadSessionId: direct.uploadSessionId, parts: [{ partNumber: 1, etag: '' }] }, job.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'finalize fractional part', run: () => trpc('mutation', 'uploads.finalize', { uploadSessionId: direct.uploadSessionId, parts: [{ partNumber: 1.5, etag: 'a' }] }, job.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'finalize unknown session', run: () => trpc('mutation', 'uploads.finalize', { uploadSessionId: 'ups_00000000000000000000', parts: [] }, job.token), status: 404, code: 'UPLOAD_SESSION_NOT_FOUND' },
  { name: 'finalize aborted session', run: () => trpc('mutation', 'uploads.finalize', { uploadSessionId: lockedSession.uploadSessionId, parts: [{ partNumber: 1, etag: 'a' }] }, lockedJob.token), status: 409, code: 'UPLOAD_SESSION_ENDED' },

  // Datasets and preview.
  { name: 'preview zero rows', run: () => trpc('query', 'inputs.preview', { jobId: otherJob.jobId, rows: 0 }, otherJob.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'preview 201 rows', run: () => trpc('query', 'inputs.preview', { jobId: otherJob.jobId, rows: 201 }, otherJob.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'preview 1000 columns', run: () => trpc('query', 'inputs.preview', { jobId: otherJob.jobId, columns: 1000 }, otherJob.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'preview unknown dataset', run: () => trpc('query', 'inputs.preview', { jobId: otherJob.jobId, datasetKey: 'ds_0000000000000000' }, otherJob.token), status: 404, code: 'DATASET_NOT_FOUND' },
  { name: 'preview malformed dataset key', run: () => trpc('query', 'inputs.preview', { jobId: otherJob.jobId, datasetKey: 'ds_../x' }, otherJob.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'preview without primary', run: () => trpc('query', 'inputs.preview', { jobId: job.jobId }, job.token), status: 404, code: 'DATASET_NOT_FOUND', message: /^Job job_\w+ has no primary dataset\.$/ },
  { name: 'preview bad delimiter', run: () => trpc('query', 'inputs.preview', { jobId: otherJob.jobId, delimiter: 'x' }, otherJob.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'set unknown role', run: () => trpc('mutation', 'inputs.setRole', { jobId: otherJob.jobId, datasetKey, role: 'main' }, otherJob.token), status: 400, code: 'INPUT_ROLE_INVALID' },
  { name: 'set role of unknown dataset', run: () => trpc('mutation', 'inputs.setRole', { jobId: otherJob.jobId, datasetKey: 'ds_0000000000000000', role: 'other' }, otherJob.token), status: 404, code: 'DATASET_NOT_FOUND' },
  { name: 'remove unknown dataset', run: () => trpc('mutation', 'inputs.removeDataset', { jobId: otherJob.jobId, datasetKey: 'ds_0000000000000000' }, otherJob.token), status: 404, code: 'DATASET_NOT_FOUND' },
  { name: 'unknown saved encoding', run: () => trpc('mutation', 'inputs.setReadOptions', { jobId: otherJob.jobId, datasetKey, encoding: 'x-no-such' }, otherJob.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'saved header row past table', run: () => trpc('mutation', 'inputs.setReadOptions', { jobId: otherJob.jobId, datasetKey, headerRow: 1_048_576 }, otherJob.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'sheet name on a CSV', run: () => trpc('mutation', 'inputs.setReadOptions', { jobId: otherJob.jobId, datasetKey, sheetName: 'Sheet1' }, otherJob.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'preview sheet name on a CSV', run: () => trpc('query', 'inputs.preview', { jobId: otherJob.jobId, datasetKey, sheetName: 'Sheet1' }, otherJob.token), status: 400, code: 'INPUT_INVALID' },
  { name: 'download with other token', run: () => trpc('query', 'inputs.downloadUrl', { jobId: otherJob.jobId }, job.token), status: 404, code: 'JOB_NOT_FOUND' },

  // Object PUTs to the embedded store.
  { name: 'tampered signature', run: () => put(withQuery(direct.url!, (q) => q.set('signature', '0'.repeat(64))), DIRECT_BYTES), status: 403, code: 'AccessDenied' },
  { name: 'missing signature', run: () => put(withQuery(direct.url!, (q) => q.delete('signature')), DIRECT_BYTES), status: 403, code: 'AccessDenied' },
  { name: 'changed signed size', run: () => put(withQuery(direct.url!, (q) => q.set('size', '4')), DIRECT_BYTES.subarray(0, 4)), status: 403, code: 'AccessDenied' },
  { name: 'extended expiry', run: () => put(withQuery(direct.url!, (q) => q.set('expires', String(Number(q.get('expires')) + 3600))), DIRECT_BYTES), status: 403, code: 'AccessDenied' },
  { name: 'expired signature', run: () => put(expiredUrl(direct, 1, DIRECT_BYTES.length), DIRECT_BYTES), status: 403, code: 'AccessDenied' },
  { name: 'oversize content length', run: () => put(direct.url!, Buffer.concat([DIRECT_BYTES, Buffer.from('extra')])), status: 400, code: 'EntityTooLarge' },
  { name: 'short content length', run: () => put(direct.url!, DIRECT_BYTES.subarray(0, 5)), status: 400, code: 'IncompleteBody' },
  { name: 'oversize chunked body', run: () => put(direct.url!, chunked(Buffer.concat([DIRECT_BYTES, Buffer.from('extra')]))), status: 400, code: 'EntityTooLarge' },
  { name: 'short chunked body', run: () => put(direct.url!, chunked(DIRECT_BYTES.subarray(0, 5))), status: 400, code: 'IncompleteBody' },
  { name: 'wrong checksum on direct', run: () => put(direct.url!, DIRECT_BYTES, { 'x-amz-checksum-sha256': Buffer.from(sha256Hex('nope'), 'hex').toString('base64') }), status: 400, code: 'BadDigest' },
  { name: 'malformed checksum header', run: () => put(direct.url!, DIRECT_BYTES, { 'x-amz-checksum-sha256': 'not-base64' }), status: 400, code: 'InvalidArgument' },
  { name: 'POST to a signed URL', run: () => put(direct.url!, DIRECT_BYTES, {}, 'POST'), status: 405, code: 'MethodNotAllowed' },
  { name: 'part of another session', run: () => put(withQuery(multipart.parts![0]!.url, () => undefined).replace(multipart.uploadSessionId, direct.uploadSessionId), MULTIPART_BYTES.subarray(0, PART_SIZE)), status: 403, code: 'AccessDenied' },
  { name: 'oversize multipart part', run: () => put(multipart.parts![0]!.url, MULTIPART_BYTES.subarray(0, PART_SIZE + 1)), status: 400, code: 'EntityTooLarge' },
  { name: 'wrong checksum on part', run: () => put(multipart.parts![1]!.url, MULTIPART_BYTES.subarray(PART_SIZE, 2 * PART_SIZE), { 'x-amz-checksum-sha256': Buffer.from(sha256Hex('nope'), 'hex').toString('base64') }), status: 400, code: 'BadDigest', allowDataFileBytes: true },
  { name: 'PUT into locked job', run: () => put(lockedSession.url!, Buffer.from('a\n1\n')), status: 404, code: 'NoSuchUpload' },
];

describe('bad requests', () => {
  test('table has at least 60 cases', () => {
    assert.ok(CASES.length >= 60, `only ${CASES.length} cases`);
  });

  for (const badCase of CASES) {
    test(badCase.name, async () => {
      const before = snapshotDataDir(server.dataDir);
      const outcome = await badCase.run();
      const after = snapshotDataDir(server.dataDir);

      assert.equal(outcome.code, badCase.code, `error code for "${badCase.name}"`);
      assert.equal(outcome.status, badCase.status, `HTTP status for "${badCase.name}"`);
      if (badCase.message) assert.match(outcome.message ?? '', badCase.message);
      assert.deepEqual(after.rows, before.rows, 'database rows changed');
      const dataFiles = (files: string[]): string[] => (badCase.allowDataFileBytes ? files.filter((entry) => !/\/data:\d+$/.test(entry)) : files);
      assert.deepEqual(dataFiles(after.files), dataFiles(before.files), 'files under the data dir changed');
    });
  }

  test('no request reached a 5xx', () => {
    const failures = server.logs.filter((entry) => entry.level === 50);
    assert.deepEqual(failures, []);
  });
});
