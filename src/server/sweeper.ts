import fs from 'node:fs/promises';
import path from 'node:path';

import { and, eq, inArray, lt } from 'drizzle-orm';

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

  const strays = await removeStrayFiles(runtime, now);
  logger.info({ event: 'sweep.completed', expiredSessions: swept, strayFiles: strays }, 'sweep completed');
  return swept;
}

/** Temporary files younger than this may belong to a write in progress and are left alone. */
const STRAY_AGE_MS = 60 * 60 * 1000;

async function listDirectory(directory: string): Promise<import('node:fs').Dirent[]> {
  return fs.readdir(directory, { withFileTypes: true }).catch(() => []);
}

/**
 * Deletes what a crash can leave on the local disk: session folders under objects/ whose session
 * is no longer live, and temporary files (`*.tmp`, `.<session>.staged`) older than an hour whose
 * session is not being finalized. Returns how many files and folders it removed.
 */
async function removeStrayFiles(runtime: Runtime, now: Date): Promise<number> {
  const { db, paths } = runtime;
  const live = new Set(
    db
      .select({ id: uploadSessions.id })
      .from(uploadSessions)
      .where(inArray(uploadSessions.status, ['issued', 'finalizing']))
      .all()
      .map((row) => row.id),
  );
  let removed = 0;
  const removeIfOld = async (file: string): Promise<void> => {
    const stat = await fs.stat(file).catch(() => null);
    if (stat && now.getTime() - stat.mtimeMs > STRAY_AGE_MS) {
      await fs.rm(file, { recursive: true, force: true });
      removed += 1;
    }
  };

  // objects/<tenant>/<job>/<session>/
  const objectsDir = path.join(paths.dataDir, 'objects');
  for (const tenant of await listDirectory(objectsDir)) {
    for (const job of await listDirectory(path.join(objectsDir, tenant.name))) {
      for (const session of await listDirectory(path.join(objectsDir, tenant.name, job.name))) {
        const sessionDir = path.join(objectsDir, tenant.name, job.name, session.name);
        if (!live.has(session.name)) {
          await removeIfOld(sessionDir);
          continue;
        }
        for (const entry of await listDirectory(sessionDir)) {
          if (entry.name.endsWith('.tmp')) await removeIfOld(path.join(sessionDir, entry.name));
        }
      }
    }
  }

  // workspaces/<tenant>/<job>/ and its inputs/
  const workspacesDir = path.join(paths.dataDir, 'workspaces');
  for (const tenant of await listDirectory(workspacesDir)) {
    for (const job of await listDirectory(path.join(workspacesDir, tenant.name))) {
      const jobDir = path.join(workspacesDir, tenant.name, job.name);
      for (const directory of [jobDir, path.join(jobDir, 'inputs')]) {
        for (const entry of await listDirectory(directory)) {
          const staged = /^\.(ups_[0-9a-f]{20})\.staged/.exec(entry.name);
          if (entry.name.endsWith('.tmp') || (staged && !live.has(staged[1]!))) await removeIfOld(path.join(directory, entry.name));
        }
      }
    }
  }
  return removed;
}

export function startSweeper(runtime: Runtime): { stop(): void } {
  const timer = setInterval(() => {
    sweepOnce(runtime).catch((error: unknown) => runtime.logger.error({ event: 'sweep.failed', err: error }, 'sweep failed'));
  }, runtime.config.sweepIntervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
