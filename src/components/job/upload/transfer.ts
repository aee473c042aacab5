/**
 * One PUT of one part to a signed URL, and the rules for what a failed PUT means. XMLHttpRequest,
 * not fetch, because fetch reports no upload progress.
 */

/** Error status of a PUT, with the S3 error code and message from the store's XML body. */
export class StoreRejection extends Error {
  constructor(
    readonly status: number,
    readonly s3Code: string,
    readonly s3Message: string,
  ) {
    super(`The object store rejected the PUT with ${status} ${s3Code}: ${s3Message}`);
    this.name = 'StoreRejection';
  }

  /** A signed URL that expired: re-signing it through uploads.refreshUrls fixes the PUT. */
  get isExpiredUrl(): boolean {
    return this.status === 403 && this.s3Code === 'AccessDenied' && /expired/i.test(this.s3Message);
  }
}

/** The PUT did not reach the store, or its response was lost. */
export class NetworkFailure extends Error {
  constructor() {
    super('The PUT did not reach the object store or its response was lost');
    this.name = 'NetworkFailure';
  }
}

/** The browser could not read the file, usually because it changed or moved on disk after it was added. */
export class FileReadFailure extends Error {
  constructor(cause: unknown) {
    super('The browser could not read the file', { cause });
    this.name = 'FileReadFailure';
  }
}

function xmlField(xml: string, field: string): string {
  return new RegExp(`<${field}>([^<]*)</${field}>`).exec(xml)?.[1] ?? '';
}

/**
 * PUTs `body` to a signed URL and resolves with the store's ETag. `checksumBase64` is sent as
 * x-amz-checksum-sha256, which the store verifies against the bytes it receives. `onProgress`
 * receives the bytes sent so far.
 */
export function putPart(
  url: string,
  body: Blob,
  checksumBase64: string,
  signal: AbortSignal,
  onProgress: (sentBytes: number) => void,
): Promise<string> {
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
    request.setRequestHeader('x-amz-checksum-sha256', checksumBase64);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => {
      settle();
      const etag = request.getResponseHeader('etag');
      if (request.status >= 200 && request.status < 300 && etag) {
        resolve(etag);
        return;
      }
      const xml = request.responseText;
      reject(new StoreRejection(request.status, xmlField(xml, 'Code') || 'Unknown', xmlField(xml, 'Message')));
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

/**
 * Whether sending the same part again can succeed. 400 IncompleteBody: the connection dropped
 * mid-body. 400 BadDigest: the bytes were damaged on the way. 5xx and 429: the store is failing or
 * busy. 404 NoSuchUpload means the session ended, and no retry can help.
 */
export function isRetryablePutFailure(error: unknown): boolean {
  if (error instanceof NetworkFailure) return true;
  if (!(error instanceof StoreRejection)) return false;
  if (error.isExpiredUrl) return true;
  return error.status >= 500 || error.status === 429 || error.s3Code === 'IncompleteBody' || error.s3Code === 'BadDigest';
}

/** First retry waits about this long; each later one doubles it, up to RETRY_MAX_DELAY_MS. */
export const RETRY_BASE_DELAY_MS = 1000;
export const RETRY_MAX_DELAY_MS = 30_000;

/**
 * Returns the wait before retry number `attempt` (1-based): exponential backoff with jitter, drawn
 * from the upper half of the doubled window so that parts that failed together do not retry in step.
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const window = Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(window / 2 + (window / 2) * random());
}

/** Converts a lower-case hex SHA-256 to the base64 form x-amz-checksum-sha256 carries. */
export function hexToBase64(hex: string): string {
  let binary = '';
  for (let index = 0; index < hex.length; index += 2) binary += String.fromCharCode(Number.parseInt(hex.slice(index, index + 2), 16));
  return btoa(binary);
}

/** Resolves after `milliseconds`, or early when `wake` fires; rejects when `signal` aborts. */
export function sleep(milliseconds: number, signal: AbortSignal, wake?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const finish = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      wake?.removeEventListener('abort', finish);
      resolve();
    };
    const onAbort = (): void => {
      clearTimeout(timer);
      wake?.removeEventListener('abort', finish);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(finish, milliseconds);
    signal.addEventListener('abort', onAbort, { once: true });
    wake?.addEventListener('abort', finish, { once: true });
  });
}
