import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { sleep } from './retry';

/** The HTTP response to a PUT: the status, the ETag header and the body (S3-style XML on errors). */
export interface PutResponse {
  status: number;
  etag: string | null;
  body: string;
}

/** The PUT got no HTTP response: the connection failed, was reset or stalled. */
export class PutNetworkError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'PutNetworkError';
  }
}

/**
 * Keeps the bytes sent by all PUTs of one command at or below `bytesPerSecond`. Each chunk
 * reserves the next free slot on a shared timeline and waits for it, so parallel parts share the
 * rate instead of each getting it.
 */
export class RateLimiter {
  private cursorMs = 0;

  constructor(private readonly bytesPerSecond: number) {}

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    this.cursorMs = Math.max(now, this.cursorMs) + (bytes * 1000) / this.bytesPerSecond;
    const waitMs = this.cursorMs - now;
    if (waitMs > 1) await sleep(waitMs, signal);
  }
}

/** Largest piece the rate limiter lets through at once, so a slow rate still sends smoothly. */
const THROTTLE_CHUNK_BYTES = 16 * 1024;

/** Counts the bytes passing towards the socket and, when a limiter is given, paces them. */
class SendMeter extends Transform {
  constructor(
    private readonly onBytes: (bytes: number) => void,
    private readonly limiter: RateLimiter | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.forward(chunk).then(
      () => callback(),
      (error: unknown) => callback(error as Error),
    );
  }

  private async forward(chunk: Buffer): Promise<void> {
    if (!this.limiter) {
      this.push(chunk);
      this.onBytes(chunk.length);
      return;
    }
    for (let offset = 0; offset < chunk.length; offset += THROTTLE_CHUNK_BYTES) {
      const piece = chunk.subarray(offset, offset + THROTTLE_CHUNK_BYTES);
      await this.limiter.take(piece.length, this.signal);
      this.push(piece);
      this.onBytes(piece.length);
    }
  }
}

export interface PutFileRangeOptions {
  url: string;
  file: string;
  /** First byte of the range. */
  start: number;
  /** One past the last byte of the range. */
  end: number;
  headers: Record<string, string>;
  signal?: AbortSignal | undefined;
  limiter?: RateLimiter | undefined;
  /** Receives the number of bytes handed to the connection, chunk by chunk. */
  onBytes?: (bytes: number) => void;
  /** The PUT fails when no byte moves either way for this long. */
  idleTimeoutMs?: number;
}

const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * PUTs a byte range of a file to a signed URL with an exact Content-Length, streaming from disk.
 * Resolves with the HTTP response, whatever its status; rejects with PutNetworkError when there is
 * none, and with the signal's reason when it aborts.
 */
export function putFileRange(options: PutFileRangeOptions): Promise<PutResponse> {
  const { url, file, start, end, headers, signal, limiter, onBytes = () => {}, idleTimeoutMs = 120_000 } = options;
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  const sizeBytes = end - start;

  return new Promise<PutResponse>((resolve, reject) => {
    let settled = false;
    const settle = (action: () => void): void => {
      if (settled) return;
      settled = true;
      action();
    };

    const request = transport.request(target, {
      method: 'PUT',
      headers: { ...headers, 'content-length': String(sizeBytes) },
      signal,
    });
    request.setTimeout(idleTimeoutMs, () => {
      request.destroy(new PutNetworkError(`No bytes moved for ${Math.round(idleTimeoutMs / 1000)} s; the connection stalled.`));
    });

    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let length = 0;
      response.on('data', (chunk: Buffer) => {
        if (length < MAX_ERROR_BODY_BYTES) chunks.push(chunk);
        length += chunk.length;
      });
      response.on('end', () => {
        const etag = response.headers.etag;
        settle(() => resolve({ status: response.statusCode ?? 0, etag: typeof etag === 'string' ? etag : null, body: Buffer.concat(chunks).toString('utf8') }));
      });
      response.on('error', (error) => settle(() => reject(new PutNetworkError(`The response was cut off: ${error.message}`, error))));
    });
    request.on('error', (error) => {
      settle(() => {
        if (signal?.aborted) reject(signal.reason as Error);
        else if (error instanceof PutNetworkError) reject(error);
        else reject(new PutNetworkError(`The PUT to ${target.host} failed: ${error.message}`, error));
      });
    });

    const source = sizeBytes === 0 ? Readable.from([]) : fs.createReadStream(file, { start, end: end - 1 });
    // A server that responds early (an error before the whole body) closes the connection, which
    // fails this pipeline; the response is still read by the 'response' handler above.
    pipeline(source, new SendMeter(onBytes, limiter, signal), request).catch((error: unknown) => {
      if (!request.destroyed) request.destroy(error as Error);
    });
  });
}

/** Returns the S3 error code and message of an XML error body, as the object store sends them. */
export function parseS3Error(body: string): { code: string; message: string } {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? 'Unknown';
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? body.slice(0, 200);
  return { code, message: decodeXmlEntities(message) };
}

function decodeXmlEntities(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_match, code: string) => String.fromCharCode(Number(code)))
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&');
}
