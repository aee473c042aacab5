import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsPromises from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { and, eq } from 'drizzle-orm';

import { jobs, uploadParts, uploadSessions } from '../db/schema';
import { nowIso } from '../ids';
import { partSizeOf } from '../parts';
import type { Runtime } from '../runtime';
import type { LocalObjectStore } from './local-store';
import { UPLOADS_PATH_PREFIX } from './local-store';
import { verifySignedQuery } from './signing';

type S3ErrorCode = 'AccessDenied' | 'BadDigest' | 'EntityTooLarge' | 'IncompleteBody' | 'NoSuchUpload' | 'MethodNotAllowed' | 'InvalidArgument' | 'InternalError';

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

/** Counts and hashes the bytes passing through, and stops the stream once they pass `limitBytes`. */
class HashingLimiter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly limitBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limitBytes) {
      callback(new StoreError(400, 'EntityTooLarge', `The body is longer than the signed part size of ${this.limitBytes} bytes.`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }
}

/** CORS headers so a browser page on another origin can PUT and read the ETag. */
function setCorsHeaders(request: IncomingMessage, response: ServerResponse): void {
  const origin = request.headers.origin;
  if (!origin) return;
  response.setHeader('access-control-allow-origin', origin);
  response.setHeader('vary', 'origin');
  response.setHeader('access-control-allow-methods', 'PUT');
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
    await storePart(runtime, store, request, response);
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

  const sessionDir = store.sessionDir(session);
  await fsPromises.mkdir(sessionDir, { recursive: true });
  const temporary = path.join(sessionDir, `part-${partNumber}.${randomBytes(6).toString('hex')}.tmp`);
  const limiter = new HashingLimiter(signed.size);

  try {
    await pipeline(request, limiter, fs.createWriteStream(temporary, { flags: 'wx', flush: true }));
  } catch (error) {
    await fsPromises.rm(temporary, { force: true });
    if (error instanceof StoreError) throw error;
    // The client went away mid-body: nothing is kept and there is nobody left to answer.
    logger.info({ event: 'object.put_aborted', uploadSessionId, partNumber, receivedBytes: limiter.bytes }, 'object PUT aborted by the client');
    response.destroy();
    return;
  }

  const digest = limiter.hash.digest();
  const sha256 = digest.toString('hex');
  try {
    if (limiter.bytes !== signed.size) {
      throw new StoreError(400, 'IncompleteBody', `The body has ${limiter.bytes} bytes, the signed part size is ${signed.size}.`);
    }
    if (expectedChecksum !== undefined && expectedChecksum !== digest.toString('base64')) {
      throw new StoreError(400, 'BadDigest', 'The body does not match x-amz-checksum-sha256; the part was not kept. Send it again.');
    }
  } catch (error) {
    await fsPromises.rm(temporary, { force: true });
    throw error;
  }

  const finalFile = store.partFile(session, partNumber, sha256);
  await fsPromises.rename(temporary, finalFile);

  const etag = `"${sha256}"`;
  const storedAt = nowIso();
  const recorded = db.transaction((tx) => {
    // Finalize claims the session by moving it out of `issued`; a part arriving after that is refused.
    const live = tx
      .select({ id: uploadSessions.id })
      .from(uploadSessions)
      .where(and(eq(uploadSessions.id, session.id), eq(uploadSessions.status, 'issued')))
      .get();
    if (!live) return null;

    const previous = tx
      .select({ sha256: uploadParts.sha256 })
      .from(uploadParts)
      .where(and(eq(uploadParts.uploadSessionId, session.id), eq(uploadParts.partNumber, partNumber)))
      .get();
    tx.insert(uploadParts)
      .values({ uploadSessionId: session.id, partNumber, sizeBytes: limiter.bytes, sha256, etag, storedAt })
      .onConflictDoUpdate({
        target: [uploadParts.uploadSessionId, uploadParts.partNumber],
        set: { sizeBytes: limiter.bytes, sha256, etag, storedAt },
      })
      .run();
    return { previousSha256: previous?.sha256 ?? null };
  });

  if (recorded === null) {
    await fsPromises.rm(finalFile, { force: true });
    throw new StoreError(404, 'NoSuchUpload', 'The upload session ended while the part was being sent.');
  }
  if (recorded.previousSha256 !== null && recorded.previousSha256 !== sha256) {
    // A re-PUT with other bytes replaced the part; the old file is no longer referenced.
    await fsPromises.rm(store.partFile(session, partNumber, recorded.previousSha256), { force: true });
  }

  logger.debug({ event: 'object.part_stored', uploadSessionId, partNumber, sizeBytes: limiter.bytes }, 'part stored');
  response.writeHead(200, { etag, 'content-length': 0 });
  response.end();
}
