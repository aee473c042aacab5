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
  await page.locator('.dropzone input[type="file"]').setInputFiles(files);
}

/** Finds the uploader's list entry of one file, in either language. */
export function uploadItem(page: Page, filename: string): Locator {
  return page.locator('.upload-list > li').filter({ hasText: filename });
}

/** Finds the page's error alerts. Next's route announcer is an alert too, but without the class. */
export function errorAlert(page: Page): Locator {
  return page.locator('.error[role="alert"]');
}

/** Finds the manifest table's row of one file. */
export function manifestRow(page: Page, filename: string): Locator {
  return page.locator('.manifest-table tbody tr').filter({ hasText: filename });
}

/** Records the PUTs the page sends to the object store. */
export function recordObjectPuts(page: Page): string[] {
  const urls: string[] = [];
  page.on('request', (request) => {
    if (request.method() === 'PUT' && new URL(request.url()).pathname.startsWith('/api/objects/')) urls.push(request.url());
  });
  return urls;
}
