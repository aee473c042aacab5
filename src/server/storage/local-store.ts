import fs from 'node:fs/promises';
import path from 'node:path';

import type { DataPaths } from '../workspace';
import { syncDirectory } from '../workspace';
import type { ObjectStore, PartUrlRequest, SessionRef, StoredPartRef } from './object-store';
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

  constructor(
    private readonly paths: DataPaths,
    private readonly secret: Buffer,
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

  signPartUrl(request: PartUrlRequest): string {
    const objectPath = partObjectPath(request.session.id, request.partNumber);
    const query = signedQuery(this.secret, 'PUT', objectPath, {
      expires: Math.floor(request.expiresAt.getTime() / 1000),
      size: request.sizeBytes,
      contentType: request.contentType ?? undefined,
      checksum: request.checksumBase64,
    });
    return `${request.baseUrl}${objectPath}?${query}`;
  }

  async placeDirectUpload(session: SessionRef, part: StoredPartRef, targetPath: string): Promise<void> {
    const source = this.partFile(session, part.partNumber, part.sha256);
    await fs.mkdir(path.dirname(targetPath), { recursive: true });
    try {
      // Same file system under the data dir, so this is an atomic rename: no copy, no re-read.
      await fs.rename(source, targetPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // A previous attempt already moved it; the target must then hold a file of the part's size.
      const stat = await fs.stat(targetPath).catch(() => null);
      if (!stat || stat.size !== part.sizeBytes) throw error;
    }
    await syncDirectory(path.dirname(targetPath));
  }

  async deleteSessionObjects(session: SessionRef): Promise<void> {
    await fs.rm(this.sessionDir(session), { recursive: true, force: true });
  }
}
