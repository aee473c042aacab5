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
