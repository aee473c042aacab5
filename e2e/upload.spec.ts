import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';

import { addFiles, createJob, errorAlert, expectUploaded, fixture, manifestRow, recordObjectPuts, uploadItem } from './helpers';
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
  await expectUploaded(page, 'penguins_raw.csv');
  await expect(item.getByRole('progressbar', { name: 'Upload progress of penguins_raw.csv' })).toHaveJSProperty('value', 100);
  expect(puts).toHaveLength(1);

  const row = manifestRow(page, 'penguins_raw.csv');
  await expect(row.getByRole('combobox', { name: 'Role of penguins_raw.csv' })).toHaveValue('primary_dataset');
  await expect(row).toContainText('53,703 bytes');
  await expect(row).toContainText('0be8f7ce4f18');
  await expect(row).toContainText('CSV');

  await row.getByRole('button', { name: 'Copy SHA-256 of penguins_raw.csv' }).click();
  await expect(row.getByRole('button', { name: 'Copy SHA-256 of penguins_raw.csv' })).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(PENGUINS_SHA256);
  await expect(page.getByTestId('job-fingerprint')).toHaveText(/^sha256:[0-9a-f]{64}$/);

  await expect(page.getByTestId('preview-row-count')).toHaveText(/^344\s+exact$/);
  await expect(page.getByRole('columnheader', { name: /Sample Number/ })).toBeVisible();
  // The wide preview table scrolls inside its box instead of widening the page.
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
});

test('several formats upload at once', async ({ page }) => {
  await createJob(page);
  await addFiles(page, [fixture('penguins_raw.csv'), fixture('deaths.xlsx'), fixture('dta117_sample.dta'), fixture('SOURCES.md')]);

  await expect(uploadItem(page, 'penguins_raw.csv').getByRole('combobox')).toHaveValue('primary_dataset');
  await expect(uploadItem(page, 'deaths.xlsx').getByRole('combobox')).toHaveValue('secondary_dataset');
  await expect(uploadItem(page, 'dta117_sample.dta').getByRole('combobox')).toHaveValue('secondary_dataset');
  await expect(uploadItem(page, 'SOURCES.md').getByRole('combobox')).toHaveValue('other');
  for (const filename of ['penguins_raw.csv', 'deaths.xlsx', 'dta117_sample.dta', 'SOURCES.md']) await expectUploaded(page, filename);

  await expect(manifestRow(page, 'deaths.xlsx')).toContainText('Excel');
  await expect(manifestRow(page, 'dta117_sample.dta')).toContainText('Stata');
  await expect(manifestRow(page, 'SOURCES.md')).toContainText('Other');
  await expect(page.getByTestId('overall-progress')).toContainText('(100%)');
  await expect(page.getByTestId('preview-row-count')).toHaveText(/^344\s+exact$/);
  await expect(page.getByTestId('upload-announcements')).toContainText('uploaded.');
});

test('multipart upload hashes every part', async ({ page }) => {
  await createJob(page);
  const puts = recordObjectPuts(page);
  const workers: string[] = [];
  page.on('worker', (worker) => workers.push(worker.url()));
  await addFiles(page, fixture('diamonds.csv'));
  await expectUploaded(page, 'diamonds.csv');

  const partCount = Math.ceil(DIAMONDS_BYTES / PART_SIZE_BYTES);
  expect(puts.map((put) => put.partNumber).sort((a, b) => a - b)).toEqual(Array.from({ length: partCount }, (_, index) => index + 1));
  for (const put of puts) expect(put.checksum).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  // The digests were computed in Web Workers, off the page's main thread.
  expect(workers.length).toBeGreaterThan(0);
  const row = manifestRow(page, 'diamonds.csv');
  await expect(row).toContainText('2,761,026 bytes');
  await expect(row.locator('code')).toHaveAttribute('title', DIAMONDS_SHA256);
  await expect(page.getByTestId('preview-row-count')).toHaveText(/^53,940\s+exact$/);
  // Progress was announced in steps on the way.
  await expect(page.getByTestId('upload-announcements')).toContainText('diamonds.csv uploaded.');
});

test('empty file uploads without preview', async ({ page }) => {
  await createJob(page);
  await addFiles(page, { name: 'empty.csv', mimeType: 'text/csv', buffer: Buffer.alloc(0) });
  await expectUploaded(page, 'empty.csv');
  await expect(uploadItem(page, 'empty.csv').getByRole('progressbar')).toHaveJSProperty('value', 100);
  await expect(manifestRow(page, 'empty.csv')).toContainText('0 bytes');
  await expect(page.getByText('The file is empty or holds only blank lines, so there is nothing to preview.')).toBeVisible();
});

test('bad bytes are refused before upload', async ({ page }) => {
  await createJob(page);
  const puts = recordObjectPuts(page);
  let declarations = 0;
  page.on('request', (request) => {
    if (request.url().includes('/api/trpc/bundles.declare')) declarations += 1;
  });
  await addFiles(page, [
    { name: 'broken.xlsx', mimeType: 'application/octet-stream', buffer: Buffer.from('id,value\n1,2\n') },
    { name: 'broken.csv', mimeType: 'text/csv', buffer: Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x01]) },
  ]);

  await expect(uploadItem(page, 'broken.xlsx')).toContainText('The content of “broken.xlsx” does not match its extension: it is not a valid Excel file.');
  await expect(uploadItem(page, 'broken.csv')).toContainText('The content of “broken.csv” does not match its extension: it is not a valid CSV file.');
  await expect(uploadItem(page, 'broken.csv').locator('.status')).toHaveText('Not uploaded');
  await expect(page.getByText('No datasets yet. Uploaded files appear here.')).toBeVisible();
  expect(puts).toHaveLength(0);
  expect(declarations).toBe(0);
});

test('first upload without primary is rejected', async ({ page }) => {
  await createJob(page);
  await addFiles(page, fixture('SOURCES.md'));
  await expect(uploadItem(page, 'SOURCES.md')).toContainText('The first upload of a job needs exactly one file with the role “Primary dataset”.');
  await expect(uploadItem(page, 'SOURCES.md').locator('.status')).toHaveText('Not uploaded');
});

test('folder drop sends base names', async ({ page }) => {
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'inlet-folder-'));
  await fs.mkdir(path.join(folder, 'wave1'));
  await fs.mkdir(path.join(folder, 'wave2'));
  await fs.copyFile(fixture('penguins_raw.csv'), path.join(folder, 'wave1', 'data.csv'));
  await fs.copyFile(fixture('sample_utf8bom.csv'), path.join(folder, 'wave2', 'data.csv'));

  await createJob(page);
  let declared: { filename: string; relativePath?: string }[] = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/trpc/bundles.declare')) declared = (request.postDataJSON() as { files: typeof declared }).files;
  });
  await page.getByTestId('folder-input').setInputFiles(folder);

  const items = page.getByTestId('upload-item');
  await expect(items).toHaveCount(2);
  await expect(items.filter({ hasText: 'in folder' })).toHaveCount(2);
  await expect(items.locator('.status')).toHaveText(['Uploaded', 'Uploaded']);
  expect(declared.map((file) => file.filename)).toEqual(['data.csv', 'data.csv']);
  expect(declared.map((file) => file.relativePath?.replace(/^[^/]+\//, '')).sort()).toEqual(['wave1/data.csv', 'wave2/data.csv']);
  await fs.rm(folder, { recursive: true });
});

test('job page has no serious accessibility violations', async ({ page }) => {
  await createJob(page);
  await addFiles(page, [fixture('penguins_raw.csv'), fixture('sample_utf8bom.csv')]);
  await expectUploaded(page, 'sample_utf8bom.csv');
  await expect(page.getByRole('columnheader', { name: /Sample Number/ })).toBeVisible();

  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  expect(serious.map((violation) => `${violation.id}: ${violation.help}`)).toEqual([]);
});

test('start page lists jobs of this browser', async ({ page }) => {
  const jobId = await createJob(page, 'Listed job');
  await page.goto('/');
  const entry = page.getByRole('listitem').filter({ hasText: jobId });
  await expect(entry.getByRole('link', { name: 'Listed job' })).toHaveAttribute('href', `/jobs/${jobId}`);
  await entry.getByRole('button', { name: 'Forget job Listed job in this browser' }).click();
  await expect(page.getByText('No jobs in this browser yet.')).toBeVisible();
  await expect(errorAlert(page)).toHaveCount(0);
});
