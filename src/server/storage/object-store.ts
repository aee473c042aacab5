/**
 * The port between upload sessions, finalize and the bytes. The embedded store keeps objects on
 * local disk and serves signed PUTs from the app's own server; the S3 store presigns URLs of an
 * S3-compatible bucket, so bytes go from the browser to the bucket without touching this server.
 *
 * Every path in a workspace is a `relPath` such as `inputs/ds_0123456789abcdef.csv` or `job.json`,
 * built by the server from ids and dataset keys, never from a client's filename.
 */
import type { uploadSessions } from '../db/schema';

export type SessionRow = typeof uploadSessions.$inferSelect;

export interface SessionRef {
  id: string;
  tenantId: string;
  jobId: string;
}

export interface WorkspaceRef {
  tenantId: string;
  jobId: string;
}

/** A part the server recorded: its size, ETag and SHA-256 (empty until the store reports it). */
export interface PartRecord {
  partNumber: number;
  sizeBytes: number;
  etag: string;
  sha256: string;
}

export interface PartUrlRequest {
  session: SessionRow;
  partNumber: number;
  sizeBytes: number;
  /** Bound when the bundle declared a mimeType: the PUT must then send exactly this Content-Type. */
  contentType: string | null;
  /** Base64 SHA-256 of the part, bound into the URL when the client sent it. */
  checksumBase64?: string | undefined;
  /** Origin and path prefix the URL starts with, such as `http://127.0.0.1:3000`. */
  baseUrl: string;
  expiresAt: Date;
}

export interface DownloadUrlRequest {
  workspace: WorkspaceRef;
  /** `inputs/manifest.json` or a dataset's relPath. */
  relPath: string;
  /** The embedded store's signed path, `/api/objects/downloads/<jobId>/<target>`. */
  downloadPath: string;
  filename: string;
  contentType: string;
  baseUrl: string;
  expiresAt: Date;
}

/** The file's SHA-256, or the parts that must be sent again before finalize can go on. */
export type UploadHash =
  | { ok: true; sha256: string }
  | { ok: false; code: 'UPLOAD_INCOMPLETE' | 'CHECKSUM_MISMATCH'; partNumbers: number[]; message: string };

/** Requests a byte source sent to its backing store, and the bytes they returned. */
export interface FetchCounts {
  requests: number;
  bytes: number;
}

/** Random access to the bytes of one stored file; every read stays inside `sizeBytes`. */
export interface ByteSource {
  readonly sizeBytes: number;
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Reads up to `target.length` bytes at `offset` into `target` and returns how many it read (0 at
   * the end). Only sources that can fill a caller's buffer without a copy have it (local files).
   */
  readInto?(target: Uint8Array, offset: number): Promise<number>;
  close(): Promise<void>;
  /** Requests and bytes fetched so far, for sources that count them (the S3 store's objects). */
  readonly fetched?: FetchCounts;
}

export interface ObjectStore {
  readonly kind: 'local' | 's3';
  /** True when part checksums must be bound into the signed URL for the store to verify them. */
  readonly checksumsInUrl: boolean;

  // Upload sessions.

  /** Prepares the store for a new session; returns the store's upload id to keep on the session row. */
  beginUpload(session: SessionRow, contentType: string | null): Promise<string | null>;

  signPartUrl(request: PartUrlRequest): Promise<string>;

  /**
   * Brings the server's part records in line with what the store holds. The embedded store records
   * parts as they arrive; S3 learns of them only by asking the bucket, so this lists them there.
   */
  syncParts(session: SessionRow): Promise<void>;

  /** Deletes every stored part and temporary object of a session, and ends its multipart upload. */
  deleteSessionObjects(session: SessionRow): Promise<void>;

  // Finalize. Each step is safe to repeat after a crash at any point.

  /**
   * Returns the whole file's SHA-256, checking each part against the SHA-256 the client sent for
   * it at finalize (`clientSha256`). Parts found bad are forgotten, so they read as missing.
   */
  hashUpload(session: SessionRow, parts: PartRecord[], clientSha256: Map<number, string>): Promise<UploadHash>;

  /** Moves the uploaded bytes next to their target under a hidden name, when the store needs that. */
  stageUpload(session: SessionRow, parts: PartRecord[], relPath: string): Promise<void>;

  /** Reads up to `byteCount` bytes from the start of the staged upload, or of `relPath` once placed. */
  readStagedHead(session: SessionRow, parts: PartRecord[], relPath: string, byteCount: number): Promise<Buffer>;

  /** Places the staged upload at `relPath` in the workspace. */
  placeStaged(session: SessionRow, parts: PartRecord[], relPath: string): Promise<void>;

  /** Forgets the staged upload after finalize decided not to place it. */
  discardStaged(session: SessionRow, relPath: string): Promise<void>;

  // Workspaces.

  workspaceFileExists(workspace: WorkspaceRef, relPath: string): Promise<boolean>;

  /** Replaces a small workspace file (manifest.json, job.json) so readers see the old or the new one. */
  writeWorkspaceFile(workspace: WorkspaceRef, relPath: string, content: string): Promise<void>;

  deleteWorkspaceFile(workspace: WorkspaceRef, relPath: string): Promise<void>;

  /** Deletes a job's workspace and every object of its sessions. */
  deleteJobObjects(workspace: WorkspaceRef): Promise<void>;

  /**
   * Opens a workspace file for ranged reads: from local disk when the store keeps the file there,
   * else with ranged GETs from the bucket.
   */
  openWorkspaceBytes(workspace: WorkspaceRef, relPath: string, sizeBytes: number): Promise<ByteSource>;

  /**
   * Returns the path of a local file with the workspace file's `sizeBytes` bytes, or null when the
   * bytes are only in the bucket (S3 without INLET_WORKSPACE_MIRROR=local).
   */
  localWorkspacePath(workspace: WorkspaceRef, relPath: string, sizeBytes: number): Promise<string | null>;

  signDownloadUrl(request: DownloadUrlRequest): Promise<string>;
}
