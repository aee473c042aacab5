import type { Runtime } from './runtime';

/**
 * Test-only crash points. With INLET_TEST_MODE on and INLET_TEST_CRASH_AT naming a point, the
 * process kills itself with SIGKILL when it reaches that point, so tests can prove that a crash at
 * any step leaves a state that a retry completes. Outside test mode this does nothing.
 */
export type CrashPoint =
  | 'put.before_rename'
  | 'put.before_record'
  | 'put.after_record'
  | 'finalize.after_claim'
  | 'finalize.after_complete'
  | 'finalize.after_stage'
  | 'finalize.after_place'
  | 'finalize.after_commit';

export function crashPoint(runtime: Runtime, point: CrashPoint): void {
  if (runtime.config.testMode && process.env.INLET_TEST_CRASH_AT === point) {
    runtime.logger.warn({ event: 'test.crash', point }, 'crashing at a test crash point');
    process.kill(process.pid, 'SIGKILL');
  }
}

/**
 * Test-only pause of a multipart PUT after its body is stored and before it is recorded. With
 * INLET_TEST_MODE on, a PUT of a part number listed in INLET_TEST_RECORD_DELAY_PARTS (comma-separated)
 * waits INLET_TEST_RECORD_DELAY_MS milliseconds there, so tests can record later parts before it.
 * Outside test mode this does nothing.
 */
export async function recordDelay(runtime: Runtime, partNumber: number): Promise<void> {
  if (!runtime.config.testMode) return;
  const parts = (process.env.INLET_TEST_RECORD_DELAY_PARTS ?? '').split(',').map((part) => Number(part.trim()));
  const delayMs = Number(process.env.INLET_TEST_RECORD_DELAY_MS ?? 0);
  if (!parts.includes(partNumber) || !(delayMs > 0)) return;
  await new Promise((resolve) => setTimeout(resolve, delayMs));
}
