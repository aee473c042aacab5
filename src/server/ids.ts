import { createHash, randomBytes } from 'node:crypto';

/** Makes a random id such as `job_3f9c0a1b2c3d4e5f6a7b`: a type prefix and 80 random bits in hex. */
export function newId(prefix: 'job' | 'bdl' | 'file' | 'ups' | 'tok' | 'tkey'): string {
  return `${prefix}_${randomBytes(10).toString('hex')}`;
}

/** Makes a bearer secret with 256 random bits. The prefix tells a job token from a tenant key. */
export function newSecret(prefix: 'inlet_job' | 'inlet_key'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function nowIso(now: Date = new Date()): string {
  return now.toISOString();
}

export function addSeconds(now: Date, seconds: number): Date {
  return new Date(now.getTime() + seconds * 1000);
}
