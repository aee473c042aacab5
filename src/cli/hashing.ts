import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsPromises from 'node:fs/promises';

const MIB = 1024 * 1024;

/**
 * Computes the SHA-256 (hex) of bytes `start` to `end` (exclusive) of a file, or of the whole file,
 * streaming so that memory stays small whatever the size. `onBytes` receives each chunk's length.
 */
export async function sha256OfFile(file: string, range?: { start: number; end: number }, onBytes?: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  // createReadStream's `end` is inclusive; an empty range reads nothing.
  if (range && range.end <= range.start) return hash.digest('hex');
  const stream = fs.createReadStream(file, range ? { start: range.start, end: range.end - 1 } : {});
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest('hex');
}

/**
 * Computes the sample SHA-256 that identifies a file again after an interruption: the hex SHA-256
 * of its first MiB followed by its last MiB, or of the whole file when it is at most 2 MiB.
 */
export async function sampleSha256OfFile(file: string, sizeBytes: number): Promise<string> {
  if (sizeBytes <= 2 * MIB) return sha256OfFile(file);
  const handle = await fsPromises.open(file, 'r');
  try {
    const head = Buffer.alloc(MIB);
    const tail = Buffer.alloc(MIB);
    await readFully(handle, head, 0);
    await readFully(handle, tail, sizeBytes - MIB);
    return createHash('sha256').update(head).update(tail).digest('hex');
  } finally {
    await handle.close();
  }
}

async function readFully(handle: fsPromises.FileHandle, buffer: Buffer, position: number): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesRead } = await handle.read(buffer, offset, buffer.length - offset, position + offset);
    if (bytesRead === 0) throw new Error(`The file ended at byte ${position + offset}, before the ${buffer.length} bytes expected; it changed while it was read.`);
    offset += bytesRead;
  }
}

export function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}
