import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { formatMismatchCode } from '../../src/components/job/upload/file-checks';
import { classifyOleContainer } from '../../src/lib/ole-directory';
import { InletError } from '../../src/server/errors';
import { checkFormat, readHead } from '../../src/server/formats';
import { ExcelReader } from '../../src/server/preview/excel';
import { fileDatasetSource } from '../../src/server/preview/file-source';

const ROOT = path.join(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'fixtures/real');
const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'inlet-formats-'));
after(() => fs.rmSync(tempDir, { recursive: true, force: true }));

const SECTOR_BYTES = 512;
const END_OF_CHAIN = 0xfffffffe;
const FAT_SECTOR = 0xfffffffd;

/**
 * Builds a minimal compound file with 512-byte sectors: sector 0 is the FAT, sector 1 the directory
 * with a root entry and one empty stream per name.
 */
function compoundFile(streams: string[]): Buffer {
  const bytes = Buffer.alloc(SECTOR_BYTES * 3);
  Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(bytes);
  bytes.writeUInt16LE(0x3e, 0x18); // minor version
  bytes.writeUInt16LE(3, 0x1a); // major version 3: 512-byte sectors
  bytes.writeUInt16LE(0xfffe, 0x1c); // little-endian byte order mark
  bytes.writeUInt16LE(9, 0x1e); // sector shift
  bytes.writeUInt16LE(6, 0x20); // mini sector shift
  bytes.writeUInt32LE(1, 0x2c); // FAT sector count
  bytes.writeUInt32LE(1, 0x30); // first directory sector
  bytes.writeUInt32LE(END_OF_CHAIN, 0x3c); // no mini FAT
  bytes.writeUInt32LE(END_OF_CHAIN, 0x44); // no DIFAT sectors
  bytes.fill(0xff, 0x4c, SECTOR_BYTES);
  bytes.writeUInt32LE(0, 0x4c); // the FAT is sector 0

  const fat = SECTOR_BYTES;
  bytes.fill(0xff, fat, fat + SECTOR_BYTES);
  bytes.writeUInt32LE(FAT_SECTOR, fat);
  bytes.writeUInt32LE(END_OF_CHAIN, fat + 4);

  const entries: [string, number][] = [['Root Entry', 5], ...streams.map((name): [string, number] => [name, 2])];
  entries.forEach(([name, type], index) => {
    const entry = SECTOR_BYTES * 2 + index * 128;
    bytes.write(`${name}\u0000`, entry, 'utf16le');
    bytes.writeUInt16LE((name.length + 1) * 2, entry + 0x40);
    bytes.writeUInt8(type, entry + 0x42);
  });
  return bytes;
}

describe('OLE container named .xlsx', () => {
  test('encrypted package is INPUT_ENCRYPTED', () => {
    const head = compoundFile(['EncryptionInfo', 'EncryptedPackage']);
    assert.equal(classifyOleContainer(head), 'encryptedPackage');
    const check = checkFormat('excel', '.xlsx', head);
    assert.equal(!check.ok && check.code, 'INPUT_ENCRYPTED');
    assert.equal(formatMismatchCode('data.xlsx', head), 'INPUT_ENCRYPTED');
  });

  test('BIFF stream is a format mismatch', () => {
    for (const stream of ['Workbook', 'Book']) {
      const head = compoundFile([stream, 'SummaryInformation']);
      assert.equal(classifyOleContainer(head), 'biffWorkbook', stream);
      assert.equal(formatMismatchCode('data.xlsx', head), 'INPUT_FORMAT_MISMATCH', stream);
    }
  });

  test('renamed .xls with directory in head', async () => {
    // date_1904.xls has its directory in sector 8, at byte 4,608 of the file.
    const check = checkFormat('excel', '.xlsx', await readHead(path.join(FIXTURES, 'date_1904.xls')));
    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.code, 'INPUT_FORMAT_MISMATCH');
    assert.match(!check.ok ? check.message : '', /is a legacy \.xls workbook/u);
  });

  test('renamed .xls with directory past head', async () => {
    // datasets.xls has its directory in sector 204, at byte 104,960, past the 8 KiB head.
    const check = checkFormat('excel', '.xlsx', await readHead(path.join(FIXTURES, 'datasets.xls')));
    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.code, 'INPUT_FORMAT_MISMATCH');
    assert.match(!check.ok ? check.message : '', /legacy \.xls workbook or a password-protected \.xlsx/u);
  });

  test('preview of renamed .xls is not encrypted', async () => {
    const filePath = path.join(tempDir, 'datasets_xls_as.xlsx');
    fs.copyFileSync(path.join(FIXTURES, 'datasets.xls'), filePath);
    const reader = new ExcelReader({ projectRoot: ROOT });
    const source = fileDatasetSource(filePath, { datasetKey: 'ds_renamed', sha256: 'renamed', sizeBytes: fs.statSync(filePath).size, extension: '.xlsx' });

    await assert.rejects(reader.preview(source, { rows: 5, columns: 5, waitForCount: true }), (error: unknown) => {
      assert.ok(error instanceof InletError);
      assert.equal(error.code, 'INPUT_PARSE_FAILED');
      return true;
    });
  });
});
