import { z } from 'zod';

const ID_PATTERN = /^[a-z]+_[0-9a-f]{20}$/;

export const jobId = z.string().regex(ID_PATTERN, 'must be a job id such as job_0123456789abcdef0123');
export const bundleId = z.string().regex(ID_PATTERN, 'must be a bundle id such as bdl_0123456789abcdef0123');
export const fileId = z.string().regex(ID_PATTERN, 'must be a file id such as file_0123456789abcdef0123');
export const uploadSessionId = z.string().regex(ID_PATTERN, 'must be an upload session id such as ups_0123456789abcdef0123');
export const datasetKey = z.string().regex(/^ds_[0-9a-f]{16}$/, 'must be a dataset key such as ds_0123456789abcdef');
export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');

/** A byte count: a whole, non-negative number no larger than JavaScript can count exactly. */
export const sizeBytes = z.number().int('must be a whole number of bytes').min(0, 'must not be negative').max(Number.MAX_SAFE_INTEGER);

// `type/subtype` with optional parameters, printable ASCII only, since it is bound into a header.
const MIME_TYPE_PATTERN = /^[a-zA-Z0-9!#$&^_.+-]+\/[a-zA-Z0-9!#$&^_.+-]+(\s*;\s*[a-zA-Z0-9!#$&^_.+-]+=("[ -~]*"|[a-zA-Z0-9!#$&^_.+-]+))*$/;

export const declaredFile = z.object({
  // Filename and role rules are checked by the domain, which gives them their own error codes.
  filename: z.string().max(4096),
  sizeBytes,
  role: z.string().max(64),
  mimeType: z.string().max(255).regex(MIME_TYPE_PATTERN, 'must be a media type such as text/csv').optional(),
  lastModified: z.number().int().min(0).max(8.64e15).optional(),
  sha256: sha256Hex.optional(),
  sampleSha256: sha256Hex.optional(),
  relativePath: z.string().max(4096).optional(),
});

export const clientPart = z.object({
  partNumber: z.number().int().min(1).max(10_000),
  etag: z.string().min(1).max(256),
  sha256: sha256Hex.optional(),
});
