import fs from 'node:fs/promises';

import { classifyOleContainer } from '../lib/ole-directory';
import type { FileFormat } from './rules';

export type FormatCheck = { ok: true } | { ok: false; code: 'INPUT_FORMAT_MISMATCH' | 'INPUT_ENCRYPTED'; message: string };

/** Bytes read from the head of a file to confirm its format. */
export const SNIFF_BYTES = 8192;

const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const OLE_SIGNATURE = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
const DTA_TAGGED_SIGNATURE = Buffer.from('<stata_dta>', 'latin1');
// Releases of the old binary .dta layout; byte 2 is the byte order (1 = big-endian, 2 = little-endian).
const DTA_BINARY_RELEASES = new Set([104, 105, 108, 110, 111, 113, 114, 115]);

export async function readHead(filePath: string, byteCount = SNIFF_BYTES): Promise<Buffer> {
  const handle = await fs.open(filePath, 'r');
  try {
    const buffer = Buffer.alloc(byteCount);
    const { bytesRead } = await handle.read(buffer, 0, byteCount, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function looksLikeText(head: Buffer): boolean {
  if (head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))) {
    return true; // UTF-16 with a byte order mark, which legitimately contains NUL bytes.
  }
  return !head.includes(0);
}

/**
 * Explains an OLE container named .xlsx. Excel stores a password-protected .xlsx as an encrypted
 * package inside an OLE container, while a legacy .xls is an OLE container with a BIFF workbook
 * stream. When the directory that tells them apart lies past the head, the message names both.
 */
export function oleInXlsxProblem(head: Uint8Array): FormatCheck {
  switch (classifyOleContainer(head)) {
    case 'encryptedPackage':
      return { ok: false, code: 'INPUT_ENCRYPTED', message: 'The workbook is password-protected; save it without a password and upload it again.' };
    case 'biffWorkbook':
      return { ok: false, code: 'INPUT_FORMAT_MISMATCH', message: 'The file is a legacy .xls workbook, not an .xlsx workbook as its extension declares; rename it to .xls and upload it again.' };
    case 'unknown':
      return {
        ok: false,
        code: 'INPUT_FORMAT_MISMATCH',
        message:
          'The file is not an .xlsx workbook (zip container): it looks like a legacy .xls workbook or a password-protected .xlsx. Rename a legacy workbook to .xls; save a protected one without a password. Then upload it again.',
      };
  }
}

/**
 * Confirms from a file's first bytes that it is the format its name declared: a zip container for
 * .xlsx, an OLE container for .xls, a Stata header for .dta, text for CSV. An empty file passes (its
 * preview reports INPUT_EMPTY_FILE), and role `other` takes any bytes.
 */
export function checkFormat(format: FileFormat, extension: string, head: Buffer): FormatCheck {
  if (format === 'other' || head.length === 0) return { ok: true };

  const startsWith = (signature: Buffer): boolean => head.subarray(0, signature.length).equals(signature);
  const mismatch = (expected: string): FormatCheck => ({
    ok: false,
    code: 'INPUT_FORMAT_MISMATCH',
    message: `The file's bytes are not ${expected}, as its ${extension} extension declares.`,
  });

  switch (format) {
    case 'csv':
      return looksLikeText(head) ? { ok: true } : mismatch('text');
    case 'excel':
      if (extension === '.xlsx') {
        if (startsWith(OLE_SIGNATURE)) return oleInXlsxProblem(head);
        return startsWith(ZIP_SIGNATURE) ? { ok: true } : mismatch('an .xlsx workbook (zip container)');
      }
      return startsWith(OLE_SIGNATURE) ? { ok: true } : mismatch('an .xls workbook (OLE container)');
    case 'dta': {
      if (startsWith(DTA_TAGGED_SIGNATURE)) return { ok: true };
      const release = head[0] ?? 0;
      const byteOrder = head[1] ?? 0;
      return DTA_BINARY_RELEASES.has(release) && (byteOrder === 1 || byteOrder === 2)
        ? { ok: true }
        : mismatch('a Stata .dta file');
    }
  }
}
