import { InletError } from '../errors';
import { readSequentially } from '../storage/byte-ranges';
import type { ByteSource } from '../storage/object-store';
import { CountKernel, KERNEL_STATE } from './count-kernel';
import { bomLength, createDecoder, type CsvEncoding } from './encoding';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Size of each read of a local file's counting pass, straight into the kernel's memory. A 1 MiB chunk
 * stays in the CPU cache between the read and the count. On the machine of docs/BENCHMARKS.md,
 * 4 MiB reads made the count of a page-cached file 30 to 40% slower, and 128 KiB reads cost about
 * 20% more in per-read overhead.
 */
const COUNT_CHUNK_BYTES = 1024 * 1024;

/**
 * One chunk of text as code units: bytes for single- and multi-byte encodings whose quote, comma
 * and line-break bytes never occur inside a multi-byte character (UTF-8, windows-1252, GB18030), or
 * a decoded string (UTF-16 code units) for UTF-16.
 */
export interface Units {
  readonly length: number;
  unitAt(index: number): number;
  indexOf(unit: number, from: number): number;
}

export function bufferUnits(buffer: Buffer, length: number): Units {
  return {
    length,
    unitAt: (index) => buffer[index] ?? -1,
    indexOf: (unit, from) => {
      const found = buffer.indexOf(unit, from);
      return found >= length ? -1 : found;
    },
  };
}

function stringUnits(text: string): Units {
  return {
    length: text.length,
    unitAt: (index) => text.charCodeAt(index),
    indexOf: (unit, from) => text.indexOf(String.fromCharCode(unit), from),
  };
}

/**
 * Counts the non-blank records of delimited text fed in chunks, with RFC 4180 quoting: a quote
 * opens a quoted field only as a field's first character, `""` inside one is a literal quote, and
 * line breaks inside it do not end the record. CR, LF and CRLF all end a record, mixed in any way.
 * A record with no characters at all (an empty line) is not counted.
 *
 * `push` takes code units of any kind and scans them in JavaScript, jumping between quote and
 * line-break positions with indexOf. `pushBytes` takes bytes and counts them with a WebAssembly
 * SIMD kernel (count-kernel.wat) that reads 64 bytes per step and ends in the same state as `push`
 * on the same bytes, so the two can be mixed. On a page-cached 1 GiB CSV the kernel path took a
 * median 1.9 times as long as `wc -l` (docs/BENCHMARKS.md), and the indexOf scan 5 to 7 times.
 */
export class RecordCounter {
  records = 0;
  /** Physical line breaks outside quoted fields; the line number of a failure is derived from it. */
  private lineBreaks = 0;
  private inQuotes = false;
  /** Inside quotes, the previous unit was a quote: either the closing one or the first of `""`. */
  private quotePending = false;
  private atFieldStart = true;
  private recordHasUnits = false;
  /** The previous unit was a CR that ended a record, so an LF right after it belongs to it. */
  private afterCarriageReturn = false;
  private quoteOpenedOnLine = 0;
  /** WebAssembly instance of `pushBytes`, made on first use. */
  private kernel: CountKernel | undefined;

  constructor(private readonly delimiter: number) {}

  /**
   * Returns a buffer of `length` bytes inside the counter's WebAssembly memory. Read a chunk into it
   * and hand a subarray of it to `pushBytes`, which then counts it without a copy. The buffer is
   * valid until the next call of this method, and `pushBytes` of bytes from elsewhere overwrites it.
   */
  inputBuffer(length: number): Buffer {
    this.kernel ??= new CountKernel(length);
    return this.kernel.inputBuffer(length);
  }

  /**
   * Counts a chunk of bytes of a byte encoding (see Units) with the same result as `push` of the
   * same bytes. Bytes that lie in the buffer from `inputBuffer` are counted in place, others are copied
   * into the counter's memory first.
   */
  pushBytes(bytes: Uint8Array): void {
    if (!kernelHandlesDelimiter(this.delimiter)) {
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      this.push(bufferUnits(buffer, buffer.length));
      return;
    }

    this.kernel ??= new CountKernel(bytes.length);
    const offset = this.kernel.offsetOf(bytes);
    if (offset >= 0) {
      this.countInKernel(this.kernel, offset, bytes.length);
      return;
    }
    const pieceBytes = this.kernel.capacity;
    for (let start = 0; start < bytes.length; start += pieceBytes) {
      const piece = bytes.subarray(start, start + pieceBytes);
      this.kernel.inputBuffer(piece.length).set(piece);
      this.countInKernel(this.kernel, 0, piece.length);
    }
  }

  push(units: Units): void {
    const { length } = units;
    const delimiter = this.delimiter;
    // Next positions of each unit at or after i; -2 means not searched yet, -1 none in this chunk.
    let nextLf = -2;
    let nextCr = -2;
    let nextQuote = -2;
    let i = 0;

    while (i < length) {
      if (this.afterCarriageReturn) {
        this.afterCarriageReturn = false;
        if (units.unitAt(i) === LF) {
          i += 1;
          continue;
        }
      }

      if (this.quotePending) {
        this.quotePending = false;
        if (units.unitAt(i) === QUOTE) {
          i += 1;
          continue;
        }
        this.inQuotes = false; // that quote closed the field; the rest of it is literal text
      }

      if (this.inQuotes) {
        if (nextQuote !== -1 && nextQuote < i) nextQuote = units.indexOf(QUOTE, i);
        if (nextQuote === -1) return;
        i = nextQuote + 1;
        this.quotePending = true;
        continue;
      }

      if (this.atFieldStart && units.unitAt(i) === QUOTE) {
        this.openQuote();
        i += 1;
        continue;
      }

      if (nextLf !== -1 && nextLf < i) nextLf = units.indexOf(LF, i);
      if (nextCr !== -1 && nextCr < i) nextCr = units.indexOf(CR, i);
      if (nextQuote !== -1 && nextQuote < i) nextQuote = units.indexOf(QUOTE, i);
      const lineEnd = nextLf === -1 ? nextCr : nextCr === -1 ? nextLf : Math.min(nextLf, nextCr);

      if (nextQuote !== -1 && (lineEnd === -1 || nextQuote < lineEnd)) {
        this.recordHasUnits = true;
        if (nextQuote > i && units.unitAt(nextQuote - 1) === delimiter) {
          this.openQuote();
        } else {
          this.atFieldStart = false; // a quote inside an unquoted field is literal text
        }
        i = nextQuote + 1;
        continue;
      }

      if (lineEnd === -1) {
        this.recordHasUnits = true;
        this.atFieldStart = units.unitAt(length - 1) === delimiter;
        return;
      }

      if (lineEnd > i) this.recordHasUnits = true;
      this.endRecord();
      if (units.unitAt(lineEnd) === CR) this.afterCarriageReturn = true;
      i = lineEnd + 1;
    }
  }

  /** Ends the input and returns the record count; an unclosed quote raises INPUT_PARSE_FAILED. */
  finish(): number {
    if (this.inQuotes && !this.quotePending) {
      throw new InletError(
        'INPUT_PARSE_FAILED',
        `A quoted field that opens on line ${this.quoteOpenedOnLine} is never closed, so the file ends inside it; check the quoting or choose another delimiter.`,
        { line: this.quoteOpenedOnLine },
      );
    }
    if (this.recordHasUnits) this.endRecord();
    return this.records;
  }

  private countInKernel(kernel: CountKernel, offset: number, length: number): void {
    const result = kernel.count(offset, length, this.delimiter, this.kernelState());
    this.records += result.records;
    this.lineBreaks += result.lineBreaks;
    const { state } = result;
    this.inQuotes = (state & KERNEL_STATE.inQuotes) !== 0;
    this.quotePending = (state & KERNEL_STATE.quotePending) !== 0;
    this.atFieldStart = (state & KERNEL_STATE.atFieldStart) !== 0;
    this.recordHasUnits = (state & KERNEL_STATE.recordHasUnits) !== 0;
    this.afterCarriageReturn = (state & KERNEL_STATE.afterCarriageReturn) !== 0;
    // Line breaks inside quotes are not counted, so an open field began on the current line.
    if (this.inQuotes) this.quoteOpenedOnLine = this.lineBreaks + 1;
  }

  private kernelState(): number {
    return (
      (this.inQuotes ? KERNEL_STATE.inQuotes : 0) |
      (this.quotePending ? KERNEL_STATE.quotePending : 0) |
      (this.atFieldStart ? KERNEL_STATE.atFieldStart : 0) |
      (this.recordHasUnits ? KERNEL_STATE.recordHasUnits : 0) |
      (this.afterCarriageReturn ? KERNEL_STATE.afterCarriageReturn : 0)
    );
  }

  private openQuote(): void {
    this.inQuotes = true;
    this.atFieldStart = false;
    this.recordHasUnits = true;
    this.quoteOpenedOnLine = this.lineBreaks + 1;
  }

  private endRecord(): void {
    if (this.recordHasUnits) this.records += 1;
    this.recordHasUnits = false;
    this.atFieldStart = true;
    this.lineBreaks += 1;
  }
}

/**
 * Returns whether the kernel can count with `delimiter`. It compares single bytes and reads quote,
 * CR and LF bytes only as such.
 */
function kernelHandlesDelimiter(delimiter: number): boolean {
  return delimiter >= 0 && delimiter <= 0xff && delimiter !== QUOTE && delimiter !== CR && delimiter !== LF;
}

/** Counts the records of text given in one or more chunks, as if the chunks were one string. */
export function countRecordsInText(chunks: string | readonly string[], delimiter: string): number {
  const counter = new RecordCounter(delimiter.charCodeAt(0));
  for (const chunk of typeof chunks === 'string' ? [chunks] : chunks) counter.push(stringUnits(chunk));
  return counter.finish();
}

/**
 * Counts the non-blank records of delimited text in one sequential pass over `source`. A source
 * with `readInto` (a local file) is read in COUNT_CHUNK_BYTES reads straight into the kernel's
 * memory. Any other source (S3) is read in reads of SEQUENTIAL_READ_BYTES with one read ahead.
 * Memory use is at most two reads whatever the file size. `signal` stops the pass early, and the
 * caller opens and closes `source`.
 */
export async function countRecords(source: ByteSource, encoding: CsvEncoding, delimiter: string, signal?: AbortSignal): Promise<number> {
  const counter = new RecordCounter(delimiter.charCodeAt(0));
  const utf16 = encoding === 'utf-16le' || encoding === 'utf-16be';
  if (!utf16 && source.readInto) return countBytesInPlace(counter, source.readInto.bind(source), source.sizeBytes, encoding, signal);

  const decoder = utf16 ? createDecoder(encoding) : undefined;
  let first = true;
  for await (const chunk of readSequentially(source, { readAhead: true, signal })) {
    const skip = first ? bomLength(chunk, encoding) : 0;
    first = false;
    if (decoder) {
      counter.push(stringUnits(decoder.decode(chunk.subarray(skip), { stream: true })));
    } else {
      // Copied into the kernel's memory: an S3 read arrives in a buffer of its own.
      counter.pushBytes(chunk.subarray(skip));
    }
  }
  signal?.throwIfAborted();
  if (decoder) counter.push(stringUnits(decoder.decode()));
  return counter.finish();
}

/** Counts a byte-encoded source of `sizeBytes` bytes by reading it straight into the kernel's memory. */
async function countBytesInPlace(
  counter: RecordCounter,
  readInto: (target: Uint8Array, offset: number) => Promise<number>,
  sizeBytes: number,
  encoding: CsvEncoding,
  signal?: AbortSignal,
): Promise<number> {
  const buffer = counter.inputBuffer(COUNT_CHUNK_BYTES);
  let position = 0;
  while (position < sizeBytes) {
    signal?.throwIfAborted();
    const bytesRead = await readInto(buffer, position);
    if (bytesRead === 0) break;
    const skip = position === 0 ? bomLength(buffer.subarray(0, bytesRead), encoding) : 0;
    position += bytesRead;
    counter.pushBytes(buffer.subarray(skip, bytesRead));
  }
  signal?.throwIfAborted();
  return counter.finish();
}
