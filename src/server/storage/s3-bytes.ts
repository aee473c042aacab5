import type { ByteSource, FetchCounts } from './object-store';

/**
 * Reads shorter than this are served from aligned blocks of this size. The .dta and .xlsx readers
 * parse headers, directories and labels through many reads of a few bytes to a few KiB, mostly
 * near each other. With S3 each read is a GET that costs a round trip, so one block GET serves
 * most of them.
 */
export const S3_BLOCK_BYTES = 256 * 1024;
/** Blocks kept per open object, so at most 2 MiB of cached bytes. */
const CACHED_BLOCKS = 8;

/** Fetches `length` bytes at `offset` of the object with one ranged GET. */
export type RangeReader = (offset: number, length: number) => Promise<Buffer>;

/**
 * Ranged reads of one S3 object. Short reads go through a small cache of aligned blocks; reads of a
 * block or more go to the bucket as they are. Counts every GET and the bytes it returned.
 */
export class S3ObjectBytes implements ByteSource {
  readonly fetched: FetchCounts = { requests: 0, bytes: 0 };
  /** Block index to its bytes, in least recently used order. */
  private readonly blocks = new Map<number, Promise<Buffer>>();
  private closed = false;

  constructor(
    private readonly readRange: RangeReader,
    readonly sizeBytes: number,
    /** The object's key, for error messages. */
    private readonly key: string,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    if (this.closed) throw new Error(`Read of ${this.key} after its byte source was closed.`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new RangeError(`Read of ${length} bytes at ${offset} is outside the ${this.sizeBytes} bytes of ${this.key}.`);
    }
    if (length === 0) return Buffer.alloc(0);
    if (length >= S3_BLOCK_BYTES) return this.fetch(offset, length);

    const first = Math.floor(offset / S3_BLOCK_BYTES);
    const last = Math.floor((offset + length - 1) / S3_BLOCK_BYTES);
    const pieces: Buffer[] = [];
    for (let index = first; index <= last; index += 1) pieces.push(await this.block(index));
    const joined = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    const from = offset - first * S3_BLOCK_BYTES;
    return joined.subarray(from, from + length);
  }

  close(): Promise<void> {
    this.closed = true;
    this.blocks.clear();
    return Promise.resolve();
  }

  private block(index: number): Promise<Buffer> {
    const cached = this.blocks.get(index);
    if (cached !== undefined) {
      // Moved to the back of the map, as the most recently used block.
      this.blocks.delete(index);
      this.blocks.set(index, cached);
      return cached;
    }

    const start = index * S3_BLOCK_BYTES;
    const block = this.fetch(start, Math.min(S3_BLOCK_BYTES, this.sizeBytes - start));
    // A failed GET is not cached, so the next read of the block sends a new GET.
    block.catch(() => {
      if (this.blocks.get(index) === block) this.blocks.delete(index);
    });
    this.blocks.set(index, block);
    if (this.blocks.size > CACHED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
    return block;
  }

  private async fetch(offset: number, length: number): Promise<Buffer> {
    this.fetched.requests += 1;
    const bytes = await this.readRange(offset, length);
    this.fetched.bytes += bytes.length;
    return bytes;
  }
}
