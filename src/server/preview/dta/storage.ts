import { malformed } from './failure';

/**
 * Storage types and missing values of Stata variables.
 *
 * Facts from Stata's `help dta` pages for formats 113 to 119: numeric values above the largest
 * non-missing value of their type are missing, and 27 codes of each type are named `.`, `.a` ... `.z`.
 * Formats before 113 had only the system missing value `.`.
 */

export type NumericKind = 'byte' | 'int' | 'long' | 'float' | 'double';

export type StorageType =
  | { kind: NumericKind; widthBytes: number }
  | { kind: 'str'; widthBytes: number }
  | { kind: 'strL'; widthBytes: 8 };

const NUMERIC_WIDTH: Record<NumericKind, number> = { byte: 1, int: 2, long: 4, float: 4, double: 8 };

function numeric(kind: NumericKind): StorageType {
  return { kind, widthBytes: NUMERIC_WIDTH[kind] };
}

/**
 * Decodes one type code. Formats 104-110 use the letters b, i, l, f, d and 0x7f + n for strn;
 * 111-115 use 251-255 and 1-244; 117 and later use 2-byte codes 65530-65526, 32768 (strL) and 1-2045.
 */
export function decodeTypeCode(code: number, formatVersion: number, variableNumber: number): StorageType {
  if (formatVersion >= 117) {
    if (code >= 1 && code <= 2045) return { kind: 'str', widthBytes: code };
    if (code === 32768) return { kind: 'strL', widthBytes: 8 };
    const kind = ({ 65530: 'byte', 65529: 'int', 65528: 'long', 65527: 'float', 65526: 'double' } as const)[code];
    if (kind) return numeric(kind);
  } else if (formatVersion >= 111) {
    if (code >= 1 && code <= 244) return { kind: 'str', widthBytes: code };
    const kind = ({ 251: 'byte', 252: 'int', 253: 'long', 254: 'float', 255: 'double' } as const)[code];
    if (kind) return numeric(kind);
  } else {
    const kind = ({ 0x62: 'byte', 0x69: 'int', 0x6c: 'long', 0x66: 'float', 0x64: 'double' } as const)[code];
    if (kind) return numeric(kind);
    if (code > 0x7f && code <= 0x7f + 80) return { kind: 'str', widthBytes: code - 0x7f };
  }
  throw malformed(`variable ${variableNumber} has type code ${code}, which format ${formatVersion} does not define.`, { typeCode: code, variable: variableNumber });
}

/** `.` for the system missing value, `.a` ... `.z` for the extended ones. */
export type MissingCode = string;

const MISSING_CODES: readonly MissingCode[] = ['.', ...'abcdefghijklmnopqrstuvwxyz'.split('').map((letter) => `.${letter}`)];

export function missingCodeAt(index: number): MissingCode {
  return MISSING_CODES[Math.min(Math.max(index, 0), 26)] ?? '.';
}

/** The first missing code of each integer type in format 113 and later: `.` is this value, `.a` the next. */
export const INTEGER_MISSING_START = { byte: 101, int: 32741, long: 2147483621 } as const;

/** Integer missing codes before format 113: only `.`, at the type's maximum. */
const LEGACY_INTEGER_MISSING = { byte: 127, int: 32767, long: 2147483647 } as const;

/** Largest non-missing float: +1.fffffeX+7e (bit pattern 0x7effffff). */
const FLOAT_MAX_BITS = 0x7effffff;
/** `.` for float is 0x7f000000 and each later code adds 0x800. */
const FLOAT_MISSING_BITS = 0x7f000000;
/** Largest non-missing double: +1.fffffffffffffX+3fe; `.` starts at high word 0x7fe00000, codes step 0x100. */
const DOUBLE_MISSING_HIGH = 0x7fe00000;

/**
 * Decodes one numeric value. Returns a number, or a missing code. Non-finite bit patterns at the
 * negative end (which Stata never writes) come back as `.`, because JSON cannot carry them.
 */
export function readNumeric(view: DataView, offset: number, kind: NumericKind, littleEndian: boolean, extendedMissing: boolean): number | MissingCode {
  switch (kind) {
    case 'byte': {
      const value = view.getInt8(offset);
      if (!extendedMissing) return value === LEGACY_INTEGER_MISSING.byte ? '.' : value;
      return value >= INTEGER_MISSING_START.byte ? missingCodeAt(value - INTEGER_MISSING_START.byte) : value;
    }
    case 'int': {
      const value = view.getInt16(offset, littleEndian);
      if (!extendedMissing) return value === LEGACY_INTEGER_MISSING.int ? '.' : value;
      return value >= INTEGER_MISSING_START.int ? missingCodeAt(value - INTEGER_MISSING_START.int) : value;
    }
    case 'long': {
      const value = view.getInt32(offset, littleEndian);
      if (!extendedMissing) return value === LEGACY_INTEGER_MISSING.long ? '.' : value;
      return value >= INTEGER_MISSING_START.long ? missingCodeAt(value - INTEGER_MISSING_START.long) : value;
    }
    case 'float': {
      const bits = view.getUint32(offset, littleEndian);
      // Positive patterns above the maximum (including infinity and NaN) are missing values.
      if (bits > FLOAT_MAX_BITS && bits < 0x80000000) {
        return extendedMissing ? missingCodeAt((bits - FLOAT_MISSING_BITS) >> 11) : '.';
      }
      const value = view.getFloat32(offset, littleEndian);
      return Number.isFinite(value) ? shortestFloat32(value) : '.';
    }
    case 'double': {
      const high = view.getUint32(offset + (littleEndian ? 4 : 0), littleEndian);
      if (high >= DOUBLE_MISSING_HIGH && high < 0x80000000) {
        return extendedMissing ? missingCodeAt((high - DOUBLE_MISSING_HIGH) >> 8) : '.';
      }
      const value = view.getFloat64(offset, littleEndian);
      return Number.isFinite(value) ? value : '.';
    }
  }
}

/**
 * Returns the shortest decimal that reads back as the same 4-byte float, so a stored 0.1f shows as
 * 0.1 and not as its double expansion 0.10000000149011612.
 */
export function shortestFloat32(value: number): number {
  if (value === 0 || Number.isInteger(value)) return value;
  for (let digits = 6; digits < 9; digits += 1) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return Number(value.toPrecision(9));
}
