import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { InletError } from '../../src/server/errors';
import { DtaReader, MemoryByteSource, openDtaRows, previewDta, type ByteSource } from '../../src/server/preview/dta';
import { columnTypeOf, dateKindOf, renderDate } from '../../src/server/preview/dta/dates';
import { float32DecimalExponent, readNumeric, shortestFloat32, shortestFloat32FromBits } from '../../src/server/preview/dta/storage';
import { detectEncoding } from '../../src/server/preview/dta/text';
import { fileDatasetSource } from '../../src/server/preview/file-source';
import type { Cell, ReaderOptions } from '../../src/server/preview/types';
import { readstatSummary } from '../reference/dta-tools';
import { writeLegacyDta, writeTaggedDta, type LegacySpec } from '../reference/dta-writer';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/real');
const OPTIONS: ReaderOptions = { rows: 20, columns: 50, waitForCount: true };
const STATA_EPOCH_MS = Date.UTC(1960, 0, 1);

function bytesOf(hex: string): DataView {
  const buffer = Buffer.from(hex, 'hex');
  return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

async function parseFailure(bytes: Buffer): Promise<InletError> {
  try {
    await previewDta(new MemoryByteSource(bytes), 'ds_bad', OPTIONS);
  } catch (error) {
    assert.ok(error instanceof InletError, `expected an InletError, got ${String(error)}`);
    return error;
  }
  assert.fail('the preview succeeded');
}

const small: LegacySpec = {
  version: 115,
  littleEndian: true,
  variables: [
    { name: 'n', type: 'long', format: '%12.0g' },
    { name: 's', type: { str: 8 }, format: '%8s' },
  ],
  rows: Array.from({ length: 5 }, (_, index) => [index, `row ${index}`]),
};

describe('dates', () => {
  test('daily and clock values render', () => {
    assert.equal(renderDate('td', 0), '1960-01-01');
    assert.equal(renderDate('td', -1), '1959-12-31');
    // 17,928 days is 2009-01-31: pandas wrote this value for that date in the generated files.
    assert.equal(renderDate('td', 17928), '2009-01-31');
    assert.equal(renderDate('tc', 1000), '1960-01-01T00:00:01.000');
    assert.equal(renderDate('tc', -1), '1959-12-31T23:59:59.999');
  });

  test('period formats render', () => {
    // 2009 is year 49 after 1960: 49 * 52 weeks, 49 * 12 months, 49 * 4 quarters, 49 * 2 halves.
    assert.equal(renderDate('tw', 49 * 52 + 4), '2009w5');
    assert.equal(renderDate('tm', 49 * 12), '2009m1');
    assert.equal(renderDate('tq', 49 * 4), '2009q1');
    assert.equal(renderDate('th', 49 * 2 + 1), '2009h2');
    assert.equal(renderDate('ty', 2009), '2009');
    assert.equal(renderDate('tw', -1), '1959w52');
    assert.equal(renderDate('tq', -18), '1955q3');
  });

  test('leap clock counts leap seconds', () => {
    // IERS inserted 27 leap seconds from 1972-06-30 to 2016-12-31; %tC counts each one.
    const newYear2017 = Date.UTC(2017, 0, 1) - STATA_EPOCH_MS;
    assert.equal(renderDate('tC', newYear2017 + 26_000 - 1000), '2016-12-31T23:59:59.000');
    assert.equal(renderDate('tC', newYear2017 + 26_000), '2016-12-31T23:59:60.000');
    assert.equal(renderDate('tC', newYear2017 + 26_000 + 999), '2016-12-31T23:59:60.999');
    assert.equal(renderDate('tC', newYear2017 + 27_000), '2017-01-01T00:00:00.000');
    // Before the first leap second %tC and %tc agree.
    const firstLeap = Date.UTC(1972, 6, 1) - STATA_EPOCH_MS;
    assert.equal(renderDate('tC', firstLeap - 1), '1972-06-30T23:59:59.999');
    assert.equal(renderDate('tC', firstLeap), '1972-06-30T23:59:60.000');
  });

  test('out-of-range dates stay null', () => {
    assert.equal(renderDate('td', 1e9), null);
    assert.equal(renderDate('tc', 1e18), null);
    assert.equal(renderDate('tc-time', 1e18), null);
  });

  test('clock formats pick the shown part', () => {
    const cases: [string, string | null][] = [
      ['%tc', 'tc'],
      ['%tC', 'tC'],
      ['%tcDDmonCCYY_HH:MM:SS', 'tc'],
      ['%tcHH:MM:SS', 'tc-time'],
      ['%tcHH:MM', 'tc-time'],
      ['%tchh:MM_am', 'tc-time'],
      ['%tcHH!hMM', 'tc-time'],
      ['%tc_HH:MM:SS.sss', 'tc-time-ms'],
      ['%-tcHH:MM:SS.s', 'tc-time-ms'],
      ['%tCHH:MM:SS', 'tC-time'],
      ['%tcCCYY-NN-DD', 'tc-date'],
      ['%tcDDmonCCYY', 'tc-date'],
      ['%tCMonth_dd,_CCYY', 'tC-date'],
      // Unknown codes keep the full date-time.
      ['%tcHH:MM:SSX', 'tc'],
      ['%tdCCYY-NN-DD', 'td'],
      ['%9.0g', null],
    ];
    for (const [format, kind] of cases) assert.equal(dateKindOf(format), kind, format);
  });

  test('clock parts render by hand', () => {
    // 2009-01-31 is day 17,928 after 1960-01-01; 14:03:09.250 is 50,589,250 ms into the day.
    const moment = 17_928 * 86_400_000 + 50_589_250;
    assert.equal(renderDate('tc', moment), '2009-01-31T14:03:09.250');
    assert.equal(renderDate('tc-time', moment), '14:03:09');
    assert.equal(renderDate('tc-time-ms', moment), '14:03:09.250');
    assert.equal(renderDate('tc-date', moment), '2009-01-31');
    // One millisecond before the epoch is the last millisecond of 1959-12-31.
    assert.equal(renderDate('tc-time', -1), '23:59:59');
    assert.equal(renderDate('tc-time-ms', -1), '23:59:59.999');
    assert.equal(renderDate('tc-date', -1), '1959-12-31');
    assert.equal(renderDate('tc-time', 0), '00:00:00');
  });

  test('leap clock parts render', () => {
    const leapSecond = Date.UTC(2017, 0, 1) - STATA_EPOCH_MS + 26_000;
    assert.equal(renderDate('tC-time', leapSecond + 500), '23:59:60');
    assert.equal(renderDate('tC-time-ms', leapSecond + 500), '23:59:60.500');
    assert.equal(renderDate('tC-date', leapSecond + 500), '2016-12-31');
    assert.equal(renderDate('tC-time', leapSecond + 1000), '00:00:00');
  });

  test('clock parts set the column type', () => {
    assert.equal(columnTypeOf('tc'), 'datetime');
    assert.equal(columnTypeOf('tC-date'), 'date');
    assert.equal(columnTypeOf('tc-time'), 'string');
    assert.equal(columnTypeOf('tC-time-ms'), 'string');
  });
});

describe('missing values', () => {
  // Bit patterns from the table in Stata's `help dta`, section 4.
  test('extended codes decode per type', () => {
    assert.equal(readNumeric(bytesOf('66'), 0, 'byte', true, true), '.a');
    assert.equal(readNumeric(bytesOf('65'), 0, 'byte', true, true), '.');
    assert.equal(readNumeric(bytesOf('64'), 0, 'byte', true, true), 100);
    assert.equal(readNumeric(bytesOf('7fe5'), 0, 'int', false, true), '.');
    assert.equal(readNumeric(bytesOf('e67f'), 0, 'int', true, true), '.a');
    assert.equal(readNumeric(bytesOf('7fffffff'), 0, 'long', false, true), '.z');
    assert.equal(readNumeric(bytesOf('0008007f'), 0, 'float', true, true), '.a');
    assert.equal(readNumeric(bytesOf('7effffff'), 0, 'float', false, true), shortestFloat32(1.7014117331926443e38));
    assert.equal(readNumeric(bytesOf('7fe01a0000000000'), 0, 'double', false, true), '.z');
    assert.equal(readNumeric(bytesOf('000000000000e07f'), 0, 'double', true, true), '.');
    assert.equal(readNumeric(bytesOf('7fdfffffffffffff'), 0, 'double', false, true), 2 ** 1023 * (2 - 2 ** -52) / 2);
  });

  test('old formats know only the system missing', () => {
    assert.equal(readNumeric(bytesOf('7f'), 0, 'byte', true, false), '.');
    assert.equal(readNumeric(bytesOf('66'), 0, 'byte', true, false), 102);
    assert.equal(readNumeric(bytesOf('7fe01a0000000000'), 0, 'double', false, false), '.');
  });

  test('floats show their shortest decimal', () => {
    assert.equal(shortestFloat32(Math.fround(0.1)), 0.1);
    assert.equal(shortestFloat32(Math.fround(2710.349)), 2710.349);
    assert.equal(shortestFloat32(Math.fround(1e10)), 1e10);
  });

  test('float exponent from bits matches log10', () => {
    const float = new Float32Array(1);
    const bits = new Uint32Array(float.buffer);
    const mismatches: string[] = [];
    const check = (pattern: number): void => {
      bits[0] = pattern;
      const value = float[0] as number;
      if (value === 0 || !Number.isFinite(value)) return;
      const expected = Math.floor(Math.log10(Math.abs(value)));
      if (float32DecimalExponent(value, pattern >>> 0) !== expected) mismatches.push(`${pattern.toString(16)}: ${value}`);
      if (shortestFloat32FromBits(value, pattern >>> 0) !== shortestFloat32(value)) mismatches.push(`shortest ${pattern.toString(16)}: ${value}`);
    };
    // The 64 floats on either side of every power of ten that floats reach, of both signs.
    for (let power = -46; power <= 39; power += 1) {
      float[0] = Number(`1e${power}`);
      const center = bits[0] as number;
      for (let step = -64; step <= 64; step += 1) {
        check(center + step);
        check((center + step) | 0x80000000);
      }
    }
    // Subnormal floats, which take the Math.log10 path, at every 97th pattern.
    for (let pattern = 1; pattern < 0x800000; pattern += 97) check(pattern);
    assert.deepEqual(mismatches, []);
  });
});

describe('encodings', () => {
  // GB2312 codes of 中文 (D6D0 CEC4) and 数据 (CAFD BEDD), as GBK and GB18030 store them.
  const GBK: Record<string, Buffer> = {
    中文: Buffer.from('d6d0cec4', 'hex'),
    数据: Buffer.from('cafdbedd', 'hex'),
  };
  const chinese: LegacySpec = {
    ...small,
    datasetLabel: '数据',
    variables: [
      { name: 'n', type: 'long', format: '%12.0g', label: '中文' },
      { name: 's', type: { str: 8 }, format: '%8s' },
    ],
    rows: [[1, '中文'], [2, '数据']],
    encode: (text) => GBK[text] ?? Buffer.from(text, 'latin1'),
  };

  test('detection picks GB18030 for GBK pairs', () => {
    assert.equal(detectEncoding(115, Buffer.concat([GBK['中文'] as Buffer, GBK['数据'] as Buffer])), 'gb18030');
    assert.equal(detectEncoding(115, Buffer.from('Année été', 'latin1')), 'windows-1252');
    assert.equal(detectEncoding(117, Buffer.from('Ürün', 'utf8')), 'utf-8');
    assert.equal(detectEncoding(118, Buffer.from('日本', 'utf8')), 'utf-8');
    assert.equal(detectEncoding(118, Buffer.from('Année', 'latin1')), 'windows-1252');
  });

  test('old Chinese file decodes as GB18030', async () => {
    const result = await previewDta(new MemoryByteSource(writeLegacyDta(chinese)), 'ds_gbk', OPTIONS);
    assert.equal(result.encoding, 'gb18030');
    assert.equal(result.datasetLabel, '数据');
    assert.equal(result.columns[0]?.label, '中文');
    assert.deepEqual(
      result.rows.map((row) => row[1]),
      ['中文', '数据'],
    );
  });

  test('encoding option overrides detection', async () => {
    const latin = await previewDta(new MemoryByteSource(writeLegacyDta(chinese)), 'ds_gbk', { ...OPTIONS, encoding: 'windows-1252' });
    assert.equal(latin.encoding, 'windows-1252');
    assert.equal(latin.rows[0]?.[1], 'ÖÐÎÄ');
    const gbk = await previewDta(new MemoryByteSource(writeLegacyDta(chinese)), 'ds_gbk', { ...OPTIONS, encoding: 'GBK' });
    assert.equal(gbk.encoding, 'gb18030');
    await assert.rejects(previewDta(new MemoryByteSource(writeLegacyDta(chinese)), 'ds_gbk', { ...OPTIONS, encoding: 'ebcdic' }), { code: 'INPUT_INVALID' });
  });
});

describe('damaged and unsupported files', () => {
  for (const version of [120, 121]) {
    test(`format ${version} is named as unsupported`, async () => {
      const bytes = writeTaggedDta({ version, littleEndian: true, variables: [{ name: 'x', type: 'byte', format: '%8.0g' }], rows: [[1]] });
      const error = await parseFailure(bytes);
      assert.equal(error.code, 'INPUT_PARSE_FAILED');
      assert.match(error.message, new RegExp(`format ${version} .*not supported yet`));
    });
  }

  test('truncated data is reported', async () => {
    const bytes = writeLegacyDta(small);
    const error = await parseFailure(bytes.subarray(0, bytes.length - 3));
    assert.equal(error.code, 'INPUT_PARSE_FAILED');
    assert.match(error.message, /truncated/);
  });

  test('truncated tagged file is reported', async () => {
    const bytes = writeTaggedDta({ version: 118, littleEndian: true, variables: [{ name: 'x', type: 'double', format: '%9.0g' }], rows: [[1], [2]] });
    for (const cut of [10, 200, bytes.length - 20]) {
      const error = await parseFailure(bytes.subarray(0, cut));
      assert.equal(error.code, 'INPUT_PARSE_FAILED', `cut at ${cut}`);
    }
  });

  test('other formats are not read as Stata', async () => {
    for (const text of ['a,b\n1,2\n', 'PK\u0003\u0004 workbook', '\u00d0\u00cf\u0011\u00e0 xls']) {
      const error = await parseFailure(Buffer.from(text, 'latin1'));
      assert.equal(error.code, 'INPUT_PARSE_FAILED');
      assert.match(error.message, /not a \.dta file|fewer than any Stata header/);
    }
  });

  test('huge declared row count fails fast', async () => {
    const bytes = Buffer.from(writeLegacyDta(small));
    // N sits at bytes 6-9 of the header; claim 4,294,967,295 observations.
    bytes.writeUInt32LE(0xffffffff, 6);
    const error = await parseFailure(bytes);
    assert.match(error.message, /4294967295 observations/);
  });

  test('unknown type code is reported', async () => {
    const bytes = Buffer.from(writeLegacyDta(small));
    // The type list starts after the 109-byte header of format 115; 248 lies between str244 and byte (251).
    bytes[109] = 0xf8;
    const error = await parseFailure(bytes);
    assert.match(error.message, /type code 248/);
  });

  test('empty file is INPUT_EMPTY_FILE', async () => {
    const filePath = path.join(FIXTURES, 'dta115_notes.dta');
    await assert.rejects(
      new DtaReader().preview(fileDatasetSource(filePath, { datasetKey: 'ds_empty', sha256: '', sizeBytes: 0, extension: '.dta' }), OPTIONS),
      { code: 'INPUT_EMPTY_FILE' },
    );
  });
});

/** A byte source that counts what it is asked to read. */
class CountingSource implements ByteSource {
  bytesRead = 0;

  constructor(private readonly inner: ByteSource) {}

  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }

  read(offset: number, length: number): Promise<Buffer> {
    this.bytesRead += length;
    return this.inner.read(offset, length);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('bounded reading', () => {
  test('preview reads only requested rows', async () => {
    const rows = 200_000;
    const bytes = writeLegacyDta({ ...small, rows: Array.from({ length: rows }, (_, index) => [index, `r${index}`]) });
    const source = new CountingSource(new MemoryByteSource(bytes));
    const result = await previewDta(source, 'ds_big', { ...OPTIONS, rows: 20 });

    assert.equal(result.rowCount, rows);
    assert.equal(result.rowCountExact, true);
    assert.equal(result.rows.length, 20);
    assert.deepEqual(result.rows[19], [19, 'r19']);
    assert.ok(source.bytesRead < 4096, `read ${source.bytesRead} of ${bytes.length} bytes`);
  });

  test('column limit keeps full width', async () => {
    const filePath = path.join(FIXTURES, 'dta118_castle.dta');
    const result = await previewDta(new MemoryByteSource(fs.readFileSync(filePath)), 'ds_castle', { ...OPTIONS, rows: 3, columns: 2 });
    assert.equal(result.columnCount, 185);
    assert.deepEqual(
      result.columns.map((column) => column.name),
      ['state', 'year'],
    );
    assert.deepEqual(result.rows, [
      ['Alabama', 2000],
      ['Alabama', 2001],
      ['Alabama', 2002],
    ]);
  });

  test('column limit gives warning', async () => {
    const filePath = path.join(FIXTURES, 'dta118_castle.dta');
    const variables = readstatSummary(filePath).columns;
    const result = await previewDta(new MemoryByteSource(fs.readFileSync(filePath)), 'ds_castle', { ...OPTIONS, rows: 3, columns: 50 });

    assert.equal(result.columns.length, 50);
    assert.deepEqual(result.warnings, [{ code: 'COLUMNS_TRUNCATED', message: `The table has ${variables} columns; the preview shows the first 50.` }]);
  });

  test('full width gives no warning', async () => {
    const filePath = path.join(FIXTURES, 'dta118_castle.dta');
    const result = await previewDta(new MemoryByteSource(fs.readFileSync(filePath)), 'ds_castle', { ...OPTIONS, rows: 3, columns: 200 });

    assert.deepEqual(result.warnings, []);
  });

  test('ignored read options are reported', async () => {
    const result = await previewDta(new MemoryByteSource(writeLegacyDta(small)), 'ds_small', { ...OPTIONS, headerRow: 2, delimiter: ';' });
    assert.deepEqual(
      result.warnings.map((warning) => warning.code),
      ['READ_OPTION_IGNORED'],
    );
    assert.equal(result.headerRow, null);
  });
});

describe('row iterator', () => {
  test('iterator yields every row in batches', async () => {
    const filePath = path.join(FIXTURES, 'dta118_castle.dta');
    const bytes = fs.readFileSync(filePath);
    const { info, batches } = await openDtaRows(new MemoryByteSource(bytes), { batchRows: 100 });
    const rows: Cell[][] = [];
    let batchCount = 0;
    for await (const batch of batches) {
      rows.push(...batch);
      batchCount += 1;
    }
    const preview = await previewDta(new MemoryByteSource(bytes), 'ds_castle', { ...OPTIONS, columns: 200 });

    assert.equal(info.columnCount, 185);
    assert.equal(rows.length, 550);
    assert.equal(batchCount, 6);
    assert.deepEqual(rows.slice(0, 20), preview.rows);
    assert.equal(rows[549]?.[0], 'Wyoming');
  });

  test('iterator resolves strLs', async () => {
    const bytes = fs.readFileSync(path.join(FIXTURES, 'dta118_alltypes.dta'));
    const { info, batches } = await openDtaRows(new MemoryByteSource(bytes));
    const strl = info.columns.findIndex((column) => column.name === 'vstrL');
    const rows: Cell[][] = [];
    for await (const batch of batches) rows.push(...batch);
    assert.equal(rows[0]?.[strl], 'This is a long string! '.repeat(5).trimEnd());
  });
});
