import { InletError } from '../errors';

/** Encoding labels a preview reports and accepts as an override, in WHATWG spelling. */
export const CSV_ENCODINGS = ['utf-8', 'utf-16le', 'utf-16be', 'gb18030', 'windows-1252'] as const;

export type CsvEncoding = (typeof CSV_ENCODINGS)[number];

// Common spellings accepted as overrides and mapped to one reported label. latin-1 maps to
// windows-1252 because the WHATWG decoder treats both labels as windows-1252 anyway, and gbk maps to
// gb18030 because the gbk decoder mangles 4-byte GB18030 sequences.
const ENCODING_ALIASES: Readonly<Record<string, CsvEncoding>> = {
  utf8: 'utf-8',
  'utf-8-sig': 'utf-8',
  utf16le: 'utf-16le',
  'utf-16': 'utf-16le',
  utf16be: 'utf-16be',
  gbk: 'gb18030',
  gb2312: 'gb18030',
  cp936: 'gb18030',
  cp1252: 'windows-1252',
  'latin-1': 'windows-1252',
  latin1: 'windows-1252',
  'iso-8859-1': 'windows-1252',
};

/** Bytes of the head that encoding detection looks at. */
export const ENCODING_SAMPLE_BYTES = 64 * 1024;

export interface DetectedEncoding {
  encoding: CsvEncoding;
  /** Length in bytes of the byte order mark at the start of the file, 0 when there is none. */
  bomBytes: number;
}

/**
 * Maps an encoding override to its reported label, case-insensitively and with common aliases.
 * Raises INPUT_INVALID for a name the CSV reader cannot decode.
 */
export function normalizeEncodingOverride(value: string): CsvEncoding {
  const key = value.trim().toLowerCase();
  const known = (CSV_ENCODINGS as readonly string[]).includes(key) ? (key as CsvEncoding) : ENCODING_ALIASES[key];
  if (known === undefined) {
    throw new InletError('INPUT_INVALID', `Encoding ${JSON.stringify(value)} is not supported; use one of ${CSV_ENCODINGS.join(', ')}.`, {
      field: 'encoding',
      value,
      allowed: CSV_ENCODINGS,
    });
  }
  return known;
}

/** Returns the length of the byte order mark that `encoding` allows at the start of `head`. */
export function bomLength(head: Buffer, encoding: CsvEncoding): number {
  if (encoding === 'utf-8' && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 3;
  if (encoding === 'utf-16le' && head[0] === 0xff && head[1] === 0xfe) return 2;
  if (encoding === 'utf-16be' && head[0] === 0xfe && head[1] === 0xff) return 2;
  return 0;
}

/**
 * Detects the encoding of delimited text from its first bytes: a byte order mark first, then
 * UTF-16 without a mark (NUL bytes in every other position), then valid UTF-8, then GB18030 when
 * the high bytes read as Chinese text, else windows-1252.
 */
export function detectEncoding(head: Buffer): DetectedEncoding {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return { encoding: 'utf-8', bomBytes: 3 };
  if (head[0] === 0xff && head[1] === 0xfe) return { encoding: 'utf-16le', bomBytes: 2 };
  if (head[0] === 0xfe && head[1] === 0xff) return { encoding: 'utf-16be', bomBytes: 2 };

  const utf16 = detectUtf16WithoutBom(head);
  if (utf16) return { encoding: utf16, bomBytes: 0 };
  if (isValidUtf8(head)) return { encoding: 'utf-8', bomBytes: 0 };
  if (looksLikeGb18030(head)) return { encoding: 'gb18030', bomBytes: 0 };
  return { encoding: 'windows-1252', bomBytes: 0 };
}

function detectUtf16WithoutBom(head: Buffer): 'utf-16le' | 'utf-16be' | undefined {
  const pairs = Math.floor(Math.min(head.length, 4096) / 2);
  if (pairs < 2) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i < pairs; i += 1) {
    if (head[2 * i] === 0) evenZeros += 1;
    if (head[2 * i + 1] === 0) oddZeros += 1;
  }
  // ASCII text in UTF-16 has a NUL in one byte of almost every code unit and none in the other.
  if (oddZeros >= pairs * 0.7 && evenZeros === 0) return 'utf-16le';
  if (evenZeros >= pairs * 0.7 && oddZeros === 0) return 'utf-16be';
  return undefined;
}

/** Checks UTF-8 well-formedness; a sequence cut off by the end of the sample still counts as valid. */
export function isValidUtf8(bytes: Buffer): boolean {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i] ?? 0;
    if (lead < 0x80) {
      i += 1;
      continue;
    }

    let length: number;
    let min: number;
    if (lead >= 0xc2 && lead <= 0xdf) [length, min] = [2, 0x80];
    else if (lead >= 0xe0 && lead <= 0xef) [length, min] = [3, 0x800];
    else if (lead >= 0xf0 && lead <= 0xf4) [length, min] = [4, 0x10000];
    else return false;

    if (i + length > bytes.length) return bytes.subarray(i + 1).every((byte) => (byte & 0xc0) === 0x80);
    let codePoint = lead & (0xff >> (length + 1));
    for (let k = 1; k < length; k += 1) {
      const next = bytes[i + k] ?? 0;
      if ((next & 0xc0) !== 0x80) return false;
      codePoint = (codePoint << 6) | (next & 0x3f);
    }
    if (codePoint < min || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

/**
 * Decides whether non-UTF-8 bytes are GB18030 rather than a single-byte code page. Every high byte
 * must belong to a well-formed 2- or 4-byte GB18030 sequence, and most 2-byte sequences must lie in
 * the GB2312 block (both bytes 0xA1-0xFE) where common Chinese characters live. Latin-1 text that
 * happens to pair up, such as "Année" (0xE9 followed by the letter e), has ASCII trail bytes
 * instead, so it fails the second test.
 */
function looksLikeGb18030(head: Buffer): boolean {
  let twoByte = 0;
  let gb2312Block = 0;
  let i = 0;
  while (i < head.length) {
    const lead = head[i] ?? 0;
    if (lead < 0x80) {
      i += 1;
      continue;
    }
    if (lead === 0x80 || lead === 0xff) return false;
    if (i + 1 >= head.length) break; // cut off by the end of the sample

    const second = head[i + 1] ?? 0;
    if (second >= 0x30 && second <= 0x39) {
      if (i + 3 >= head.length) break;
      const third = head[i + 2] ?? 0;
      const fourth = head[i + 3] ?? 0;
      if (third < 0x81 || third > 0xfe || fourth < 0x30 || fourth > 0x39) return false;
      i += 4;
      continue;
    }
    if (second < 0x40 || second === 0x7f || second === 0xff) return false;
    twoByte += 1;
    if (lead >= 0xa1 && second >= 0xa1) gb2312Block += 1;
    i += 2;
  }
  return twoByte > 0 && gb2312Block >= twoByte * 0.8;
}

/** Returns a streaming decoder for `encoding` that leaves the byte order mark in place for the caller to skip. */
export function createDecoder(encoding: CsvEncoding): TextDecoder {
  return new TextDecoder(encoding, { fatal: false, ignoreBOM: true });
}
