import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';

import { addFiles, createJob, errorAlert, fixture, manifestRow, recordObjectPuts, uploadItem } from './helpers';
import { PART_SIZE_BYTES } from './server-settings';

const PENGUINS_SHA256 = '0be8f7ce4f18d968cedb341a6f57f331c1301c96a8121f2e0d750d0c06ab0e8d';
const DIAMONDS_SHA256 = '974c2ce1c1ce245508bd357ca11a7fba2b37813ecf0f1158808a9249ebff67a1';
const DIAMONDS_BYTES = 2_761_026;

test('primary upload shows manifest and preview', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await createJob(page, 'Palmer penguins');
  const puts = recordObjectPuts(page);

  await addFiles(page, fixture('penguins_raw.csv'));
  const item = uploadItem(page, 'penguins_raw.csv');
  await expect(item.getByRole('combobox', { name: 'Role of penguins_raw.csv' })).toHaveValue('primary_dataset');
  await page.getByRole('button', { name: 'Upload 1 file' }).click();

  await expect(item.getByText('Uploaded', { exact: true })).toBeVisible();
  await expect(item.getByRole('progressbar', { name: 'Upload progress of penguins_raw.csv' })).toHaveJSProperty('value', 100);
  expect(puts).toHaveLength(1);

  const row = manifestRow(page, 'penguins_raw.csv');
  await expect(row).toContainText('Primary dataset');
  await expect(row).toContainText('53,703 bytes');
  await expect(row).toContainText('0be8f7ce4f18');
  await expect(row).toContainText('CSV');

  await row.getByRole('button', { name: 'Copy SHA-256 of penguins_raw.csv' }).click();
  await expect(row.getByRole('button', { name: 'Copy SHA-256 of penguins_raw.csv' })).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(PENGUINS_SHA256);
  await expect(page.locator('.fingerprint code')).toHaveText(/^sha256:[0-9a-f]{64}$/);

  await expect(page.getByTestId('preview-row-count')).toHaveText(/^344\s+exact$/);
  await expect(page.getByRole('columnheader', { name: /Sample Number/ })).toBeVisible();
  await expect(page.getByLabel('Dataset', { exact: true })).toHaveValue(/^ds_0be8f7ce4f18d968$/);
  // The wide preview table scrolls inside its box instead of widening the page.
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
});

test('upload status is announced', async ({ page }) => {
  await createJob(page);
  await addFiles(page, fixture('penguins_raw.csv'));
  const liveRegion = page.locator('[role="status"][aria-live="polite"]');
  await expect(liveRegion).toHaveText(/1 file added/);
  await page.getByRole('button', { name: 'Upload 1 file' }).click();
  await expect(liveRegion).toHaveText('penguins_raw.csv uploaded.');
});

test('secondary upload keeps primary preview', async ({ page }) => {
  await createJob(page);
  await addFiles(page, fixture('penguins_raw.csv'));
  await page.getByRole('button', { name: 'Upload 1 file' }).click();
  await expect(page.getByRole('columnheader', { name: /Sample Number/ })).toBeVisible();

  await addFiles(page, fixture('sample_utf8bom.csv'));
  await expect(page.getByRole('combobox', { name: 'Role of sample_utf8bom.csv' })).toHaveValue('secondary_dataset');
  await page.getByRole('button', { name: 'Upload 1 file' }).click();

  await expect(uploadItem(page, 'sample_utf8bom.csv').getByText('Uploaded', { exact: true })).toBeVisible();
  await expect(manifestRow(page, 'sample_utf8bom.csv')).toContainText('Secondary dataset');
  await expect(manifestRow(page, 'penguins_raw.csv')).toContainText('Primary dataset');
  await expect(page.getByLabel('Dataset', { exact: true })).toHaveValue(/^ds_0be8f7ce4f18d968$/);
  await expect(page.getByRole('columnheader', { name: /Sample Number/ })).toBeVisible();
  await expect(page.getByTestId('preview-row-count')).toContainText('344');
});

test('preview switches to another dataset', async ({ page }) => {
  await createJob(page);
  await addFiles(page, [fixture('penguins_raw.csv'), fixture('sample_utf8bom.csv')]);
  await page.getByRole('button', { name: 'Upload 2 files' }).click();
  await expect(manifestRow(page, 'sample_utf8bom.csv')).toBeVisible();
  await expect(manifestRow(page, 'penguins_raw.csv')).toBeVisible();

  await page.getByLabel('Dataset', { exact: true }).selectOption({ label: 'sample_utf8bom.csv (Secondary dataset)' });
  await expect(page.getByRole('columnheader', { name: /Sample Number/ })).toHaveCount(0);
  await expect(page.getByTestId('preview-row-count')).toContainText('exact');
});

test('multipart upload sends every part', async ({ page }) => {
  await createJob(page);
  const puts = recordObjectPuts(page);
  await addFiles(page, fixture('diamonds.csv'));
  await page.getByRole('button', { name: 'Upload 1 file' }).click();

  const item = uploadItem(page, 'diamonds.csv');
  await expect(item.getByText('Uploaded', { exact: true })).toBeVisible();
  expect(puts).toHaveLength(Math.ceil(DIAMONDS_BYTES / PART_SIZE_BYTES));
  const row = manifestRow(page, 'diamonds.csv');
  await expect(row).toContainText('2,761,026 bytes');
  await expect(row.locator('code')).toHaveAttribute('title', DIAMONDS_SHA256);
  await expect(page.getByTestId('preview-row-count')).toHaveText(/^53,940\s+exact$/);
});

test('empty file uploads without preview', async ({ page }) => {
  await createJob(page);
  await addFiles(page, { name: 'empty.csv', mimeType: 'text/csv', buffer: Buffer.alloc(0) });
  await page.getByRole('button', { name: 'Upload 1 file' }).click();

  const item = uploadItem(page, 'empty.csv');
  await expect(item.getByText('Uploaded', { exact: true })).toBeVisible();
  await expect(item.getByRole('progressbar')).toHaveJSProperty('value', 100);
  await expect(manifestRow(page, 'empty.csv')).toContainText('0 bytes');
  await expect(page.getByText('The file is empty or holds only blank lines, so there is nothing to preview.')).toBeVisible();
});

test('dropped PUT is retried', async ({ page }) => {
  await createJob(page);
  let attempts = 0;
  await page.route('**/api/objects/**', async (route) => {
    attempts += 1;
    if (attempts === 1) await route.abort('connectionreset');
    else await route.continue();
  });
  await addFiles(page, fixture('penguins_raw.csv'));
  await page.getByRole('button', { name: 'Upload 1 file' }).click();

  await expect(uploadItem(page, 'penguins_raw.csv').getByText('Uploaded', { exact: true })).toBeVisible();
  expect(attempts).toBe(2);
  await expect(manifestRow(page, 'penguins_raw.csv')).toContainText('0be8f7ce4f18');
});

test('unsupported dataset extension uploads nothing', async ({ page }) => {
  await createJob(page);
  const puts = recordObjectPuts(page);
  await addFiles(page, { name: 'codebook.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n') });
  const role = page.getByRole('combobox', { name: 'Role of codebook.pdf' });
  await expect(role).toHaveValue('other');
  await role.selectOption('primary_dataset');
  await page.getByRole('button', { name: 'Upload 1 file' }).click();

  const expected =
    '“codebook.pdf” cannot be uploaded as Primary dataset: a dataset must be a .csv, .tsv, .txt, .xlsx, .xls or .dta file.';
  await expect(errorAlert(page)).toContainText(expected);
  await expect(uploadItem(page, 'codebook.pdf')).toContainText(expected);
  await expect(uploadItem(page, 'codebook.pdf').getByText('Ready', { exact: true })).toBeVisible();
  await expect(page.getByText('No datasets yet. Uploaded files appear here.')).toBeVisible();
  expect(puts).toHaveLength(0);

  await page.getByRole('button', { name: '简体中文' }).click();
  await expect(errorAlert(page)).toContainText('“codebook.pdf”不能以“主数据集”角色上传');
});

test('format mismatch fails at finalize', async ({ page }) => {
  await createJob(page);
  await addFiles(page, { name: 'broken.csv', mimeType: 'text/csv', buffer: Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x01]) });
  await page.getByRole('button', { name: 'Upload 1 file' }).click();

  const item = uploadItem(page, 'broken.csv');
  await expect(item.getByText('Failed', { exact: true })).toBeVisible();
  await expect(item).toContainText('The content of “broken.csv” does not match its extension: it is not a valid CSV file.');
  // The bytes themselves were rejected, so sending them again cannot help.
  await expect(item.getByRole('button', { name: 'Retry broken.csv' })).toHaveCount(0);
  await expect(page.getByText('No datasets yet. Uploaded files appear here.')).toBeVisible();
});

test('job page without token offers paste', async ({ page, browser }) => {
  const jobId = await createJob(page, 'Shared job');
  const token = await page.evaluate((id) => JSON.parse(localStorage.getItem(`inlet.job.${id}`) ?? '{}').token as string, jobId);
  await addFiles(page, fixture('penguins_raw.csv'));
  await page.getByRole('button', { name: 'Upload 1 file' }).click();
  await expect(manifestRow(page, 'penguins_raw.csv')).toBeVisible();

  const other = await browser.newContext({ locale: 'en-US' });
  const otherPage = await other.newPage();
  await otherPage.goto(`/jobs/${jobId}`);
  await expect(otherPage.getByRole('heading', { name: 'No job token' })).toBeVisible();
  await otherPage.getByLabel('Job token').fill('inlet_job_not-a-real-token');
  await otherPage.getByRole('button', { name: 'Open job' }).click();
  await expect(errorAlert(otherPage)).toHaveText('The job token is not valid: it is unknown or was revoked.');

  await otherPage.getByLabel('Job token').fill(token);
  await otherPage.getByRole('button', { name: 'Open job' }).click();
  await expect(otherPage.getByRole('heading', { name: 'Shared job' })).toBeVisible();
  await expect(manifestRow(otherPage, 'penguins_raw.csv')).toContainText('Primary dataset');
  expect(otherPage.url()).not.toContain(token);
  await other.close();
});

test('start page lists jobs of this browser', async ({ page }) => {
  const jobId = await createJob(page, 'Listed job');
  await page.goto('/');
  const entry = page.getByRole('listitem').filter({ hasText: jobId });
  await expect(entry.getByRole('link', { name: 'Listed job' })).toHaveAttribute('href', `/jobs/${jobId}`);
  await entry.getByRole('button', { name: 'Forget job Listed job in this browser' }).click();
  await expect(page.getByText('No jobs in this browser yet.')).toBeVisible();
});

test('job page has no accessibility violations', async ({ page }) => {
  await createJob(page);
  await addFiles(page, fixture('penguins_raw.csv'));
  await page.getByRole('button', { name: 'Upload 1 file' }).click();
  await expect(page.getByRole('columnheader', { name: /Sample Number/ })).toBeVisible();

  const results = await new AxeBuilder({ page }).analyze();
  expect(results.violations.map((violation) => `${violation.id}: ${violation.help}`)).toEqual([]);
});
