import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Paths of the embedded store and the job workspaces. Every path is built from server-made ids and
 * dataset keys, never from a client's filename.
 */
export class DataPaths {
  constructor(readonly dataDir: string) {}

  get databaseFile(): string {
    return path.join(this.dataDir, 'inlet.db');
  }

  workspaceDir(tenantId: string, jobId: string): string {
    return path.join(this.dataDir, 'workspaces', tenantId, jobId);
  }

  inputsDir(tenantId: string, jobId: string): string {
    return path.join(this.workspaceDir(tenantId, jobId), 'inputs');
  }

  sessionObjectsDir(tenantId: string, jobId: string, uploadSessionId: string): string {
    return path.join(this.dataDir, 'objects', tenantId, jobId, uploadSessionId);
  }
}

/** Extension kept on a stored dataset: the declared one lower-cased, or none when it is unusual. */
export function storedExtension(extension: string): string {
  return /^\.[a-z0-9]{1,16}$/.test(extension) ? extension : '';
}

/**
 * Writes `content` to `filePath` atomically: a temporary file in the same directory, fsync, then
 * rename over the target, so a reader or a crash sees the old or the new file, never a mix.
 */
export async function writeFileAtomic(filePath: string, content: string): Promise<void> {
  const directory = path.dirname(filePath);
  await fs.mkdir(directory, { recursive: true });

  const temporary = path.join(directory, `.${path.basename(filePath)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temporary, 'w', 0o644);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }

  try {
    await fs.rename(temporary, filePath);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(directory);
}

/** Flushes a directory entry change (a rename or a new file) to disk. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
