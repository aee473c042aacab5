import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const PROJECT_ROOT = path.resolve(import.meta.dirname, '../..');
const SERVER_ENTRY = path.join(PROJECT_ROOT, 'dist/server.mjs');
const START_TIMEOUT_MS = 30_000;

export interface TestServer {
  baseUrl: string;
  dataDir: string;
  process: ChildProcess;
  /** Every log line the server printed, parsed from pino's JSON. */
  logs: Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Resolves once a log line matching `predicate` has arrived; log lines reach the test asynchronously. */
  waitForLog(predicate: (entry: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export function makeTempDir(prefix = 'inlet-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Starts the built server entry (`npm run build` first) on a free port with its own data dir, and
 * resolves once it logs that it is listening.
 */
export async function startServer(env: Record<string, string> = {}, dataDir: string = makeTempDir()): Promise<TestServer> {
  if (!fs.existsSync(SERVER_ENTRY)) {
    throw new Error(`${SERVER_ENTRY} is missing; run "npm run build" before the integration tests.`);
  }

  const child = spawn(process.execPath, [SERVER_ENTRY], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'production',
      PORT: '0',
      HOSTNAME: '127.0.0.1',
      INLET_DATA_DIR: dataDir,
      INLET_LOG_LEVEL: 'debug',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  const logs: Record<string, unknown>[] = [];
  const logWaiters = new Set<() => void>();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });

  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Server did not start within ${START_TIMEOUT_MS} ms. stderr:\n${stderr}`)), START_TIMEOUT_MS);
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      for (const wake of logWaiters) wake();
      if (entry.event === 'startup.ready' && typeof entry.listenUrl === 'string') {
        clearTimeout(timer);
        resolve(entry.listenUrl);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Server exited with code ${code} before it was ready. stderr:\n${stderr}`));
    });
  });

  const waitForLog = (predicate: (entry: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = logs.find(predicate);
        if (!found) return false;
        logWaiters.delete(wake);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const wake = (): void => {
        check();
      };
      const timer = setTimeout(() => {
        logWaiters.delete(wake);
        reject(new Error(`No matching log line within ${timeoutMs} ms`));
      }, timeoutMs);
      logWaiters.add(wake);
      check();
    });

  return {
    baseUrl,
    dataDir,
    process: child,
    logs,
    waitForLog,
    stop: (signal: NodeJS.Signals = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
