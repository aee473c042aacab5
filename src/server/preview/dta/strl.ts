import { readRange, SequentialReader, type ByteSource } from './bytes';
import { malformed } from './failure';
import type { ByteSpan } from './layout';

/**
 * strL values (long strings) of formats 117 and later, from Stata's `help dta` pages. A data cell
 * holds a reference (v,o): the variable and observation where the string was first defined, or
 * (0,0) for "". The strings themselves are GSO records in the <strls> section, in ascending order
 * of (o,v): "GSO", v (4 bytes), o (4 bytes in 117, 8 later), type (129 binary, 130 text with a
 * trailing NUL), length (4 bytes), contents. A reference never points forward, so the strings of
 * the first n observations are all among the GSO records with o <= n.
 */

export interface StrlRef {
  variable: number;
  observation: number;
}

/**
 * Decodes the 8-byte (v,o) field of a data cell: 4 + 4 bytes in 117, 2 + 6 in 118, 3 + 5 in 119,
 * each part in the file's byte order.
 */
export function readStrlRef(view: DataView, offset: number, formatVersion: number, littleEndian: boolean): StrlRef {
  const HIGH = 2 ** 32;
  if (formatVersion === 117) {
    return { variable: view.getUint32(offset, littleEndian), observation: view.getUint32(offset + 4, littleEndian) };
  }
  if (formatVersion === 118) {
    return littleEndian
      ? { variable: view.getUint16(offset, true), observation: view.getUint32(offset + 2, true) + view.getUint16(offset + 6, true) * HIGH }
      : { variable: view.getUint16(offset, false), observation: view.getUint16(offset + 2, false) * HIGH + view.getUint32(offset + 4, false) };
  }
  const byte = (index: number): number => view.getUint8(offset + index);
  return littleEndian
    ? { variable: byte(0) + byte(1) * 0x100 + byte(2) * 0x10000, observation: view.getUint32(offset + 3, true) + byte(7) * HIGH }
    : { variable: byte(0) * 0x10000 + byte(1) * 0x100 + byte(2), observation: byte(3) * HIGH + view.getUint32(offset + 4, false) };
}

const GSO_BINARY = 129;
const GSO_TEXT = 130;

/**
 * Index of GSO records, filled front to back as far as the caller needs. It keeps five numbers per
 * record (about 40 bytes), not the strings.
 * NOTE: a full pass over a file with millions of strL values keeps every record's entry, so its
 * memory grows with the number of strL values (not with their length).
 */
export class StrlIndex {
  private readonly observations: number[] = [];
  private readonly variables: number[] = [];
  private readonly contentOffsets: number[] = [];
  private readonly contentLengths: number[] = [];
  private readonly binary: boolean[] = [];
  private readonly reader: SequentialReader;
  private readonly observationBytes: 4 | 8;
  /** Largest observation number whose records are all indexed. */
  private indexedThrough = 0;

  constructor(
    private readonly source: ByteSource,
    span: ByteSpan,
    formatVersion: number,
    littleEndian: boolean,
  ) {
    this.reader = new SequentialReader(source, span.start, span.end, littleEndian);
    this.observationBytes = formatVersion === 117 ? 4 : 8;
  }

  /** Indexes records until one belongs to an observation after `observation`, or the section ends. */
  async indexThrough(observation: number): Promise<void> {
    while (this.indexedThrough < observation && this.reader.remaining > 0) {
      const record = await this.reader.cursor(3 + 4 + this.observationBytes + 1 + 4, 'a strL record header');
      record.expectTag('GSO');
      const variable = record.uint32('the strL variable number');
      const recordObservation = this.observationBytes === 4 ? record.uint32('the strL observation number') : record.uint64('the strL observation number');
      const type = record.uint8('the strL type');
      const length = record.uint32('the strL length');
      if (type !== GSO_BINARY && type !== GSO_TEXT) throw malformed(`a strL record has type ${type}, neither 129 (binary) nor 130 (text).`, { type });

      const last = this.observations.length - 1;
      const previousObservation = this.observations[last] ?? 0;
      const previousVariable = this.variables[last] ?? 0;
      if (recordObservation < previousObservation || (recordObservation === previousObservation && variable <= previousVariable)) {
        throw malformed(`strL record (${variable},${recordObservation}) follows (${previousVariable},${previousObservation}); records must rise in observation, then variable.`);
      }

      this.observations.push(recordObservation);
      this.variables.push(variable);
      this.contentOffsets.push(this.reader.position);
      this.contentLengths.push(length);
      this.binary.push(type === GSO_BINARY);
      this.reader.skip(length, 'the strL contents');
      // Records of this observation may continue, so only the ones before it are complete.
      this.indexedThrough = Math.max(this.indexedThrough, recordObservation - 1);
    }
    if (this.reader.remaining === 0) this.indexedThrough = Number.MAX_SAFE_INTEGER;
  }

  private find(ref: StrlRef): number {
    let low = 0;
    let high = this.observations.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const observation = this.observations[middle] ?? 0;
      const variable = this.variables[middle] ?? 0;
      if (observation === ref.observation && variable === ref.variable) return middle;
      if (observation < ref.observation || (observation === ref.observation && variable < ref.variable)) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  /**
   * Returns the bytes of a strL, at most `maxBytes` of them, and whether it was cut. Text strLs end at
   * their NUL terminator. An undefined reference is damage.
   */
  async read(ref: StrlRef, maxBytes: number): Promise<{ bytes: Buffer; truncated: boolean }> {
    if (ref.variable === 0 && ref.observation === 0) return { bytes: Buffer.alloc(0), truncated: false };
    await this.indexThrough(ref.observation);
    const index = this.find(ref);
    if (index === -1) throw malformed(`a cell refers to strL (${ref.variable},${ref.observation}), which the file does not define.`, { ...ref });

    const length = this.contentLengths[index] ?? 0;
    const readLength = Math.min(length, maxBytes);
    const bytes = await readRange(this.source, this.contentOffsets[index] ?? 0, readLength, 'the strL contents');
    if (!this.binary[index]) {
      const terminator = bytes.indexOf(0);
      if (terminator !== -1) return { bytes: bytes.subarray(0, terminator), truncated: false };
    }
    return { bytes, truncated: readLength < length };
  }
}
