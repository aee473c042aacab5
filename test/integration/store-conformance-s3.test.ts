/**
 * What only the S3 store has: the start-up check of the bucket and its CORS rule, configuration
 * errors that name the setting, the local workspace mirror and the part-by-part server-side copy.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Api, createJob, putBytes, sha256Hex, type DeclaredBundle, type Receipt, type SessionData } from '../helpers/api';
import { createBucket, getObject, listKeys, s3Env, s3TestServer, type S3TestServer } from '../helpers/s3';
import { startServer } from '../helpers/server';

const PART_SIZE = 256;
const BASE_ENV = {
  INLET_TEST_MODE: 'true',
  INLET_MULTIPART_THRESHOLD_BYTES: String(2 * PART_SIZE),
  INLET_PART_SIZE_BYTES: String(PART_SIZE),
};

let s3: S3TestServer;

before(async () => {
  s3 = await s3TestServer();
});

after(async () => {
  await s3?.stop();
});

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function upload(api: Api, filename: string, bytes: Buffer): Promise<{ job: { jobId: string; token: string }; receipt: Receipt }> {
  const job = await createJob(api);
  const bundle = await api.ok<DeclaredBundle>(
    'mutation',
    'bundles.declare',
    { jobId: job.jobId, files: [{ filename, sizeBytes: bytes.length, role: 'primary_dataset' }] },
    { token: job.token },
  );
  const session = await api.ok<SessionData>('mutation', 'uploads.createSession', { jobId: job.jobId, bundleId: bundle.bundleId, fileId: bundle.files[0]!.fileId }, { token: job.token });
  const urls = session.strategy === 'direct' ? [{ partNumber: 1, url: session.url! }] : session.parts!;
  const parts = [];
  for (const part of urls) {
    const body = session.strategy === 'direct' ? bytes : bytes.subarray((part.partNumber - 1) * PART_SIZE, part.partNumber * PART_SIZE);
    const response = await putBytes(part.url, body);
    assert.equal(response.status, 200, await response.text());
    parts.push({ partNumber: part.partNumber, etag: response.headers.get('etag')! });
  }
  const receipt = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
  assert.equal(receipt.success, true, JSON.stringify(receipt));
  return { job, receipt };
}

describe('s3 start-up check', () => {
  test('missing bucket stops start-up', async () => {
    await assert.rejects(startServer({ ...BASE_ENV, ...s3Env(s3, 'inlet-no-such-bucket') }), /INLET_S3_BUCKET/);
  });

  test('wrong secret stops start-up', async () => {
    await assert.rejects(
      startServer({ ...BASE_ENV, ...s3Env(s3), INLET_S3_SECRET_ACCESS_KEY: 'not-the-secret' }),
      /INLET_S3_ACCESS_KEY_ID and INLET_S3_SECRET_ACCESS_KEY/,
    );
  });

  test('unreachable endpoint stops start-up', async () => {
    const port = await closedPort();
    await assert.rejects(startServer({ ...BASE_ENV, ...s3Env(s3), INLET_S3_ENDPOINT: `http://127.0.0.1:${port}` }), /INLET_S3_ENDPOINT/);
  });

  test('missing key names the setting', async () => {
    const env: Record<string, string> = { ...BASE_ENV, ...s3Env(s3) };
    delete env.INLET_S3_ACCESS_KEY_ID;
    await assert.rejects(startServer(env), /INLET_S3_ACCESS_KEY_ID/);
    await assert.rejects(startServer({ ...BASE_ENV, ...s3Env(s3), INLET_S3_ENDPOINT: 'not a url' }), /INLET_S3_ENDPOINT/);
  });

  test('bucket without CORS logs the rule', async () => {
    const bucket = await createBucket(s3, { cors: false });
    const server = await startServer({ ...BASE_ENV, ...s3Env(s3, bucket) });
    try {
      const warning = await server.waitForLog((entry) => entry.event === 'startup.s3_cors_missing');
      assert.equal(warning.bucket, bucket);
      const rules = (warning.cors as { CORSRules: { AllowedMethods: string[]; ExposeHeaders: string[] }[] }).CORSRules;
      assert.ok(rules[0]?.AllowedMethods.includes('PUT'));
      assert.deepEqual(rules[0]?.ExposeHeaders, ['ETag']);
      assert.match(String(warning.msg), /"ExposeHeaders"/);
    } finally {
      await server.stop();
    }
  });

  test('bucket with CORS logs no warning', async () => {
    const bucket = await createBucket(s3, { cors: true });
    const server = await startServer({ ...BASE_ENV, ...s3Env(s3, bucket) });
    try {
      await server.waitForLog((entry) => entry.event === 'startup.object_store');
      assert.equal(
        server.logs.some((entry) => entry.event === 'startup.s3_cors_missing'),
        false,
      );
    } finally {
      await server.stop();
    }
  });
});

describe('s3 workspace', () => {
  test('mirror keeps local copies', async () => {
    const server = await startServer({ ...BASE_ENV, ...s3Env(s3), INLET_WORKSPACE_MIRROR: 'local' });
    try {
      const api = new Api(server.baseUrl);
      const bytes = Buffer.from('a,b\n1,2\n3,4\n');
      const { job, receipt } = await upload(api, 'mirror.csv', bytes);

      const workspace = path.join(server.dataDir, 'workspaces/default', job.jobId);
      assert.deepEqual(fs.readFileSync(path.join(workspace, `inputs/${receipt.datasetKey}.csv`)), bytes);
      const manifest = JSON.parse(fs.readFileSync(path.join(workspace, 'inputs/manifest.json'), 'utf8')) as { datasets: { sha256: string }[] };
      assert.deepEqual(manifest.datasets.map((dataset) => dataset.sha256), [sha256Hex(bytes)]);
      assert.deepEqual(await getObject(s3, `tenants/default/jobs/${job.jobId}/inputs/${receipt.datasetKey}.csv`), bytes);
    } finally {
      await server.stop();
    }
  });

  test('no mirror leaves local disk empty', async () => {
    const server = await startServer({ ...BASE_ENV, ...s3Env(s3) });
    try {
      const api = new Api(server.baseUrl);
      const bytes = Buffer.from('a,b\n5,6\n');
      const { job } = await upload(api, 'nomirror.csv', bytes);
      await api.ok('query', 'inputs.preview', { jobId: job.jobId }, { token: job.token });

      assert.equal(fs.existsSync(path.join(server.dataDir, 'workspaces')), false);
      assert.equal(fs.existsSync(path.join(server.dataDir, 'objects')), false);
      assert.equal(fs.existsSync(path.join(server.dataDir, 'tmp')), false);
      assert.deepEqual(await listKeys(s3, `tenants/default/jobs/${job.jobId}/`), [
        `tenants/default/jobs/${job.jobId}/inputs/manifest.json`,
        `tenants/default/jobs/${job.jobId}/inputs/ds_${sha256Hex(bytes).slice(0, 16)}.csv`,
        `tenants/default/jobs/${job.jobId}/job.json`,
      ].sort());
    } finally {
      await server.stop();
    }
  });

  test('large object copied part by part', async () => {
    // Lowers S3's 5 GiB CopyObject limit so that a small file takes the UploadPartCopy path.
    const server = await startServer({ ...BASE_ENV, ...s3Env(s3), INLET_TEST_S3_SINGLE_COPY_MAX_BYTES: '300' });
    try {
      const api = new Api(server.baseUrl);
      let text = 'id,value\n';
      for (let row = 1; text.length < 1000; row += 1) text += `${row},${row * 3}\n`;
      const bytes = Buffer.from(text);
      const { job, receipt } = await upload(api, 'copied.csv', bytes);
      assert.deepEqual(await getObject(s3, `tenants/default/jobs/${job.jobId}/inputs/${receipt.datasetKey}.csv`), bytes);
    } finally {
      await server.stop();
    }
  });
});
