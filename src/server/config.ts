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
  /** Set when objectStore is 's3'. */
  s3: S3Config | null;
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
  /**
   * A connection that sends nothing for this long is closed, also in the middle of a request body.
   * Always 60 s; test mode may lower it with INLET_TEST_SOCKET_IDLE_TIMEOUT_MS.
   */
  socketIdleTimeoutMs: number;
  /**
   * Bytes of multipart parts the process keeps in memory until the whole-file hash reaches them.
   * Always 64 MiB; test mode may lower it with INLET_TEST_HASH_RETAIN_BYTES.
   */
  hashRetainBytes: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  testMode: boolean;
}

/** Connection to an S3-compatible bucket, from the INLET_S3_* keys. */
export interface S3Config {
  /** Endpoint the server calls; null means AWS S3's regional endpoint. */
  endpoint: string | null;
  /** Endpoint that signed URLs point at, the one browsers reach; defaults to `endpoint`. */
  publicEndpoint: string | null;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /**
   * Objects up to this size are copied with one CopyObject call, larger ones part by part with
   * UploadPartCopy. S3 allows at most 5 GiB per CopyObject; test mode may lower it.
   */
  singleCopyMaxBytes: number;
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
/** The socket idle timeout outside test mode. */
export const SOCKET_IDLE_TIMEOUT_MS = 60_000;
/** Bytes of multipart parts a process keeps in memory until the whole-file hash reaches them. */
export const HASH_RETAIN_BYTES = 64 * MIB;
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

function readEndpoint(env: Env, key: string): string | null {
  const raw = env[key]?.trim();
  if (!raw) return null;

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(key, `expected an absolute http(s) URL such as https://s3.example.org, got "${raw}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    throw new ConfigError(key, `expected an http or https URL without query or fragment, got "${raw}"`);
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

function readRequired(env: Env, key: string, what: string): string {
  const value = env[key]?.trim();
  if (!value) throw new ConfigError(key, `is required when INLET_OBJECT_STORE=s3: set it to ${what}`);
  return value;
}

/** S3 bucket names: 3 to 63 characters of a-z 0-9 . -, starting and ending with a letter or digit. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function readS3Config(env: Env, testMode: boolean): S3Config {
  const endpoint = readEndpoint(env, 'INLET_S3_ENDPOINT');
  const bucket = readRequired(env, 'INLET_S3_BUCKET', 'the name of an existing bucket');
  if (!BUCKET_NAME.test(bucket)) {
    throw new ConfigError('INLET_S3_BUCKET', `expected 3 to 63 characters of a-z, 0-9, "." and "-", got "${bucket}"`);
  }
  const region = readString(env, 'INLET_S3_REGION', 'us-east-1');
  if (!/^[a-z0-9-]{1,64}$/.test(region)) {
    throw new ConfigError('INLET_S3_REGION', `expected a region name such as eu-central-1, got "${region}"`);
  }

  return {
    endpoint,
    publicEndpoint: readEndpoint(env, 'INLET_S3_PUBLIC_ENDPOINT') ?? endpoint,
    region,
    bucket,
    accessKeyId: readRequired(env, 'INLET_S3_ACCESS_KEY_ID', 'the access key id of a user that may read and write the bucket'),
    secretAccessKey: readRequired(env, 'INLET_S3_SECRET_ACCESS_KEY', 'the secret access key of that user'),
    // Virtual-hosted addressing needs DNS for every bucket name; most self-hosted stores use paths.
    forcePathStyle: readBoolean(env, 'INLET_S3_FORCE_PATH_STYLE', endpoint !== null),
    singleCopyMaxBytes: testMode ? readInteger(env, 'INLET_TEST_S3_SINGLE_COPY_MAX_BYTES', MAX_PART_SIZE_BYTES, 1, MAX_PART_SIZE_BYTES) : MAX_PART_SIZE_BYTES,
  };
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
  const s3 = objectStore === 's3' ? readS3Config(env, testMode) : null;

  return {
    port: readInteger(env, 'PORT', 3000, 0, 65_535),
    hostname: readString(env, 'HOSTNAME', '127.0.0.1'),
    dataDir: path.resolve(readString(env, 'INLET_DATA_DIR', './data')),
    publicUrl: readPublicUrl(env),
    openMode: readBoolean(env, 'INLET_OPEN_MODE', true),
    objectStore,
    s3,
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
    socketIdleTimeoutMs: testMode
      ? readInteger(env, 'INLET_TEST_SOCKET_IDLE_TIMEOUT_MS', SOCKET_IDLE_TIMEOUT_MS, 100, SOCKET_IDLE_TIMEOUT_MS)
      : SOCKET_IDLE_TIMEOUT_MS,
    hashRetainBytes: testMode ? readInteger(env, 'INLET_TEST_HASH_RETAIN_BYTES', HASH_RETAIN_BYTES, 0, HASH_RETAIN_BYTES) : HASH_RETAIN_BYTES,
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
