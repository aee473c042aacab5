import fs from 'node:fs/promises';

import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';

import { addFiles, createJob, fixture, manifestRow, uploadItem } from './helpers';

test('language switch shows job page in Chinese', async ({ page }) => {
  await createJob(page);
  await addFiles(page, fixture('penguins_raw.csv'));
  await expect(uploadItem(page, 'penguins_raw.csv').locator('.status')).toHaveText('Uploaded');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');

  await page.getByRole('button', { name: '简体中文' }).click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page.getByRole('heading', { name: '清单' })).toBeVisible();
  await expect(page.getByRole('heading', { name: '预览' })).toBeVisible();
  await expect(page.getByRole('button', { name: '选择文件', exact: true })).toBeVisible();
  // The upload that finished in English is still listed, now in Chinese.
  await expect(uploadItem(page, 'penguins_raw.csv').locator('.status')).toHaveText('已上传');
  await expect(manifestRow(page, 'penguins_raw.csv').getByRole('combobox')).toHaveValue('primary_dataset');
  await expect(manifestRow(page, 'penguins_raw.csv').getByRole('combobox').locator('option:checked')).toHaveText('主数据集');
  await expect(manifestRow(page, 'penguins_raw.csv')).toContainText('53,703字节');
  await expect(page.getByTestId('preview-row-count')).toHaveText(/^344\s+精确$/);
  await expect(page.getByRole('button', { name: '简体中文' })).toHaveAttribute('aria-pressed', 'true');

  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page.getByRole('heading', { name: '清单' })).toBeVisible();

  await page.getByRole('button', { name: 'English' }).click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('heading', { name: 'Manifest' })).toBeVisible();
});

test('Chinese screens explain problems in Chinese', async ({ browser }) => {
  const context = await browser.newContext({ locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await page.getByRole('button', { name: '新建任务' }).click();
  await page.waitForURL(/\/jobs\/job_[0-9a-f]{20}$/);

  await page.route('**/api/objects/uploads/**', async (route) => {
    await route.fulfill({ status: 503, contentType: 'application/xml', body: '<Error><Code>SlowDown</Code><Message>Busy</Message></Error>' });
  });
  const gbkCsv = await fs.readFile(fixture('nbs_province_annual_2_gbk.csv'));
  await addFiles(page, [{ name: 'nbs_province_annual_2_gbk.csv', mimeType: 'text/csv', buffer: gbkCsv }, { name: 'broken.dta', mimeType: 'application/octet-stream', buffer: Buffer.from('not stata') }]);
  await expect(uploadItem(page, 'broken.dta')).toContainText('“broken.dta”的内容与扩展名不符：它不是有效的 Stata 文件。');
  const retrying = uploadItem(page, 'nbs_province_annual_2_gbk.csv').locator('.retry-notice');
  await expect(retrying).toContainText(/\d+ 秒后重试（第 1 次尝试失败：服务器的文件存储拒绝了第 1 分片（503 SlowDown）/);
  await expect(page.getByRole('button', { name: '立即重试 nbs_province_annual_2_gbk.csv' })).toBeVisible();

  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  expect(serious.map((violation) => `${violation.id}: ${violation.help}`)).toEqual([]);

  await page.unrouteAll({ behavior: 'ignoreErrors' });
  await page.getByRole('button', { name: '立即重试 nbs_province_annual_2_gbk.csv' }).click();
  await expect(uploadItem(page, 'nbs_province_annual_2_gbk.csv').locator('.status')).toHaveText('已上传');
  await expect(page.getByTestId('upload-announcements')).toContainText('nbs_province_annual_2_gbk.csv 已上传。');
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
