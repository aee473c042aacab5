import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Writes a file through a temporary file and a rename, so a reader never sees half of it. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const target = path.resolve(file);
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
  await fs.writeFile(temporary, content);
  await fs.rename(temporary, target);
}
