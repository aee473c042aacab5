import { createHash } from 'node:crypto';

import type { Receipt } from '../../src/server/finalize';

export interface ApiResponse<T = unknown> {
  status: number;
  body: {
    result?: { data: T };
    error?: { message: string; code: number; data: { errorCode: string; details: Record<string, unknown>; httpStatus: number } };
  };
}

export interface CallOptions {
  token?: string | undefined;
  tenantId?: string | undefined;
}

function headersFor(options: CallOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.tenantId !== undefined) headers['x-tenant-id'] = options.tenantId;
  return headers;
}

/** A plain-JSON tRPC client, as a script or curl would call the API. */
export class Api {
  constructor(readonly baseUrl: string) {}

  async mutation<T = unknown>(procedure: string, input: unknown, options: CallOptions = {}): Promise<ApiResponse<T>> {
    return this.post<T>(procedure, JSON.stringify(input), options);
  }

  async post<T = unknown>(procedure: string, rawBody: string, options: CallOptions = {}): Promise<ApiResponse<T>> {
    const response = await fetch(`${this.baseUrl}/api/trpc/${procedure}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headersFor(options) },
      body: rawBody,
    });
    return { status: response.status, body: (await response.json()) as ApiResponse<T>['body'] };
  }

  async query<T = unknown>(procedure: string, input: unknown, options: CallOptions = {}): Promise<ApiResponse<T>> {
    const query = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
    const response = await fetch(`${this.baseUrl}/api/trpc/${procedure}${query}`, { headers: headersFor(options) });
    return { status: response.status, body: (await response.json()) as ApiResponse<T>['body'] };
  }

  /** Calls a procedure and returns its data, throwing with the error body when it failed. */
  async ok<T = unknown>(kind: 'query' | 'mutation', procedure: string, input: unknown, options: CallOptions = {}): Promise<T> {
    const response = kind === 'query' ? await this.query<T>(procedure, input, options) : await this.mutation<T>(procedure, input, options);
    if (response.status !== 200 || !response.body.result) {
      throw new Error(`${procedure} failed with ${response.status}: ${JSON.stringify(response.body)}`);
    }
    return response.body.result.data;
  }
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Base64(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('base64');
}

export interface CreatedJob {
  jobId: string;
  tenantId: string;
  token: string;
}

export interface DeclaredBundle {
  bundleId: string;
  files: { fileId: string; filename: string; sizeBytes: number; role: string; format: string }[];
}

export interface SessionData {
  uploadSessionId: string;
  strategy: 'direct' | 'multipart';
  status: string;
  url?: string;
  partSize?: number;
  partCount?: number;
  parts?: { partNumber: number; url: string }[];
  expiresAt: string;
  sessionExpiresAt: string;
}

export type { Receipt } from '../../src/server/finalize';

export async function createJob(api: Api): Promise<CreatedJob> {
  return api.ok<CreatedJob>('mutation', 'jobs.create', {});
}

export async function putBytes(url: string, body: Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'PUT', body: new Uint8Array(body), headers });
}

/** Runs declare → createSession → PUT(s) → finalize for one file and returns the finalize data. */
export async function uploadFile(
  api: Api,
  job: CreatedJob,
  file: { filename: string; bytes: Buffer; role: string },
): Promise<{ bundle: DeclaredBundle; session: SessionData; result: Receipt }> {
  const bundle = await api.ok<DeclaredBundle>(
    'mutation',
    'bundles.declare',
    { jobId: job.jobId, files: [{ filename: file.filename, sizeBytes: file.bytes.length, role: file.role }] },
    { token: job.token },
  );
  const fileId = bundle.files[0]!.fileId;
  const session = await api.ok<SessionData>(
    'mutation',
    'uploads.createSession',
    { jobId: job.jobId, bundleId: bundle.bundleId, fileId },
    { token: job.token },
  );

  const parts: { partNumber: number; etag: string }[] = [];
  if (session.strategy === 'direct') {
    const response = await putBytes(session.url!, file.bytes);
    if (response.status !== 200) throw new Error(`PUT failed with ${response.status}: ${await response.text()}`);
    parts.push({ partNumber: 1, etag: response.headers.get('etag')! });
  } else {
    for (const part of session.parts!) {
      const start = (part.partNumber - 1) * session.partSize!;
      const response = await putBytes(part.url, file.bytes.subarray(start, start + session.partSize!));
      if (response.status !== 200) throw new Error(`PUT of part ${part.partNumber} failed with ${response.status}: ${await response.text()}`);
      parts.push({ partNumber: part.partNumber, etag: response.headers.get('etag')! });
    }
  }

  const result = await api.ok<Receipt>('mutation', 'uploads.finalize', { uploadSessionId: session.uploadSessionId, parts }, { token: job.token });
  return { bundle, session, result };
}
