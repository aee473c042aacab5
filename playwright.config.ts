import os from 'node:os';
import path from 'node:path';

import { defineConfig } from '@playwright/test';

import { MULTIPART_THRESHOLD_BYTES, PART_SIZE_BYTES } from './e2e/server-settings';

const PORT = Number(process.env.E2E_PORT ?? 3210);
// A fresh data dir per run, so tests never see another run's jobs.
const DATA_DIR = path.join(os.tmpdir(), `inlet-e2e-${process.pid}-${Date.now()}`);

export default defineConfig({
  testDir: './e2e',
  fullyParallel: false,
  workers: 1,
  // No retries: a flaky test must fail and be fixed, not be hidden.
  retries: 0,
  timeout: 60_000,
  // A preview waits a few seconds for an exact row count before it returns.
  expect: { timeout: 15_000 },
  // The screenshots for the README change with every run; they are taken only on request.
  testIgnore: process.env.UPDATE_SCREENSHOTS ? [] : ['**/screenshots.spec.ts'],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
    trace: 'retain-on-failure',
  },
  webServer: {
    command: 'node dist/server.mjs',
    url: `http://127.0.0.1:${PORT}/api/health`,
    reuseExistingServer: false,
    timeout: 60_000,
    env: {
      PORT: String(PORT),
      HOSTNAME: '127.0.0.1',
      INLET_DATA_DIR: DATA_DIR,
      INLET_LOG_LEVEL: 'warn',
      INLET_TEST_MODE: 'true',
      INLET_MULTIPART_THRESHOLD_BYTES: String(MULTIPART_THRESHOLD_BYTES),
      INLET_PART_SIZE_BYTES: String(PART_SIZE_BYTES),
      NEXT_TELEMETRY_DISABLED: '1',
    },
  },
});
