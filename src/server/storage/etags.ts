/** Trims whitespace and one pair of surrounding double quotes, as S3 clients vary in both. */
export function normalizeEtag(etag: string): string {
  const trimmed = etag.trim();
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1).trim() : trimmed;
}
