import fs from 'node:fs/promises';

import type { ByteSource } from './object-store';

/** Reads byte ranges of a file on disk through one open file handle. */
export class FileByteSource implements ByteSource {
  private constructor(
    private readonly handle: fs.FileHandle,
    readonly sizeBytes: number,
  ) {}

  static async open(filePath: string): Promise<FileByteSource> {
    const handle = await fs.open(filePath, 'r');
    try {
      const { size } = await handle.stat();
      return new FileByteSource(handle, size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new RangeError(`Read of ${length} bytes at ${offset} is outside the file's ${this.sizeBytes} bytes.`);
    }
    const buffer = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(buffer, filled, length - filled, offset + filled);
      if (bytesRead === 0) throw new Error(`The file ended at byte ${offset + filled} while ${length} bytes were read from byte ${offset}.`);
      filled += bytesRead;
    }
    return buffer;
  }

  async readInto(target: Uint8Array, offset: number): Promise<number> {
    if (offset < 0 || offset > this.sizeBytes) {
      throw new RangeError(`Read at ${offset} is outside the file's ${this.sizeBytes} bytes.`);
    }
    const length = Math.min(target.length, this.sizeBytes - offset);
    if (length === 0) return 0;
    const { bytesRead } = await this.handle.read(target, 0, length, offset);
    return bytesRead;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
