import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketCorsCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import { makeTempDir } from './server';

const PROJECT_ROOT = path.resolve(import.meta.dirname, '../..');
const SCRIPT = path.join(PROJECT_ROOT, 'scripts/s3-test-server.sh');

export interface S3TestServer {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  client: S3Client;
  /** Stops the server when this process started it; a server that scripts/test.sh started stays up. */
  stop(): Promise<void>;
}

let shared: Promise<S3TestServer> | null = null;

/**
 * The S3-compatible server for this test file: the one scripts/test.sh started (its INLET_TEST_S3_*
 * variables), or else a new one from scripts/s3-test-server.sh, so a single test file also runs
 * on its own.
 */
export function s3TestServer(): Promise<S3TestServer> {
  shared ??= startOrReuse();
  return shared;
}

async function startOrReuse(): Promise<S3TestServer> {
  let values: Record<string, string>;
  let dir: string | null = null;
  if (process.env.INLET_TEST_S3_ENDPOINT) {
    values = {
      ENDPOINT: process.env.INLET_TEST_S3_ENDPOINT,
      REGION: process.env.INLET_TEST_S3_REGION ?? 'us-east-1',
      BUCKET: process.env.INLET_TEST_S3_BUCKET ?? '',
      ACCESS_KEY_ID: process.env.INLET_TEST_S3_ACCESS_KEY_ID ?? '',
      SECRET_ACCESS_KEY: process.env.INLET_TEST_S3_SECRET_ACCESS_KEY ?? '',
    };
  } else {
    dir = makeTempDir('inlet-s3-');
    const { stdout } = await promisify(execFile)('bash', [SCRIPT, 'start', dir], { timeout: 120_000 });
    values = {};
    for (const line of stdout.split('\n')) {
      const match = /^INLET_S3_([A-Z_]+)=(.*)$/.exec(line);
      if (match?.[1] && match[2] !== undefined) values[match[1]] = match[2];
    }
  }

  const server = {
    endpoint: values.ENDPOINT!,
    region: values.REGION!,
    bucket: values.BUCKET!,
    accessKeyId: values.ACCESS_KEY_ID!,
    secretAccessKey: values.SECRET_ACCESS_KEY!,
  };
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    ...server,
    client,
    stop: async () => {
      client.destroy();
      if (dir !== null) await promisify(execFile)('bash', [SCRIPT, 'stop', dir]);
    },
  };
}

/** Server environment that selects the S3 store with this test server and `bucket`. */
export function s3Env(server: S3TestServer, bucket: string = server.bucket): Record<string, string> {
  return {
    INLET_OBJECT_STORE: 's3',
    INLET_S3_ENDPOINT: server.endpoint,
    INLET_S3_REGION: server.region,
    INLET_S3_BUCKET: bucket,
    INLET_S3_ACCESS_KEY_ID: server.accessKeyId,
    INLET_S3_SECRET_ACCESS_KEY: server.secretAccessKey,
    INLET_S3_FORCE_PATH_STYLE: 'true',
  };
}

/** The CORS rule that docs/OPERATIONS.md documents. */
export const BROWSER_CORS = {
  CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['PUT', 'GET', 'HEAD'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 600 }],
};

/** Creates a bucket with a unique name, with or without the CORS rule browsers need. */
export async function createBucket(server: S3TestServer, options: { cors: boolean }): Promise<string> {
  const bucket = `inlet-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  await server.client.send(new CreateBucketCommand({ Bucket: bucket }));
  if (options.cors) await server.client.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: BROWSER_CORS }));
  return bucket;
}

export async function getObject(server: S3TestServer, key: string, bucket: string = server.bucket): Promise<Buffer | null> {
  try {
    const response = await server.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await response.Body!.transformToByteArray());
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
    throw error;
  }
}

export async function objectExists(server: S3TestServer, key: string, bucket: string = server.bucket): Promise<boolean> {
  try {
    await server.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}

/** Keys of unfinished multipart uploads under `prefix`. */
export async function multipartUploads(server: S3TestServer, prefix: string, bucket: string = server.bucket): Promise<string[]> {
  const page = await server.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (page.Uploads ?? []).map((upload) => upload.Key ?? '');
}

export async function listKeys(server: S3TestServer, prefix: string, bucket: string = server.bucket): Promise<string[]> {
  const page = await server.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((entry) => entry.Key ?? '').sort();
}
