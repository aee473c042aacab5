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

/** Reads one numeric value at a byte offset: a number, or a missing code. */
export type NumericReader = (view: DataView, offset: number) => number | MissingCode;

/**
 * Builds the reader for one storage type and byte order, so loops over many cells do not branch on
 * the type. Non-finite bit patterns at the negative end (which Stata never writes) come back as
 * `.`, because JSON cannot carry them.
 */
export function numericReader(kind: NumericKind, littleEndian: boolean, extendedMissing: boolean): NumericReader {
  switch (kind) {
    case 'byte':
    case 'int':
    case 'long': {
      const read =
        kind === 'byte'
          ? (view: DataView, offset: number) => view.getInt8(offset)
          : kind === 'int'
            ? (view: DataView, offset: number) => view.getInt16(offset, littleEndian)
            : (view: DataView, offset: number) => view.getInt32(offset, littleEndian);
      if (!extendedMissing) {
        const missing = LEGACY_INTEGER_MISSING[kind];
        return (view, offset) => {
          const value = read(view, offset);
          return value === missing ? '.' : value;
        };
      }
      const firstMissing = INTEGER_MISSING_START[kind];
      return (view, offset) => {
        const value = read(view, offset);
        return value >= firstMissing ? missingCodeAt(value - firstMissing) : value;
      };
    }
    case 'float':
      return (view, offset) => {
        const bits = view.getUint32(offset, littleEndian);
        // Positive patterns above the maximum (including infinity and NaN) are missing values.
        if (bits > FLOAT_MAX_BITS && bits < 0x80000000) return extendedMissing ? missingCodeAt((bits - FLOAT_MISSING_BITS) >> 11) : '.';
        const value = view.getFloat32(offset, littleEndian);
        return Number.isFinite(value) ? shortestFloat32(value) : '.';
      };
    case 'double': {
      const highWordAt = littleEndian ? 4 : 0;
      return (view, offset) => {
        const high = view.getUint32(offset + highWordAt, littleEndian);
        if (high >= DOUBLE_MISSING_HIGH && high < 0x80000000) return extendedMissing ? missingCodeAt((high - DOUBLE_MISSING_HIGH) >> 8) : '.';
        const value = view.getFloat64(offset, littleEndian);
        return Number.isFinite(value) ? value : '.';
      };
    }
  }
}

/** Decodes one numeric value; see numericReader. */
export function readNumeric(view: DataView, offset: number, kind: NumericKind, littleEndian: boolean, extendedMissing: boolean): number | MissingCode {
  return numericReader(kind, littleEndian, extendedMissing)(view, offset);
}

/** Powers of ten that a double represents exactly (10^0 to 10^22). */
const EXACT_POWERS_OF_TEN = Array.from({ length: 23 }, (_, exponent) => 10 ** exponent);

/**
 * Returns the shortest decimal that reads back as the same 4-byte float, so a stored 0.1f shows as
 * 0.1 and not as its double expansion 0.10000000149011612. Candidates of 6 to 9 significant digits
 * are rounded arithmetically, which is much faster than toPrecision. The first that converts back
 * to the same float wins, and nine digits always do. Starting at 6 loses nothing: a float lies within 2^-24 of
 * any shorter decimal that reads back as it, closer than half a unit in the 6th digit, so rounding
 * to 6 digits already returns that shorter decimal.
 */
export function shortestFloat32(value: number): number {
  if (value === 0 || Number.isInteger(value)) return value;
  return shortestWithExponent(value, Math.floor(Math.log10(Math.abs(value))));
}

/**
 * Returns shortestFloat32(value) for a float read together with its bit pattern `bits`. The decimal
 * exponent comes from the binary one, which costs less than Math.log10 in a loop over every cell.
 */
export function shortestFloat32FromBits(value: number, bits: number): number {
  if (value === 0 || Number.isInteger(value)) return value;
  return shortestWithExponent(value, float32DecimalExponent(value, bits));
}

const LOG10_OF_2 = Math.log10(2);
/** The first power of ten in POWERS_OF_TEN, below the smallest float (about 1.4e-45). */
const POWERS_OF_TEN_FIRST = -46;
/** Doubles nearest to 10^-46 ... 10^39, parsed from decimal text so each is correctly rounded. */
const POWERS_OF_TEN = Float64Array.from({ length: 86 }, (_, index) => Number(`1e${index + POWERS_OF_TEN_FIRST}`));

/**
 * Returns floor(log10(|value|)) of a finite non-zero float from its bit pattern. A binade
 * [2^e, 2^(e+1)) spans less than one decade, so floor(e * log10(2)) is the exponent or one below
 * it, and one comparison with the next power of ten decides. Subnormal floats use Math.log10.
 * A unit test checks that the result equals Math.floor(Math.log10(Math.abs(value))) next to every
 * power of ten that floats reach.
 */
export function float32DecimalExponent(value: number, bits: number): number {
  const biasedExponent = (bits >>> 23) & 0xff;
  if (biasedExponent === 0) return Math.floor(Math.log10(Math.abs(value)));
  const estimate = Math.floor((biasedExponent - 127) * LOG10_OF_2);
  return Math.abs(value) >= (POWERS_OF_TEN[estimate + 1 - POWERS_OF_TEN_FIRST] as number) ? estimate + 1 : estimate;
}

/** Tries candidates of 6 to 9 significant digits for a value whose decimal exponent is `exponent`. */
function shortestWithExponent(value: number, exponent: number): number {
  for (let digits = 6; digits <= 9; digits += 1) {
    const places = digits - 1 - exponent;
    let candidate: number;
    if (places >= 0 && places <= 22) {
      const scale = EXACT_POWERS_OF_TEN[places] as number;
      candidate = Math.round(value * scale) / scale;
    } else if (places < 0 && places >= -22) {
      const scale = EXACT_POWERS_OF_TEN[-places] as number;
      candidate = Math.round(value / scale) * scale;
    } else {
      break;
    }
    if (Math.fround(candidate) === value) return candidate;
  }
  return Number(value.toPrecision(9));
}
