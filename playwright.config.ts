import os from 'node:os';
import path from 'node:path';

import { defineConfig } from '@playwright/test';

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
    env: { PORT: String(PORT), HOSTNAME: '127.0.0.1', INLET_DATA_DIR: DATA_DIR, INLET_LOG_LEVEL: 'warn' },
  },
});
