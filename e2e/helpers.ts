import path from 'node:path';

import { expect, type Locator, type Page } from '@playwright/test';

export const FIXTURES_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'real');

export function fixture(name: string): string {
  return path.join(FIXTURES_DIR, name);
}

/** Creates a job from the start page in English and waits for its job page; returns the job id. */
export async function createJob(page: Page, title?: string): Promise<string> {
  await page.goto('/');
  if (title !== undefined) await page.getByLabel('Title (optional)').fill(title);
  await page.getByRole('button', { name: 'Create job' }).click();
  await page.waitForURL(/\/jobs\/job_[0-9a-f]{20}$/);
  await expect(page.getByRole('heading', { name: 'Add files' })).toBeVisible();
  return new URL(page.url()).pathname.split('/').pop() ?? '';
}

/** Adds files to the drop zone through its file input, as a drop or the file dialog would. */
export async function addFiles(page: Page, files: Parameters<Locator['setInputFiles']>[0]): Promise<void> {
  await page.locator('.dropzone input[type="file"]').first().setInputFiles(files);
}

/** Finds the uploader's list entry of one file. */
export function uploadItem(page: Page, filename: string): Locator {
  return page.getByTestId('upload-item').filter({ hasText: filename });
}

/** Waits until a file's upload has finished. */
export async function expectUploaded(page: Page, filename: string): Promise<void> {
  await expect(uploadItem(page, filename).locator('.status')).toHaveText('Uploaded');
}

/** Finds the page's error alerts. Next's route announcer is an alert too, but without the class. */
export function errorAlert(page: Page): Locator {
  return page.locator('.error[role="alert"]');
}

/** Finds the manifest table's row of one file. */
export function manifestRow(page: Page, filename: string): Locator {
  return page.locator('.manifest-table tbody tr').filter({ has: page.getByRole('rowheader', { name: filename, exact: true }) });
}

export interface RecordedPut {
  url: string;
  partNumber: number;
  checksum: string | null;
}

/** Records the PUTs the page sends to the object store, with their part numbers and checksums. */
export function recordObjectPuts(page: Page): RecordedPut[] {
  const puts: RecordedPut[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (request.method() !== 'PUT' || !url.pathname.startsWith('/api/objects/')) return;
    puts.push({ url: request.url(), partNumber: partNumberOf(request.url()), checksum: request.headers()['x-amz-checksum-sha256'] ?? null });
  });
  return puts;
}

/** Returns the part number of a signed part URL (`/api/objects/uploads/<session>/<part>`). */
export function partNumberOf(url: string): number {
  return Number(new URL(url).pathname.split('/').pop());
}

/** Counts the page's calls of one tRPC procedure, such as `uploads.refreshUrls`. */
export function countCalls(page: Page, procedure: string): { count: number } {
  const counter = { count: 0 };
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === `/api/trpc/${procedure}`) counter.count += 1;
  });
  return counter;
}

/** Reads the job token that the start page stored in this browser. */
export async function jobToken(page: Page, jobId: string): Promise<string> {
  return page.evaluate((id) => (JSON.parse(localStorage.getItem(`inlet.job.${id}`) ?? '{}') as { token: string }).token, jobId);
}

/** Calls a tRPC query over HTTP with the job token, as a script would, and returns its data. */
export async function apiQuery<T>(page: Page, token: string, procedure: string, input: unknown): Promise<T> {
  const response = await page.request.get(`/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input))}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status(), await response.text()).toBe(200);
  return ((await response.json()) as { result: { data: T } }).result.data;
}

/** The store's response to a PUT on an expired signed URL, as the embedded store sends it. */
export const EXPIRED_URL_XML =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>The signed URL has expired; ask uploads.refreshUrls for a new one.</Message></Error>';
