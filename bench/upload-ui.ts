/**
 * Compares a 256 MiB upload through the real job page in Chromium with curl PUTs of the same parts
 * to the same server in the same run: same part size, 4 parts in flight. Prints both throughputs
 * and their ratio. Needs a production build (`npm run build`) and Debian's /usr/bin/chromium.
 *
 *   npx tsx bench/upload-ui.ts [sizeMiB]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from '@playwright/test';

const SIZE_MIB = Number(process.argv[2] ?? 256);
const PORT = 3290;
const BASE_URL = `http://127.0.0.1:${PORT}`;
const PARTS_IN_FLIGHT = 4;
const MIB = 1024 * 1024;

async function waitForHealth(): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    try {
      if ((await fetch(`${BASE_URL}/api/health`)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`The server did not answer ${BASE_URL}/api/health within 30 s`);
}

async function mutate<T>(procedure: string, input: unknown, token?: string): Promise<T> {
  const response = await fetch(`${BASE_URL}/api/trpc/${procedure}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(input),
  });
  const body = (await response.json()) as { result?: { data: T }; error?: unknown };
  if (!response.ok || body.result === undefined) throw new Error(`${procedure} failed: ${JSON.stringify(body.error)}`);
  return body.result.data;
}

function curlPut(url: string, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const curl = spawn('curl', ['-sS', '-f', '-o', '/dev/null', '-X', 'PUT', '--data-binary', `@${file}`, url]);
    curl.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl exited with ${code} for ${url}`))));
  });
}

/** Uploads the file with curl, PARTS_IN_FLIGHT parts at a time; returns the seconds from session to receipt. */
async function uploadWithCurl(file: string, sizeBytes: number, workDir: string): Promise<number> {
  const job = await mutate<{ jobId: string; token: string }>('jobs.create', { title: 'curl baseline' });
  const bundle = await mutate<{ bundleId: string; files: { fileId: string }[] }>(
    'bundles.declare',
    { jobId: job.jobId, files: [{ filename: 'bench.csv', sizeBytes, role: 'primary_dataset' }] },
    job.token,
  );
  const fileId = bundle.files[0]?.fileId ?? '';

  // The parts are cut into files before the clock starts, so curl reads them straight from disk.
  const bytes = await fs.readFile(file);
  const started = performance.now();
  const session = await mutate<{ uploadSessionId: string; partSize: number; partCount: number; parts: { partNumber: number; url: string }[] }>(
    'uploads.createSession',
    { jobId: job.jobId, bundleId: bundle.bundleId, fileId },
    job.token,
  );
  const splitStarted = performance.now();
  const partFiles: string[] = [];
  for (let partNumber = 1; partNumber <= session.partCount; partNumber += 1) {
    const partFile = path.join(workDir, `part-${partNumber}`);
    await fs.writeFile(partFile, bytes.subarray((partNumber - 1) * session.partSize, partNumber * session.partSize));
    partFiles.push(partFile);
  }
  const splitSeconds = (performance.now() - splitStarted) / 1000;

  const queue = [...session.parts];
  await Promise.all(
    Array.from({ length: PARTS_IN_FLIGHT }, async () => {
      for (let part = queue.shift(); part !== undefined; part = queue.shift()) await curlPut(part.url, partFiles[part.partNumber - 1] ?? '');
    }),
  );
  // The part list comes from the server, as the store's ETags are the part digests curl did not compute.
  const listing = (await (
    await fetch(`${BASE_URL}/api/trpc/uploads.listParts?input=${encodeURIComponent(JSON.stringify({ uploadSessionId: session.uploadSessionId }))}`, {
      headers: { authorization: `Bearer ${job.token}` },
    })
  ).json()) as { result: { data: { parts: { partNumber: number; etag: string }[] } } };
  const receipt = await mutate<{ success: boolean }>(
    'uploads.finalize',
    { uploadSessionId: session.uploadSessionId, parts: listing.result.data.parts.map((part) => ({ partNumber: part.partNumber, etag: part.etag })) },
    job.token,
  );
  if (!receipt.success) throw new Error('curl baseline: finalize failed');
  return (performance.now() - started) / 1000 - splitSeconds;
}

/** Uploads the file through the job page; returns the seconds from createSession's request to finalize's response. */
async function uploadWithBrowser(file: string): Promise<{ transferSeconds: number; totalSeconds: number }> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ baseURL: BASE_URL });
    await page.goto('/');
    await page.getByRole('button', { name: 'Create job' }).click();
    await page.waitForURL(/\/jobs\/job_/);
    await page.evaluate((partsInFlight) => localStorage.setItem('inlet.uploadSettings', JSON.stringify({ partsInFlight, filesInFlight: 1 })), PARTS_IN_FLIGHT);
    await page.reload();
    await page.getByRole('heading', { name: 'Add files' }).waitFor();

    let sessionRequested = 0;
    let finalizeAnswered = 0;
    page.on('request', (request) => {
      if (request.url().includes('/api/trpc/uploads.createSession')) sessionRequested = performance.now();
    });
    page.on('response', (response) => {
      if (response.url().includes('/api/trpc/uploads.finalize')) finalizeAnswered = performance.now();
    });

    const started = performance.now();
    await page.locator('.dropzone input[type="file"]').first().setInputFiles(file);
    await page.getByTestId('upload-item').locator('.status').filter({ hasText: /^Uploaded$/ }).waitFor({ timeout: 600_000 });
    const totalSeconds = (performance.now() - started) / 1000;
    return { transferSeconds: (finalizeAnswered - sessionRequested) / 1000, totalSeconds };
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'inlet-bench-'));
  const file = path.join(workDir, 'bench.csv');
  // Random printable bytes: a valid CSV that nothing along the way can compress.
  const sizeBytes = SIZE_MIB * MIB;
  const text = randomBytes(sizeBytes).map((byte) => 0x61 + (byte % 26));
  for (let offset = 99; offset < sizeBytes; offset += 100) text[offset] = 0x0a;
  await fs.writeFile(file, text);

  const server: ChildProcess = spawn('node', ['dist/server.mjs'], {
    // Multipart from the first part size up, so a small smoke run takes the same path as 256 MiB.
    env: { ...process.env, INLET_MULTIPART_THRESHOLD_BYTES: String(8 * MIB), PORT: String(PORT), HOSTNAME: '127.0.0.1', INLET_DATA_DIR: path.join(workDir, 'data'), INLET_LOG_LEVEL: 'warn', NEXT_TELEMETRY_DISABLED: '1' },
    stdio: 'inherit',
  });
  try {
    await waitForHealth();
    const curlSeconds = await uploadWithCurl(file, sizeBytes, workDir);
    const browser = await uploadWithBrowser(file);
    const mibPerSecond = (seconds: number): string => (SIZE_MIB / seconds).toFixed(1);
    console.log(`file: ${SIZE_MIB} MiB, part size: 8 MiB (server default), parts in flight: ${PARTS_IN_FLIGHT}, cores: ${os.cpus().length}`);
    console.log(`curl:    ${curlSeconds.toFixed(2)} s  ${mibPerSecond(curlSeconds)} MiB/s (createSession to finalize receipt)`);
    console.log(`browser: ${browser.transferSeconds.toFixed(2)} s  ${mibPerSecond(browser.transferSeconds)} MiB/s (createSession to finalize receipt)`);
    console.log(`browser end to end: ${browser.totalSeconds.toFixed(2)} s (file picked to "Uploaded", with checks and declare)`);
    console.log(`ratio browser/curl: ${(curlSeconds / browser.transferSeconds).toFixed(2)}`);
  } finally {
    server.kill('SIGTERM');
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

await main();
