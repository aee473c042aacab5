import fs from 'node:fs';
import path from 'node:path';

/**
 * Loads `<projectRoot>/.env` into process.env when the file exists. Variables already set in the
 * environment win over the file, so a process manager's settings are never overridden.
 */
export function loadEnvFile(projectRoot: string): string | null {
  const file = path.join(projectRoot, '.env');
  if (!fs.existsSync(file)) return null;
  process.loadEnvFile(file);
  return file;
}
