import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsPromises from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { and, eq } from 'drizzle-orm';

import type { S3Config } from '../config';
import type { CrashPoint } from '../crash';
import type { Db } from '../db/client';
import { uploadParts, uploadSessions } from '../db/schema';
import { InletError } from '../errors';
import { nowIso } from '../ids';
import { partSizeOf } from '../parts';
import type { DataPaths } from '../workspace';
import { writeFileAtomic } from '../workspace';
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
import { normalizeEtag } from './etags';
import { FileByteSource } from './file-bytes';
import { S3ObjectBytes } from './s3-bytes';

/** S3 lists at most this many parts, uploads or keys per page. */
const PAGE_SIZE = 1000;
/** S3 accepts at most this many parts in one multipart upload, copies included. */
const MAX_PARTS = 10_000;

export interface S3StoreOptions {
  config: S3Config;
  db: Db;
  paths: DataPaths;
  /** Also keep workspaces on local disk (INLET_WORKSPACE_MIRROR=local). */
  mirrorWorkspaces: boolean;
  crashPoint: (point: CrashPoint) => void;
}

/** The S3 error name (`NoSuchKey`, `NoSuchUpload`…) of a failed call, or null for other failures. */
export function s3ErrorName(error: unknown): string | null {
  if (error instanceof S3ServiceException) return error.name;
  return null;
}

function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'NotFound' || error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404;
}

/**
 * Turns a failed S3 call into OBJECT_STORE_FAILED with a message that names the setting to check:
 * unknown keys or a bad signature point at the credentials, a missing bucket at INLET_S3_BUCKET,
 * a refused connection or DNS failure at INLET_S3_ENDPOINT.
 */
export function storeFailure(operation: string, error: unknown): InletError {
  const name = error instanceof Error ? error.name : String(error);
  const code = (error as { code?: string } | null)?.code;
  let hint: string;
  if (name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'AccessDenied' || name === 'Forbidden') {
    hint = 'check INLET_S3_ACCESS_KEY_ID and INLET_S3_SECRET_ACCESS_KEY, and that this user may use the bucket';
  } else if (name === 'NoSuchBucket') {
    hint = 'check INLET_S3_BUCKET: the bucket does not exist';
  } else if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ECONNRESET' || name === 'TimeoutError') {
    hint = 'check INLET_S3_ENDPOINT: the store cannot be reached';
  } else {
    hint = 'see the server log for the store\'s answer';
  }
  const message = error instanceof Error ? error.message : String(error);
  return new InletError('OBJECT_STORE_FAILED', `The object store failed to ${operation} (${name}: ${message}); ${hint}.`, {
    operation,
    storeError: name,
  });
}

function quoteEtag(etag: string): string {
  return `"${normalizeEtag(etag)}"`;
}

/**
 * The S3 object store. Browsers PUT straight to the bucket with presigned URLs; the server only
 * signs, lists and copies. Keys:
 *
 *   uploads/<tenant>/<job>/<session>   the upload: a direct PUT's object, or the multipart
 *                                      upload's key and, once completed, its object
 *   tenants/<tenant>/jobs/<job>/…      the job workspace: inputs/<datasetKey><ext>,
 *                                      inputs/manifest.json and job.json
 *
 * A multipart upload's parts reach the bucket without passing through this server, so the server
 * learns of them from ListParts (`syncParts`) when the client lists parts or finalizes. Finalize
 * completes the upload, streams the object once to hash the file and each part, and copies it
 * into the workspace server-side.
 */
export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly checksumsInUrl = true;

  readonly client: S3Client;
  /** Signs URLs with the endpoint browsers reach; a signature covers the host it was made for. */
  private readonly presigner: S3Client;
  private readonly bucket: string;

  constructor(private readonly options: S3StoreOptions) {
    const { config } = options;
    const common = {
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      // Explicit credentials, so the SDK never walks its default chain (environment, profile files,
      // instance metadata).
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      // Flexible checksums only where S3 requires them: many S3-compatible stores reject or ignore
      // the CRC32 headers that newer SDKs add to every upload by default.
      requestChecksumCalculation: 'WHEN_REQUIRED' as const,
      responseChecksumValidation: 'WHEN_REQUIRED' as const,
      requestHandler: { connectionTimeout: 5000, requestTimeout: 120_000 },
    };
    this.client = new S3Client({ ...common, ...(config.endpoint ? { endpoint: config.endpoint } : {}) });
    this.presigner = new S3Client({ ...common, ...(config.publicEndpoint ? { endpoint: config.publicEndpoint } : {}) });
    this.bucket = config.bucket;
  }

  uploadKey(session: SessionRef): string {
    return `uploads/${session.tenantId}/${session.jobId}/${session.id}`;
  }

  workspacePrefix(workspace: WorkspaceRef): string {
    return `tenants/${workspace.tenantId}/jobs/${workspace.jobId}/`;
  }

  workspaceKey(workspace: WorkspaceRef, relPath: string): string {
    return `${this.workspacePrefix(workspace)}${relPath}`;
  }

  private mirrorPath(workspace: WorkspaceRef, relPath: string): string {
    return path.join(this.options.paths.workspaceDir(workspace.tenantId, workspace.jobId), relPath);
  }

  private async send<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw storeFailure(operation, error);
    }
  }

  // Upload sessions.

  /**
   * Starts the session's multipart upload. The declared Content-Type goes on the upload here,
   * because UploadPart URLs cannot bind one.
   * NOTE: no ChecksumAlgorithm is set, so parts may be sent with or without a checksum header. This
   * is tested against Ceph 16 only; AWS S3's handling of part checksums on such uploads is untested.
   */
  async beginUpload(session: SessionRow, contentType: string | null): Promise<string | null> {
    if (session.strategy === 'direct') return null;
    const created = await this.send('start a multipart upload', () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.uploadKey(session), ...(contentType ? { ContentType: contentType } : {}) })),
    );
    if (!created.UploadId) throw storeFailure('start a multipart upload', new Error('CreateMultipartUpload returned no UploadId'));
    return created.UploadId;
  }

  /**
   * Presigns a PUT of one part. Content-Length is a signed header, so the store rejects a body of
   * any other size. A part checksum is a signed header too, because S3 does not read it from the
   * query string, so the client must send exactly that x-amz-checksum-sha256.
   */
  signPartUrl(request: PartUrlRequest): Promise<string> {
    const { session } = request;
    const checksum = request.checksumBase64 !== undefined ? { ChecksumSHA256: request.checksumBase64 } : {};
    const contentType = request.contentType !== null ? { ContentType: request.contentType } : {};
    const expiresIn = Math.max(1, Math.floor((request.expiresAt.getTime() - Date.now()) / 1000));
    const options = {
      expiresIn,
      // Content-Type is signed only when the bundle declared one; otherwise the SDK's default
      // application/octet-stream would be signed and a browser PUT without that type refused.
      signableHeaders: new Set(request.contentType !== null ? ['content-length', 'content-type'] : ['content-length']),
      unhoistableHeaders: new Set(['x-amz-checksum-sha256']),
    };
    if (session.strategy === 'direct') {
      const command = new PutObjectCommand({ Bucket: this.bucket, Key: this.uploadKey(session), ContentLength: request.sizeBytes, ...contentType, ...checksum });
      return getSignedUrl(this.presigner, command, options);
    }
    const command = new UploadPartCommand({
      Bucket: this.bucket,
      Key: this.uploadKey(session),
      UploadId: this.requireUploadId(session),
      PartNumber: request.partNumber,
      ContentLength: request.sizeBytes,
      ...checksum,
    });
    return getSignedUrl(this.presigner, command, options);
  }

  private requireUploadId(session: SessionRow): string {
    if (session.storeUploadId === null) {
      throw new InletError('INTERNAL', `Upload session ${session.id} has no multipart upload id in the object store.`, { uploadSessionId: session.id });
    }
    return session.storeUploadId;
  }

  /**
   * Makes the part records match the bucket while the session takes parts: a part the bucket contains
   * is recorded (with its ETag; its SHA-256 stays unknown until finalize hashes it, unless the
   * store reports one), a record whose part the bucket no longer contains is dropped, and a part whose
   * ETag changed (sent again) gets its new ETag. Once finalize has claimed the session the records
   * are final and the bucket is not asked.
   */
  async syncParts(session: SessionRow): Promise<void> {
    if (session.status !== 'issued') return;
    const listed = session.strategy === 'direct' ? await this.headDirectUpload(session) : await this.listUploadedParts(session);
    if (listed === null) return;

    const { db } = this.options;
    const storedAt = nowIso();
    db.transaction((tx) => {
      const live = tx.select({ status: uploadSessions.status }).from(uploadSessions).where(eq(uploadSessions.id, session.id)).get();
      if (live?.status !== 'issued') return;

      const records = new Map(
        tx
          .select()
          .from(uploadParts)
          .where(eq(uploadParts.uploadSessionId, session.id))
          .all()
          .map((row) => [row.partNumber, row]),
      );
      for (const [partNumber] of records) {
        if (!listed.has(partNumber)) {
          tx.delete(uploadParts).where(and(eq(uploadParts.uploadSessionId, session.id), eq(uploadParts.partNumber, partNumber))).run();
        }
      }
      for (const part of listed.values()) {
        const record = records.get(part.partNumber);
        if (record && normalizeEtag(record.etag) === normalizeEtag(part.etag)) continue;
        const values = { sizeBytes: part.sizeBytes, etag: quoteEtag(part.etag), sha256: part.sha256, storedAt };
        tx.insert(uploadParts)
          .values({ uploadSessionId: session.id, partNumber: part.partNumber, ...values })
          .onConflictDoUpdate({ target: [uploadParts.uploadSessionId, uploadParts.partNumber], set: values })
          .run();
      }
    });
  }

  /** Part 1 of a direct upload, if its object is there with the session's size. */
  private async headDirectUpload(session: SessionRow): Promise<Map<number, PartRecord>> {
    const parts = new Map<number, PartRecord>();
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.uploadKey(session) }));
      if (head.ContentLength === session.sizeBytes && head.ETag) {
        parts.set(1, { partNumber: 1, sizeBytes: session.sizeBytes, etag: head.ETag, sha256: '' });
      }
    } catch (error) {
      if (!isNotFound(error)) throw storeFailure('look up an uploaded object', error);
    }
    return parts;
  }

  /**
   * The parts of the session's multipart upload, or null when the upload is gone (completed by a
   * finalize that then stopped, or aborted): the records then stay as they are.
   */
  private async listUploadedParts(session: SessionRow): Promise<Map<number, PartRecord> | null> {
    const parts = new Map<number, PartRecord>();
    let marker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: this.uploadKey(session),
            UploadId: this.requireUploadId(session),
            MaxParts: PAGE_SIZE,
            ...(marker !== undefined ? { PartNumberMarker: marker } : {}),
          }),
        );
      } catch (error) {
        if (s3ErrorName(error) === 'NoSuchUpload') return null;
        throw storeFailure('list uploaded parts', error);
      }

      for (const part of page.Parts ?? []) {
        const partNumber = part.PartNumber ?? 0;
        if (partNumber < 1 || partNumber > session.partCount || !part.ETag) continue;
        // Content-Length is signed, so a part of another size cannot come from Inlet's URLs. Left
        // unrecorded, it reads as missing and the client sends it again.
        if (part.Size !== partSizeOf(session, session.sizeBytes, partNumber)) continue;
        const sha256 = part.ChecksumSHA256 ? Buffer.from(part.ChecksumSHA256, 'base64').toString('hex') : '';
        parts.set(partNumber, { partNumber, sizeBytes: part.Size, etag: part.ETag, sha256 });
      }
      if (!page.IsTruncated || page.NextPartNumberMarker === undefined) return parts;
      marker = String(page.NextPartNumberMarker);
    }
  }

  async deleteSessionObjects(session: SessionRow): Promise<void> {
    if (session.storeUploadId !== null) await this.abortUpload(this.uploadKey(session), session.storeUploadId);
    await this.deleteKey(this.uploadKey(session));
  }

  private async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (error) {
      if (s3ErrorName(error) !== 'NoSuchUpload' && !isNotFound(error)) throw storeFailure('abort a multipart upload', error);
    }
  }

  private async deleteKey(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (!isNotFound(error)) throw storeFailure('delete an object', error);
    }
  }

  private async objectSize(key: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw storeFailure('look up an object', error);
    }
  }

  // Finalize.

  /**
   * Completes the multipart upload, then streams the object once, hashing the whole file and each
   * part. A part whose SHA-256 differs from the client's (or from the one the store reported) is
   * named in a retryable CHECKSUM_MISMATCH: the completed object cannot take new parts, so the
   * session moves to a fresh multipart upload that already contains copies of the good parts, and
   * the client sends only the bad ones again.
   */
  async hashUpload(session: SessionRow, parts: PartRecord[], clientSha256: Map<number, string>): Promise<UploadHash> {
    if (session.strategy === 'multipart') {
      const completed = await this.completeUpload(session, parts);
      if (completed !== null) return completed;
    }
    this.options.crashPoint('finalize.after_complete');

    const hashed = await this.hashObject(session);
    if (hashed === null) {
      return { ok: false, code: 'UPLOAD_INCOMPLETE', partNumbers: [1], message: 'The uploaded object is missing; PUT it, then finalize again.' };
    }

    const recorded = new Map(parts.map((part) => [part.partNumber, part.sha256]));
    const bad = hashed.partSha256.flatMap((sha256, index) => {
      const partNumber = index + 1;
      const expected = [clientSha256.get(partNumber), recorded.get(partNumber)].filter((value) => value !== undefined && value !== '');
      return expected.some((value) => value !== sha256) ? [partNumber] : [];
    });
    if (bad.length > 0) {
      await this.restartWithGoodParts(session, hashed.partSha256, bad);
      return {
        ok: false,
        code: 'CHECKSUM_MISMATCH',
        partNumbers: bad,
        message: `Parts ${bad.slice(0, 20).join(', ')} do not match their SHA-256; PUT them again, then finalize again.`,
      };
    }

    this.recordPartHashes(session, hashed.partSha256);
    return { ok: true, sha256: hashed.sha256 };
  }

  /**
   * Completes the upload with the part list the server built (sorted, ETags from its records), so
   * a client's list never reaches the store. Returns null once the object exists: also when the
   * upload is already gone because an earlier attempt completed it before stopping.
   */
  private async completeUpload(session: SessionRow, parts: PartRecord[]): Promise<UploadHash | null> {
    const key = this.uploadKey(session);
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    try {
      // The ETag Complete returns is the store's multipart ETag, not a content hash; it is not used.
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: this.requireUploadId(session),
          MultipartUpload: { Parts: sorted.map((part) => ({ PartNumber: part.partNumber, ETag: quoteEtag(part.etag) })) },
        }),
      );
      return null;
    } catch (error) {
      const name = s3ErrorName(error);
      if (name === 'NoSuchUpload') {
        if ((await this.objectSize(key)) === session.sizeBytes) return null;
        // Gone without an object: aborted outside Inlet, for example by a lifecycle rule.
        await this.restartWithGoodParts(session, [], Array.from({ length: session.partCount }, (_, index) => index + 1));
        return {
          ok: false,
          code: 'UPLOAD_INCOMPLETE',
          partNumbers: Array.from({ length: session.partCount }, (_, index) => index + 1),
          message: 'The multipart upload was not found in the object store (aborted outside Inlet); PUT every part again, then finalize again.',
        };
      }
      if (name === 'InvalidPart' || name === 'InvalidPartOrder' || name === 'EntityTooSmall') {
        // A part was sent again after the records were taken: list again and let the client retry.
        return { ok: false, code: 'CHECKSUM_MISMATCH', partNumbers: [], message: `The object store rejected the part list (${name}) because a part changed; finalize again.` };
      }
      throw storeFailure('complete a multipart upload', error);
    }
  }

  /** Streams the upload object once; returns the file's and each part's SHA-256, or null when it is missing. */
  private async hashObject(session: SessionRow): Promise<{ sha256: string; partSha256: string[] } | null> {
    let body: Readable;
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.uploadKey(session) }));
      body = response.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw storeFailure('read an uploaded object', error);
    }

    const whole = createHash('sha256');
    const partSha256: string[] = [];
    let part = createHash('sha256');
    let partRemaining = partSizeOf(session, session.sizeBytes, 1);
    let total = 0;
    try {
      for await (const chunk of body) {
        let bytes = chunk as Buffer;
        total += bytes.length;
        whole.update(bytes);
        while (bytes.length > 0) {
          const take = Math.min(partRemaining, bytes.length);
          part.update(bytes.subarray(0, take));
          partRemaining -= take;
          bytes = bytes.subarray(take);
          if (partRemaining === 0 && partSha256.length < session.partCount) {
            partSha256.push(part.digest('hex'));
            part = createHash('sha256');
            partRemaining = partSizeOf(session, session.sizeBytes, partSha256.length + 1);
          }
        }
      }
    } catch (error) {
      throw storeFailure('read an uploaded object', error);
    }
    // A zero-byte direct upload has one empty part.
    if (session.sizeBytes === 0) partSha256.push(part.digest('hex'));
    if (total !== session.sizeBytes) {
      throw new InletError('OBJECT_STORE_FAILED', `The uploaded object has ${total} bytes, the session expects ${session.sizeBytes}.`, {
        uploadSessionId: session.id,
      });
    }
    return { sha256: whole.digest('hex'), partSha256 };
  }

  private recordPartHashes(session: SessionRow, partSha256: string[]): void {
    const { db } = this.options;
    db.transaction((tx) => {
      partSha256.forEach((sha256, index) => {
        tx.update(uploadParts)
          .set({ sha256 })
          .where(and(eq(uploadParts.uploadSessionId, session.id), eq(uploadParts.partNumber, index + 1)))
          .run();
      });
    });
  }

  /**
   * Gives the session a place to receive `badParts` again. A direct upload deletes its
   * object and part record. A multipart session gets a new multipart upload holding server-side copies of the good
   * parts of the completed object; the records then name the copies.
   */
  private async restartWithGoodParts(session: SessionRow, partSha256: string[], badParts: number[]): Promise<void> {
    const { db } = this.options;
    const key = this.uploadKey(session);
    if (session.strategy === 'direct') {
      await this.deleteKey(key);
      db.delete(uploadParts).where(eq(uploadParts.uploadSessionId, session.id)).run();
      return;
    }

    const uploadId = await this.beginUpload(session, null);
    const bad = new Set(badParts);
    const copies: PartRecord[] = [];
    for (let partNumber = 1; partNumber <= partSha256.length; partNumber += 1) {
      if (bad.has(partNumber)) continue;
      const start = (partNumber - 1) * session.partSizeBytes;
      const sizeBytes = partSizeOf(session, session.sizeBytes, partNumber);
      const copied = await this.send('copy a good part into a new multipart upload', () =>
        this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId ?? undefined,
            PartNumber: partNumber,
            CopySource: this.copySource(key),
            CopySourceRange: `bytes=${start}-${start + sizeBytes - 1}`,
          }),
        ),
      );
      copies.push({ partNumber, sizeBytes, etag: copied.CopyPartResult?.ETag ?? '', sha256: partSha256[partNumber - 1] ?? '' });
    }

    const storedAt = nowIso();
    db.transaction((tx) => {
      tx.update(uploadSessions).set({ storeUploadId: uploadId, updatedAt: storedAt }).where(eq(uploadSessions.id, session.id)).run();
      tx.delete(uploadParts).where(eq(uploadParts.uploadSessionId, session.id)).run();
      for (const copy of copies) {
        tx.insert(uploadParts).values({ uploadSessionId: session.id, ...copy, etag: quoteEtag(copy.etag), storedAt }).run();
      }
    });
    session.storeUploadId = uploadId;
    await this.deleteKey(key);
  }

  private copySource(key: string): string {
    return `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** The completed upload object is already the staged file; nothing moves. */
  stageUpload(): Promise<void> {
    return Promise.resolve();
  }

  async readStagedHead(session: SessionRow, _parts: PartRecord[], relPath: string, byteCount: number): Promise<Buffer> {
    if (session.sizeBytes === 0) return Buffer.alloc(0);
    const target = this.workspaceKey(session, relPath);
    const key = (await this.objectSize(target)) !== null ? target : this.uploadKey(session);
    return this.readRange(key, 0, Math.min(byteCount, session.sizeBytes));
  }

  async readRange(key: string, offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    const response = await this.send('read a byte range', () =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${offset}-${offset + length - 1}` })),
    );
    const array = await response.Body!.transformToByteArray();
    // A view of the SDK's array, so an 8 MiB read is not copied once more.
    const bytes = Buffer.from(array.buffer, array.byteOffset, array.byteLength);
    if (bytes.length !== length) {
      throw new InletError('OBJECT_STORE_FAILED', `A read of ${length} bytes at ${offset} of ${key} returned ${bytes.length} bytes.`, { key });
    }
    return bytes;
  }

  /**
   * Copies the upload object into the workspace server-side: one CopyObject up to S3's 5 GiB
   * limit, UploadPartCopy ranges above it. A repeat finds the target in place and stops.
   */
  async placeStaged(session: SessionRow, _parts: PartRecord[], relPath: string): Promise<void> {
    const target = this.workspaceKey(session, relPath);
    if ((await this.objectSize(target)) !== session.sizeBytes) {
      const source = this.uploadKey(session);
      if (session.sizeBytes <= this.options.config.singleCopyMaxBytes) {
        await this.send('copy the upload into the workspace', () =>
          this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: target, CopySource: this.copySource(source) })),
        );
      } else {
        await this.copyInParts(source, target, session.sizeBytes);
      }
    }
    if (this.options.mirrorWorkspaces) await this.mirrorDown(session, relPath);
  }

  private async copyInParts(source: string, target: string, sizeBytes: number): Promise<void> {
    const pieceBytes = Math.max(this.options.config.singleCopyMaxBytes, Math.ceil(sizeBytes / MAX_PARTS));
    const created = await this.send('start a multipart copy', () => this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: target })));
    const uploadId = created.UploadId!;
    try {
      const parts: { PartNumber: number; ETag: string }[] = [];
      for (let start = 0, partNumber = 1; start < sizeBytes; start += pieceBytes, partNumber += 1) {
        const end = Math.min(start + pieceBytes, sizeBytes) - 1;
        const copied = await this.send('copy a part of the upload into the workspace', () =>
          this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: target,
              UploadId: uploadId,
              PartNumber: partNumber,
              CopySource: this.copySource(source),
              CopySourceRange: `bytes=${start}-${end}`,
            }),
          ),
        );
        parts.push({ PartNumber: partNumber, ETag: quoteEtag(copied.CopyPartResult?.ETag ?? '') });
      }
      await this.send('complete the multipart copy', () =>
        this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId: uploadId, MultipartUpload: { Parts: parts } })),
      );
    } catch (error) {
      await this.abortUpload(target, uploadId);
      throw error;
    }
  }

  /** Streams a workspace object to the local mirror through a temporary file and a rename. */
  private async mirrorDown(workspace: WorkspaceRef, relPath: string): Promise<void> {
    const local = this.mirrorPath(workspace, relPath);
    await this.downloadTo(this.workspaceKey(workspace, relPath), local);
  }

  private async downloadTo(key: string, file: string): Promise<void> {
    await fsPromises.mkdir(path.dirname(file), { recursive: true });
    const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const response = await this.send('download an object', () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })));
      await pipeline(response.Body as Readable, fs.createWriteStream(temporary, { flags: 'wx', flush: true }));
      await fsPromises.rename(temporary, file);
    } finally {
      await fsPromises.rm(temporary, { force: true });
    }
  }

  /** The upload object is deleted with the session's other objects once finalize committed. */
  discardStaged(): Promise<void> {
    return Promise.resolve();
  }

  // Workspaces.

  async workspaceFileExists(workspace: WorkspaceRef, relPath: string): Promise<boolean> {
    return (await this.objectSize(this.workspaceKey(workspace, relPath))) !== null;
  }

  /** One PutObject: S3 replaces an object whole, so readers see the old or the new content. */
  async writeWorkspaceFile(workspace: WorkspaceRef, relPath: string, content: string): Promise<void> {
    await this.send('write a workspace file', () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.workspaceKey(workspace, relPath),
          Body: content,
          ContentType: relPath.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        }),
      ),
    );
    if (this.options.mirrorWorkspaces) await writeFileAtomic(this.mirrorPath(workspace, relPath), content);
  }

  async deleteWorkspaceFile(workspace: WorkspaceRef, relPath: string): Promise<void> {
    await this.deleteKey(this.workspaceKey(workspace, relPath));
    if (this.options.mirrorWorkspaces) await fsPromises.rm(this.mirrorPath(workspace, relPath), { force: true });
  }

  /** Deletes the workspace prefix, the job's upload objects and its unfinished multipart uploads. */
  async deleteJobObjects(workspace: WorkspaceRef): Promise<void> {
    const uploadsPrefix = `uploads/${workspace.tenantId}/${workspace.jobId}/`;
    for (const prefix of [this.workspacePrefix(workspace), uploadsPrefix]) {
      for (const key of await this.listKeys(prefix)) await this.deleteKey(key);
    }

    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.send('list multipart uploads', () =>
        this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: uploadsPrefix, MaxUploads: PAGE_SIZE, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        ),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key && upload.UploadId) await this.abortUpload(upload.Key, upload.UploadId);
      }
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }

    if (this.options.mirrorWorkspaces) {
      await fsPromises.rm(this.options.paths.workspaceDir(workspace.tenantId, workspace.jobId), { recursive: true, force: true });
    }
  }

  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.send('list objects', () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: PAGE_SIZE, ContinuationToken: token })),
      );
      for (const entry of page.Contents ?? []) if (entry.Key) keys.push(entry.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys;
  }

  /**
   * Opens the local mirror's file when there is one. Otherwise reads the workspace object with
   * ranged GETs, and short reads come from cached blocks (S3ObjectBytes).
   */
  async openWorkspaceBytes(workspace: WorkspaceRef, relPath: string, sizeBytes: number): Promise<ByteSource> {
    const local = await this.localWorkspacePath(workspace, relPath, sizeBytes);
    if (local !== null) return FileByteSource.open(local);
    const key = this.workspaceKey(workspace, relPath);
    return new S3ObjectBytes((offset, length) => this.readRange(key, offset, length), sizeBytes, key);
  }

  /** Returns the local mirror's file when the mirror is on and contains the file with the expected size. */
  async localWorkspacePath(workspace: WorkspaceRef, relPath: string, sizeBytes: number): Promise<string | null> {
    if (!this.options.mirrorWorkspaces) return null;
    const local = this.mirrorPath(workspace, relPath);
    const stat = await fsPromises.stat(local).catch(() => null);
    return stat?.size === sizeBytes ? local : null;
  }

  signDownloadUrl(request: DownloadUrlRequest): Promise<string> {
    const expiresIn = Math.max(1, Math.floor((request.expiresAt.getTime() - Date.now()) / 1000));
    return getSignedUrl(
      this.presigner,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.workspaceKey(request.workspace, request.relPath),
        ResponseContentType: request.contentType,
        ResponseContentDisposition: contentDisposition(request.filename),
        ResponseCacheControl: 'private, no-store',
      }),
      { expiresIn },
    );
  }
}

/** Content-Disposition for a download, with the original name in RFC 6266/5987 form. */
export function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}
