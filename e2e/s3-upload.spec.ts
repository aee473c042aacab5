/**
 * An upload through the UI with the S3 store. The browser PUTs parts straight to a real RADOS
 * Gateway on another origin, so it can finalize only if the bucket's CORS rule lets it PUT and
 * read each part's ETag header. This spec starts its own Inlet server with S3 settings, next to
 * the one in playwright.config.ts.
 */
import { expect, test } from '@playwright/test';

import { createBucket, getObject, s3Env, s3TestServer, type S3TestServer } from '../test/helpers/s3';
import { startServer, type TestServer } from '../test/helpers/server';
import { addFiles, expectUploaded, fixture, manifestRow } from './helpers';
import { MULTIPART_THRESHOLD_BYTES, PART_SIZE_BYTES } from './server-settings';

const DIAMONDS_SHA256 = '974c2ce1c1ce245508bd357ca11a7fba2b37813ecf0f1158808a9249ebff67a1';
const DIAMONDS_BYTES = 2_761_026;

let s3: S3TestServer;
let bucket: string;
let server: TestServer;

test.beforeAll(async () => {
  test.setTimeout(180_000);
  s3 = await s3TestServer();
  bucket = await createBucket(s3, { cors: true });
  server = await startServer({
    ...s3Env(s3, bucket),
    INLET_TEST_MODE: 'true',
    INLET_MULTIPART_THRESHOLD_BYTES: String(MULTIPART_THRESHOLD_BYTES),
    INLET_PART_SIZE_BYTES: String(PART_SIZE_BYTES),
  });
});

test.afterAll(async () => {
  await server?.stop();
  await s3?.stop();
});

test('multipart upload to S3 reads part ETags', async ({ page }) => {
  const s3Origin = new URL(s3.endpoint).origin;
  const puts: { url: string; etag: string | undefined }[] = [];
  page.on('response', (response) => {
    if (response.request().method() === 'PUT' && response.url().startsWith(s3Origin)) {
      puts.push({ url: response.url(), etag: response.headers().etag });
    }
  });
  const finalizeBodies: { parts: { partNumber: number; etag: string }[] }[] = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/trpc/uploads.finalize')) {
      finalizeBodies.push(request.postDataJSON() as { parts: { partNumber: number; etag: string }[] });
    }
  });

  await page.goto(`${server.baseUrl}/`);
  await page.getByRole('button', { name: 'Create job' }).click();
  await page.waitForURL(/\/jobs\/job_[0-9a-f]{20}$/);
  const jobId = new URL(page.url()).pathname.split('/').pop() ?? '';

  // The upload starts as soon as the file is added.
  await addFiles(page, fixture('diamonds.csv'));
  await expectUploaded(page, 'diamonds.csv');

  // Every part went to the bucket, not to the app server, and S3 returned an ETag for each.
  const partCount = Math.ceil(DIAMONDS_BYTES / PART_SIZE_BYTES);
  expect(puts).toHaveLength(partCount);
  for (const put of puts) expect(put.etag).toMatch(/^"[0-9a-f]{32}"$/);

  // The page could read those ETags only through the CORS rule's ExposeHeaders.
  expect(finalizeBodies.length).toBeGreaterThan(0);
  const sent = [...finalizeBodies[0]!.parts].sort((a, b) => a.partNumber - b.partNumber);
  const received = puts.map((put) => ({ partNumber: Number(new URL(put.url).searchParams.get('partNumber')), etag: put.etag }));
  received.sort((a, b) => a.partNumber - b.partNumber);
  expect(sent.map((part) => part.etag.replaceAll('"', ''))).toEqual(received.map((part) => part.etag?.replaceAll('"', '')));

  const row = manifestRow(page, 'diamonds.csv');
  await expect(row).toContainText(DIAMONDS_SHA256.slice(0, 12));
  await expect(page.getByTestId('preview-row-count')).toHaveText(/exact/);

  const stored = await getObject(s3, `tenants/default/jobs/${jobId}/inputs/ds_${DIAMONDS_SHA256.slice(0, 16)}.csv`, bucket);
  expect(stored?.length).toBe(DIAMONDS_BYTES);
});
