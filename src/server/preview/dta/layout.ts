import { malformed } from './failure';
import type { StorageType } from './storage';

/**
 * The shape every supported .dta layout is read into, and the checks both layouts share.
 */

/** Format versions of the binary layout (Stata 4 to 12) that Stata released. */
export const LEGACY_VERSIONS = [104, 105, 108, 110, 111, 113, 114, 115] as const;
/** Format versions of the tagged layout (Stata 13 and later) that this reader supports. */
export const TAGGED_VERSIONS = [117, 118, 119] as const;

/** Text fields of one variable, still as bytes: the encoding is chosen after the header is read. */
export interface VariableText {
  name: Uint8Array;
  /** Display format, such as `%9.0g` or `%td`; always ASCII. */
  format: string;
  valueLabelName: Uint8Array;
  label: Uint8Array;
}

/** Byte range of a section of the file: `start` inclusive, `end` exclusive. */
export interface ByteSpan {
  start: number;
  end: number;
}

/** What the reader needs to locate and decode rows, value labels and strLs. */
export interface DtaHeader {
  formatVersion: number;
  littleEndian: boolean;
  variableCount: number;
  observationCount: number;
  datasetLabel: Uint8Array;
  /** Storage type of every variable, in file order. */
  types: StorageType[];
  /** Byte offset of each variable inside a row. */
  offsetsInRow: number[];
  rowWidthBytes: number;
  /** Offset of the first observation. */
  dataOffset: number;
  /** Text fields of the first `variables.length` variables (as many as the caller asked for). */
  variables: VariableText[];
  /** The GSO records of formats 117 and later; null for older formats. */
  strls: ByteSpan | null;
  /** The value-label definitions: after the data in old formats, located through the map in 117+. */
  valueLabels: ByteSpan;
  /** Formats 113 and later have the extended missing values `.a` to `.z`. */
  extendedMissing: boolean;
}

/** The fixed part of a header that both layouts compute the same way. */
export function rowLayout(types: StorageType[]): { offsetsInRow: number[]; rowWidthBytes: number } {
  const offsetsInRow: number[] = [];
  let rowWidthBytes = 0;
  for (const type of types) {
    offsetsInRow.push(rowWidthBytes);
    rowWidthBytes += type.widthBytes;
  }
  return { offsetsInRow, rowWidthBytes };
}

/**
 * Checks that N rows of the given width fit between `dataOffset` and `dataEnd`, without forming
 * the product (which can pass 2^53 for a damaged header).
 */
export function checkDataFits(observationCount: number, rowWidthBytes: number, dataOffset: number, dataEnd: number): void {
  const available = dataEnd - dataOffset;
  if (available < 0 || (rowWidthBytes > 0 && observationCount > Math.floor(available / rowWidthBytes))) {
    throw malformed(
      `the header declares ${observationCount} observations of ${rowWidthBytes} bytes, but only ${Math.max(available, 0)} bytes of data follow byte ${dataOffset}; the file is truncated or damaged.`,
      { observationCount, rowWidthBytes, dataOffset, sizeBytes: dataEnd },
    );
  }
}
