import { classifyOleContainer, OLE_SIGNATURE } from '@/lib/ole-directory';
import type { ApiErrorInfo } from '@/trpc/client';

import { formatOfFilename, type Role } from '../../roles';

// Mirrors the filename and format rules of src/server/rules.ts and src/server/formats.ts, which use
// Node APIs and cannot be bundled for the browser. The server stays the judge; these checks only
// report a bad file before any byte is sent.

const MAX_FILENAME_BYTES = 255;
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/u;
const BIDI_OVERRIDES = /[\u202a-\u202e\u2066-\u2069]/u;

const ZIP_SIGNATURE = [0x50, 0x4b, 0x03, 0x04];
const DTA_TAGGED_SIGNATURE = Array.from('<stata_dta>', (character) => character.charCodeAt(0));
const DTA_BINARY_RELEASES = new Set([104, 105, 108, 110, 111, 113, 114, 115]);
/** Bytes read from the head of a file to confirm its format, as the server reads them at finalize. */
const SNIFF_BYTES = 8192;

/** Returns why a filename would be rejected with INPUT_FILENAME_UNSAFE, or null when it is safe. */
export function unsafeFilenameReason(filename: string): string | null {
  const name = filename.normalize('NFC');
  const byteLength = new TextEncoder().encode(name).length;
  if (byteLength === 0 || name.trim() === '') return 'blank';
  if (byteLength > MAX_FILENAME_BYTES) return 'tooLong';
  if (CONTROL_CHARACTERS.test(name)) return 'control';
  if (BIDI_OVERRIDES.test(name)) return 'bidi';
  if (name.includes('/') || name.includes('\\') || name === '.' || name === '..') return 'path';
  return null;
}

function startsWith(head: Uint8Array, signature: readonly number[]): boolean {
  return signature.every((byte, index) => head[index] === byte);
}

function looksLikeText(head: Uint8Array): boolean {
  // UTF-16 with a byte order mark legitimately contains NUL bytes.
  if (head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))) return true;
  return !head.includes(0);
}

/** Returns the error code for bytes that are not the format the file's extension declares, or null. */
export function formatMismatchCode(filename: string, head: Uint8Array): 'INPUT_FORMAT_MISMATCH' | 'INPUT_ENCRYPTED' | null {
  if (head.length === 0) return null;
  const format = formatOfFilename(filename);
  const extension = filename.slice(filename.lastIndexOf('.')).toLowerCase();
  switch (format) {
    case 'csv':
      return looksLikeText(head) ? null : 'INPUT_FORMAT_MISMATCH';
    case 'excel':
      if (extension === '.xlsx') {
        // Excel stores a password-protected .xlsx as an encrypted package inside an OLE container,
        // and a legacy .xls renamed to .xlsx is an OLE container too.
        if (startsWith(head, OLE_SIGNATURE)) return classifyOleContainer(head) === 'encryptedPackage' ? 'INPUT_ENCRYPTED' : 'INPUT_FORMAT_MISMATCH';
        return startsWith(head, ZIP_SIGNATURE) ? null : 'INPUT_FORMAT_MISMATCH';
      }
      return startsWith(head, OLE_SIGNATURE) ? null : 'INPUT_FORMAT_MISMATCH';
    case 'dta':
      if (startsWith(head, DTA_TAGGED_SIGNATURE)) return null;
      return DTA_BINARY_RELEASES.has(head[0] ?? 0) && (head[1] === 1 || head[1] === 2) ? null : 'INPUT_FORMAT_MISMATCH';
    case null:
      return null;
  }
}

/**
 * Checks a file before it is declared: a safe name, a role its extension allows, and bytes that
 * match its extension. Returns the error to show on the file, or null when it may upload.
 */
export async function checkFile(file: File, role: Role): Promise<ApiErrorInfo | null> {
  const filename = file.name;
  const reason = unsafeFilenameReason(filename);
  if (reason !== null) return { code: 'INPUT_FILENAME_UNSAFE', details: { filename, reason } };

  const format = formatOfFilename(filename);
  if (role !== 'other' && format === null) {
    return { code: 'INPUT_UNSUPPORTED_FORMAT', details: { filename, role } };
  }
  // NOTE: the size limit is not checked here because the server does not publish it. A file above
  // it is rejected at declare with UPLOAD_FILE_SIZE_LIMIT_EXCEEDED, on that file alone.
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
