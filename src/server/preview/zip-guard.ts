import { PassThrough, Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';

import { InletError } from '../errors';
import { byteRangeStream } from '../storage/byte-ranges';
import type { ByteSource } from '../storage/object-store';

/** Largest total size the entries of an .xlsx may inflate to. */
export const MAX_INFLATED_BYTES = 2 * 1024 ** 3;
/** Largest ratio of inflated to stored size, for the archive and for any entry above RATIO_FLOOR_BYTES. */
export const MAX_INFLATE_RATIO = 200;
/** Entries smaller than this once inflated cannot do harm, whatever their ratio. */
const RATIO_FLOOR_BYTES = 1024 * 1024;

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_ENTRY_SIGNATURE = 0x02014b50;
const LOCAL_ENTRY_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_BYTES = 30;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
/** End-of-central-directory record without comment, plus the longest comment a zip may carry. */
const EOCD_SEARCH_BYTES = 22 + 0xffff;
/** Central directories above this size are refused rather than read into memory. */
const MAX_CENTRAL_DIRECTORY_BYTES = 64 * 1024 * 1024;

export interface ZipEntrySummary {
  name: string;
  compressedBytes: number;
  inflatedBytes: number;
  /** 0 (stored) or 8 (deflate); other methods cannot be read. */
  compressionMethod: number;
  /** Byte offset of the entry's local file header. */
  localHeaderOffset: number;
}

export interface ZipSummary {
  entries: ZipEntrySummary[];
  inflatedBytes: number;
  /** The largest inflated size any entry declares; a stream past it means the directory lied. */
  largestEntryBytes: number;
}

function damaged(reason: string): InletError {
  return new InletError('INPUT_PARSE_FAILED', `The workbook is not a readable .xlsx file: ${reason}. Open and save it again in a spreadsheet program, then upload the new file.`, { reason });
}

/** Reads up to `length` bytes at `position`; fewer when the file ends first, none past its end. */
function readAt(source: ByteSource, position: number, length: number): Promise<Buffer> {
  const available = Math.max(0, Math.min(length, source.sizeBytes - position));
  return position < 0 || available === 0 ? Promise.resolve(Buffer.alloc(0)) : source.read(position, available);
}

/**
 * Size of the first read of a zip entry's data. Short entries (relationships, workbook.xml, styles)
 * then take a single read, which the S3 store serves from a cached block. Longer ones go on in
 * growing reads.
 */
const ENTRY_FIRST_READ_BYTES = 64 * 1024;

/**
 * Reads the zip central directory of an .xlsx and refuses it before anything is inflated when its
 * entries declare more than MAX_INFLATED_BYTES in total or compress by more than MAX_INFLATE_RATIO
 * to one. Entry sizes are what the archive declares; openZipEntry also stops an entry that inflates
 * past its declared size, in case the directory lies.
 */
export async function inspectZip(source: ByteSource): Promise<ZipSummary> {
  const size = source.sizeBytes;
  const tailStart = Math.max(0, size - EOCD_SEARCH_BYTES);
  const tail = await readAt(source, tailStart, size - tailStart);

  let eocd = -1;
  for (let offset = tail.length - 22; offset >= 0; offset -= 1) {
    if (tail.readUInt32LE(offset) === EOCD_SIGNATURE) {
      eocd = offset;
      break;
    }
  }
  if (eocd < 0) throw damaged('the zip end-of-directory record is missing, so the file is truncated or not a zip archive');

  let entryCount = tail.readUInt16LE(eocd + 10);
  let directoryBytes = tail.readUInt32LE(eocd + 12);
  let directoryOffset = tail.readUInt32LE(eocd + 16);
  if (entryCount === 0xffff || directoryBytes === 0xffffffff || directoryOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || tail.readUInt32LE(locator) !== ZIP64_LOCATOR_SIGNATURE) throw damaged('the zip64 directory locator is missing');
    const zip64Offset = Number(tail.readBigUInt64LE(locator + 8));
    const zip64 = await readAt(source, zip64Offset, 56);
    if (zip64.length < 56 || zip64.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) throw damaged('the zip64 end-of-directory record is damaged');
    entryCount = Number(zip64.readBigUInt64LE(32));
    directoryBytes = Number(zip64.readBigUInt64LE(40));
    directoryOffset = Number(zip64.readBigUInt64LE(48));
  }
  if (directoryOffset + directoryBytes > size || directoryBytes > MAX_CENTRAL_DIRECTORY_BYTES) {
    throw damaged('the zip directory points outside the file');
  }

  const directory = await readAt(source, directoryOffset, directoryBytes);
  const entries: ZipEntrySummary[] = [];
  let offset = 0;
  for (let index = 0; index < entryCount; index += 1) {
    if (offset + 46 > directory.length || directory.readUInt32LE(offset) !== CENTRAL_ENTRY_SIGNATURE) throw damaged('a zip directory entry is damaged');
    const flags = directory.readUInt16LE(offset + 8);
    const compressionMethod = directory.readUInt16LE(offset + 10);
    let compressedBytes = directory.readUInt32LE(offset + 20);
    let inflatedBytes = directory.readUInt32LE(offset + 24);
    const nameBytes = directory.readUInt16LE(offset + 28);
    const extraBytes = directory.readUInt16LE(offset + 30);
    const commentBytes = directory.readUInt16LE(offset + 32);
    let localHeaderOffset = directory.readUInt32LE(offset + 42);
    const name = directory.toString('utf8', offset + 46, offset + 46 + nameBytes);
    if ((flags & 0x1) !== 0) {
      throw new InletError('INPUT_ENCRYPTED', 'The workbook is password-protected; save it without a password and upload it again.', {});
    }

    // A zip64 extra field holds the real sizes of those fields set to 0xFFFFFFFF, inflated size first.
    let extra = offset + 46 + nameBytes;
    const extraEnd = extra + extraBytes;
    while (extra + 4 <= extraEnd && extra + 4 <= directory.length) {
      const id = directory.readUInt16LE(extra);
      const length = directory.readUInt16LE(extra + 2);
      if (id === 0x0001) {
        let field = extra + 4;
        if (inflatedBytes === 0xffffffff && field + 8 <= directory.length) {
          inflatedBytes = Number(directory.readBigUInt64LE(field));
          field += 8;
        }
        if (compressedBytes === 0xffffffff && field + 8 <= directory.length) {
          compressedBytes = Number(directory.readBigUInt64LE(field));
          field += 8;
        }
        if (localHeaderOffset === 0xffffffff && field + 8 <= directory.length) localHeaderOffset = Number(directory.readBigUInt64LE(field));
      }
      extra += 4 + length;
    }

    entries.push({ name, compressedBytes, inflatedBytes, compressionMethod, localHeaderOffset });
    offset = extraEnd + commentBytes;
  }

  const inflatedTotal = entries.reduce((sum, entry) => sum + entry.inflatedBytes, 0);
  const compressedTotal = entries.reduce((sum, entry) => sum + entry.compressedBytes, 0);
  const refuse = (reason: string): InletError =>
    new InletError('INPUT_PARSE_FAILED', `The workbook was not opened because ${reason}, which is how zip bombs look; save the data in smaller workbooks or as CSV.`, {
      reason,
      inflatedBytes: inflatedTotal,
      limitBytes: MAX_INFLATED_BYTES,
      maxRatio: MAX_INFLATE_RATIO,
    });
  if (inflatedTotal > MAX_INFLATED_BYTES) throw refuse(`its parts inflate to ${inflatedTotal} bytes, more than the ${MAX_INFLATED_BYTES}-byte limit`);
  if (inflatedTotal > RATIO_FLOOR_BYTES && inflatedTotal > compressedTotal * MAX_INFLATE_RATIO) {
    throw refuse(`its parts inflate ${Math.round(inflatedTotal / Math.max(compressedTotal, 1))} times, more than ${MAX_INFLATE_RATIO} to 1`);
  }
  for (const entry of entries) {
    if (entry.inflatedBytes > RATIO_FLOOR_BYTES && entry.inflatedBytes > entry.compressedBytes * MAX_INFLATE_RATIO) {
      throw refuse(`part ${entry.name} inflates ${Math.round(entry.inflatedBytes / Math.max(entry.compressedBytes, 1))} times, more than ${MAX_INFLATE_RATIO} to 1`);
    }
  }

  return { entries, inflatedBytes: inflatedTotal, largestEntryBytes: entries.reduce((max, entry) => Math.max(max, entry.inflatedBytes), 0) };
}

/**
 * Opens one entry of a zip archive as a stream of its inflated bytes, found through the central
 * directory rather than by scanning the archive in order. The stream fails with INPUT_PARSE_FAILED
 * when the entry inflates past the size the directory declares or its data is cut short.
 */
export async function openZipEntry(source: ByteSource, entry: ZipEntrySummary): Promise<Readable> {
  if (entry.compressionMethod !== METHOD_STORED && entry.compressionMethod !== METHOD_DEFLATE) {
    throw damaged(`part ${entry.name} uses zip compression method ${entry.compressionMethod}, which is not supported`);
  }

  // The local header repeats the name and has its own extra field, so the data starts after both.
  const header = await readAt(source, entry.localHeaderOffset, LOCAL_HEADER_BYTES);
  if (header.length < LOCAL_HEADER_BYTES || header.readUInt32LE(0) !== LOCAL_ENTRY_SIGNATURE) {
    throw damaged(`the zip directory points to a missing local header for part ${entry.name}`);
  }
  const dataStart = entry.localHeaderOffset + LOCAL_HEADER_BYTES + header.readUInt16LE(26) + header.readUInt16LE(28);

  if (dataStart + entry.compressedBytes > source.sizeBytes) {
    throw damaged(`the data of part ${entry.name} runs past the end of the file, so the file is truncated`);
  }
  const raw =
    entry.compressedBytes === 0
      ? Readable.from([])
      : byteRangeStream(source, { start: dataStart, end: dataStart + entry.compressedBytes, firstChunkBytes: ENTRY_FIRST_READ_BYTES, readAhead: true });
  const inflater = entry.compressionMethod === METHOD_DEFLATE ? zlib.createInflateRaw() : new PassThrough();
  let inflatedBytes = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      inflatedBytes += chunk.length;
      if (inflatedBytes > entry.inflatedBytes) {
        callback(damaged(`part ${entry.name} inflates past the ${entry.inflatedBytes} bytes its zip directory declares`));
        return;
      }
      callback(null, chunk);
    },
    flush(callback) {
      if (inflatedBytes < entry.inflatedBytes) callback(damaged(`part ${entry.name} ends after ${inflatedBytes} of its ${entry.inflatedBytes} bytes, so the file is truncated`));
      else callback();
    },
  });
  const fail = (error: Error): void => {
    limit.destroy(error instanceof InletError ? error : damaged(`part ${entry.name} is damaged (${error.message})`));
  };
  raw.on('error', fail);
  inflater.on('error', fail);
  raw.pipe(inflater).pipe(limit);
  limit.on('close', () => {
    raw.destroy();
    inflater.destroy();
  });
  return limit;
}
