import { expect, test, type Route } from '@playwright/test';

import {
  addFiles,
  apiQuery,
  countCalls,
  createJob,
  expectUploaded,
  EXPIRED_URL_XML,
  fixture,
  jobToken,
  manifestRow,
  partNumberOf,
  recordObjectPuts,
  uploadItem,
} from './helpers';
import { PART_SIZE_BYTES } from './server-settings';

const DIAMONDS_BYTES = 2_761_026;
const DIAMONDS_PARTS = Math.ceil(DIAMONDS_BYTES / PART_SIZE_BYTES);
const UPLOAD_URLS = '**/api/objects/uploads/**';

interface PartListing {
  status: string;
  parts: { partNumber: number }[];
}

interface SessionListing {
  sessions: { uploadSessionId: string; file: { filename: string } }[];
}

/** Continues a held request; the page may have aborted it meanwhile, which is fine. */
async function continueQuietly(route: Route): Promise<void> {
  await route.continue().catch(() => undefined);
}

test('failed part is retried with backoff', async ({ page }) => {
  await createJob(page);
  const attempts = new Map<number, number>();
  await page.route(UPLOAD_URLS, async (route) => {
    const partNumber = partNumberOf(route.request().url());
    const attempt = (attempts.get(partNumber) ?? 0) + 1;
    attempts.set(partNumber, attempt);
    if (partNumber === 2 && attempt === 1) await route.abort('connectionreset');
    else await route.continue();
  });
  await addFiles(page, fixture('diamonds.csv'));

  await expectUploaded(page, 'diamonds.csv');
  expect(attempts.get(2)).toBe(2);
  expect(attempts.get(1)).toBe(1);
  await expect(manifestRow(page, 'diamonds.csv')).toContainText('974c2ce1c1ce');
});

test('retry now skips the backoff wait', async ({ page }) => {
  await createJob(page);
  let failuresLeft = 4;
  let attempts = 0;
  await page.route(UPLOAD_URLS, async (route) => {
    attempts += 1;
    if (failuresLeft > 0) {
      failuresLeft -= 1;
      await route.fulfill({ status: 503, contentType: 'application/xml', body: '<Error><Code>SlowDown</Code><Message>Busy</Message></Error>' });
    } else {
      await route.continue();
    }
  });
  await addFiles(page, fixture('penguins_raw.csv'));

  const item = uploadItem(page, 'penguins_raw.csv');
  // After the fourth failure the backoff is at least 4 s, long enough to click through.
  await expect(item.locator('.retry-notice')).toContainText(/Retrying in \d+ seconds \(attempt 4 failed: .*503 SlowDown/);
  await item.getByRole('button', { name: 'Retry penguins_raw.csv now' }).click();
  await expectUploaded(page, 'penguins_raw.csv');
  expect(attempts).toBe(5);
});

test('expired URL is re-signed and the part continues', async ({ page }) => {
  await createJob(page);
  const refreshes = countCalls(page, 'uploads.refreshUrls');
  const puts = recordObjectPuts(page);
  let expiredSent = false;
  await page.route(UPLOAD_URLS, async (route) => {
    if (!expiredSent && partNumberOf(route.request().url()) === 3) {
      expiredSent = true;
      await route.fulfill({ status: 403, contentType: 'application/xml', body: EXPIRED_URL_XML });
    } else {
      await route.continue();
    }
  });
  await addFiles(page, fixture('diamonds.csv'));

  await expectUploaded(page, 'diamonds.csv');
  expect(refreshes.count).toBe(1);
  expect(puts.filter((put) => put.partNumber === 3)).toHaveLength(2);
  // A re-signed URL is no failed attempt, so no retry wait was shown.
  await expect(uploadItem(page, 'diamonds.csv').locator('.retry-notice')).toHaveCount(0);
});

test('reload resumes with only missing parts', async ({ page }) => {
  const jobId = await createJob(page);
  const token = await jobToken(page, jobId);
  page.on('dialog', (dialog) => void dialog.accept());

  // Before the reload, parts 1 and 2 reach the store and every other PUT fails on the network.
  let reloaded = false;
  await page.route(UPLOAD_URLS, async (route) => {
    if (reloaded || partNumberOf(route.request().url()) <= 2) await route.continue();
    else await route.abort('connectionreset');
  });
  await addFiles(page, fixture('diamonds.csv'));
  const sessions = async (): Promise<SessionListing['sessions']> => (await apiQuery<SessionListing>(page, token, 'uploads.listSessions', { jobId })).sessions;
  await expect.poll(async () => (await sessions()).length).toBe(1);
  const [session] = await sessions();
  const uploadSessionId = session?.uploadSessionId ?? '';
  const storedParts = async (): Promise<number[]> =>
    (await apiQuery<PartListing>(page, token, 'uploads.listParts', { uploadSessionId })).parts.map((part) => part.partNumber);
  await expect.poll(storedParts).toEqual([1, 2]);

  await page.reload();
  reloaded = true;
  const unfinished = page.getByTestId('unfinished-upload').filter({ hasText: 'diamonds.csv' });
  await expect(unfinished).toContainText(`2 of ${DIAMONDS_PARTS} parts`);

  const puts = recordObjectPuts(page);
  await addFiles(page, fixture('diamonds.csv'));
  await expectUploaded(page, 'diamonds.csv');
  expect(puts.map((put) => put.partNumber).sort((a, b) => a - b)).toEqual(Array.from({ length: DIAMONDS_PARTS - 2 }, (_, index) => index + 3));
  await expect(manifestRow(page, 'diamonds.csv')).toContainText('974c2ce1c1ce');
  expect(await storedParts()).toEqual(Array.from({ length: DIAMONDS_PARTS }, (_, index) => index + 1));
  await expect(page.getByTestId('unfinished-upload')).toHaveCount(0);
});

test('resume refuses a different file', async ({ page }) => {
  await createJob(page);
  page.on('dialog', (dialog) => void dialog.accept());
  await page.route(UPLOAD_URLS, async (route) => {
    if (partNumberOf(route.request().url()) === 1) await route.continue();
    else await route.abort('connectionreset');
  });
  await addFiles(page, fixture('diamonds.csv'));
  await expect(uploadItem(page, 'diamonds.csv').getByRole('progressbar')).not.toHaveJSProperty('value', 0);
  await page.reload();

  const unfinished = page.getByTestId('unfinished-upload').filter({ hasText: 'diamonds.csv' });
  const chooser = page.waitForEvent('filechooser');
  await unfinished.getByRole('button', { name: 'Choose the file to resume diamonds.csv' }).click();
  await (await chooser).setFiles(fixture('penguins_raw.csv'));
  await expect(unfinished.getByRole('alert')).toContainText('“penguins_raw.csv” is not the file this upload started with (“diamonds.csv”)');
  await expect(unfinished.getByRole('alert')).toContainText('name, size');
});

test('cancel aborts the upload session', async ({ page }) => {
  const jobId = await createJob(page);
  const token = await jobToken(page, jobId);
  const aborts = countCalls(page, 'uploads.abort');
  const held: Route[] = [];
  await page.route(UPLOAD_URLS, (route) => {
    held.push(route);
  });
  await addFiles(page, fixture('diamonds.csv'));
  await expect.poll(() => held.length).toBeGreaterThan(0);

  await uploadItem(page, 'diamonds.csv').getByRole('button', { name: 'Cancel the upload of diamonds.csv' }).click();
  await expect(uploadItem(page, 'diamonds.csv').locator('.status')).toHaveText('Cancelled');
  await expect.poll(() => aborts.count).toBe(1);
  await expect.poll(async () => (await apiQuery<SessionListing>(page, token, 'uploads.listSessions', { jobId })).sessions).toEqual([]);
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  await expect(page.getByText('No datasets yet. Uploaded files appear here.')).toBeVisible();
});

test('pause and resume a file', async ({ page }) => {
  await createJob(page);
  let holding = true;
  const held: Route[] = [];
  await page.route(UPLOAD_URLS, async (route) => {
    if (holding) held.push(route);
    else await route.continue();
  });
  await addFiles(page, fixture('diamonds.csv'));
  await expect.poll(() => held.length).toBeGreaterThan(0);

  const item = uploadItem(page, 'diamonds.csv');
  await item.getByRole('button', { name: 'Pause diamonds.csv' }).click();
  await expect(item.locator('.status')).toHaveText('Paused');
  holding = false;
  await item.getByRole('button', { name: 'Resume diamonds.csv' }).click();
  await expectUploaded(page, 'diamonds.csv');
  for (const route of held) await continueQuietly(route);
});

test('offline pauses and online resumes', async ({ page, context }) => {
  await createJob(page);
  let holding = true;
  const held: Route[] = [];
  await page.route(UPLOAD_URLS, async (route) => {
    if (holding) held.push(route);
    else await route.continue();
  });
  await addFiles(page, fixture('diamonds.csv'));
  await expect.poll(() => held.length).toBeGreaterThan(0);

  await context.setOffline(true);
  const item = uploadItem(page, 'diamonds.csv');
  await expect(item.locator('.status')).toHaveText('Paused: offline');
  await expect(page.getByText('The browser is offline.')).toBeVisible();
  holding = false;
  await context.setOffline(false);
  await expectUploaded(page, 'diamonds.csv');
  for (const route of held) await continueQuietly(route);
});

test('closing the tab during upload asks first', async ({ page }) => {
  await createJob(page);
  await page.route(UPLOAD_URLS, () => undefined);
  await addFiles(page, fixture('diamonds.csv'));
  await expect(uploadItem(page, 'diamonds.csv').locator('.status')).toHaveText('Uploading 0%');
  // Chromium shows the dialog only after the user interacted with the page.
  await page.getByRole('heading', { name: 'Add files' }).click();

  const dialog = page.waitForEvent('dialog');
  await page.close({ runBeforeUnload: true });
  const shown = await dialog;
  expect(shown.type()).toBe('beforeunload');
  await shown.accept();
});
