import { InletError } from '../../errors';

/**
 * Text encodings of .dta strings. Formats 117 and earlier store bytes in the encoding of the
 * computer that wrote them (Windows-1252 on most Western systems, GBK on Chinese ones); Stata 14
 * (format 118) and later write UTF-8.
 */

export type DtaEncoding = 'utf-8' | 'windows-1252' | 'gb18030';

export interface TextCodec {
  readonly encoding: DtaEncoding;
  /** Decodes bytes that are already cut at their terminator. */
  decode(bytes: Uint8Array): string;
  /**
   * Decodes a fixed-width field `buffer[start, end)` up to its first NUL, without allocating a
   * view for the common ASCII case (the hot path of reading every row).
   */
  decodeField(buffer: Buffer, start: number, end: number): string;
}

const ENCODING_ALIASES: Record<string, DtaEncoding> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
  latin1: 'windows-1252',
  'latin-1': 'windows-1252',
  'iso-8859-1': 'windows-1252',
  gb18030: 'gb18030',
  // GB18030 is a superset of GBK and GB2312, so it decodes files that name either one.
  gbk: 'gb18030',
  gb2312: 'gb18030',
};

export const SUPPORTED_ENCODINGS = ['utf-8', 'windows-1252', 'gb18030'] as const;

/** Maps a requested encoding name to the decoder used for it, or raises INPUT_INVALID. */
export function parseEncodingOption(requested: string): DtaEncoding {
  const encoding = ENCODING_ALIASES[requested.trim().toLowerCase()];
  if (!encoding) {
    throw new InletError('INPUT_INVALID', `Encoding ${JSON.stringify(requested)} is not supported for Stata files; use one of ${SUPPORTED_ENCODINGS.join(', ')}.`, {
      field: 'encoding',
      value: requested,
      allowed: SUPPORTED_ENCODINGS,
    });
  }
  return encoding;
}

function isAscii(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte >= 0x80) return false;
  return true;
}

export function createCodec(encoding: DtaEncoding): TextCodec {
  // fatal: false so a stray invalid byte becomes U+FFFD instead of failing the whole preview.
  const decoder = new TextDecoder(encoding, { fatal: false });
  const decode = (bytes: Uint8Array): string => {
    // ASCII is the common case and identical in all three encodings; Buffer's latin1 path is fastest.
    if (isAscii(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    return decoder.decode(bytes);
  };
  return {
    encoding,
    decode,
    decodeField(buffer: Buffer, start: number, end: number): string {
      let ascii = true;
      let stop = start;
      for (; stop < end; stop += 1) {
        const byte = buffer[stop] as number;
        if (byte === 0) break;
        if (byte >= 0x80) ascii = false;
      }
      if (ascii) return buffer.toString('latin1', start, stop);
      if (encoding === 'utf-8') return buffer.toString('utf8', start, stop);
      return decoder.decode(buffer.subarray(start, stop));
    },
  };
}

/** Cuts a fixed-width field at its first NUL; Stata leaves arbitrary bytes after the terminator. */
export function untilNul(bytes: Uint8Array): Uint8Array {
  const end = bytes.indexOf(0);
  return end === -1 ? bytes : bytes.subarray(0, end);
}

function isValidUtf8(bytes: Uint8Array): { valid: boolean; multibyte: boolean } {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { valid: false, multibyte: false };
  }
  return { valid: true, multibyte: !isAscii(bytes) };
}

/**
 * Checks whether every non-ASCII byte pairs into a GB2312 code point (lead and trail bytes both in
 * 0xA1-0xFE). Western text in Windows-1252 rarely has two accented letters in a row, while Chinese
 * text in GBK is made of such pairs. The wider GBK trail range (from 0x40) is not accepted, because
 * it would also match an accented letter followed by an ASCII letter, as in "Année".
 */
function looksLikeGb2312(bytes: Uint8Array): boolean {
  let pairs = 0;
  for (let index = 0; index < bytes.length; index += 1) {
    const lead = bytes[index] ?? 0;
    if (lead < 0x80) continue;
    const trail = bytes[index + 1] ?? 0;
    if (lead < 0xa1 || lead > 0xf7 || trail < 0xa1 || trail > 0xfe) return false;
    pairs += 1;
    index += 1;
  }
  return pairs >= 2;
}

/**
 * Chooses the encoding of a file's strings from a sample of its text bytes (labels, value labels
 * and string cells). Format 118 and later are UTF-8 unless the sample is not valid UTF-8. For older
 * formats, valid UTF-8 with multibyte sequences wins (other programs wrote 117 files in UTF-8),
 * then GB18030 when the sample reads as GB2312 pairs, else Windows-1252.
 * NOTE: the GB18030 choice is a heuristic over the sample. A file whose sampled text is mostly
 * Latin letters in pairs of accented capitals could be misread; the encoding read option overrides
 * the choice.
 */
export function detectEncoding(formatVersion: number, sample: Uint8Array): DtaEncoding {
  const utf8 = isValidUtf8(sample);
  if (formatVersion >= 118 && utf8.valid) return 'utf-8';
  if (formatVersion < 118 && utf8.valid && utf8.multibyte) return 'utf-8';
  if (looksLikeGb2312(sample)) return 'gb18030';
  return 'windows-1252';
}
