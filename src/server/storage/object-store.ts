/**
 * The port between upload sessions and the bytes. The embedded store keeps objects on local disk
 * and serves signed PUTs from the app's own server; an S3 store would presign its URLs instead.
 */
export interface SessionRef {
  id: string;
  tenantId: string;
  jobId: string;
}

export interface StoredPartRef {
  partNumber: number;
  sizeBytes: number;
  sha256: string;
}

export interface PartUrlRequest {
  session: SessionRef;
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

export interface ObjectStore {
  readonly kind: 'local' | 's3';
  /** True when part checksums must be bound into the signed URL for the store to verify them. */
  readonly checksumsInUrl: boolean;

  signPartUrl(request: PartUrlRequest): string;

  /**
   * Moves the single stored part of a direct upload to `targetPath` in the job workspace. Safe to
   * repeat: when the part is gone and the target already holds it, this succeeds.
   */
  placeDirectUpload(session: SessionRef, part: StoredPartRef, targetPath: string): Promise<void>;

  /** Deletes every stored part and temporary file of a session. */
  deleteSessionObjects(session: SessionRef): Promise<void>;
}
