import { createHmac, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Query parameters of a signed object URL. */
export interface SignedParams {
  /** Unix seconds after which the URL is refused. */
  expires: number;
  /** Exact body size in bytes the PUT must send. */
  size: number;
  /** Content-Type the PUT must send, when the bundle declared a mimeType. */
  contentType?: string | undefined;
  /** Base64 SHA-256 the PUT's x-amz-checksum-sha256 header must carry, when bound. */
  checksum?: string | undefined;
}

export type SignatureCheck =
  | { ok: true; params: SignedParams }
  | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' | 'expired' };

const SECRET_BYTES = 32;

/**
 * Reads the HMAC signing secret from `<dataDir>/signing.key`, creating it on first start. The
 * exclusive create means that processes starting at once on one data dir all end up with the
 * secret that the first of them wrote.
 */
export function loadSigningSecret(dataDir: string): Buffer {
  const file = path.join(dataDir, 'signing.key');
  try {
    const fd = fs.openSync(file, 'wx', 0o600);
    try {
      fs.writeSync(fd, randomHex());
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }

  // A concurrent creator may not have written yet; its write is one small call, so retry briefly.
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(text)) return Buffer.from(text, 'hex');
    if (text.length > 0) throw new Error(`Signing secret ${file} is damaged: expected 64 hex digits.`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  throw new Error(`Signing secret ${file} stayed empty; delete it and start again.`);
}

function randomHex(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(SECRET_BYTES))).toString('hex');
}

function canonicalString(method: string, objectPath: string, params: SignedParams): string {
  return [method, objectPath, params.expires, params.size, params.contentType ?? '', params.checksum ?? ''].join('\n');
}

export function sign(secret: Buffer, method: string, objectPath: string, params: SignedParams): string {
  return createHmac('sha256', secret).update(canonicalString(method, objectPath, params)).digest('hex');
}

/** Builds the query string of a signed URL for `objectPath`. */
export function signedQuery(secret: Buffer, method: string, objectPath: string, params: SignedParams): string {
  const query = new URLSearchParams();
  query.set('expires', String(params.expires));
  query.set('size', String(params.size));
  if (params.contentType !== undefined) query.set('contentType', params.contentType);
  if (params.checksum !== undefined) query.set('checksum', params.checksum);
  query.set('signature', sign(secret, method, objectPath, params));
  return query.toString();
}

/** Checks a signed URL's query against `method` and `objectPath`, and its expiry against `nowMs`. */
export function verifySignedQuery(
  secret: Buffer,
  method: string,
  objectPath: string,
  query: URLSearchParams,
  nowMs: number,
): SignatureCheck {
  const signature = query.get('signature');
  const expiresText = query.get('expires');
  const sizeText = query.get('size');
  if (signature === null || expiresText === null || sizeText === null) return { ok: false, reason: 'missing' };
  if (!/^\d{1,12}$/.test(expiresText) || !/^\d{1,16}$/.test(sizeText) || !/^[0-9a-f]{64}$/.test(signature)) {
    return { ok: false, reason: 'malformed' };
  }

  const params: SignedParams = {
    expires: Number(expiresText),
    size: Number(sizeText),
    contentType: query.get('contentType') ?? undefined,
    checksum: query.get('checksum') ?? undefined,
  };
  const expected = Buffer.from(sign(secret, method, objectPath, params), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return { ok: false, reason: 'mismatch' };

  // The expiry is checked after the signature so that a forged expiry reads as a bad signature.
  if (params.expires * 1000 <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, params };
}
