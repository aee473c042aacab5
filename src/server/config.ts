import path from 'node:path';

/**
 * Server configuration, read once from the environment at start-up. Every key is documented in
 * `.env.example`; an invalid value raises a ConfigError that names the key.
 */
export interface Config {
  port: number;
  hostname: string;
  dataDir: string;
  publicUrl: string | null;
  openMode: boolean;
  objectStore: 'local' | 's3';
  workspaceMirror: 'none' | 'local';
  urlTtlSeconds: number;
  sessionTtlSeconds: number;
  jobTokenTtlSeconds: number;
  multipartThresholdBytes: number;
  partSizeBytes: number;
  maxParts: number;
  maxFileSizeBytes: number;
  maxBundleFiles: number;
  maxJobDatasets: number;
  maxSessionsPerJob: number;
  finalizeLeaseSeconds: number;
  sweepIntervalSeconds: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  testMode: boolean;
}

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`Invalid configuration ${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** S3's own part limits; the embedded store keeps the same ones so both stores accept the same sessions. */
export const MIN_PART_SIZE_BYTES = 5 * MIB;
export const MAX_PART_SIZE_BYTES = 5 * GIB;
/** Signed URLs never live longer than this, whatever the configuration says. */
export const MAX_URL_TTL_SECONDS = 900;

type Env = Record<string, string | undefined>;

function readString(env: Env, key: string, fallback: string): string {
  const value = env[key];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

function readInteger(env: Env, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return fallback;

  const text = raw.trim();
  if (!/^\d+$/.test(text)) {
    throw new ConfigError(key, `expected a whole number, got "${raw}"`);
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(key, `expected a whole number from ${min} to ${max}, got ${text}`);
  }
  return value;
}

function readBoolean(env: Env, key: string, fallback: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return fallback;

  const text = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  throw new ConfigError(key, `expected true or false, got "${raw}"`);
}

function readChoice<T extends string>(env: Env, key: string, fallback: T, choices: readonly T[]): T {
  const value = readString(env, key, fallback);
  if (!(choices as readonly string[]).includes(value)) {
    throw new ConfigError(key, `expected one of ${choices.join(', ')}, got "${value}"`);
  }
  return value as T;
}

function readPublicUrl(env: Env): string | null {
  const raw = env.INLET_PUBLIC_URL?.trim();
  if (!raw) return null;

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('INLET_PUBLIC_URL', `expected an absolute http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError('INLET_PUBLIC_URL', `expected an http or https URL, got "${raw}"`);
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** Parses the environment into a Config, raising ConfigError on the first invalid key. */
export function loadConfig(env: Env = process.env): Config {
  const testMode = readBoolean(env, 'INLET_TEST_MODE', false);
  const minPartSizeBytes = testMode ? 1 : MIN_PART_SIZE_BYTES;

  const urlTtlSeconds = readInteger(env, 'INLET_URL_TTL_SECONDS', 900, 1, MAX_URL_TTL_SECONDS);
  const sessionTtlSeconds = readInteger(env, 'INLET_SESSION_TTL_SECONDS', 86_400, 1, 365 * 86_400);
  if (sessionTtlSeconds < urlTtlSeconds) {
    throw new ConfigError(
      'INLET_SESSION_TTL_SECONDS',
      `must be at least INLET_URL_TTL_SECONDS (${urlTtlSeconds}), got ${sessionTtlSeconds}`,
    );
  }

  const objectStore = readChoice(env, 'INLET_OBJECT_STORE', 'local', ['local', 's3'] as const);
  if (objectStore === 's3') {
    // NOTE: the S3 object store is not implemented yet; refusing here beats a silent fallback.
    throw new ConfigError('INLET_OBJECT_STORE', 'the s3 object store is not available in this version; use local');
  }

  return {
    port: readInteger(env, 'PORT', 3000, 0, 65_535),
    hostname: readString(env, 'HOSTNAME', '127.0.0.1'),
    dataDir: path.resolve(readString(env, 'INLET_DATA_DIR', './data')),
    publicUrl: readPublicUrl(env),
    openMode: readBoolean(env, 'INLET_OPEN_MODE', true),
    objectStore,
    workspaceMirror: readChoice(env, 'INLET_WORKSPACE_MIRROR', 'none', ['none', 'local'] as const),
    urlTtlSeconds,
    sessionTtlSeconds,
    jobTokenTtlSeconds: readInteger(env, 'INLET_JOB_TOKEN_TTL_SECONDS', 2_592_000, 60, 10 * 365 * 86_400),
    multipartThresholdBytes: readInteger(env, 'INLET_MULTIPART_THRESHOLD_BYTES', 64 * MIB, 1, Number.MAX_SAFE_INTEGER),
    partSizeBytes: readInteger(env, 'INLET_PART_SIZE_BYTES', 8 * MIB, minPartSizeBytes, MAX_PART_SIZE_BYTES),
    maxParts: readInteger(env, 'INLET_MAX_PARTS', 10_000, 1, 10_000),
    maxFileSizeBytes: readInteger(env, 'INLET_MAX_FILE_SIZE_BYTES', 50 * GIB, 0, Number.MAX_SAFE_INTEGER),
    maxBundleFiles: readInteger(env, 'INLET_MAX_BUNDLE_FILES', 64, 1, 10_000),
    maxJobDatasets: readInteger(env, 'INLET_MAX_JOB_DATASETS', 256, 1, 100_000),
    maxSessionsPerJob: readInteger(env, 'INLET_MAX_SESSIONS_PER_JOB', 64, 1, 100_000),
    finalizeLeaseSeconds: readInteger(env, 'INLET_FINALIZE_LEASE_SECONDS', 60, testMode ? 1 : 5, 3600),
    sweepIntervalSeconds: readInteger(env, 'INLET_SWEEP_INTERVAL_SECONDS', 300, 1, 86_400),
    logLevel: readChoice(env, 'INLET_LOG_LEVEL', 'info', [
      'fatal',
      'error',
      'warn',
      'info',
      'debug',
      'trace',
      'silent',
    ] as const),
    testMode,
  };
}
