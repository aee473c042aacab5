import { parseArgs, type ParseArgsConfig } from 'node:util';

import { ApiClient, ApiError, NetworkError } from './api';

/** Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted by Ctrl-C (128 + SIGINT). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** A malformed command line. The message names the wrong value, and the usage follows it. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure the command reports with a message of its own and, for --json, a code and details. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly code: string = 'FAILED',
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** The user pressed Ctrl-C; what is stored on the server stays there for the next run. */
export class InterruptedError extends Error {
  constructor() {
    super('Interrupted.');
    this.name = 'InterruptedError';
  }
}

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  /** Aborts when the user presses Ctrl-C. */
  signal: AbortSignal;
}

/** Options every command that talks to a server accepts. */
export const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  tenant: { type: 'string' },
  job: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

export const CONNECTION_HELP = `Connection options (flags win over the environment):
  --url URL        server origin, e.g. https://inlet.example.org (env INLET_URL)
  --token TOKEN    job token, or a tenant key where noted (env INLET_TOKEN; prefer the
                   environment, since other users on the host can read command lines)
  --tenant ID      tenant id sent as X-Tenant-Id (env INLET_TENANT; default: the token's)
  --job ID         job id, e.g. job_0123456789abcdef0123 (env INLET_JOB)
  --json           print the result as JSON on stdout
  -h, --help       show this help`;

/** Parses a command's arguments; an unknown option or a missing value is a UsageError. */
export function parse<T extends ParseArgsConfig['options']>(args: string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export interface Connection {
  api: ApiClient;
  baseUrl: string;
  jobId: string;
}

const JOB_ID_PATTERN = /^job_[0-9a-f]{20}$/;

/** Reads the server URL and the token from flags or the environment and checks their form. */
export function connect(
  values: { url?: string | undefined; token?: string | undefined; tenant?: string | undefined },
  io: Io,
  onRetry?: ConstructorParameters<typeof ApiClient>[0]['onRetry'],
  attempts?: number,
): ApiClient {
  const baseUrl = values.url ?? io.env.INLET_URL;
  if (!baseUrl) throw new UsageError('The server URL is missing; pass --url URL or set INLET_URL.');
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(baseUrl)} is not a valid URL; use the server origin such as https://inlet.example.org.`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`--url ${JSON.stringify(baseUrl)} must start with http:// or https://.`);
  }
  const token = values.token ?? io.env.INLET_TOKEN;
  const tenantId = values.tenant ?? io.env.INLET_TENANT;
  return new ApiClient({ baseUrl: parsed.origin + parsed.pathname.replace(/\/+$/, ''), token: token || undefined, tenantId: tenantId || undefined, signal: io.signal, onRetry, ...(attempts !== undefined ? { attempts } : {}) });
}

/** Like connect, and also requires the job id and a token. */
export function connectToJob(
  values: { url?: string | undefined; token?: string | undefined; tenant?: string | undefined; job?: string | undefined },
  io: Io,
  onRetry?: ConstructorParameters<typeof ApiClient>[0]['onRetry'],
  attempts?: number,
): Connection {
  const api = connect(values, io, onRetry, attempts);
  if (!(values.token ?? io.env.INLET_TOKEN)) throw new UsageError('The job token is missing; set INLET_TOKEN (or pass --token TOKEN).');
  const jobId = values.job ?? io.env.INLET_JOB;
  if (!jobId) throw new UsageError('The job id is missing; pass --job ID or set INLET_JOB.');
  if (!JOB_ID_PATTERN.test(jobId)) throw new UsageError(`--job ${JSON.stringify(jobId)} is not a job id; it looks like job_0123456789abcdef0123.`);
  return { api, baseUrl: api.baseUrl, jobId };
}

/** Parses a whole number option within bounds. */
export function integerOption(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(number) || number < min || number > max) {
    throw new UsageError(`--${name} ${JSON.stringify(value)} is invalid; use a whole number from ${min} to ${max}.`);
  }
  return number;
}

export function writeJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Describes any error for the user, with the API's error code where there is one. */
export function describeError(error: unknown): { message: string; code: string; details: Record<string, unknown> } {
  if (error instanceof ApiError) {
    const hint = hintFor(error.errorCode);
    return { message: `${error.procedure} failed with ${error.errorCode} (HTTP ${error.status}): ${error.message}${hint}`, code: error.errorCode, details: error.details };
  }
  if (error instanceof NetworkError) return { message: `${error.message} Check the URL and the network, then run the command again.`, code: 'NETWORK_FAILED', details: {} };
  if (error instanceof CommandError) return { message: error.message, code: error.code, details: error.details };
  if (error instanceof UsageError) return { message: error.message, code: 'USAGE', details: {} };
  const nodeError = error as NodeJS.ErrnoException;
  if (nodeError?.code === 'ENOENT' || nodeError?.code === 'EACCES' || nodeError?.code === 'EISDIR') {
    return { message: nodeError.message, code: nodeError.code, details: { path: (nodeError as { path?: string }).path ?? null } };
  }
  return { message: error instanceof Error ? (error.stack ?? error.message) : String(error), code: 'INTERNAL', details: {} };
}

function hintFor(errorCode: string): string {
  if (errorCode === 'AUTH_REQUIRED') return ' Set INLET_TOKEN to the job token.';
  if (errorCode === 'AUTH_INVALID' || errorCode === 'AUTH_EXPIRED') return ' Ask the job owner or an administrator for a new job token ("inlet admin token create").';
  if (errorCode === 'JOB_NOT_FOUND') return ' Check --job / INLET_JOB and that the token belongs to that job.';
  return '';
}
