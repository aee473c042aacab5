/**
 * Reading datasets through byte sources: sequential reads in growing chunks, the block cache of the
 * S3 byte source, and readers that must not read more than they need. The sources here are in
 * memory; test/integration/preview-s3.test.ts runs the same paths against a real S3 server.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { InletError } from '../../src/server/errors';
import { countRecords, countRecordsInText } from '../../src/server/preview/count';
import { CsvReader } from '../../src/server/preview/csv';
import { DtaReader } from '../../src/server/preview/dta';
import { ExcelReader } from '../../src/server/preview/excel';
import { fileDatasetSource } from '../../src/server/preview/file-source';
import type { DatasetSource, ReaderOptions } from '../../src/server/preview/types';
import { MAX_XLS_BYTES } from '../../src/server/preview/xls';
import { readSequentially, SEQUENTIAL_READ_BYTES } from '../../src/server/storage/byte-ranges';
import type { ByteSource } from '../../src/server/storage/object-store';
import { S3_BLOCK_BYTES, S3ObjectBytes } from '../../src/server/storage/s3-bytes';

const ROOT = path.join(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'fixtures/real');
const MiB = 1024 * 1024;

/** An in-memory source that records every read it serves. */
class RecordingSource implements ByteSource {
  readonly reads: { offset: number; length: number }[] = [];
  closed = false;

  constructor(
    private readonly bytes: Buffer,
    /** The size the source reports; the length of `bytes` unless a test needs a larger one. */
    readonly sizeBytes: number = bytes.length,
  ) {}

  get bytesRead(): number {
    return this.reads.reduce((total, read) => total + read.length, 0);
  }

  read(offset: number, length: number): Promise<Buffer> {
    assert.ok(offset >= 0 && offset + length <= this.bytes.length, `read of ${length} bytes at ${offset} is outside ${this.bytes.length} bytes`);
    this.reads.push({ offset, length });
    return Promise.resolve(Buffer.from(this.bytes.subarray(offset, offset + length)));
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** Builds a DatasetSource whose bytes live only in memory, like an S3 object without a local mirror. */
function memorySource(bytes: Buffer, fields: { datasetKey: string; extension: string }, opened: RecordingSource[] = []): DatasetSource {
  return {
    ...fields,
    sha256: fields.datasetKey,
    sizeBytes: bytes.length,
    localPath: null,
    openBytes: () => {
      const source = new RecordingSource(bytes);
      opened.push(source);
      return Promise.resolve(source);
    },
  };
}

/** Builds a CSV of about `sizeBytes` bytes whose data rows all have the same length. */
function csvOfSize(sizeBytes: number): Buffer {
  const lines = ['id,name,value'];
  let length = lines[0]!.length + 1;
  for (let row = 1; length < sizeBytes; row += 1) {
    const line = `${String(row).padStart(8, '0')},"name ${String(row % 97).padStart(2, '0')}",${String(row * 3).padStart(9, '0')}`;
    lines.push(line);
    length += line.length + 1;
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

const OPTIONS: ReaderOptions = { rows: 20, columns: 50, waitForCount: true };

describe('sequential reads', () => {
  test('chunks grow to the maximum', async () => {
    const source = new RecordingSource(Buffer.alloc(3 * MiB));
    const chunks: Buffer[] = [];
    for await (const chunk of readSequentially(source, { start: 100, firstChunkBytes: 64 * 1024, maxChunkBytes: MiB })) chunks.push(chunk);

    assert.deepEqual(
      source.reads.map((read) => read.length),
      [64 * 1024, 256 * 1024, MiB, MiB, 3 * MiB - 100 - 64 * 1024 - 256 * 1024 - 2 * MiB],
    );
    assert.equal(source.reads[0]!.offset, 100);
    assert.equal(Buffer.concat(chunks).length, 3 * MiB - 100);
  });

  test('read ahead starts next read', async () => {
    const source = new RecordingSource(Buffer.alloc(4 * MiB));
    const iterator = readSequentially(source, { maxChunkBytes: MiB, readAhead: true });
    await iterator.next();
    assert.equal(source.reads.length, 2);
    await iterator.return(undefined);
    assert.equal(source.reads.length, 2);
  });

  test('early stop reads no further', async () => {
    const source = new RecordingSource(Buffer.alloc(4 * MiB));
    for await (const chunk of readSequentially(source, { maxChunkBytes: MiB })) {
      assert.equal(chunk.length, MiB);
      break;
    }
    assert.equal(source.reads.length, 1);
  });

  test('count reads large chunks', async () => {
    const bytes = csvOfSize(20 * MiB);
    const source = new RecordingSource(bytes);
    assert.equal(await countRecords(source, 'utf-8', ','), countRecordsInText(bytes.toString('utf8'), ','));
    assert.equal(source.reads.length, Math.ceil(bytes.length / SEQUENTIAL_READ_BYTES));
    assert.equal(source.bytesRead, bytes.length);
  });
});

describe('s3 block cache', () => {
  function objectBytes(bytes: Buffer): { source: S3ObjectBytes; gets: { offset: number; length: number }[]; fail: { next: boolean } } {
    const gets: { offset: number; length: number }[] = [];
    const fail = { next: false };
    const source = new S3ObjectBytes(
      (offset, length) => {
        gets.push({ offset, length });
        if (fail.next) {
          fail.next = false;
          return Promise.reject(new Error('simulated GET failure'));
        }
        return Promise.resolve(Buffer.from(bytes.subarray(offset, offset + length)));
      },
      bytes.length,
      'tenants/t/jobs/j/inputs/ds.dta',
    );
    return { source, gets, fail };
  }

  const bytes = Buffer.from(Array.from({ length: 3 * S3_BLOCK_BYTES + 1000 }, (_, index) => index % 251));

  test('short reads share one block', async () => {
    const { source, gets } = objectBytes(bytes);
    assert.deepEqual(await source.read(10, 100), bytes.subarray(10, 110));
    assert.deepEqual(await source.read(5000, 4), bytes.subarray(5000, 5004));
    assert.deepEqual(gets, [{ offset: 0, length: S3_BLOCK_BYTES }]);
    assert.deepEqual(source.fetched, { requests: 1, bytes: S3_BLOCK_BYTES });
  });

  test('read across blocks joins them', async () => {
    const { source, gets } = objectBytes(bytes);
    const offset = S3_BLOCK_BYTES - 10;
    assert.deepEqual(await source.read(offset, 20), bytes.subarray(offset, offset + 20));
    assert.equal(gets.length, 2);
  });

  test('last block is cut at the end', async () => {
    const { source, gets } = objectBytes(bytes);
    assert.deepEqual(await source.read(bytes.length - 8, 8), bytes.subarray(bytes.length - 8));
    assert.deepEqual(gets, [{ offset: 3 * S3_BLOCK_BYTES, length: 1000 }]);
  });

  test('large read bypasses the cache', async () => {
    const { source, gets } = objectBytes(bytes);
    assert.deepEqual(await source.read(7, S3_BLOCK_BYTES), bytes.subarray(7, 7 + S3_BLOCK_BYTES));
    assert.deepEqual(gets, [{ offset: 7, length: S3_BLOCK_BYTES }]);
  });

  test('failed GET is not cached', async () => {
    const { source, gets, fail } = objectBytes(bytes);
    fail.next = true;
    await assert.rejects(source.read(0, 10), /simulated GET failure/u);
    assert.deepEqual(await source.read(0, 10), bytes.subarray(0, 10));
    assert.equal(gets.length, 2);
  });

  test('read outside the object is rejected', async () => {
    const { source, gets } = objectBytes(bytes);
    await assert.rejects(source.read(bytes.length - 1, 2), RangeError);
    assert.equal(gets.length, 0);
  });

  test('read after close is rejected', async () => {
    const { source } = objectBytes(bytes);
    await source.close();
    await assert.rejects(source.read(0, 1), /closed/u);
  });
});

describe('readers on byte sources', () => {
  const csvReader = new CsvReader();
  after(() => csvReader.close());
  const excelReader = new ExcelReader({ projectRoot: ROOT });

  test('csv sample then own count', async () => {
    const bytes = csvOfSize(12 * MiB);
    const dataRows = countRecordsInText(bytes.toString('utf8'), ',') - 1;
    const opened: RecordingSource[] = [];
    const source = memorySource(bytes, { datasetKey: 'ds_count', extension: '.csv' }, opened);
    const quick = await csvReader.preview(source, { ...OPTIONS, waitForCount: false });
    assert.equal(quick.rowCountExact, false);
    // The rows are alike, so an estimate from the sample's bytes per row is close.
    assert.ok(Math.abs(quick.rowCount - dataRows) < dataRows * 0.1, `estimate ${quick.rowCount}, exact ${dataRows}`);
    assert.equal(opened.length, 1);
    assert.equal(opened[0]!.closed, true);
    assert.ok(opened[0]!.bytesRead <= 2 * MiB, `the sample read ${opened[0]!.bytesRead} of ${bytes.length} bytes`);

    const exact = await csvReader.preview(source, OPTIONS);
    assert.equal(exact.rowCountExact, true);
    assert.equal(exact.rowCount, dataRows);
    // The count opened a source of its own when the first preview returned, and closed it at the end.
    assert.ok(opened.length >= 2);
    assert.ok(opened.every((bytesSource) => bytesSource.closed));
  });

  test('xls from bytes matches path', async () => {
    const file = path.join(FIXTURES, 'datasets.xls');
    const fields = { datasetKey: 'ds_xls', sha256: 'ds_xls', sizeBytes: fs.statSync(file).size, extension: '.xls' };
    const opened: RecordingSource[] = [];
    const fromBytes = await excelReader.preview(memorySource(fs.readFileSync(file), fields, opened), OPTIONS);
    const fromPath = await excelReader.preview(fileDatasetSource(file, fields), OPTIONS);
    assert.deepEqual(fromBytes, fromPath);
    assert.equal(opened[0]!.closed, true);
  });

  test('xls above the limit is rejected', async () => {
    const opened: RecordingSource[] = [];
    const source: DatasetSource = {
      ...memorySource(Buffer.alloc(0), { datasetKey: 'ds_big', extension: '.xls' }),
      sizeBytes: MAX_XLS_BYTES + 1,
      openBytes: () => {
        const tooLarge = new RecordingSource(Buffer.alloc(0), MAX_XLS_BYTES + 1);
        opened.push(tooLarge);
        return Promise.resolve(tooLarge);
      },
    };
    await assert.rejects(excelReader.preview(source, OPTIONS), (error: unknown) => {
      assert.ok(error instanceof InletError);
      assert.equal(error.code, 'INPUT_PARSE_FAILED');
      assert.equal(error.details.limitBytes, MAX_XLS_BYTES);
      assert.match(error.message, new RegExp(`${MAX_XLS_BYTES}-byte limit`, 'u'));
      return true;
    });
    assert.equal(opened[0]!.reads.length, 0);
    assert.equal(opened[0]!.closed, true);
  });

  test('xlsx reads head then tail', async () => {
    const file = path.join(FIXTURES, 'datasets.xlsx');
    const fields = { datasetKey: 'ds_xlsx', sha256: 'ds_xlsx', sizeBytes: fs.statSync(file).size, extension: '.xlsx' };
    const opened: RecordingSource[] = [];
    const fromBytes = await excelReader.preview(memorySource(fs.readFileSync(file), fields, opened), OPTIONS);
    assert.deepEqual(fromBytes, await excelReader.preview(fileDatasetSource(file, fields), OPTIONS));
    assert.equal(opened.length, 1);
    assert.equal(opened[0]!.closed, true);
    // The head comes first, then the tail of the file, where the zip directory ends.
    const [head, tail] = opened[0]!.reads;
    assert.equal(head!.offset, 0);
    assert.equal(tail!.offset + tail!.length, fields.sizeBytes);
  });

  test('dta source is closed', async () => {
    const file = path.join(FIXTURES, 'dta118_castle.dta');
    const opened: RecordingSource[] = [];
    const preview = await new DtaReader().preview(memorySource(fs.readFileSync(file), { datasetKey: 'ds_dta', extension: '.dta' }, opened), OPTIONS);
    assert.equal(preview.rows.length, 20);
    assert.equal(opened.length, 1);
    assert.equal(opened[0]!.closed, true);
    assert.ok(opened[0]!.bytesRead < fs.statSync(file).size);
  });
});
