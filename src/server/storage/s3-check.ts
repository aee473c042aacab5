import { GetBucketCorsCommand, HeadBucketCommand, type CORSRule } from '@aws-sdk/client-s3';

import type { S3Config } from '../config';
import { InletError } from '../errors';
import type { S3ObjectStore } from './s3-store';
import { s3ErrorName, storeFailure } from './s3-store';

/** Headers a browser sends with a part PUT; the CORS rule must allow them. */
const REQUEST_HEADERS = ['content-type', 'x-amz-checksum-sha256'];

/** The CORS rule Inlet needs, as the JSON that `aws s3api put-bucket-cors --cors-configuration` takes. */
export function requiredCorsConfiguration(origin: string | null): { CORSRules: CORSRule[] } {
  return {
    CORSRules: [
      {
        AllowedOrigins: [origin ?? '*'],
        AllowedMethods: ['PUT', 'GET', 'HEAD'],
        AllowedHeaders: ['*'],
        ExposeHeaders: ['ETag'],
        MaxAgeSeconds: 600,
      },
    ],
  };
}

function ruleFits(rule: CORSRule, origin: string | null): boolean {
  const methods = (rule.AllowedMethods ?? []).map((method) => method.toUpperCase());
  const origins = rule.AllowedOrigins ?? [];
  const headers = (rule.AllowedHeaders ?? []).map((header) => header.toLowerCase());
  const exposed = (rule.ExposeHeaders ?? []).map((header) => header.toLowerCase());
  return (
    methods.includes('PUT') &&
    (origins.includes('*') || (origin !== null && origins.includes(origin))) &&
    (headers.includes('*') || REQUEST_HEADERS.every((header) => headers.includes(header))) &&
    exposed.includes('etag')
  );
}

export type BucketCheck = { corsOk: true } | { corsOk: false; reason: string; corsJson: string };

/**
 * Checks at start-up that the bucket exists and that these credentials reach it (raising
 * OBJECT_STORE_FAILED with the setting to fix otherwise), and whether its CORS rules let a
 * browser on `origin` PUT parts and read their ETag header.
 */
export async function checkBucket(store: S3ObjectStore, config: S3Config, origin: string | null): Promise<BucketCheck> {
  try {
    await store.client.send(new HeadBucketCommand({ Bucket: config.bucket }));
  } catch (error) {
    // HeadBucket has no body, so the SDK names a missing bucket only by its status.
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) {
      throw new InletError('OBJECT_STORE_FAILED', `Bucket ${JSON.stringify(config.bucket)} does not exist; create it or fix INLET_S3_BUCKET.`, {
        bucket: config.bucket,
      });
    }
    if (status === 403) {
      throw new InletError(
        'OBJECT_STORE_FAILED',
        `The object store refused access to bucket ${JSON.stringify(config.bucket)}; check INLET_S3_ACCESS_KEY_ID and INLET_S3_SECRET_ACCESS_KEY.`,
        { bucket: config.bucket },
      );
    }
    throw storeFailure(`reach bucket ${JSON.stringify(config.bucket)}`, error);
  }

  const corsJson = JSON.stringify(requiredCorsConfiguration(origin), null, 2);
  let rules: CORSRule[];
  try {
    rules = (await store.client.send(new GetBucketCorsCommand({ Bucket: config.bucket }))).CORSRules ?? [];
  } catch (error) {
    if (s3ErrorName(error) === 'NoSuchCORSConfiguration') return { corsOk: false, reason: 'the bucket has no CORS configuration', corsJson };
    // HeadBucket already proved the bucket and the credentials. Some stores do not implement
    // bucket CORS (they configure it server-wide), so this only warns.
    const name = error instanceof Error ? error.name : String(error);
    return { corsOk: false, reason: `the store did not return the bucket's CORS configuration (${name})`, corsJson };
  }
  if (rules.some((rule) => ruleFits(rule, origin))) return { corsOk: true };
  return {
    corsOk: false,
    reason: `no CORS rule allows PUT from ${origin ?? 'any origin'} with headers ${REQUEST_HEADERS.join(', ')} and exposes ETag`,
    corsJson,
  };
}
