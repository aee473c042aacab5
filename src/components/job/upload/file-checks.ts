import type { ApiErrorInfo } from '@/trpc/client';

import { datasetFormatOf, extensionOf, filenameProblem, formatProblem, SNIFF_BYTES } from '@/lib/file-rules';

import { formatOfFilename, type Role } from '../../roles';

/** Returns why a filename would be rejected with INPUT_FILENAME_UNSAFE, or null when it is safe. */
export function unsafeFilenameReason(filename: string): string | null {
  return filenameProblem(filename.normalize('NFC'));
}

/** Returns the error code for bytes that are not the format the file's extension declares, or null. */
export function formatMismatchCode(filename: string, head: Uint8Array): 'INPUT_FORMAT_MISMATCH' | 'INPUT_ENCRYPTED' | null {
  const format = datasetFormatOf(filename);
  return format === null ? null : (formatProblem(format, extensionOf(filename), head)?.code ?? null);
}

/**
 * Checks a file before it is declared: a safe name, a role its extension allows, and bytes that
 * match its extension. Returns the error to show on the file, or null when it may upload.
 */
export async function checkFile(file: File, role: Role, maxFileSizeBytes: number | null): Promise<ApiErrorInfo | null> {
  const filename = file.name;
  const reason = unsafeFilenameReason(filename);
  if (reason !== null) return { code: 'INPUT_FILENAME_UNSAFE', details: { filename, reason } };

  const format = formatOfFilename(filename);
  if (role !== 'other' && format === null) {
    return { code: 'INPUT_UNSUPPORTED_FORMAT', details: { filename, role } };
  }
  // The limit comes from system.limits; until it has loaded, declare checks the size instead.
  if (maxFileSizeBytes !== null && file.size > maxFileSizeBytes) {
    return { code: 'UPLOAD_FILE_SIZE_LIMIT_EXCEEDED', details: { filename, sizeBytes: file.size, limit: maxFileSizeBytes } };
  }
  if (role === 'other' || format === null) return null;

  let head: Uint8Array;
  try {
    head = new Uint8Array(await file.slice(0, SNIFF_BYTES).arrayBuffer());
  } catch {
    return { code: 'FILE_UNREADABLE', details: { filename } };
  }
  const code = formatMismatchCode(filename, head);
  return code === null ? null : { code, details: { filename, format } };
}
