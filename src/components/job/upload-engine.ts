import type { TRPCClient } from '@trpc/client';

import { toApiErrorInfo, type ApiErrorInfo, type RouterOutputs } from '@/trpc/client';
import type { AppRouter } from '@/trpc/router';

/**
 * Uploads one declared file: issue an upload session, PUT the bytes to the signed URL(s) with
 * progress, then finalize with the part list. React-free so that the steps read in order.
 */

type Session = RouterOutputs['uploads']['createSession'];
type FinalizeResult = RouterOutputs['uploads']['finalize'];
export type Receipt = Extract<FinalizeResult, { success: true }>;
export type FinalizeFailure = Extract<FinalizeResult, { success: false }>;

/** Parts of one multipart upload that are PUT at the same time. */
export const MAX_PARTS_IN_FLIGHT = 4;
/** Attempts per part before the upload fails; a network drop or an expired URL is worth retrying. */
const MAX_PUT_ATTEMPTS = 3;
/** Wait before the second attempt of a part; the third waits twice as long. */
const RETRY_DELAY_MS = 1000;
/** Wait before finalizing again when the server sent no retryAfterMs. */
const FINALIZE_RETRY_DELAY_MS = 1000;

/** A failure the UI shows by code: an API error code, or one of the uploader's own codes. */
export class UploadError extends Error {
  constructor(readonly info: ApiErrorInfo) {
    super(`Upload failed: ${info.code}`);
    this.name = 'UploadError';
  }
}

/** Error status of a PUT, with the S3 error code from the store's XML body. */
class StoreRejection extends Error {
  constructor(
    readonly status: number,
    readonly s3Code: string,
  ) {
    super(`The object store rejected the PUT with ${status} ${s3Code}`);
    this.name = 'StoreRejection';
  }
}

class NetworkFailure extends Error {
  constructor() {
    super('The PUT did not reach the object store or its response was lost');
    this.name = 'NetworkFailure';
  }
}

interface PartPlan {
  partNumber: number;
  startByte: number;
  endByte: number;
}

/** Splits a file into parts 1..partCount of `partSizeBytes` each, the last part taking the rest. */
export function planParts(sizeBytes: number, partSizeBytes: number, partCount: number): PartPlan[] {
  const parts: PartPlan[] = [];
  for (let partNumber = 1; partNumber <= partCount; partNumber += 1) {
    const startByte = (partNumber - 1) * partSizeBytes;
    parts.push({ partNumber, startByte, endByte: Math.min(sizeBytes, startByte + partSizeBytes) });
  }
  return parts;
}

function s3CodeOf(xml: string): string {
  return /<Code>([^<]*)<\/Code>/.exec(xml)?.[1] ?? 'Unknown';
}

/**
 * PUTs one body to a signed URL with XMLHttpRequest, since fetch reports no upload progress, and
 * resolves with the store's ETag. `onProgress` receives the bytes sent so far.
 */
function putBytes(url: string, body: Blob, signal: AbortSignal, onProgress: (loadedBytes: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const request = new XMLHttpRequest();
    const onAbort = (): void => request.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = (): void => signal.removeEventListener('abort', onAbort);

    request.open('PUT', url);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => {
      settle();
      const etag = request.getResponseHeader('etag');
      if (request.status >= 200 && request.status < 300 && etag) {
        resolve(etag);
        return;
      }
      reject(new StoreRejection(request.status, s3CodeOf(request.responseText)));
    };
    request.onerror = () => {
      settle();
      reject(new NetworkFailure());
    };
    request.onabort = () => {
      settle();
      reject(signal.reason as Error);
    };
    // The body is a slice without a media type, so no Content-Type is sent: the bundle declares no
    // mimeType, and a signed URL binds a Content-Type only when one was declared.
    request.send(body);
  });
}

function isRetryable(error: unknown): boolean {
  if (error instanceof NetworkFailure) return true;
  if (!(error instanceof StoreRejection)) return false;
  // 403 AccessDenied: the signed URL expired, so re-sign and retry. 400 IncompleteBody: the
  // connection dropped mid-body. 5xx: the store failed to save the part. 404 NoSuchUpload means the
  // session ended and no retry can help.
  return error.status >= 500 || error.s3Code === 'AccessDenied' || error.s3Code === 'IncompleteBody';
}

function toUploadError(error: unknown, partNumber: number): UploadError {
  if (error instanceof UploadError) return error;
  if (error instanceof StoreRejection) {
    const code = error.s3Code === 'NoSuchUpload' ? 'UPLOAD_SESSION_ENDED' : 'STORE_REJECTED';
    return new UploadError({ code, details: { status: error.status, s3Code: error.s3Code, partNumber } });
  }
  if (error instanceof NetworkFailure) return new UploadError({ code: 'NETWORK_FAILED', details: { partNumber } });
  return new UploadError(toApiErrorInfo(error));
}

function delay(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, milliseconds);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `worker` over `items` with at most `limit` in flight. The first failure aborts the others
 * and is rethrown, so one bad part stops the file instead of sending the rest for nothing.
 */
async function runPool<T>(items: readonly T[], limit: number, signal: AbortSignal, worker: (item: T, signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  const forwardAbort = (): void => controller.abort(signal.reason);
  signal.addEventListener('abort', forwardAbort, { once: true });

  let nextIndex = 0;
  let firstError: unknown = null;
  const runWorker = async (): Promise<void> => {
    while (nextIndex < items.length && !controller.signal.aborted) {
      const item = items[nextIndex] as T;
      nextIndex += 1;
      try {
        await worker(item, controller.signal);
      } catch (error) {
        firstError ??= error;
        controller.abort(error);
        return;
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runWorker));
  } finally {
    signal.removeEventListener('abort', forwardAbort);
  }
  signal.throwIfAborted();
  if (firstError !== null) throw firstError;
}

export interface UploadFileOptions {
  client: TRPCClient<AppRouter>;
  jobId: string;
  bundleId: string;
  fileId: string;
  file: File;
  signal: AbortSignal;
  /** Bytes the store has received so far; it can drop when a part is re-sent after a failure. */
  onProgress: (uploadedBytes: number) => void;
  onPhase: (phase: 'uploading' | 'finalizing') => void;
}

/**
 * Uploads and finalizes one declared file and returns finalize's result: a receipt, or the in-band
 * failure after one automatic retry of a retryable one. Raises UploadError for anything else.
 */
export async function uploadFile(options: UploadFileOptions): Promise<FinalizeResult> {
  const { client, jobId, bundleId, fileId, file, signal, onProgress, onPhase } = options;

  // 1. Issue the session. Calling again for the same file returns the live session with fresh URLs,
  //    which is also how expired URLs are re-signed.
  const urls = new Map<number, string>();
  const issueSession = async (): Promise<Session> => {
    const issued = await client.uploads.createSession.mutate({ jobId, bundleId, fileId }, { signal });
    if (issued.url !== undefined) urls.set(1, issued.url);
    for (const part of issued.parts ?? []) urls.set(part.partNumber, part.url);
    return issued;
  };
  let session: Session;
  try {
    session = await issueSession();
  } catch (error) {
    throw toUploadError(error, 0);
  }

  const finalize = async (parts: { partNumber: number; etag: string }[]): Promise<FinalizeResult> => {
    try {
      return await client.uploads.finalize.mutate({ uploadSessionId: session.uploadSessionId, parts }, { signal });
    } catch (error) {
      throw toUploadError(error, 0);
    }
  };

  // A session finalized earlier (a retry after a lost response) returns its stored receipt.
  if (session.status === 'finalized') {
    onPhase('finalizing');
    return finalize([]);
  }
  if (session.status !== 'issued') {
    throw new UploadError({ code: 'FINALIZE_IN_PROGRESS', details: {} });
  }

  // 2. PUT the parts, up to MAX_PARTS_IN_FLIGHT at a time, each retried on a transient failure.
  const plan =
    session.strategy === 'direct'
      ? [{ partNumber: 1, startByte: 0, endByte: file.size }]
      : planParts(file.size, session.partSize ?? file.size, session.partCount ?? 1);
  const sentBytes = new Map<number, number>();
  const etags = new Map<number, string>();
  const reportProgress = (): void => {
    let total = 0;
    for (const bytes of sentBytes.values()) total += bytes;
    onProgress(total);
  };

  let resigning: Promise<Session> | null = null;
  const resign = async (): Promise<void> => {
    // Single flight: parts whose URLs expired together share one createSession call.
    resigning ??= issueSession().finally(() => {
      resigning = null;
    });
    await resigning;
  };

  const sendPart = async (part: PartPlan, partSignal: AbortSignal): Promise<void> => {
    for (let attempt = 1; ; attempt += 1) {
      const url = urls.get(part.partNumber);
      if (url === undefined) {
        // NOTE: createSession signs parts 1 to 100 only, and the router has no uploads.refreshUrls
        // yet to sign the rest, so a file of more than 100 parts cannot be sent from the browser.
        throw new UploadError({ code: 'UPLOAD_PART_URL_MISSING', details: { partNumber: part.partNumber } });
      }
      try {
        const body = file.slice(part.startByte, part.endByte);
        const etag = await putBytes(url, body, partSignal, (loadedBytes) => {
          sentBytes.set(part.partNumber, Math.min(loadedBytes, part.endByte - part.startByte));
          reportProgress();
        });
        sentBytes.set(part.partNumber, part.endByte - part.startByte);
        reportProgress();
        etags.set(part.partNumber, etag);
        return;
      } catch (error) {
        sentBytes.set(part.partNumber, 0);
        partSignal.throwIfAborted();
        if (attempt >= MAX_PUT_ATTEMPTS || !isRetryable(error)) throw toUploadError(error, part.partNumber);
        if (error instanceof StoreRejection && error.s3Code === 'AccessDenied') await resign();
        await delay(RETRY_DELAY_MS * attempt, partSignal);
      }
    }
  };

  onPhase('uploading');
  await runPool(plan, MAX_PARTS_IN_FLIGHT, signal, sendPart);

  // 3. Finalize. A retryable in-band failure gets one more try: re-send the parts it names, or wait
  //    for a concurrent finalize of the same session.
  const partList = (): { partNumber: number; etag: string }[] =>
    plan.map((part) => ({ partNumber: part.partNumber, etag: etags.get(part.partNumber) ?? '' }));
  onPhase('finalizing');
  const result = await finalize(partList());
  if (result.success || !result.retryable) return result;

  if ((result.partNumbers ?? []).length > 0) {
    const resend = new Set(result.partNumbers);
    onPhase('uploading');
    await resign();
    await runPool(
      plan.filter((part) => resend.has(part.partNumber)),
      MAX_PARTS_IN_FLIGHT,
      signal,
      sendPart,
    );
    onPhase('finalizing');
  } else {
    await delay(result.retryAfterMs ?? FINALIZE_RETRY_DELAY_MS, signal);
  }
  return finalize(partList());
}
