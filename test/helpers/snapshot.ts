import fs from 'node:fs';
import path from 'node:path';

import Database from 'better-sqlite3';

const TABLES = ['tenants', 'jobs', 'tokens', 'bundles', 'bundle_files', 'upload_sessions', 'upload_parts', 'datasets'];

/**
 * Captures what a request could have written: the row count of every table (read through a
 * separate read-only connection) and every file under the data dir except SQLite's own files.
 */
export function snapshotDataDir(dataDir: string): { rows: Record<string, number>; files: string[] } {
  const db = new Database(path.join(dataDir, 'inlet.db'), { readonly: true, fileMustExist: true });
  const rows: Record<string, number> = {};
  try {
    for (const table of TABLES) {
      rows[table] = (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
    }
  } finally {
    db.close();
  }

  const files: string[] = [];
  const walk = (directory: string): void => {
    for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
      const full = path.join(directory, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (!entry.name.startsWith('inlet.db')) files.push(`${path.relative(dataDir, full)}:${fs.statSync(full).size}`);
    }
  };
  walk(dataDir);
  return { rows, files: files.sort() };
}
