import { Readable } from 'node:stream';

import type { ByteSource } from './object-store';

/**
 * Size of each read when a byte source is read front to back (the CSV row count, zip entries, an
 * .xls sent to its child process). With S3 each read is one ranged GET. Large reads keep the
 * latency of each request small next to its transfer time, and a read ahead is this size too.
 */
export const SEQUENTIAL_READ_BYTES = 8 * 1024 * 1024;

export interface SequentialReadOptions {
  /** First byte to read; 0 by default. */
  start?: number;
  /** Byte after the last one to read; the source's size by default. */
  end?: number;
  /** Size of the first read; each later read is four times the previous one, up to `maxChunkBytes`. */
  firstChunkBytes?: number;
  maxChunkBytes?: number;
  /**
   * Starts the next read while the caller works on the current chunk. Use it when the caller reads
   * the range to its end; a caller that may stop early fetches up to one chunk it never uses.
   */
  readAhead?: boolean;
  signal?: AbortSignal | undefined;
}

/**
 * Yields the bytes of `[start, end)` of `source` in order, as chunks of growing size. Stopping the
 * iteration early stops the reads, and a read still in flight is awaited so that no read outlives
 * the iteration.
 */
export async function* readSequentially(source: ByteSource, options: SequentialReadOptions = {}): AsyncGenerator<Buffer> {
  const end = options.end ?? source.sizeBytes;
  const maxChunkBytes = options.maxChunkBytes ?? SEQUENTIAL_READ_BYTES;
  let chunkBytes = Math.min(options.firstChunkBytes ?? maxChunkBytes, maxChunkBytes);
  let position = options.start ?? 0;

  const next = (): Promise<Buffer> | undefined => {
    if (position >= end) return undefined;
    const length = Math.min(chunkBytes, end - position);
    const read = source.read(position, length);
    // A read ahead may fail while the caller is busy with the previous chunk. It is awaited later,
    // so it is marked handled now and does not count as an unhandled rejection.
    read.catch(() => undefined);
    position += length;
    chunkBytes = Math.min(chunkBytes * 4, maxChunkBytes);
    return read;
  };

  let pending = next();
  try {
    while (pending !== undefined) {
      options.signal?.throwIfAborted();
      const chunk = await pending;
      pending = options.readAhead === true ? next() : undefined;
      yield chunk;
      pending ??= next();
    }
  } finally {
    // A read started ahead and never used is settled here; its failure no longer matters.
    await pending?.catch(() => undefined);
  }
}

/** Returns a byte stream of `[start, end)` of `source`, read on demand with readSequentially. */
export function byteRangeStream(source: ByteSource, options: SequentialReadOptions = {}): Readable {
  return Readable.from(readSequentially(source, options), { objectMode: false });
}
