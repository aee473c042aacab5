import type { RouterOutputs } from '@/trpc/client';

export type ResumableSession = RouterOutputs['uploads']['listSessions']['sessions'][number];

/**
 * Returns what tells a file apart from the file an unfinished session was started with: its name,
 * size, modification time or sample digest (first and last MiB). Empty means it is the same file.
 */
export function fileMismatchReasons(session: ResumableSession, file: File, sampleSha256: string | null): string[] {
  const reasons: string[] = [];
  if (session.file.filename.normalize('NFC') !== file.name.normalize('NFC')) reasons.push('name');
  if (session.file.sizeBytes !== file.size) reasons.push('size');
  if (session.file.lastModified !== null && session.file.lastModified !== Math.trunc(file.lastModified)) reasons.push('lastModified');
  if (session.file.sampleSha256 !== null && sampleSha256 !== null && session.file.sampleSha256 !== sampleSha256) reasons.push('content');
  return reasons;
}
