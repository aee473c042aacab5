import { expect, test } from '@playwright/test';

import { addFiles, createJob, fixture, manifestRow, uploadItem } from './helpers';

test('language switch shows job page in Chinese', async ({ page }) => {
  await createJob(page);
  await addFiles(page, fixture('penguins_raw.csv'));
  await page.getByRole('button', { name: 'Upload 1 file' }).click();
  await expect(uploadItem(page, 'penguins_raw.csv').getByText('Uploaded', { exact: true })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');

  await page.getByRole('button', { name: '简体中文' }).click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page.getByRole('heading', { name: '清单' })).toBeVisible();
  await expect(page.getByRole('heading', { name: '预览' })).toBeVisible();
  await expect(page.getByRole('button', { name: '选择文件' })).toBeVisible();
  // The upload that finished in English is still listed, now in Chinese.
  await expect(uploadItem(page, 'penguins_raw.csv').getByText('已上传', { exact: true })).toBeVisible();
  await expect(manifestRow(page, 'penguins_raw.csv')).toContainText('主数据集');
  await expect(manifestRow(page, 'penguins_raw.csv')).toContainText('53,703字节');
  await expect(page.getByTestId('preview-row-count')).toHaveText(/^344\s+精确$/);
  await expect(page.getByRole('button', { name: '简体中文' })).toHaveAttribute('aria-pressed', 'true');

  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page.getByRole('heading', { name: '清单' })).toBeVisible();
  await expect(manifestRow(page, 'penguins_raw.csv')).toContainText('主数据集');

  await page.getByRole('button', { name: 'English' }).click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('heading', { name: 'Manifest' })).toBeVisible();
});

test('Chinese browser starts in Chinese', async ({ browser }) => {
  const context = await browser.newContext({ locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page.getByRole('heading', { name: '上传任务', exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: '新建任务' })).toBeVisible();
  await context.close();
});

test('English browser starts in English', async ({ browser }) => {
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('button', { name: 'Create job' })).toBeVisible();
  await context.close();
});
