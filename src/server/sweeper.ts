import { and, eq, lt } from 'drizzle-orm';

import { uploadSessions } from './db/schema';
import { nowIso } from './ids';
import type { Runtime } from './runtime';

/**
 * Expires issued sessions past their lifetime and deletes their stored parts. Sessions that are
 * finalizing are left to their lease, and finalized ones keep their receipt forever.
 */
export async function sweepOnce(runtime: Runtime, now: Date = new Date()): Promise<number> {
  const { db, store, logger } = runtime;
  const expired = db
    .select()
    .from(uploadSessions)
    .where(and(eq(uploadSessions.status, 'issued'), lt(uploadSessions.expiresAt, nowIso(now))))
    .all();

  let swept = 0;
  for (const session of expired) {
    const changed = db
      .update(uploadSessions)
      .set({ status: 'expired', updatedAt: nowIso(now) })
      .where(and(eq(uploadSessions.id, session.id), eq(uploadSessions.status, 'issued')))
      .run();
    if (changed.changes !== 1) continue;

    await store.deleteSessionObjects(session);
    swept += 1;
    logger.info({ event: 'session.expired', uploadSessionId: session.id, jobId: session.jobId }, 'upload session expired');
  }
  return swept;
}

export function startSweeper(runtime: Runtime): { stop(): void } {
  const timer = setInterval(() => {
    sweepOnce(runtime).catch((error: unknown) => runtime.logger.error({ event: 'sweep.failed', err: error }, 'sweep failed'));
  }, runtime.config.sweepIntervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
