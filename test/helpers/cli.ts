import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const PROJECT_ROOT = path.resolve(import.meta.dirname, '../..');
/** The standalone bundle that `npm run build` writes; the tests run the file users copy. */
export const CLI_ENTRY = path.join(PROJECT_ROOT, 'dist/inlet.mjs');
export const FIXTURES = path.join(PROJECT_ROOT, 'fixtures/real');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliRun {
  child: ChildProcess;
  /** Calls `listener` with every stderr line as it arrives. */
  onStderrLine(listener: (line: string) => void): void;
  result: Promise<CliResult>;
}

/** Starts `node dist/inlet.mjs ...args` with a minimal environment plus `env`. */
export function spawnCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): CliRun {
  if (!fs.existsSync(CLI_ENTRY)) throw new Error(`${CLI_ENTRY} is missing; run "npm run build" before the integration tests.`);
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners: ((line: string) => void)[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  const lines = readline.createInterface({ input: child.stderr! });
  lines.on('line', (line) => {
    stderr += `${line}\n`;
    for (const listener of listeners) listener(line);
  });
  const result = new Promise<CliResult>((resolve) => {
    // 'close' waits for the streams to end, so stdout and stderr are complete.
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, onStderrLine: (listener) => listeners.push(listener), result };
}

export function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  return spawnCli(args, options).result;
}

/** Parses the JSON progress events (--progress json) from a run's stderr. */
export function progressEvents(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
