import { expect, test } from '@playwright/test';

import { addFiles, createJob, fixture } from './helpers';

// Run with UPDATE_SCREENSHOTS=1 to refresh the README's screenshots in docs/.
test('job page screenshots', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await createJob(page, 'Palmer penguins');
  await addFiles(page, fixture('penguins_raw.csv'));
  await page.getByRole('button', { name: 'Upload 1 file' }).click();
  await expect(page.getByRole('columnheader', { name: /Sample Number/ })).toBeVisible();
  await page.screenshot({ path: 'docs/screenshot-job.png', fullPage: true });

  await page.getByRole('button', { name: '简体中文' }).click();
  await expect(page.getByRole('heading', { name: '清单' })).toBeVisible();
  await expect(page.getByTestId('preview-row-count')).toContainText('精确');
  await page.screenshot({ path: 'docs/screenshot-job-zh.png', fullPage: true });
});
