import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import type { Receipt } from './api';

/**
 * What the command line remembers about one file's upload between runs, so that a run after
 * Ctrl-C or a lost connection continues the same upload session. It holds no secret: the job
 * token is read from the command line or the environment on every run.
 */
export interface FileState {
  version: 1;
  baseUrl: string;
  jobId: string;
  /** Absolute path of the local file. */
  path: string;
  filename: string;
  role: string;
  sizeBytes: number;
  /** Modification time in whole milliseconds, as declared. */
  lastModified: number;
  sampleSha256: string;
  sha256?: string | undefined;
  bundleId?: string | undefined;
  fileId?: string | undefined;
  uploadSessionId?: string | undefined;
  receipt?: Receipt | undefined;
  updatedAt: string;
}

/** A file's identity: a state applies only while all of these still match the file on disk. */
export interface FileIdentity {
  baseUrl: string;
  jobId: string;
  path: string;
  role: string;
  sizeBytes: number;
  lastModified: number;
  sampleSha256: string;
}

export class StateStore {
  constructor(readonly directory: string) {}

  /** One state file per job and local path, so parallel uploads of other files never collide. */
  fileFor(jobId: string, absolutePath: string): string {
    const pathHash = createHash('sha256').update(absolutePath).digest('hex').slice(0, 16);
    return path.join(this.directory, `${jobId}-${pathHash}.json`);
  }

  async load(jobId: string, absolutePath: string): Promise<FileState | null> {
    let text: string;
    try {
      text = await fs.readFile(this.fileFor(jobId, absolutePath), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const state = JSON.parse(text) as FileState;
      return state.version === 1 ? state : null;
    } catch {
      // A damaged state file (for example from a full disk) only costs the resume, not the upload.
      return null;
    }
  }

  /** Writes the state atomically (temporary file and rename), so a crash leaves the old or the new one. */
  async save(state: FileState): Promise<void> {
    await fs.mkdir(this.directory, { recursive: true });
    const target = this.fileFor(state.jobId, state.path);
    const temporary = `${target}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(temporary, `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2)}\n`);
    await fs.rename(temporary, target);
  }

  async remove(jobId: string, absolutePath: string): Promise<void> {
    await fs.rm(this.fileFor(jobId, absolutePath), { force: true });
    // Leave no empty state directory behind; one still in use by another upload stays.
    await fs.rmdir(this.directory).catch(() => {});
  }
}

export function matchesIdentity(state: FileState, identity: FileIdentity): boolean {
  return (
    state.baseUrl === identity.baseUrl &&
    state.jobId === identity.jobId &&
    state.path === identity.path &&
    state.role === identity.role &&
    state.sizeBytes === identity.sizeBytes &&
    state.lastModified === identity.lastModified &&
    state.sampleSha256 === identity.sampleSha256
  );
}
