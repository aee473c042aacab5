import fs from 'node:fs/promises';
import path from 'node:path';

import type { Db } from '../db/client';
import type { Logger } from '../logger';
import { readHead } from '../formats';
import type { DataPaths } from '../workspace';
import { syncDirectory, writeFileAtomic } from '../workspace';
import { FileByteSource } from './file-bytes';
import { advanceHash, forgetHash } from './multipart-hash';
import type {
  ByteSource,
  DownloadUrlRequest,
  ObjectStore,
  PartRecord,
  PartUrlRequest,
  SessionRef,
  SessionRow,
  UploadHash,
  WorkspaceRef,
} from './object-store';
import { signedQuery } from './signing';

/** Path prefix of the embedded store's signed part URLs: `/api/objects/uploads/<sessionId>/<partNumber>`. */
export const UPLOADS_PATH_PREFIX = '/api/objects/uploads/';

export function partObjectPath(uploadSessionId: string, partNumber: number): string {
  return `${UPLOADS_PATH_PREFIX}${uploadSessionId}/${partNumber}`;
}

/**
 * The embedded object store. A session's bytes live in `objects/<tenant>/<job>/<session>/` under
 * the data dir. A direct upload is one file, `part-1.<sha256>`: naming it by its content means the
 * part record always names a file holding exactly the bytes it describes, even when two PUTs race.
 * A multipart upload writes every part in place into one file, `data`, at the part's offset, so
 * finalize can move the finished file into the workspace without copying it.
 */
export class LocalObjectStore implements ObjectStore {
  readonly kind = 'local' as const;
  readonly checksumsInUrl = false;

  /**
   * `db` is needed only to finalize multipart uploads; tools that never finalize may leave it out.
   * `logger` receives a debug line for each part that finalize reads back.
   */
  constructor(
    private readonly paths: DataPaths,
    private readonly secret: Buffer,
    private readonly db?: Db,
    private readonly logger?: Logger,
  ) {}

  sessionDir(session: SessionRef): string {
    return this.paths.sessionObjectsDir(session.tenantId, session.jobId, session.id);
  }

  partFile(session: SessionRef, partNumber: number, sha256: string): string {
    return path.join(this.sessionDir(session), `part-${partNumber}.${sha256}`);
  }

  dataFile(session: SessionRef): string {
    return path.join(this.sessionDir(session), 'data');
  }

  private workspacePath(workspace: WorkspaceRef, relPath: string): string {
    return path.join(this.paths.workspaceDir(workspace.tenantId, workspace.jobId), relPath);
  }

  private stagedPath(session: SessionRow): string {
    return path.join(this.paths.inputsDir(session.tenantId, session.jobId), `.${session.id}.staged`);
  }

  beginUpload(): Promise<string | null> {
    return Promise.resolve(null);
  }

  signPartUrl(request: PartUrlRequest): Promise<string> {
    const objectPath = partObjectPath(request.session.id, request.partNumber);
    const query = signedQuery(this.secret, 'PUT', objectPath, {
      expires: Math.floor(request.expiresAt.getTime() / 1000),
      size: request.sizeBytes,
      contentType: request.contentType ?? undefined,
      checksum: request.checksumBase64,
    });
    return Promise.resolve(`${request.baseUrl}${objectPath}?${query}`);
  }

  /** Parts are recorded by the PUT handler as they arrive, so the records are already complete. */
  syncParts(): Promise<void> {
    return Promise.resolve();
  }

  async deleteSessionObjects(session: SessionRow): Promise<void> {
    // An aborted or expired session also leaves its in-memory hash behind.
    forgetHash(session.id);
    await fs.rm(this.sessionDir(session), { recursive: true, force: true });
  }

  /**
   * A direct upload's SHA-256 is its part's, computed at PUT time. A multipart file's hash advanced
   * while parts arrived; finalize only hashes whatever is left. Each part's SHA-256 was recorded at
   * PUT time, so finalize checked the client's part checksums against the records already.
   */
  async hashUpload(session: SessionRow, parts: PartRecord[]): Promise<UploadHash> {
    if (session.strategy === 'direct') {
      const part = parts[0];
      if (!part) return { ok: false, code: 'UPLOAD_INCOMPLETE', partNumbers: [1], message: 'Part 1 has not been stored; PUT it, then finalize again.' };
      return { ok: true, sha256: part.sha256 };
    }

    if (!this.db) throw new Error('LocalObjectStore was built without a database, so it cannot hash multipart uploads.');
    const target = {
      uploadSessionId: session.id,
      dataFile: this.dataFile(session),
      partSizeBytes: session.partSizeBytes,
      partCount: session.partCount,
      logger: this.logger,
    };
    // A hash that a background advance left behind stale starts over on the second call.
    let advanced = await advanceHash(this.db, target);
    if (!advanced.done) advanced = await advanceHash(this.db, target);
    if (advanced.done) {
      forgetHash(session.id);
      return { ok: true, sha256: advanced.sha256 };
    }
    const partNumber = advanced.throughPart + 1;
    return { ok: false, code: 'UPLOAD_INCOMPLETE', partNumbers: [partNumber], message: `Part ${partNumber} must be sent again, then finalize again.` };
  }

  /** Moves the bytes under inputs/ with a hidden name: a rename on one file system, not a copy. */
  async stageUpload(session: SessionRow, parts: PartRecord[]): Promise<void> {
    const staged = this.stagedPath(session);
    await fs.mkdir(path.dirname(staged), { recursive: true });
    const source = session.strategy === 'direct' ? this.directPartFile(session, parts) : this.dataFile(session);
    if (source === null) return;
    try {
      await fs.rename(source, staged);
    } catch (error) {
      // A previous attempt already moved it.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !(await exists(staged))) throw error;
    }
    await syncDirectory(path.dirname(staged));
  }

  private directPartFile(session: SessionRow, parts: PartRecord[]): string | null {
    const part = parts[0];
    return part ? this.partFile(session, part.partNumber, part.sha256) : null;
  }

  async readStagedHead(session: SessionRow, _parts: PartRecord[], relPath: string, byteCount: number): Promise<Buffer> {
    const target = this.workspacePath(session, relPath);
    return readHead((await exists(target)) ? target : this.stagedPath(session), byteCount);
  }

  async placeStaged(session: SessionRow, _parts: PartRecord[], relPath: string): Promise<void> {
    const target = this.workspacePath(session, relPath);
    if (await exists(target)) {
      await this.discardStaged(session);
      return;
    }
    await fs.rename(this.stagedPath(session), target);
    await syncDirectory(path.dirname(target));
  }

  async discardStaged(session: SessionRow): Promise<void> {
    await fs.rm(this.stagedPath(session), { force: true });
  }

  workspaceFileExists(workspace: WorkspaceRef, relPath: string): Promise<boolean> {
    return exists(this.workspacePath(workspace, relPath));
  }

  writeWorkspaceFile(workspace: WorkspaceRef, relPath: string, content: string): Promise<void> {
    return writeFileAtomic(this.workspacePath(workspace, relPath), content);
  }

  async deleteWorkspaceFile(workspace: WorkspaceRef, relPath: string): Promise<void> {
    await fs.rm(this.workspacePath(workspace, relPath), { force: true });
  }

  async deleteJobObjects(workspace: WorkspaceRef): Promise<void> {
    await fs.rm(this.paths.workspaceDir(workspace.tenantId, workspace.jobId), { recursive: true, force: true });
    await fs.rm(path.join(this.paths.dataDir, 'objects', workspace.tenantId, workspace.jobId), { recursive: true, force: true });
  }

  openWorkspaceBytes(workspace: WorkspaceRef, relPath: string): Promise<ByteSource> {
    return FileByteSource.open(this.workspacePath(workspace, relPath));
  }

  /** Returns the workspace file itself. */
  localWorkspacePath(workspace: WorkspaceRef, relPath: string): Promise<string> {
    return Promise.resolve(this.workspacePath(workspace, relPath));
  }

  signDownloadUrl(request: DownloadUrlRequest): Promise<string> {
    const query = signedQuery(this.secret, 'GET', request.downloadPath, { expires: Math.floor(request.expiresAt.getTime() / 1000), size: 0 });
    return Promise.resolve(`${request.baseUrl}${request.downloadPath}?${query}`);
  }
}

export async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}
