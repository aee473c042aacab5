import { sha256Hex } from './ids';

export interface FingerprintInput {
  role: string;
  sha256: string;
  sizeBytes: number;
}

/** Returns the dataset key for a file's SHA-256: `ds_` and the first 16 hex digits. */
export function datasetKeyFor(sha256: string): string {
  return `ds_${sha256.slice(0, 16)}`;
}

/**
 * Computes the job fingerprint: the `{ role, sha256, size_bytes }` of every dataset, sorted by
 * (role, sha256) as plain strings, serialised as JSON with sorted keys and no whitespace, hashed
 * with SHA-256 over its UTF-8 bytes, and written as `sha256:<hex>`.
 */
export function jobFingerprint(datasets: readonly FingerprintInput[]): string {
  const entries = datasets
    .map((dataset) => ({ role: dataset.role, sha256: dataset.sha256, size_bytes: dataset.sizeBytes }))
    .sort((a, b) => compareStrings(a.role, b.role) || compareStrings(a.sha256, b.sha256));

  // The literal key order below is the sorted order (role < sha256 < size_bytes), and
  // JSON.stringify keeps insertion order and adds no whitespace.
  return `sha256:${sha256Hex(JSON.stringify(entries))}`;
}

/** Compares by UTF-16 code units, which is byte order for the ASCII roles and hex digests compared here. */
function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
