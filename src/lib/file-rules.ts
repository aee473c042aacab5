/**
 * Filename and format rules shared by the server and the browser. The server is the judge; the
 * browser runs the same checks to report a bad file before any byte is sent. This module must stay
 * free of Node and browser APIs so that both bundles can import it.
 */
import { classifyOleContainer, OLE_SIGNATURE } from './ole-directory';

export const ROLES = ['primary_dataset', 'secondary_dataset', 'auxiliary_data', 'other'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export type DatasetFormat = 'csv' | 'excel' | 'dta';

/** Extensions (lower case, with the dot) a dataset role accepts, and the format each one means. */
export const DATASET_EXTENSIONS: Readonly<Record<string, DatasetFormat>> = {
  '.csv': 'csv',
  '.tsv': 'csv',
  '.txt': 'csv',
  '.xlsx': 'excel',
  '.xls': 'excel',
  '.dta': 'dta',
};

export const MAX_FILENAME_BYTES = 255;

// C0 and C1 control characters and DEL.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/u;
// Bidirectional embeddings, overrides and isolates, which can make a name display as another name.
const BIDI_OVERRIDES = /[\u202a-\u202e\u2066-\u2069]/u;

/** The rule a filename breaks; the server's message and the UI's translation are built from it. */
export type FilenameProblem = 'empty' | 'malformed' | 'tooLong' | 'blank' | 'control' | 'bidi' | 'path' | 'dotSegment';

// A UTF-16 surrogate without its partner, which has no UTF-8 form and would be stored as U+FFFD.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Returns why an NFC-normalised filename is not a safe display name, or null when it is: it must be
 * 1–255 UTF-8 bytes, not blank, one path segment, with no control or bidirectional-override characters.
 */
export function filenameProblem(name: string): FilenameProblem | null {
  if (name.length === 0) return 'empty';
  if (LONE_SURROGATE.test(name)) return 'malformed';
  const byteLength = new TextEncoder().encode(name).length;
  if (byteLength > MAX_FILENAME_BYTES) return 'tooLong';
  if (name.trim() === '') return 'blank';
  if (CONTROL_CHARACTERS.test(name)) return 'control';
  if (BIDI_OVERRIDES.test(name)) return 'bidi';
  if (name.includes('/') || name.includes('\\')) return 'path';
  if (name === '.' || name === '..') return 'dotSegment';
  return null;
}

/** Returns the lower-cased extension of a filename with its dot, or '' when it has none ('.bashrc' has none). */
export function extensionOf(filename: string): string {
  const dot = filename.lastIndexOf('.');
  return dot <= 0 ? '' : filename.slice(dot).toLowerCase();
}

/** Returns the dataset format a filename's extension means, or null when it is not a dataset file. */
export function datasetFormatOf(filename: string): DatasetFormat | null {
  return DATASET_EXTENSIONS[extensionOf(filename)] ?? null;
}

/** Bytes read from the head of a file to confirm its format. */
export const SNIFF_BYTES = 8192;

const ZIP_SIGNATURE = [0x50, 0x4b, 0x03, 0x04];
const DTA_TAGGED_SIGNATURE = Array.from('<stata_dta>', (character) => character.charCodeAt(0));
// Releases of the old binary .dta layout; byte 2 is the byte order (1 = big-endian, 2 = little-endian).
const DTA_BINARY_RELEASES = new Set([104, 105, 108, 110, 111, 113, 114, 115]);

function startsWith(head: Uint8Array, signature: readonly number[]): boolean {
  return signature.every((byte, index) => head[index] === byte);
}

function looksLikeText(head: Uint8Array): boolean {
  // UTF-16 with a byte order mark legitimately contains NUL bytes.
  if (head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))) return true;
  return !head.includes(0);
}

export interface FormatProblem {
  code: 'INPUT_FORMAT_MISMATCH' | 'INPUT_ENCRYPTED';
  /** English, for logs and scripts; the UI translates by code. */
  message: string;
}

function mismatch(expected: string, extension: string): FormatProblem {
  return { code: 'INPUT_FORMAT_MISMATCH', message: `The file's bytes are not ${expected}, as its ${extension} extension declares.` };
}

/**
 * Explains an OLE container named .xlsx. Excel stores a password-protected .xlsx as an encrypted
 * package inside an OLE container, while a legacy .xls is an OLE container with a BIFF workbook
 * stream. When the directory that distinguishes them lies past the head, the message names both.
 */
export function oleInXlsxProblem(head: Uint8Array): FormatProblem {
  switch (classifyOleContainer(head)) {
    case 'encryptedPackage':
      return { code: 'INPUT_ENCRYPTED', message: 'The workbook is password-protected; save it without a password and upload it again.' };
    case 'biffWorkbook':
      return {
        code: 'INPUT_FORMAT_MISMATCH',
        message: 'The file is a legacy .xls workbook, not an .xlsx workbook as its extension declares; rename it to .xls and upload it again.',
      };
    case 'unknown':
      return {
        code: 'INPUT_FORMAT_MISMATCH',
        message:
          'The file is not an .xlsx workbook (zip container): it looks like a legacy .xls workbook or a password-protected .xlsx. Rename a legacy workbook to .xls; save a protected one without a password. Then upload it again.',
      };
  }
}

/**
 * Confirms from a file's first bytes that it is the format its extension declares: a zip container
 * for .xlsx, an OLE container for .xls, a Stata header for .dta, text for CSV. An empty head passes
 * (its preview reports INPUT_EMPTY_FILE). Returns the problem, or null when the bytes match.
 */
export function formatProblem(format: DatasetFormat, extension: string, head: Uint8Array): FormatProblem | null {
  if (head.length === 0) return null;
  switch (format) {
    case 'csv':
      return looksLikeText(head) ? null : mismatch('text', extension);
    case 'excel':
      if (extension === '.xlsx') {
        if (startsWith(head, OLE_SIGNATURE)) return oleInXlsxProblem(head);
        return startsWith(head, ZIP_SIGNATURE) ? null : mismatch('an .xlsx workbook (zip container)', extension);
      }
      return startsWith(head, OLE_SIGNATURE) ? null : mismatch('an .xls workbook (OLE container)', extension);
    case 'dta':
      if (startsWith(head, DTA_TAGGED_SIGNATURE)) return null;
      return DTA_BINARY_RELEASES.has(head[0] ?? 0) && (head[1] === 1 || head[1] === 2) ? null : mismatch('a Stata .dta file', extension);
  }
}
