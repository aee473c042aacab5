/**
 * A plain-JSON client of the tRPC API, as the API documentation describes it: mutations are POSTs
 * with a JSON body, queries are GETs with `?input=<url-encoded JSON>`. It depends on nothing but
 * Node's fetch, so the bundled command runs where only Node is installed.
 */
import type { BundleView } from '../server/bundles';
import type { FinalizeResult } from '../server/finalize';
import type { JobView } from '../server/jobs';
import type { Manifest } from '../server/manifest';
import type { PreviewResult } from '../server/preview/types';
import type { PartListing, ResumableSession, SessionView } from '../server/sessions';
import { backoffDelayMs, sleep } from './retry';

export type { BundleView, FinalizeResult, JobView, Manifest, PartListing, PreviewResult, ResumableSession, SessionView };
export type Receipt = Extract<FinalizeResult, { success: true }>;
export type FinalizeFailure = Extract<FinalizeResult, { success: false }>;

export interface RefreshedUrls {
  uploadSessionId: string;
  parts: { partNumber: number; url: string }[];
  expiresAt: string;
}

/** An error response of the API, with the code of the closed error table. */
export class ApiError extends Error {
  constructor(
    readonly procedure: string,
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The request did not get an HTTP response: refused connection, reset, DNS failure or timeout. */
export class NetworkError extends Error {
  constructor(
    readonly procedure: string,
    readonly baseUrl: string,
    cause: unknown,
  ) {
    super(`${procedure} failed: could not reach ${baseUrl} (${describeCause(cause)}).`, { cause });
    this.name = 'NetworkError';
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : '';
    return `${cause.message}${inner}`;
  }
  return String(cause);
}

export interface ApiClientOptions {
  baseUrl: string;
  token?: string | undefined;
  tenantId?: string | undefined;
  /** Attempts per call for network failures and 5xx answers; 1 disables retries. */
  attempts?: number;
  /** Called before each retry, for logging. */
  onRetry?: (info: { procedure: string; attempt: number; delayMs: number; error: Error }) => void;
  /** Stops waiting for responses and retries. */
  signal?: AbortSignal | undefined;
}

const REQUEST_TIMEOUT_MS = 120_000;

interface ErrorBody {
  error?: { message?: string; data?: { errorCode?: string; details?: Record<string, unknown> } };
  result?: { data: unknown };
}

export class ApiClient {
  readonly baseUrl: string;

  constructor(private readonly options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  private headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (json) headers['content-type'] = 'application/json';
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    if (this.options.tenantId !== undefined) headers['x-tenant-id'] = this.options.tenantId;
    return headers;
  }

  query<T>(procedure: string, input: unknown): Promise<T> {
    const query = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
    return this.call<T>(procedure, `${this.baseUrl}/api/trpc/${procedure}${query}`, { method: 'GET', headers: this.headers(false) });
  }

  mutation<T>(procedure: string, input: unknown): Promise<T> {
    return this.call<T>(procedure, `${this.baseUrl}/api/trpc/${procedure}`, {
      method: 'POST',
      headers: this.headers(true),
      body: JSON.stringify(input ?? {}),
    });
  }

  /**
   * Sends one call, retrying network failures and 5xx answers with backoff. Every procedure the
   * command line calls is safe to repeat: finalize and createSession are idempotent, the others
   * read, re-sign URLs, or (bundles.declare) at worst leave an unused bundle behind.
   */
  private async call<T>(procedure: string, url: string, init: RequestInit): Promise<T> {
    const attempts = Math.max(1, this.options.attempts ?? 5);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.callOnce<T>(procedure, url, init);
      } catch (error) {
        const retryable = error instanceof NetworkError || (error instanceof ApiError && error.status >= 500);
        if (!retryable || attempt >= attempts || this.options.signal?.aborted) throw error;
        const delayMs = backoffDelayMs(attempt);
        this.options.onRetry?.({ procedure, attempt, delayMs, error: error as Error });
        await sleep(delayMs, this.options.signal);
      }
    }
  }

  private async callOnce<T>(procedure: string, url: string, init: RequestInit): Promise<T> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const signal = this.options.signal ? AbortSignal.any([this.options.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, { ...init, signal });
      text = await response.text();
    } catch (error) {
      if (this.options.signal?.aborted) throw error;
      throw new NetworkError(procedure, this.baseUrl, error);
    }

    let body: ErrorBody;
    try {
      body = JSON.parse(text) as ErrorBody;
    } catch {
      const excerpt = text.slice(0, 200).replace(/\s+/g, ' ');
      throw new ApiError(
        procedure,
        response.status,
        'UNEXPECTED_RESPONSE',
        `${procedure} returned HTTP ${response.status} with a body that is not JSON (${JSON.stringify(excerpt)}); check that ${this.baseUrl} is an Inlet server.`,
        {},
      );
    }
    if (response.ok && body.result !== undefined) return body.result.data as T;

    const errorCode = body.error?.data?.errorCode ?? 'UNEXPECTED_RESPONSE';
    const message = body.error?.message ?? `${procedure} returned HTTP ${response.status}.`;
    throw new ApiError(procedure, response.status, errorCode, message, body.error?.data?.details ?? {});
  }
}
