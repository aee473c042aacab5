import type { ByteSource } from '../../storage/object-store';
import { malformed } from './failure';

// Random access to the bytes of one file, shared with the object stores, which open dataset bytes
// the same way; every read stays inside `sizeBytes`.
export type { ByteSource };
export { FileByteSource } from '../../storage/file-bytes';

/** Serves reads from a buffer already in memory (tests and fuzzing). */
export class MemoryByteSource implements ByteSource {
  constructor(private readonly bytes: Buffer) {}

  get sizeBytes(): number {
    return this.bytes.length;
  }

  read(offset: number, length: number): Promise<Buffer> {
    return Promise.resolve(this.bytes.subarray(offset, offset + length));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Reads `length` bytes at `offset` after checking the range against the file's size, so a length
 * field from a damaged file can never make the reader allocate more than the file holds.
 */
export async function readRange(source: ByteSource, offset: number, length: number, what: string): Promise<Buffer> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > source.sizeBytes) {
    throw malformed(`${what} (${length} bytes at byte ${offset}) lies past the end of the file, which has ${source.sizeBytes} bytes; the file is truncated or damaged.`, {
      offset,
      length,
      sizeBytes: source.sizeBytes,
    });
  }
  if (length === 0) return Buffer.alloc(0);
  return source.read(offset, length);
}

/** Sequential reader over a buffer in memory, with the file's byte order. */
export class ByteCursor {
  position = 0;

  constructor(
    private readonly bytes: Buffer,
    readonly littleEndian: boolean,
    /** File offset of `bytes[0]`, for error messages. */
    private readonly baseOffset = 0,
  ) {}

  get remaining(): number {
    return this.bytes.length - this.position;
  }

  private take(length: number, what: string): number {
    if (length > this.remaining) {
      throw malformed(`${what} at byte ${this.baseOffset + this.position} needs ${length} bytes but only ${this.remaining} remain.`);
    }
    const start = this.position;
    this.position += length;
    return start;
  }

  bytesOf(length: number, what: string): Buffer {
    const start = this.take(length, what);
    return this.bytes.subarray(start, start + length);
  }

  skip(length: number, what: string): void {
    this.take(length, what);
  }

  uint8(what: string): number {
    return this.bytes.readUInt8(this.take(1, what));
  }

  uint16(what: string): number {
    const at = this.take(2, what);
    return this.littleEndian ? this.bytes.readUInt16LE(at) : this.bytes.readUInt16BE(at);
  }

  int16(what: string): number {
    const at = this.take(2, what);
    return this.littleEndian ? this.bytes.readInt16LE(at) : this.bytes.readInt16BE(at);
  }

  uint32(what: string): number {
    const at = this.take(4, what);
    return this.littleEndian ? this.bytes.readUInt32LE(at) : this.bytes.readUInt32BE(at);
  }

  int32(what: string): number {
    const at = this.take(4, what);
    return this.littleEndian ? this.bytes.readInt32LE(at) : this.bytes.readInt32BE(at);
  }

  /** Reads an unsigned 8-byte integer; values above 2^53 - 1 are rejected as damage. */
  uint64(what: string): number {
    const at = this.take(8, what);
    const value = this.littleEndian ? this.bytes.readBigUInt64LE(at) : this.bytes.readBigUInt64BE(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw malformed(`${what} at byte ${this.baseOffset + at} is ${value}, larger than any file this reader can address.`);
    }
    return Number(value);
  }

  /** Checks that the next bytes are the ASCII `tag`, as in the tagged layout of formats 117 and later. */
  expectTag(tag: string): void {
    const at = this.position;
    const found = this.remaining >= tag.length ? this.bytes.toString('latin1', at, at + tag.length) : '';
    if (found !== tag) {
      throw malformed(`expected ${tag} at byte ${this.baseOffset + at}${found === '' ? ', but the file ends there' : ''}.`, { offset: this.baseOffset + at, expected: tag });
    }
    this.position += tag.length;
  }
}

const SEQUENTIAL_BLOCK_BYTES = 64 * 1024;

/**
 * Walks a byte span of a file front to back through a 64 KiB buffer, for sections made of many
 * small records (value-label definitions, strL records). Reads past `end` are damage, not data.
 */
export class SequentialReader {
  private block: Buffer = Buffer.alloc(0);
  private blockStart = 0;

  constructor(
    private readonly source: ByteSource,
    public position: number,
    readonly end: number,
    readonly littleEndian: boolean,
  ) {}

  get remaining(): number {
    return this.end - this.position;
  }

  /** Returns the next `length` bytes as a cursor; `what` names them in the error if they are missing. */
  async cursor(length: number, what: string): Promise<ByteCursor> {
    const start = this.position;
    return new ByteCursor(await this.bytes(length, what), this.littleEndian, start);
  }

  async bytes(length: number, what: string): Promise<Buffer> {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.remaining) {
      throw malformed(`${what} at byte ${this.position} needs ${length} bytes but the section ends at byte ${this.end}; the file is truncated or damaged.`, {
        offset: this.position,
        length,
      });
    }
    const offsetInBlock = this.position - this.blockStart;
    if (offsetInBlock < 0 || offsetInBlock + length > this.block.length) {
      if (length > SEQUENTIAL_BLOCK_BYTES) {
        const direct = await readRange(this.source, this.position, length, what);
        this.position += length;
        return direct;
      }
      this.blockStart = this.position;
      this.block = await readRange(this.source, this.position, Math.min(SEQUENTIAL_BLOCK_BYTES, this.end - this.position), what);
    }
    const from = this.position - this.blockStart;
    this.position += length;
    return this.block.subarray(from, from + length);
  }

  skip(length: number, what: string): void {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.remaining) {
      throw malformed(`${what} at byte ${this.position} declares ${length} bytes, past the end of its section at byte ${this.end}; the file is truncated or damaged.`, {
        offset: this.position,
        length,
      });
    }
    this.position += length;
  }
}
