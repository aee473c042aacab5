import { createHash } from 'node:crypto';

/**
 * Computes a job fingerprint from its datasets. It takes `{ role, sha256, size_bytes }` of each,
 * sorts them by role, then sha256, comparing as plain strings, and serialises them as JSON with
 * sorted keys and no whitespace. The result is "sha256:" and the hex SHA-256 of that UTF-8 text.
 *
 * This is written apart from the server's code on purpose, so that `inlet verify` checks the
 * server's arithmetic instead of repeating it. Test vector: one primary dataset of the 8 bytes
 * "a,b\n1,2\n" (sha256 492d5ea4…7470) gives sha256:cb89cb79edcdbf65297b51cf47458a27bdb73774373c3cb62cc857af9a32bf47.
 */
export function computeJobFingerprint(datasets: readonly { role: string; sha256: string; sizeBytes: number }[]): string {
  const entries = datasets
    .map((dataset) => ({ role: dataset.role, sha256: dataset.sha256, size_bytes: dataset.sizeBytes }))
    .sort((a, b) => byCodeUnits(a.role, b.role) || byCodeUnits(a.sha256, b.sha256));
  const json = `[${entries.map((entry) => canonicalJson(entry)).join(',')}]`;
  return `sha256:${createHash('sha256').update(json, 'utf8').digest('hex')}`;
}

function byCodeUnits(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Serialises a flat object with its keys in sorted order and no whitespace. */
function canonicalJson(value: Record<string, string | number>): string {
  const keys = Object.keys(value).sort(byCodeUnits);
  return `{${keys.map((key) => `${JSON.stringify(key)}:${JSON.stringify(value[key])}`).join(',')}}`;
}
