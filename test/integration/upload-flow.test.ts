import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Api, createJob, putBytes, sha256Hex, uploadFile, type DeclaredBundle, type Receipt, type SessionData } from '../helpers/api';
import { startServer, type TestServer } from '../helpers/server';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/real');
const PENGUINS = fs.readFileSync(path.join(FIXTURES, 'penguins_raw.csv'));

interface Manifest {
  schemaVersion: number;
  fingerprint: string;
  datasets: { datasetKey: string; role: string; relPath: string; originalName: string; sizeBytes: number; sha256: string; fingerprint: string; format: string; uploadedAt: string; contentType: string }[];
}

interface Preview {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  rowCount: number;
  rowCountExact: boolean;
  columnCount: number;
}

let server: TestServer;
let api: Api;

before(async () => {
  server = await startServer();
  api = new Api(server.baseUrl);
});

after(async () => {
  await server.stop();
});

describe('direct upload of a real CSV', () => {
  test('ends in manifest and preview', async () => {
    const job = await createJob(api);
    const { result } = await uploadFile(api, job, { filename: 'penguins_raw.csv', bytes: PENGUINS, role: 'primary_dataset' });

    const sha256 = sha256Hex(PENGUINS);
    assert.equal(result.success, true);
    assert.equal(result.sha256, sha256);
    assert.equal(result.sizeBytes, PENGUINS.length);
    assert.equal(result.datasetKey, `ds_${sha256.slice(0, 16)}`);

    const manifest = await api.ok<Manifest>('query', 'inputs.manifest', { jobId: job.jobId }, { token: job.token });
    assert.equal(manifest.schemaVersion, 2);
    assert.equal(manifest.fingerprint, result.fingerprint);
    assert.equal(manifest.datasets.length, 1);
    const dataset = manifest.datasets[0]!;
    assert.equal(dataset.role, 'primary_dataset');
    assert.equal(dataset.originalName, 'penguins_raw.csv');
    assert.equal(dataset.relPath, `inputs/${result.datasetKey}.csv`);
    assert.equal(dataset.fingerprint, `sha256:${sha256}`);
    assert.equal(dataset.format, 'csv');

    const workspace = path.join(server.dataDir, 'workspaces', 'default', job.jobId);
    const stored = fs.readFileSync(path.join(workspace, dataset.relPath));
    assert.equal(sha256Hex(stored), sha256);

    const manifestFile = JSON.parse(fs.readFileSync(path.join(workspace, 'inputs/manifest.json'), 'utf8')) as { schema_version: number; datasets: Record<string, unknown>[] };
    assert.equal(manifestFile.schema_version, 2);
    assert.deepEqual(manifestFile.datasets[0], {
      dataset_key: result.datasetKey,
      role: 'primary_dataset',
      rel_path: dataset.relPath,
      original_name: 'penguins_raw.csv',
      size_bytes: PENGUINS.length,
      sha256,
      fingerprint: `sha256:${sha256}`,
      format: 'csv',
      uploaded_at: dataset.uploadedAt,
      content_type: 'text/csv',
    });
    const jobFile = JSON.parse(fs.readFileSync(path.join(workspace, 'job.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(jobFile, {
      job_id: job.jobId,
      tenant_id: 'default',
      status: 'open',
      inputs: { manifest_rel_path: 'inputs/manifest.json', fingerprint: result.fingerprint },
    });

    const preview = await api.ok<Preview>('query', 'inputs.preview', { jobId: job.jobId }, { token: job.token });
    assert.equal(preview.rowCount, 344);
    assert.equal(preview.rowCountExact, true);
    assert.equal(preview.columnCount, 18);
    assert.equal(preview.columns[2]!.name, 'Sample Number');
    assert.equal(preview.rows.length, 20);
    assert.equal(preview.rows[0]!.length, 18);
    assert.equal(preview.rows[0]![6], 'Adult, 1 Egg Stage');
  });

  test('fingerprint matches the test vector', async () => {
    const job = await createJob(api);
    const { result } = await uploadFile(api, job, { filename: 'vector.csv', bytes: Buffer.from('a,b\n1,2\n'), role: 'primary_dataset' });

    assert.equal(result.datasetKey, 'ds_492d5ea496056f1a');
    assert.equal(result.fingerprint, 'sha256:cb89cb79edcdbf65297b51cf47458a27bdb73774373c3cb62cc857af9a32bf47');
    const jobView = await api.ok<{ fingerprint: string; datasetCount: number }>('query', 'jobs.get', { jobId: job.jobId }, { token: job.token });
    assert.equal(jobView.fingerprint, result.fingerprint);
    assert.equal(jobView.datasetCount, 1);
  });

  test('finalize replay returns identical receipt', async () => {
    const job = await createJob(api);
    const { result, session } = await uploadFile(api, job, { filename: 'replay.csv', bytes: Buffer.from('x\n1\n'), role: 'primary_dataset' });
    const workspace = path.join(server.dataDir, 'workspaces', 'default', job.jobId);
    const manifestBefore = fs.readFileSync(path.join(workspace, 'inputs/manifest.json'), 'utf8');

    const replays = await Promise.all(
      Array.from({ length: 5 }, () =>
        api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts: [{ partNumber: 1, etag: `"${result.sha256}"` }] }, { token: job.token }),
      ),
    );
    for (const replay of replays) assert.deepEqual(replay, result);
    assert.equal(fs.readFileSync(path.join(workspace, 'inputs/manifest.json'), 'utf8'), manifestBefore);
    const manifest = await api.ok<Manifest>('query', 'inputs.manifest', { jobId: job.jobId }, { token: job.token });
    assert.equal(manifest.datasets.length, 1);
  });

  test('concurrent first finalize calls agree', async () => {
    const job = await createJob(api);
    const bytes = Buffer.from('id,value\n1,2\n3,4\n');
    const bundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files: [{ filename: 'race.csv', sizeBytes: bytes.length, role: 'primary_dataset' }] }, { token: job.token });
    const session = await api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
    const put = await putBytes(session.url!, bytes);
    const etag = put.headers.get('etag')!;

    const results = await Promise.all(
      Array.from({ length: 20 }, () => api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts: [{ partNumber: 1, etag }] }, { token: job.token })),
    );
    for (const result of results) assert.deepEqual(result, results[0]);
    assert.equal(results[0]!.success, true);
  });

  test('second primary replaces the first', async () => {
    const job = await createJob(api);
    const first = await uploadFile(api, job, { filename: 'first.csv', bytes: Buffer.from('a\n1\n'), role: 'primary_dataset' });
    const second = await uploadFile(api, job, { filename: 'second.csv', bytes: Buffer.from('b\n2\n'), role: 'primary_dataset' });

    const manifest = await api.ok<Manifest>('query', 'inputs.manifest', { jobId: job.jobId }, { token: job.token });
    assert.deepEqual(
      manifest.datasets.map((dataset) => dataset.originalName),
      ['second.csv'],
    );
    const workspace = path.join(server.dataDir, 'workspaces', 'default', job.jobId);
    assert.equal(fs.existsSync(path.join(workspace, `inputs/${first.result.datasetKey}.csv`)), false);
    assert.equal(fs.existsSync(path.join(workspace, `inputs/${second.result.datasetKey}.csv`)), true);
  });

  test('secondary dataset joins the manifest', async () => {
    const job = await createJob(api);
    await uploadFile(api, job, { filename: 'main.csv', bytes: Buffer.from('a\n1\n'), role: 'primary_dataset' });
    await uploadFile(api, job, { filename: 'codebook.pdf', bytes: Buffer.from('%PDF-1.4 fake'), role: 'other' });

    const manifest = await api.ok<Manifest>('query', 'inputs.manifest', { jobId: job.jobId }, { token: job.token });
    assert.deepEqual(
      manifest.datasets.map((dataset) => [dataset.role, dataset.originalName, dataset.format]),
      [
        ['primary_dataset', 'main.csv', 'csv'],
        ['other', 'codebook.pdf', 'other'],
      ],
    );
  });

  test('zero-byte file finalizes and previews as empty', async () => {
    const job = await createJob(api);
    const { result } = await uploadFile(api, job, { filename: 'empty.csv', bytes: Buffer.alloc(0), role: 'primary_dataset' });
    assert.equal(result.sizeBytes, 0);
    assert.equal(result.sha256, sha256Hex(Buffer.alloc(0)));

    const preview = await api.query('inputs.preview', { jobId: job.jobId }, { token: job.token });
    assert.equal(preview.status, 422);
    assert.equal(preview.body.error?.data.errorCode, 'INPUT_EMPTY_FILE');
  });

  test('same bytes under another role conflict', async () => {
    const job = await createJob(api);
    const bytes = Buffer.from('a\n1\n');
    await uploadFile(api, job, { filename: 'main.csv', bytes, role: 'primary_dataset' });

    const bundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files: [{ filename: 'copy.csv', sizeBytes: bytes.length, role: 'secondary_dataset' }] }, { token: job.token });
    const session = await api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
    const put = await putBytes(session.url!, bytes);
    const result = await api.ok<{ success: boolean; errorCode: string; retryable: boolean }>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts: [{ partNumber: 1, etag: put.headers.get('etag')! }] }, { token: job.token });

    assert.equal(result.success, false);
    assert.equal(result.errorCode, 'DATASET_ROLE_CONFLICT');
    assert.equal(result.retryable, false);
  });

  test('bytes that are not the declared format fail', async () => {
    const job = await createJob(api);
    const bytes = Buffer.from('this is not a workbook');
    const bundle = await api.ok<DeclaredBundle>('mutation', 'bundles.declare', { jobId: job.jobId, files: [{ filename: 'data.xlsx', sizeBytes: bytes.length, role: 'primary_dataset' }] }, { token: job.token });
    const session = await api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
    const put = await putBytes(session.url!, bytes);
    const parts = [{ partNumber: 1, etag: put.headers.get('etag')! }];
    const result = await api.ok<{ success: boolean; errorCode: string }>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });

    assert.equal(result.success, false);
    assert.equal(result.errorCode, 'INPUT_FORMAT_MISMATCH');
    const replay = await api.ok<{ success: boolean; errorCode: string }>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
    assert.deepEqual(replay, result);
    const manifest = await api.ok<Manifest>('query', 'inputs.manifest', { jobId: job.jobId }, { token: job.token });
    assert.equal(manifest.datasets.length, 0);
  });

  test('health endpoint answers ok', async () => {
    const response = await fetch(`${server.baseUrl}/api/health`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });
});

describe('start-up errors', () => {
  test('busy port names PORT', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      await assert.rejects(startServer({ PORT: String(port) }), new RegExp(`127\\.0\\.0\\.1:${port} is already in use; set PORT`));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
