import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsPromises from 'node:fs/promises';
import os from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { and, eq } from 'drizzle-orm';

import { crashPoint, recordDelay } from '../crash';
import type { Db } from '../db/client';
import { DOWNLOADS_PATH_PREFIX } from '../datasets';
import { datasets, jobs, partWrites, uploadParts, uploadSessions } from '../db/schema';
import { addSeconds, nowIso } from '../ids';
import { partSizeOf } from '../parts';
import type { Runtime } from '../runtime';
import type { LocalObjectStore } from './local-store';
import { UPLOADS_PATH_PREFIX } from './local-store';
import { advanceHash, invalidateHashFrom, PartFeed } from './multipart-hash';
import { verifySignedQuery } from './signing';

type S3ErrorCode = 'AccessDenied' | 'BadDigest' | 'EntityTooLarge' | 'IncompleteBody' | 'NoSuchUpload' | 'NoSuchKey' | 'OperationAborted' | 'ServiceUnavailable' | 'MethodNotAllowed' | 'InvalidArgument' | 'InternalError';

class StoreError extends Error {
  constructor(
    readonly status: number,
    readonly s3Code: S3ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (character) => `&#${character.charCodeAt(0)};`);
}

function sendError(response: ServerResponse, error: StoreError, requestId: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${error.s3Code}</Code><Message>${escapeXml(error.message)}</Message><RequestId>${requestId}</RequestId></Error>\n`;
  // The request body may be unread; closing the connection stops the client from sending the rest.
  response.writeHead(error.status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  response.end(body);
}

/**
 * Counts and hashes the bytes passing through, and stops the stream once they pass `limitBytes`.
 * A multipart part's bytes also go to its PartFeed, for the whole-file hash.
 */
class HashingLimiter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly limitBytes: number,
    private readonly feed: PartFeed | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limitBytes) {
      callback(new StoreError(400, 'EntityTooLarge', `The body is longer than the signed part size of ${this.limitBytes} bytes.`));
      return;
    }
    this.hash.update(chunk);
    this.feed?.update(chunk);
    callback(null, chunk);
  }

  // Runs once the whole body has passed through, before the sink fsyncs it.
  override _flush(callback: TransformCallback): void {
    if (this.bytes === this.limitBytes) this.feed?.finishBody();
    callback();
  }
}

/** CORS headers so a browser page on another origin can PUT and read the ETag. */
function setCorsHeaders(request: IncomingMessage, response: ServerResponse): void {
  const origin = request.headers.origin;
  if (!origin) return;
  response.setHeader('access-control-allow-origin', origin);
  response.setHeader('vary', 'origin');
  response.setHeader('access-control-allow-methods', 'PUT, GET');
  response.setHeader('access-control-allow-headers', 'content-type, x-amz-checksum-sha256');
  response.setHeader('access-control-expose-headers', 'etag');
  response.setHeader('access-control-max-age', '600');
}

/**
 * Serves signed PUTs of upload parts to the embedded store, outside Next so that a slow upload is
 * not cut by Next's request timeout and a body is never buffered. The body streams to a temporary
 * file while its SHA-256 is computed; only a complete, verified, fsynced part is renamed into place
 * and recorded, so a dropped connection or a crash leaves the part missing, never half-counted.
 */
export async function handleObjectRequest(
  runtime: Runtime,
  store: LocalObjectStore,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const requestId = randomBytes(8).toString('hex');
  setCorsHeaders(request, response);
  if (request.method === 'OPTIONS') {
    response.writeHead(204).end();
    return;
  }

  try {
    const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (pathname.startsWith(DOWNLOADS_PATH_PREFIX)) await serveDownload(runtime, request, response);
    else await storePart(runtime, store, request, response);
  } catch (error) {
    if (error instanceof StoreError) {
      runtime.logger.info({ event: 'object.put_rejected', requestId, code: error.s3Code, reason: error.message }, 'object PUT rejected');
      sendError(response, error, requestId);
      return;
    }
    runtime.logger.error({ event: 'object.put_failed', requestId, err: error }, 'object PUT failed');
    sendError(response, new StoreError(500, 'InternalError', 'The store failed to save the part; retry the PUT.'), requestId);
  }
}

async function storePart(runtime: Runtime, store: LocalObjectStore, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const { db, logger, signingSecret } = runtime;
  const url = new URL(request.url ?? '/', 'http://localhost');

  if (request.method !== 'PUT') {
    throw new StoreError(405, 'MethodNotAllowed', `Method ${request.method ?? ''} is not allowed; upload parts with PUT.`);
  }
  const match = /^([a-z]+_[0-9a-f]{20})\/([1-9]\d{0,4})$/.exec(url.pathname.slice(UPLOADS_PATH_PREFIX.length));
  if (!url.pathname.startsWith(UPLOADS_PATH_PREFIX) || !match?.[1] || !match[2]) {
    throw new StoreError(403, 'AccessDenied', 'The URL is not a signed upload URL.');
  }
  const uploadSessionId = match[1];
  const partNumber = Number(match[2]);

  // The signature is checked before anything else, and before a byte of the body is read.
  const check = verifySignedQuery(signingSecret, 'PUT', url.pathname, url.searchParams, Date.now());
  if (!check.ok) {
    const reasons = {
      missing: 'The URL has no signature; ask for a signed URL.',
      malformed: 'The URL signature is malformed; use the URL exactly as issued.',
      mismatch: 'The URL signature does not match; use the URL exactly as issued.',
      expired: 'The signed URL has expired; ask uploads.refreshUrls for a new one.',
    };
    throw new StoreError(403, 'AccessDenied', reasons[check.reason]);
  }
  const signed = check.params;

  const session = db.select().from(uploadSessions).where(eq(uploadSessions.id, uploadSessionId)).get();
  const job = session ? db.select().from(jobs).where(eq(jobs.id, session.jobId)).get() : undefined;
  if (!session || !job || session.status !== 'issued' || session.expiresAt <= nowIso() || job.status !== 'open') {
    throw new StoreError(404, 'NoSuchUpload', 'The upload session has ended (finalized, aborted, expired, or its job is locked).');
  }
  if (partNumber > session.partCount || signed.size !== partSizeOf(session, session.sizeBytes, partNumber)) {
    throw new StoreError(403, 'AccessDenied', `Part ${partNumber} does not belong to this upload session.`);
  }

  if (signed.contentType !== undefined && request.headers['content-type'] !== signed.contentType) {
    throw new StoreError(
      403,
      'AccessDenied',
      `The Content-Type must be exactly ${JSON.stringify(signed.contentType)} as declared for this file.`,
    );
  }

  const checksumHeader = request.headers['x-amz-checksum-sha256'];
  const expectedChecksum = typeof checksumHeader === 'string' ? checksumHeader.trim() : undefined;
  if (expectedChecksum !== undefined && !/^[A-Za-z0-9+/]{43}=$/.test(expectedChecksum)) {
    throw new StoreError(400, 'InvalidArgument', 'x-amz-checksum-sha256 must be the base64 SHA-256 of the body (44 characters).');
  }
  if (signed.checksum !== undefined && signed.checksum !== expectedChecksum) {
    throw new StoreError(403, 'AccessDenied', 'The URL binds a part checksum; send it in x-amz-checksum-sha256.');
  }

  const lengthHeader = request.headers['content-length'];
  if (lengthHeader !== undefined) {
    const declared = Number(lengthHeader);
    if (declared > signed.size) {
      throw new StoreError(400, 'EntityTooLarge', `Content-Length ${declared} is above the signed part size of ${signed.size} bytes.`);
    }
    if (declared < signed.size) {
      throw new StoreError(400, 'IncompleteBody', `Content-Length ${declared} is below the signed part size of ${signed.size} bytes.`);
    }
  }

  const target: PartTarget = { session, partNumber, sizeBytes: signed.size, expectedChecksum };
  const stored =
    session.strategy === 'direct'
      ? await storeDirectPart(runtime, store, request, target)
      : await storeMultipartPart(runtime, store, request, target);
  if (stored === null) {
    // The client went away mid-body: nothing is kept and no one is left to receive a response.
    response.destroy();
    return;
  }

  logger.debug({ event: 'object.part_stored', uploadSessionId, partNumber, sizeBytes: signed.size, sha256: stored.sha256 }, 'part stored');
  response.writeHead(200, { etag: stored.etag, 'content-length': 0 });
  response.end();
}

interface PartTarget {
  session: typeof uploadSessions.$inferSelect;
  partNumber: number;
  sizeBytes: number;
  expectedChecksum: string | undefined;
  /** Set for a multipart part: the whole-file hash's view of this PUT. */
  feed?: PartFeed;
}

/** Streams the body through `sink` while hashing; returns null when the client went away. */
async function receiveBody(
  runtime: Runtime,
  request: IncomingMessage,
  target: PartTarget,
  sink: NodeJS.WritableStream,
  discard: () => Promise<void>,
): Promise<{ sha256: string } | null> {
  const limiter = new HashingLimiter(target.sizeBytes, target.feed);
  try {
    await pipeline(request, limiter, sink);
  } catch (error) {
    await discard();
    if (error instanceof StoreError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      runtime.logger.error({ event: 'object.disk_full', uploadSessionId: target.session.id, partNumber: target.partNumber, err: error }, 'disk full while storing a part');
      throw new StoreError(503, 'ServiceUnavailable', "The server's disk is full; nothing of this part was kept. Try again later.");
    }
    if (code === 'ENOENT') {
      // The session's folder was deleted under the upload: it was aborted, expired or its job locked.
      throw new StoreError(404, 'NoSuchUpload', 'The upload session ended while the part was being sent.');
    }
    if (!request.aborted && code !== 'ECONNRESET' && code !== 'ERR_STREAM_PREMATURE_CLOSE') throw error;
    runtime.logger.info(
      { event: 'object.put_aborted', uploadSessionId: target.session.id, partNumber: target.partNumber, receivedBytes: limiter.bytes },
      'object PUT aborted by the client',
    );
    return null;
  }

  const digest = limiter.hash.digest();
  try {
    if (limiter.bytes !== target.sizeBytes) {
      throw new StoreError(400, 'IncompleteBody', `The body has ${limiter.bytes} bytes, the signed part size is ${target.sizeBytes}.`);
    }
    if (target.expectedChecksum !== undefined && target.expectedChecksum !== digest.toString('base64')) {
      throw new StoreError(400, 'BadDigest', 'The body does not match x-amz-checksum-sha256; the part was not kept. Send it again.');
    }
  } catch (error) {
    await discard();
    throw error;
  }
  return { sha256: digest.toString('hex') };
}

/**
 * Checks, inside a write transaction, that the session still takes parts. Finalize claims a
 * session by moving it out of `issued`, and from then on no part may be written or recorded.
 */
function isIssued(db: Db, uploadSessionId: string): boolean {
  const live = db
    .select({ id: uploadSessions.id })
    .from(uploadSessions)
    .where(and(eq(uploadSessions.id, uploadSessionId), eq(uploadSessions.status, 'issued')))
    .get();
  return live !== undefined;
}

/**
 * Records a stored part, unless finalize claimed or something ended the session meanwhile (then
 * returns false). Returns the SHA-256 the part had before, when a re-PUT replaced it. A multipart
 * part that its feed hashed live moves the whole-file hash past it in the same transaction.
 */
function recordPart(runtime: Runtime, target: PartTarget, sha256: string): { previousSha256: string | null } | false {
  const { session, partNumber, sizeBytes, feed } = target;
  const storedAt = nowIso();
  const recorded = runtime.db.transaction((tx) => {
    if (!isIssued(tx as unknown as Db, session.id)) return false;

    const previous = tx
      .select({ sha256: uploadParts.sha256 })
      .from(uploadParts)
      .where(and(eq(uploadParts.uploadSessionId, session.id), eq(uploadParts.partNumber, partNumber)))
      .get();
    tx.insert(uploadParts)
      .values({ uploadSessionId: session.id, partNumber, sizeBytes, sha256, etag: `"${sha256}"`, storedAt })
      .onConflictDoUpdate({
        target: [uploadParts.uploadSessionId, uploadParts.partNumber],
        set: { sizeBytes, sha256, etag: `"${sha256}"`, storedAt },
      })
      .run();
    feed?.commitRecorded(tx as unknown as Db, { sha256, storedAt });
    return { previousSha256: previous?.sha256 ?? null };
  });
  // No await since the commit: nothing else can have changed the in-memory hash meanwhile.
  if (recorded !== false) feed?.applyCommit(runtime.db);
  return recorded;
}

/** A direct upload: the body goes to a temporary file that is renamed to its content-named place. */
async function storeDirectPart(
  runtime: Runtime,
  store: LocalObjectStore,
  request: IncomingMessage,
  target: PartTarget,
): Promise<{ sha256: string; etag: string } | null> {
  const sessionDir = store.sessionDir(target.session);
  await fsPromises.mkdir(sessionDir, { recursive: true });
  const temporary = path.join(sessionDir, `part-${target.partNumber}.${randomBytes(6).toString('hex')}.tmp`);
  const discard = (): Promise<void> => fsPromises.rm(temporary, { force: true });

  const received = await receiveBody(runtime, request, target, fs.createWriteStream(temporary, { flags: 'wx', flush: true }), discard);
  if (received === null) return null;

  crashPoint(runtime, 'put.before_rename');
  const finalFile = store.partFile(target.session, target.partNumber, received.sha256);
  // A hard link creates the content-named file only if it is missing: a file of that name already
  // contains these exact bytes, and finalize may be moving it right now, so it must not be replaced.
  let created = true;
  try {
    await fsPromises.link(temporary, finalFile);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new StoreError(404, 'NoSuchUpload', 'The upload session ended while the part was being sent.');
    if (code !== 'EEXIST') throw error;
    created = false;
  } finally {
    await discard();
  }
  crashPoint(runtime, 'put.before_record');

  const recorded = recordPart(runtime, target, received.sha256);
  if (recorded === false) {
    if (created) await fsPromises.rm(finalFile, { force: true });
    throw new StoreError(404, 'NoSuchUpload', 'The upload session ended while the part was being sent.');
  }
  if (recorded.previousSha256 !== null && recorded.previousSha256 !== received.sha256) {
    // A re-PUT with other bytes replaced the part; the old file is no longer referenced.
    await fsPromises.rm(store.partFile(target.session, target.partNumber, recorded.previousSha256), { force: true });
  }
  return { sha256: received.sha256, etag: `"${received.sha256}"` };
}

/** Seconds a multipart PUT keeps its part's write slot before another PUT may take it over. */
const PART_WRITE_LEASE_SECONDS = 120;

const PROCESS_OWNER = `${os.hostname()}:${process.pid}`;

/** True when `owner` names a process on this host that no longer runs (a crashed writer). */
function ownerIsGone(owner: string): boolean {
  const separator = owner.lastIndexOf(':');
  const host = owner.slice(0, separator);
  const pid = Number(owner.slice(separator + 1));
  if (host !== os.hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Takes the write slot of one part. The part's record and the saved hash states that include it
 * are dropped in the same transaction: from here until the new record, the part reads as missing.
 */
function claimPartWrite(runtime: Runtime, target: PartTarget): 'claimed' | 'busy' | 'ended' {
  const { session, partNumber } = target;
  const now = new Date();
  return runtime.db.transaction((tx) => {
    if (!isIssued(tx as unknown as Db, session.id)) return 'ended';

    const current = tx
      .select()
      .from(partWrites)
      .where(and(eq(partWrites.uploadSessionId, session.id), eq(partWrites.partNumber, partNumber)))
      .get();
    if (current && current.leaseExpiresAt > nowIso(now) && !ownerIsGone(current.owner)) return 'busy';

    const leaseExpiresAt = nowIso(addSeconds(now, PART_WRITE_LEASE_SECONDS));
    tx.insert(partWrites)
      .values({ uploadSessionId: session.id, partNumber, leaseExpiresAt, owner: PROCESS_OWNER })
      .onConflictDoUpdate({ target: [partWrites.uploadSessionId, partWrites.partNumber], set: { leaseExpiresAt, owner: PROCESS_OWNER } })
      .run();
    tx.delete(uploadParts).where(and(eq(uploadParts.uploadSessionId, session.id), eq(uploadParts.partNumber, partNumber))).run();
    invalidateHashFrom(tx as unknown as Db, session.id, partNumber);
    return 'claimed';
  });
}

function releasePartWrite(runtime: Runtime, target: PartTarget): void {
  runtime.db
    .delete(partWrites)
    .where(and(eq(partWrites.uploadSessionId, target.session.id), eq(partWrites.partNumber, target.partNumber), eq(partWrites.owner, PROCESS_OWNER)))
    .run();
}

/**
 * A multipart part: the body is written in place at the part's offset in the session's data file,
 * then fsynced and recorded. Only one PUT per part writes at a time, so bytes never interleave.
 */
async function storeMultipartPart(
  runtime: Runtime,
  store: LocalObjectStore,
  request: IncomingMessage,
  target: PartTarget,
): Promise<{ sha256: string; etag: string } | null> {
  const { session, partNumber } = target;
  const claim = claimPartWrite(runtime, target);
  if (claim === 'ended') {
    throw new StoreError(404, 'NoSuchUpload', 'The upload session has ended (finalized, aborted, expired, or its job is locked).');
  }
  if (claim === 'busy') {
    throw new StoreError(409, 'OperationAborted', `Another PUT of part ${partNumber} is in progress; wait for it to finish, then retry.`);
  }

  const renew = setInterval(() => {
    runtime.db
      .update(partWrites)
      .set({ leaseExpiresAt: nowIso(addSeconds(new Date(), PART_WRITE_LEASE_SECONDS)) })
      .where(and(eq(partWrites.uploadSessionId, session.id), eq(partWrites.partNumber, partNumber), eq(partWrites.owner, PROCESS_OWNER)))
      .run();
  }, (PART_WRITE_LEASE_SECONDS * 1000) / 4);
  renew.unref();
  target.feed = PartFeed.open(session.id, partNumber);

  try {
    const dataFile = store.dataFile(session);
    await fsPromises.mkdir(path.dirname(dataFile), { recursive: true });
    // 'a' creates the file without truncating a file other parts already wrote to.
    await (await fsPromises.open(dataFile, 'a')).close();

    // 'r+' writes at the part's offset without truncating; `flush` fsyncs before the stream closes.
    const sink = fs.createWriteStream(dataFile, { flags: 'r+', start: (partNumber - 1) * session.partSizeBytes, flush: true });
    // Bytes already written stay in the range but the part is unrecorded, so it reads as missing.
    const received = await receiveBody(runtime, request, target, sink, () => Promise.resolve());
    if (received === null) return null;

    await recordDelay(runtime, partNumber);
    crashPoint(runtime, 'put.before_record');
    if (recordPart(runtime, target, received.sha256) === false) {
      throw new StoreError(404, 'NoSuchUpload', 'The upload session ended while the part was being sent.');
    }
    crashPoint(runtime, 'put.after_record');
    // Read back the parts stored before the hash reached them, and hand the hash on to the next
    // part if it is streaming in; finalize waits for whatever is left.
    advanceHash(runtime.db, {
      uploadSessionId: session.id,
      dataFile,
      partSizeBytes: session.partSizeBytes,
      partCount: session.partCount,
      logger: runtime.logger,
    }).catch((error: unknown) => runtime.logger.warn({ event: 'hash.advance_failed', uploadSessionId: session.id, err: error }, 'hash advance failed'));
    return { sha256: received.sha256, etag: `"${received.sha256}"` };
  } finally {
    clearInterval(renew);
    target.feed.close();
    releasePartWrite(runtime, target);
  }
}

/** Content-Disposition for a download, with the original name in RFC 6266/5987 form. */
function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** Serves a signed GET of a dataset's bytes or of the job's manifest.json, streamed from disk. */
async function serveDownload(runtime: Runtime, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const { db, paths, signingSecret } = runtime;
  const url = new URL(request.url ?? '/', 'http://localhost');
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    throw new StoreError(405, 'MethodNotAllowed', `Method ${request.method ?? ''} is not allowed; download with GET.`);
  }
  const match = /^(job_[0-9a-f]{20})\/(manifest|ds_[0-9a-f]{16})$/.exec(url.pathname.slice(DOWNLOADS_PATH_PREFIX.length));
  if (!match?.[1] || !match[2]) throw new StoreError(403, 'AccessDenied', 'The URL is not a signed download URL.');

  const check = verifySignedQuery(signingSecret, 'GET', url.pathname, url.searchParams, Date.now());
  if (!check.ok) {
    throw new StoreError(403, 'AccessDenied', check.reason === 'expired' ? 'The signed URL has expired; ask inputs.downloadUrl for a new one.' : 'The URL signature is not valid; use the URL exactly as issued.');
  }

  const job = db.select().from(jobs).where(eq(jobs.id, match[1])).get();
  if (!job) throw new StoreError(404, 'NoSuchKey', 'The job no longer exists.');
  const workspace = paths.workspaceDir(job.tenantId, job.id);

  let file: string;
  let contentType: string;
  let filename: string;
  if (match[2] === 'manifest') {
    file = path.join(workspace, 'inputs/manifest.json');
    contentType = 'application/json';
    filename = 'manifest.json';
  } else {
    const dataset = db.select().from(datasets).where(and(eq(datasets.jobId, job.id), eq(datasets.datasetKey, match[2]))).get();
    if (!dataset) throw new StoreError(404, 'NoSuchKey', 'The dataset was removed from the job.');
    file = path.join(workspace, dataset.relPath);
    contentType = dataset.contentType;
    filename = dataset.originalName;
  }

  const stat = await fsPromises.stat(file).catch(() => null);
  if (!stat) throw new StoreError(404, 'NoSuchKey', 'The stored file is missing.');
  response.writeHead(200, {
    'content-type': contentType,
    'content-length': stat.size,
    'content-disposition': contentDisposition(filename),
    'cache-control': 'private, no-store',
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  await pipeline(fs.createReadStream(file), response);
}
