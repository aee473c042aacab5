import { expect, test } from '@playwright/test';

import { addFiles, createJob, fixture, uploadItem } from './helpers';

// Run with UPDATE_SCREENSHOTS=1 to refresh the README's screenshots in docs/.
test('job page screenshots', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await createJob(page, 'Palmer penguins');

  // An upload in progress: one part is held back, another fails and waits to retry.
  let failed = false;
  await page.route('**/api/objects/uploads/**', async (route) => {
    const partNumber = Number(new URL(route.request().url()).pathname.split('/').pop());
    if (partNumber === 5) return;
    if (partNumber === 4 && !failed) {
      failed = true;
      await route.abort('connectionreset');
      return;
    }
    await route.continue();
  });
  await addFiles(page, [fixture('penguins_raw.csv'), fixture('diamonds.csv'), fixture('deaths.xlsx'), fixture('dta117_sample.dta')]);
  await expect(uploadItem(page, 'penguins_raw.csv').locator('.status')).toHaveText('Uploaded');
  await expect(uploadItem(page, 'diamonds.csv').locator('.status')).toHaveText(/Uploading \d+%/);
  await page.screenshot({ path: 'docs/screenshot-uploading.png', fullPage: true });
  // Unrouting lets the held part through to the server.
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  await expect(uploadItem(page, 'diamonds.csv').locator('.status')).toHaveText('Uploaded');

  await expect(page.getByRole('columnheader', { name: /Sample Number/ })).toBeVisible();
  await page.screenshot({ path: 'docs/screenshot-job.png', fullPage: true });

  await page.getByRole('button', { name: '简体中文' }).click();
  await expect(page.getByRole('heading', { name: '清单' })).toBeVisible();
  await expect(page.getByTestId('preview-row-count')).toContainText('精确');
  await page.screenshot({ path: 'docs/screenshot-job-zh.png', fullPage: true });
  await page.getByRole('button', { name: 'English' }).click();
  await expect(page.getByRole('heading', { name: 'Manifest' })).toBeVisible();
});
