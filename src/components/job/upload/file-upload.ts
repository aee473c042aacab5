import { TRPCClientError, type TRPCClient } from '@trpc/client';

import { toApiErrorInfo, type ApiErrorInfo, type RouterOutputs } from '@/trpc/client';
import type { AppRouter } from '@/trpc/router';

import type { Role } from '../../roles';
import { sha256OfRange } from './hashing';
import { FileReadFailure, hexToBase64, isRetryablePutFailure, NetworkFailure, putPart, retryDelayMs, sleep, StoreRejection } from './transfer';

/**
 * The upload of one file: issue (or pick up) its upload session, hash and PUT the parts the store
 * does not have yet, several at a time, then finalize. React-free; the manager schedules runs and
 * turns the mutable state into snapshots for the UI.
 */

type Session = RouterOutputs['uploads']['createSession'];
type FinalizeResult = RouterOutputs['uploads']['finalize'];
export type Receipt = Extract<FinalizeResult, { success: true }>;

export type UploadStatus = 'checking' | 'rejected' | 'queued' | 'uploading' | 'paused' | 'finalizing' | 'done' | 'failed' | 'cancelled';
export type PauseReason = 'user' | 'offline';

/** Attempts of one step (a PUT, an API call) before the file fails and waits for the user. */
const MAX_ATTEMPTS = 8;
/** Expired URLs re-signed in a row for one part before that counts as a failed attempt. */
const MAX_EXPIRED_RESIGNS = 3;
/** A cached URL with less time left than this is re-signed before its PUT starts. */
const URL_MIN_REMAINING_MS = 15_000;
/** URLs signed per refreshUrls call when the store takes the checksum as a header. */
const URLS_PER_REFRESH = 100;
/** Finalize calls per run; each retryable failure re-sends the parts it names or waits. */
const MAX_FINALIZE_ROUNDS = 5;
const FINALIZE_RETRY_DELAY_MS = 1000;

/** API error codes after which a new upload session can succeed, so the file offers a retry. */
const RETRYABLE_API_CODES = new Set(['NETWORK_FAILED', 'INTERNAL', 'OBJECT_STORE_FAILED', 'UPLOAD_SESSION_EXPIRED', 'UPLOAD_SESSION_ENDED', 'UPLOAD_SESSION_NOT_FOUND', 'UPLOAD_SESSIONS_LIMIT_EXCEEDED', 'STORAGE_FULL']);
/** Codes after which the session is gone, so a retry must start a new one. */
const SESSION_GONE_CODES = new Set(['UPLOAD_SESSION_EXPIRED', 'UPLOAD_SESSION_ENDED', 'UPLOAD_SESSION_NOT_FOUND']);

export interface PartPlan {
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

/** A failure that ends a run, with whether the user's Retry can help. */
export class UploadFailure extends Error {
  constructor(
    readonly info: ApiErrorInfo,
    readonly retryable: boolean,
  ) {
    super(`Upload failed: ${info.code}`);
    this.name = 'UploadFailure';
  }
}

function toFailure(error: unknown, partNumber: number | null): UploadFailure {
  if (error instanceof UploadFailure) return error;
  if (error instanceof StoreRejection) {
    // NoSuchUpload: the session ended or expired; a retry starts a new session.
    const code = error.s3Code === 'NoSuchUpload' ? 'UPLOAD_SESSION_ENDED' : 'STORE_REJECTED';
    return new UploadFailure({ code, details: { status: error.status, s3Code: error.s3Code, partNumber } }, true);
  }
  if (error instanceof NetworkFailure) return new UploadFailure({ code: 'NETWORK_FAILED', details: { partNumber } }, true);
  if (error instanceof FileReadFailure) return new UploadFailure({ code: 'FILE_UNREADABLE', details: {} }, false);
  const info = toApiErrorInfo(error);
  return new UploadFailure(info, RETRYABLE_API_CODES.has(info.code));
}

/** Whether an API call failed in a way that the same call can get past a moment later. */
function isRetryableApiFailure(error: unknown): boolean {
  if (!(error instanceof TRPCClientError)) return false;
  const info = toApiErrorInfo(error);
  return info.code === 'NETWORK_FAILED' || info.code === 'INTERNAL' || info.code === 'OBJECT_STORE_FAILED';
}

export interface RetryWait {
  /** When the next attempt starts, in epoch milliseconds. */
  atMs: number;
  attempt: number;
  error: ApiErrorInfo;
}

export interface FileUploadContext {
  client: TRPCClient<AppRouter>;
  jobId: string;
  partsInFlight: () => number;
  /** Called after every change of state or progress; the manager batches them into snapshots. */
  changed: () => void;
  /** Called when a run ends, for any reason, so the manager can start the next file. */
  runEnded: () => void;
  finalized: (upload: FileUpload, receipt: Receipt) => void;
}

interface StoredPart {
  etag: string;
  /** Null when the store keeps no SHA-256 for the part (S3 ListParts without checksums). */
  sha256: string | null;
  sizeBytes: number;
}

export class FileUpload {
  status: UploadStatus = 'checking';
  pauseReason: PauseReason | null = null;
  error: ApiErrorInfo | null = null;
  /** Whether the user's Retry can help after a failure. */
  retryable = false;
  /** A problem after the upload finished (a role change or removal that failed); the data is stored. */
  followUpError: ApiErrorInfo | null = null;
  declaredRole: Role | null = null;
  bundleId: string | null = null;
  fileId: string | null = null;
  sampleSha256: string | null = null;
  datasetKey: string | null = null;
  /** Bytes the store already held when this page picked the upload up after a reload. */
  resumedBytes = 0;
  /** Every byte sent, re-sent ones included: the basis of the speed shown. */
  transferredBytes = 0;

  private session: Session | null = null;
  private partSizeBytes = 0;
  private partCount = 0;
  private readonly stored = new Map<number, StoredPart>();
  private readonly hashes = new Map<number, string>();
  private readonly inFlight = new Map<number, number>();
  private readonly urls = new Map<number, { url: string; expiresAtMs: number; sha256: string | null }>();
  private readonly retryWaits = new Map<number, RetryWait>();
  private refreshing: Promise<void> | null = null;
  private controller: AbortController | null = null;
  private wake = new AbortController();

  constructor(
    private readonly context: FileUploadContext,
    readonly id: string,
    readonly file: File,
    public role: Role,
    readonly relativePath: string | null,
    /** The dataset this upload replaces once it is finalized. */
    readonly replacesDatasetKey: string | null,
  ) {}

  get uploadSessionId(): string | null {
    return this.session?.uploadSessionId ?? null;
  }

  /** Bytes stored or on their way; at most the file size. Drops only when a part is re-sent. */
  get uploadedBytes(): number {
    if (this.status === 'done') return this.file.size;
    let total = 0;
    for (const part of this.stored.values()) total += part.sizeBytes;
    for (const sentBytes of this.inFlight.values()) total += sentBytes;
    return Math.min(this.file.size, total);
  }

  get storedPartCount(): number {
    return this.stored.size;
  }

  get totalPartCount(): number {
    return this.partCount;
  }

  /** The retry that starts soonest, when parts or calls are waiting to retry. */
  get nextRetry(): RetryWait | null {
    let next: RetryWait | null = null;
    for (const wait of this.retryWaits.values()) if (next === null || wait.atMs < next.atMs) next = wait;
    return next;
  }

  get isRunning(): boolean {
    return this.status === 'uploading' || this.status === 'finalizing';
  }

  /** Picks up a session that a previous page started, as uploads.listSessions returned it. */
  adopt(bundleId: string, fileId: string, declaredRole: Role): void {
    this.bundleId = bundleId;
    this.fileId = fileId;
    this.declaredRole = declaredRole;
  }

  reject(error: ApiErrorInfo): void {
    this.status = 'rejected';
    this.error = error;
    this.context.changed();
  }

  declared(bundleId: string, fileId: string): void {
    this.bundleId = bundleId;
    this.fileId = fileId;
    this.declaredRole = this.role;
    this.status = 'queued';
    this.error = null;
    this.context.changed();
  }

  /** Runs the upload until it is done, fails, or is paused or cancelled. */
  async run(): Promise<void> {
    if (this.status !== 'queued') return;
    const controller = new AbortController();
    this.controller = controller;
    const signal = controller.signal;
    this.status = 'uploading';
    this.error = null;
    this.context.changed();

    try {
      const result = await this.transfer(signal);
      if (result.success) {
        this.datasetKey = result.datasetKey;
        this.status = 'done';
        this.context.changed();
        await this.applyFollowUps(result.datasetKey);
        this.context.finalized(this, result);
      } else {
        const details = { ...(result.details ?? {}), ...(result.partNumbers ? { partNumbers: result.partNumbers } : {}) };
        this.fail(new UploadFailure({ code: result.errorCode, details }, result.retryable));
      }
    } catch (error) {
      // Pause and cancel abort the run and have already set the status.
      if (!signal.aborted) this.fail(toFailure(error, null));
    } finally {
      if (this.controller === controller) {
        this.controller = null;
        this.inFlight.clear();
        this.retryWaits.clear();
      }
      this.context.changed();
      this.context.runEnded();
    }
  }

  private fail(failure: UploadFailure): void {
    if (SESSION_GONE_CODES.has(failure.info.code)) this.forgetSession();
    this.status = 'failed';
    this.error = failure.info;
    this.retryable = failure.retryable;
    this.context.changed();
  }

  private forgetSession(): void {
    this.session = null;
    this.stored.clear();
    this.urls.clear();
  }

  pause(reason: PauseReason): void {
    if (this.status !== 'queued' && this.status !== 'uploading') return;
    this.status = 'paused';
    this.pauseReason = reason;
    this.controller?.abort(new DOMException('Upload paused', 'AbortError'));
    this.context.changed();
  }

  /** Queues a paused or failed upload again; the manager starts it when a slot is free. */
  resume(): void {
    if (this.status !== 'paused' && !(this.status === 'failed' && this.retryable)) return;
    this.status = 'queued';
    this.pauseReason = null;
    this.error = null;
    this.context.changed();
  }

  /** Ends the waits of parts that are backing off, so they retry at once. */
  retryNow(): void {
    this.wake.abort();
    this.wake = new AbortController();
  }

  /** Stops the upload and ends its session on the server, which deletes the stored parts. */
  async cancel(): Promise<void> {
    if (this.status === 'done' || this.status === 'cancelled' || this.status === 'finalizing') return;
    const hadSession = this.session !== null;
    this.status = 'cancelled';
    this.controller?.abort(new DOMException('Upload cancelled', 'AbortError'));
    this.context.changed();
    if (!hadSession || this.session === null) return;
    try {
      await this.context.client.uploads.abort.mutate({ uploadSessionId: this.session.uploadSessionId });
    } catch (error) {
      this.error = toApiErrorInfo(error);
      this.context.changed();
    }
  }

  /** Changes the role: before finalize it is applied once the file is stored, after it at once. */
  async changeRole(role: Role): Promise<void> {
    this.role = role;
    this.context.changed();
    if (this.status === 'done' && this.datasetKey !== null) await this.applyFollowUps(this.datasetKey);
  }

  private async applyFollowUps(datasetKey: string): Promise<void> {
    const { client, jobId } = this.context;
    try {
      if (this.role !== this.declaredRole) {
        await client.inputs.setRole.mutate({ jobId, datasetKey, role: this.role });
        this.declaredRole = this.role;
      }
      // A new primary replaces the old one at finalize; any other role needs the old entry removed.
      if (this.replacesDatasetKey !== null && this.replacesDatasetKey !== datasetKey && this.declaredRole !== 'primary_dataset') {
        await client.inputs.removeDataset.mutate({ jobId, datasetKey: this.replacesDatasetKey });
      }
      this.followUpError = null;
    } catch (error) {
      this.followUpError = toApiErrorInfo(error);
    }
    this.context.changed();
  }

  private async transfer(signal: AbortSignal): Promise<FinalizeResult> {
    const { client, jobId } = this.context;
    if (this.bundleId === null || this.fileId === null) throw new UploadFailure({ code: 'FILE_NOT_FOUND', details: {} }, false);
    const bundleId = this.bundleId;
    const fileId = this.fileId;

    // 1. Issue the session, or get the live one back with fresh URLs: createSession returns the
    //    file's live session, also one that a page before a reload started.
    if (this.session === null || Date.parse(this.session.sessionExpiresAt) <= Date.now()) {
      this.forgetSession();
      const session = await this.withRetries(0, signal, () => client.uploads.createSession.mutate({ jobId, bundleId, fileId }, { signal }));
      this.session = session;
      this.partSizeBytes = session.strategy === 'direct' ? Math.max(1, this.file.size) : (session.partSize ?? this.file.size);
      this.partCount = session.strategy === 'direct' ? 1 : (session.partCount ?? 1);
      const expiresAtMs = Date.parse(session.expiresAt);
      if (session.url !== undefined) this.urls.set(1, { url: session.url, expiresAtMs, sha256: null });
      for (const part of session.parts ?? []) this.urls.set(part.partNumber, { url: part.url, expiresAtMs, sha256: null });
    }
    const session = this.session;
    const finalize = (parts: { partNumber: number; etag: string; sha256?: string }[]): Promise<FinalizeResult> =>
      this.withRetries(0, signal, () => client.uploads.finalize.mutate({ uploadSessionId: session.uploadSessionId, parts }, { signal }));

    // A session finalized earlier (a lost response, a reload during finalize) returns its receipt.
    if (session.status === 'finalized') {
      this.status = 'finalizing';
      this.context.changed();
      return finalize([]);
    }

    // 2. The server's record of stored parts is the truth, also for an upload a previous page began.
    const listing = await this.withRetries(0, signal, () => client.uploads.listParts.query({ uploadSessionId: session.uploadSessionId }, { signal }));
    const isFirstListing = this.stored.size === 0 && this.transferredBytes === 0;
    this.stored.clear();
    for (const part of listing.parts) this.stored.set(part.partNumber, { etag: part.etag, sha256: part.sha256, sizeBytes: part.sizeBytes });
    if (isFirstListing) this.resumedBytes = this.uploadedBytes;
    this.context.changed();

    // 3. PUT the missing parts, then finalize. A retryable in-band failure re-sends the parts it
    //    names, or waits for a concurrent finalize of the same session.
    const plan = planParts(this.file.size, this.partSizeBytes, this.partCount);
    if (session.status === 'issued') await this.sendParts(plan.filter((part) => !this.stored.has(part.partNumber)), signal);

    for (let round = 1; ; round += 1) {
      this.status = 'finalizing';
      this.context.changed();
      const result = await finalize(
        plan.map((part) => {
          const stored = this.stored.get(part.partNumber);
          const sha256 = stored?.sha256 ?? null;
          return { partNumber: part.partNumber, etag: stored?.etag ?? '', ...(sha256 === null ? {} : { sha256 }) };
        }).filter((part) => part.etag !== ''),
      );
      if (result.success || !result.retryable || round >= MAX_FINALIZE_ROUNDS) return result;

      const resend = new Set(result.partNumbers ?? []);
      if (resend.size > 0) {
        for (const partNumber of resend) {
          this.stored.delete(partNumber);
          // The file may have changed on disk, so the part is hashed again.
          this.hashes.delete(partNumber);
        }
        this.status = 'uploading';
        this.context.changed();
        await this.sendParts(plan.filter((part) => resend.has(part.partNumber)), signal);
      } else {
        await sleep(result.retryAfterMs ?? FINALIZE_RETRY_DELAY_MS, signal);
      }
    }
  }

  /**
   * Sends parts with at most `partsInFlight()` PUTs at a time; the limit is read again as each part
   * starts, so a changed setting applies at once. The first part that fails for good stops the rest.
   */
  private async sendParts(parts: PartPlan[], signal: AbortSignal): Promise<void> {
    const inner = new AbortController();
    const forwardAbort = (): void => inner.abort(signal.reason);
    signal.addEventListener('abort', forwardAbort, { once: true });
    const queue = [...parts];
    const active = new Set<Promise<void>>();
    let firstError: unknown = null;

    const start = (part: PartPlan): void => {
      const task = this.sendPart(part, inner.signal)
        .catch((error: unknown) => {
          if (firstError === null) {
            firstError = error;
            inner.abort(error);
          }
        })
        .finally(() => active.delete(task));
      active.add(task);
    };

    try {
      while (queue.length > 0 || active.size > 0) {
        while (queue.length > 0 && firstError === null && !inner.signal.aborted && active.size < Math.max(1, this.context.partsInFlight())) {
          start(queue.shift() as PartPlan);
        }
        if (active.size === 0) break;
        await Promise.race(active);
      }
    } finally {
      signal.removeEventListener('abort', forwardAbort);
    }
    signal.throwIfAborted();
    if (firstError !== null) throw toFailure(firstError, null);
  }

  /** Hashes one part, gets a URL for it and PUTs it: one request in flight for the part at a time. */
  private async sendPart(part: PartPlan, signal: AbortSignal): Promise<void> {
    const sizeBytes = part.endByte - part.startByte;
    let sha256 = this.hashes.get(part.partNumber);
    if (sha256 === undefined) {
      sha256 = await sha256OfRange(this.file, part.startByte, part.endByte);
      this.hashes.set(part.partNumber, sha256);
    }
    signal.throwIfAborted();
    const checksumBase64 = hexToBase64(sha256);
    const body = this.file.slice(part.startByte, part.endByte);
    const partSha256 = sha256;

    let expiredInARow = 0;
    await this.withRetries(part.partNumber, signal, async () => {
      for (;;) {
        const url = await this.urlFor(part.partNumber, partSha256, signal);
        let sentBytes = 0;
        try {
          const etag = await putPart(url, body, checksumBase64, signal, (loadedBytes) => {
            const clamped = Math.min(loadedBytes, sizeBytes);
            this.transferredBytes += Math.max(0, clamped - sentBytes);
            sentBytes = clamped;
            this.inFlight.set(part.partNumber, clamped);
            this.context.changed();
          });
          this.stored.set(part.partNumber, { etag, sha256: partSha256, sizeBytes });
          this.inFlight.delete(part.partNumber);
          this.context.changed();
          return;
        } catch (error) {
          // A re-sent part starts from zero: only this part's progress goes back.
          this.inFlight.delete(part.partNumber);
          this.context.changed();
          if (error instanceof StoreRejection && error.isExpiredUrl && expiredInARow < MAX_EXPIRED_RESIGNS) {
            // An expired URL is not a failed attempt: re-sign it and send the part at once.
            expiredInARow += 1;
            this.urls.delete(part.partNumber);
            continue;
          }
          if (error instanceof StoreRejection && error.isExpiredUrl) this.urls.delete(part.partNumber);
          throw error;
        }
      }
    }, isRetryablePutFailure);
  }

  /**
   * Returns a signed URL for a part that has time left. When the store takes the checksum only
   * from the URL (S3), each part's URL is signed with its checksum bound.
   */
  private async urlFor(partNumber: number, sha256: string, signal: AbortSignal): Promise<string> {
    const session = this.session;
    if (session === null) throw new UploadFailure({ code: 'UPLOAD_SESSION_NOT_FOUND', details: {} }, true);
    const usable = (): string | null => {
      const cached = this.urls.get(partNumber);
      if (cached === undefined || cached.expiresAtMs - Date.now() < URL_MIN_REMAINING_MS) return null;
      if (session.checksumsInUrl && cached.sha256 !== sha256) return null;
      return cached.url;
    };

    const cachedUrl = usable();
    if (cachedUrl !== null) return cachedUrl;
    const { client } = this.context;

    if (session.checksumsInUrl) {
      const signed = await client.uploads.refreshUrls.mutate(
        { uploadSessionId: session.uploadSessionId, partNumbers: [partNumber], checksums: [{ partNumber, sha256 }] },
        { signal },
      );
      const url = signed.parts.find((part) => part.partNumber === partNumber)?.url;
      if (url === undefined) throw new UploadFailure({ code: 'UPLOAD_PARTS_INVALID', details: { partNumber } }, true);
      this.urls.set(partNumber, { url, expiresAtMs: Date.parse(signed.expiresAt), sha256 });
      return url;
    }

    // Single flight: parts whose URLs ran out together share one refreshUrls call, which signs
    // this part and the next unsent ones.
    if (this.refreshing === null) {
      const partNumbers: number[] = [];
      for (let candidate = partNumber; candidate <= this.partCount && partNumbers.length < URLS_PER_REFRESH; candidate += 1) {
        if (!this.stored.has(candidate) && (candidate === partNumber || !this.urls.has(candidate))) partNumbers.push(candidate);
      }
      this.refreshing = client.uploads.refreshUrls
        .mutate({ uploadSessionId: session.uploadSessionId, partNumbers }, { signal })
        .then((signed) => {
          const expiresAtMs = Date.parse(signed.expiresAt);
          for (const part of signed.parts) this.urls.set(part.partNumber, { url: part.url, expiresAtMs, sha256: null });
        })
        .finally(() => {
          this.refreshing = null;
        });
    }
    await this.refreshing;
    // A URL just signed is used even when the server's URL lifetime is shorter than the margin.
    const url = this.urls.get(partNumber)?.url;
    if (url !== undefined) return url;
    return this.urlFor(partNumber, sha256, signal);
  }

  /**
   * Runs `step` until it succeeds, waiting with exponential backoff between attempts while the
   * failure is retryable. `key` names the wait (a part number, or 0 for an API call) in the UI.
   */
  private async withRetries<T>(
    key: number,
    signal: AbortSignal,
    step: () => Promise<T>,
    isRetryable: (error: unknown) => boolean = isRetryableApiFailure,
  ): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await step();
      } catch (error) {
        signal.throwIfAborted();
        if (attempt >= MAX_ATTEMPTS || !isRetryable(error)) throw error;
        const delayMs = retryDelayMs(attempt);
        this.retryWaits.set(key, { atMs: Date.now() + delayMs, attempt, error: toFailure(error, key === 0 ? null : key).info });
        this.context.changed();
        try {
          await sleep(delayMs, signal, this.wake.signal);
        } finally {
          this.retryWaits.delete(key);
          this.context.changed();
        }
      }
    }
  }
}
