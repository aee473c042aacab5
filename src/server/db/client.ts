import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';

import * as schema from './schema';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/** Milliseconds a write waits for another connection's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/** Opens the SQLite file with WAL, a busy timeout and foreign keys enforced. */
export function openDatabase(filePath: string): Db {
  const sqlite = new Database(filePath);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  sqlite.pragma('foreign_keys = ON');
  // With WAL, NORMAL loses no committed transaction on a process crash, only on power loss.
  sqlite.pragma('synchronous = NORMAL');
  const db = drizzle(sqlite, { schema });

  // Every transaction here writes, and most read first. A DEFERRED transaction that reads and then
  // writes fails at once with SQLITE_BUSY when another process committed in between (busy_timeout
  // cannot help: its snapshot is stale), so transactions start IMMEDIATE and wait for the write lock.
  const transaction = db.transaction.bind(db);
  db.transaction = ((run, config) => transaction(run, { behavior: 'immediate', ...config })) as typeof db.transaction;
  return db;
}
