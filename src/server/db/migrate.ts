import fs from 'node:fs';
import path from 'node:path';

import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import lockfile from 'proper-lockfile';

import type { Db } from './client';

/**
 * Applies the drizzle-kit migrations in `migrationsDir` while holding an exclusive lock on the data
 * dir, so several processes starting at once on one data dir apply each migration exactly once.
 */
export async function migrateUnderLock(db: Db, dataDir: string, migrationsDir: string): Promise<void> {
  const lockTarget = path.join(dataDir, 'migrations.lock');
  fs.closeSync(fs.openSync(lockTarget, 'a'));

  // proper-lockfile keeps the lock fresh while held and treats a lock older than `stale` ms as left
  // by a crashed process, so a kill -9 during start-up does not block the next start forever.
  const release = await lockfile.lock(lockTarget, {
    stale: 10_000,
    retries: { retries: 60, minTimeout: 100, maxTimeout: 1000 },
  });
  try {
    migrate(db, { migrationsFolder: migrationsDir });
  } finally {
    await release();
  }
}
