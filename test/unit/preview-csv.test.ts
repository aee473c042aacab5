import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { parse } from 'csv-parse/sync';

import { InletError } from '../../src/server/errors';
import { countRecords, countRecordsInText } from '../../src/server/preview/count';
import { CsvReader } from '../../src/server/preview/csv';
import { inferColumnType } from '../../src/server/preview/columns';
import { detectEncoding, normalizeEncodingOverride, type CsvEncoding } from '../../src/server/preview/encoding';
import { fileDatasetSource, withFileBytes } from '../../src/server/preview/file-source';
import type { DatasetSource, ReaderOptions } from '../../src/server/preview/types';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/real');
const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'inlet-csv-'));
const reader = new CsvReader();
after(() => {
  reader.close();
  fs.rmSync(tempDir, { recursive: true, force: true });
});

const OPTIONS: ReaderOptions = { rows: 20, columns: 50, waitForCount: true };

function writeTemp(name: string, content: string | Buffer): DatasetSource {
  const filePath = path.join(tempDir, name);
  fs.writeFileSync(filePath, content);
  return fileDatasetSource(filePath, { datasetKey: `ds_${name}`, sha256: `${name}-${fs.statSync(filePath).size}`, sizeBytes: fs.statSync(filePath).size, extension: path.extname(name) });
}

/** Record count by csv-parse with the options the sample parser uses; blank lines are skipped. */
function csvParseCount(text: string, delimiter: string): number {
  return (parse(text, { delimiter, record_delimiter: ['\r\n', '\n', '\r'], relax_column_count: true, relax_quotes: true, skip_empty_lines: true }) as unknown[]).length;
}

function isInletError(code: string) {
  return (error: unknown): boolean => error instanceof InletError && error.code === code;
}

describe('record counter', () => {
  const FIXTURE_FORMATS: [string, CsvEncoding, string][] = [
    ['1680-fread-header-encoding.csv', 'windows-1252', ';'],
    ['IngestCSV.csv', 'utf-8', ','],
    ['diamonds.csv', 'utf-8', ','],
    ['doublequote_newline.csv', 'utf-8', ','],
    ['empty_newline_only.csv', 'utf-8', ','],
    ['mac_newlines.csv', 'utf-8', ','],
    ['nbs_province_annual_2_gbk.csv', 'gb18030', ','],
    ['penguins_raw.csv', 'utf-8', ','],
    ['sample_utf8bom.csv', 'utf-8', ','],
    ['scotland_population.csv', 'utf-8', ','],
    ['table-with-accents.csv', 'windows-1252', ';'],
    ['table.tsv', 'utf-8', '\t'],
    ['test_utf16_little.csv', 'utf-16le', ','],
  ];

  for (const [file, encoding, delimiter] of FIXTURE_FORMATS) {
    test(`${file} count equals csv-parse`, async () => {
      const bytes = fs.readFileSync(path.join(FIXTURES, file));
      const text = new TextDecoder(encoding).decode(bytes);
      assert.equal(await withFileBytes(path.join(FIXTURES, file), (source) => countRecords(source, encoding, delimiter)), csvParseCount(text, delimiter));
    });
  }

  const TRICKY: [string, string][] = [
    ['crlf with quoted newline', 'a,b\r\n1,"x\r\ny"\r\n2,z\r\n'],
    ['cr only', 'a,b\r1,2\r\r3,4'],
    ['mixed line ends', 'a,b\n1,2\r\n3,4\r5,6\n'],
    ['doubled quotes', 'a,b\n1,"say ""hi""\nthere"\n2,3\n'],
    ['quote inside unquoted field', 'a,b\n1,x"y\n2,"z"\n'],
    ['blank lines everywhere', '\n\na,b\n\n\n1,2\n\n'],
    ['no trailing newline', 'a,b\n1,2'],
    ['empty quoted field row', 'a\n""\nb\n'],
    ['quoted field at chunk edges', '"a\n","b"\n"c""",d\n'],
  ];
  for (const [name, text] of TRICKY) {
    test(`${name} counts like csv-parse in any chunking`, () => {
      const expected = csvParseCount(text, ',');
      assert.equal(countRecordsInText(text, ','), expected, 'one chunk');
      for (let cut = 1; cut < text.length; cut += 1) {
        assert.equal(countRecordsInText([text.slice(0, cut), text.slice(cut)], ','), expected, `cut at ${cut}`);
      }
    });
  }

  test('unclosed quote is INPUT_PARSE_FAILED', () => {
    assert.throws(() => countRecordsInText('a,b\n1,"open\n2,3\n', ','), isInletError('INPUT_PARSE_FAILED'));
  });

  test('utf-16be file counts code units', async () => {
    const text = 'a,b\n1,"x\ny"\n2,3\n';
    const bytes = Buffer.from(text, 'utf16le').swap16();
    writeTemp('be.csv', Buffer.concat([Buffer.from([0xfe, 0xff]), bytes]));
    assert.equal(await withFileBytes(path.join(tempDir, 'be.csv'), (source) => countRecords(source, 'utf-16be', ',')), 3);
  });
});

describe('encoding detection', () => {
  for (const file of ['table-with-accents.csv', '1680-fread-header-encoding.csv']) {
    test(`${file} is windows-1252 not GBK`, () => {
      // SOURCES.md: ISO-8859-1 whose bytes also decode as GBK.
      assert.equal(detectEncoding(fs.readFileSync(path.join(FIXTURES, file))).encoding, 'windows-1252');
    });
  }

  test('GB18030 four-byte character decodes', async () => {
    // 0x95 0x32 0x82 0x36 is U+20000 in GB18030; "中国" is D6 D0 B9 FA.
    const bytes = Buffer.concat([Buffer.from('name,city\n'), Buffer.from([0xd6, 0xd0, 0xb9, 0xfa, 0x2c, 0x95, 0x32, 0x82, 0x36, 0x0a])]);
    const preview = await reader.preview(writeTemp('gb.csv', bytes), OPTIONS);
    assert.equal(preview.encoding, 'gb18030');
    assert.deepEqual(preview.rows[0], ['中国', '\u{20000}']);
  });

  test('override aliases map to stable labels', () => {
    assert.equal(normalizeEncodingOverride('Latin-1'), 'windows-1252');
    assert.equal(normalizeEncodingOverride('GBK'), 'gb18030');
    assert.equal(normalizeEncodingOverride('UTF-8'), 'utf-8');
  });

  test('unknown override names allowed list', () => {
    assert.throws(
      () => normalizeEncodingOverride('ebcdic'),
      (error: unknown) => {
        assert.ok(error instanceof InletError);
        assert.equal(error.code, 'INPUT_INVALID');
        assert.equal(error.details.value, 'ebcdic');
        assert.deepEqual(error.details.allowed, ['utf-8', 'utf-16le', 'utf-16be', 'gb18030', 'windows-1252']);
        return true;
      },
    );
  });

  test('encoding override is honoured', async () => {
    const source = writeTemp('latin.csv', Buffer.from('name\nAnn\xe9e\n', 'latin1'));
    const preview = await reader.preview(source, { ...OPTIONS, encoding: 'utf-8' });
    assert.equal(preview.encoding, 'utf-8');
    assert.equal(preview.rows[0]?.[0], 'Ann\ufffde');
  });

  test('UTF-16 override of 8-bit text warns', async () => {
    const source = writeTemp('plain-for-utf16.csv', 'name,age\nAnn,31\nBo,42\n');
    const preview = await reader.preview(source, { ...OPTIONS, encoding: 'utf-16le' });
    const warning = preview.warnings.find((entry) => entry.code === 'ENCODING_OVERRIDE_DOUBTFUL');
    assert.ok(warning, 'an ENCODING_OVERRIDE_DOUBTFUL warning');
    assert.match(warning.message, /no NUL byte/);
    assert.match(warning.message, /read as utf-8/);
  });

  test('UTF-8 override of GB18030 text warns', async () => {
    const source = writeTemp('gb-for-utf8.csv', fs.readFileSync(path.join(FIXTURES, 'nbs_province_annual_2_gbk.csv')));
    const preview = await reader.preview(source, { ...OPTIONS, encoding: 'utf-8' });
    const warning = preview.warnings.find((entry) => entry.code === 'ENCODING_OVERRIDE_DOUBTFUL');
    assert.ok(warning, 'an ENCODING_OVERRIDE_DOUBTFUL warning');
    assert.match(warning.message, /read as gb18030/);
  });

  test('fitting encoding override does not warn', async () => {
    const source = writeTemp('gb-override.csv', fs.readFileSync(path.join(FIXTURES, 'nbs_province_annual_2_gbk.csv')));
    const gb = await reader.preview(source, { ...OPTIONS, encoding: 'gb18030' });
    assert.deepEqual(gb.warnings.filter((entry) => entry.code === 'ENCODING_OVERRIDE_DOUBTFUL'), []);
    const latin = writeTemp('latin-override.csv', Buffer.from('name\nAnn\xe9e\n', 'latin1'));
    const windows = await reader.preview(latin, { ...OPTIONS, encoding: 'windows-1252' });
    assert.deepEqual(windows.warnings.filter((entry) => entry.code === 'ENCODING_OVERRIDE_DOUBTFUL'), []);
  });
});

describe('date-time inference', () => {
  // pandas.Timestamp (1.5.3) rejects each of the invalid values and accepts each of the valid ones.
  const CASES: [string, 'datetime' | 'string'][] = [
    ['2013-04-08 13:14:23', 'datetime'],
    ['2013-04-08T23:59:59', 'datetime'],
    ['2013-04-08 00:00', 'datetime'],
    ['2013-04-08 13:14:72', 'string'],
    ['2013-04-08 25:00', 'string'],
    ['2013-04-08 23:60', 'string'],
    ['2013-02-30 10:00:00', 'string'],
  ];
  for (const [value, type] of CASES) {
    test(`${value} is ${type}`, () => {
      assert.equal(inferColumnType([value]), type);
    });
  }

  test('IngestCSV invalid second is string', async () => {
    // The column's last value is 2013-04-08 13:14:72; pandas leaves the column as object.
    const source = fileDatasetSource(path.join(FIXTURES, 'IngestCSV.csv'), { datasetKey: 'ds_ingest', sha256: 'IngestCSV.csv', sizeBytes: fs.statSync(path.join(FIXTURES, 'IngestCSV.csv')).size, extension: '.csv' });
    const preview = await reader.preview(source, { ...OPTIONS, rows: 200 });
    const types = Object.fromEntries(preview.columns.map((column) => [column.name, column.type]));

    assert.equal(types['Not quite Times'], 'string');
    assert.equal(types.Times, 'datetime');
  });
});

function fixtureSource(file: string): DatasetSource {
  const filePath = path.join(FIXTURES, file);
  return fileDatasetSource(filePath, { datasetKey: `ds_${file}`, sha256: file, sizeBytes: fs.statSync(filePath).size, extension: path.extname(file) });
}

describe('types and footnotes', () => {
  test('diamonds types ignore the rows option', async () => {
    // diamonds.csv: the first fractional value of `table` is on data row 67 (pandas reads float64).
    const types = [];
    for (const rows of [1, 20, 200]) {
      const preview = await reader.preview(fixtureSource('diamonds.csv'), { ...OPTIONS, rows });
      types.push(preview.columns.find((column) => column.name === 'table')?.type);
    }
    assert.deepEqual(types, ['number', 'number', 'number']);
  });

  test('diamonds warns types come from sample', async () => {
    const preview = await reader.preview(fixtureSource('diamonds.csv'), OPTIONS);
    const warning = preview.warnings.find((candidate) => candidate.code === 'TYPES_FROM_SAMPLE');
    assert.match(warning?.message ?? '', /first 200 of the 53940 rows/u);
  });

  test('penguins sample warning names counts', async () => {
    const preview = await reader.preview(fixtureSource('penguins_raw.csv'), OPTIONS);
    assert.equal(preview.rowCount, 344);
    assert.equal(preview.warnings.find((warning) => warning.code === 'TYPES_FROM_SAMPLE')?.message, 'Column types come from the first 200 of the 344 rows; a value further down may not fit its column\'s type.');
  });

  test('small file has no sample warning', async () => {
    const preview = await reader.preview(fixtureSource('table.tsv'), OPTIONS);
    assert.deepEqual(preview.warnings, []);
  });

  // Table rows and footnote lines from fixtures/real/SOURCES.md.
  const FOOTNOTE_CASES: [string, number, number][] = [
    ['scotland_population.csv', 34, 6],
    ['nbs_province_annual_2_gbk.csv', 31, 2],
  ];
  for (const [file, tableRows, footnoteRows] of FOOTNOTE_CASES) {
    test(`${file} footnotes leave the count`, async () => {
      const preview = await reader.preview(fixtureSource(file), { ...OPTIONS, rows: 200 });
      const warning = preview.warnings.find((candidate) => candidate.code === 'FOOTNOTES_BELOW_TABLE');

      assert.equal(preview.rowCount, tableRows);
      assert.equal(preview.rowCountExact, true);
      assert.equal(preview.rows.length, tableRows);
      assert.match(warning?.message ?? '', new RegExp(`^${footnoteRows} rows below the table`, 'u'));
    });
  }

  test('explicit header keeps footnotes as rows', async () => {
    const preview = await reader.preview(fixtureSource('scotland_population.csv'), { ...OPTIONS, headerRow: 14 });
    assert.equal(preview.rowCount, 34 + 6);
    assert.equal(preview.warnings.some((warning) => warning.code === 'FOOTNOTES_BELOW_TABLE'), false);
  });
});

describe('CSV reader', () => {
  test('header-only file has columns and no rows', async () => {
    const preview = await reader.preview(writeTemp('header.csv', 'a,b,c\n'), OPTIONS);
    assert.deepEqual(preview.columns.map((column) => column.name), ['a', 'b', 'c']);
    assert.equal(preview.rowCount, 0);
    assert.equal(preview.rowCountExact, true);
  });

  test('blank-lines-only file is INPUT_EMPTY_FILE', async () => {
    await assert.rejects(reader.preview(writeTemp('blank.csv', '\n\r\n\n'), OPTIONS), isInletError('INPUT_EMPTY_FILE'));
  });

  test('space-only lines are INPUT_EMPTY_FILE', async () => {
    await assert.rejects(reader.preview(writeTemp('spaces.csv', '\n\n\r\n  \n'), OPTIONS), isInletError('INPUT_EMPTY_FILE'));
  });

  test('zero-byte file is INPUT_EMPTY_FILE', async () => {
    await assert.rejects(reader.preview(writeTemp('zero.csv', ''), OPTIONS), isInletError('INPUT_EMPTY_FILE'));
  });

  test('header names are normalised', async () => {
    const preview = await reader.preview(writeTemp('names.csv', ' a  b ,,a  b,x\n1,2,3,4\n'), OPTIONS);
    assert.deepEqual(preview.columns.map((column) => column.name), ['a b', 'col_2', 'a b_2', 'x']);
  });

  test('ragged rows align with columns', async () => {
    const preview = await reader.preview(writeTemp('ragged.csv', 'a,b\n1\n2,3,4\n'), OPTIONS);
    assert.equal(preview.columnCount, 3);
    assert.deepEqual(preview.rows, [
      ['1', null, null],
      ['2', '3', '4'],
    ]);
  });

  test('user header row is honoured', async () => {
    const source = fileDatasetSource(path.join(FIXTURES, 'scotland_population.csv'), {
      datasetKey: 'ds_scotland',
      sha256: 'scotland',
      sizeBytes: fs.statSync(path.join(FIXTURES, 'scotland_population.csv')).size,
      extension: '.csv',
    });
    const preview = await reader.preview(source, { ...OPTIONS, headerRow: 1 });
    assert.equal(preview.headerRow, 1);
    assert.equal(preview.suggestedHeaderRow, 14);
    assert.deepEqual(preview.columns.slice(0, 2).map((column) => column.name), ['Dataset Name:', 'RT331601']);
  });

  test('header row null reads every record as data', async () => {
    const preview = await reader.preview(writeTemp('nohead.csv', 'a,b\n1,2\n'), { ...OPTIONS, headerRow: null });
    assert.equal(preview.rowCount, 2);
    assert.deepEqual(preview.columns.map((column) => column.name), ['col_1', 'col_2']);
  });

  test('header row past the end is INPUT_INVALID', async () => {
    await assert.rejects(reader.preview(writeTemp('short.csv', 'a,b\n1,2\n'), { ...OPTIONS, headerRow: 9 }), isInletError('INPUT_INVALID'));
  });

  test('delimiter override is honoured', async () => {
    const preview = await reader.preview(writeTemp('semi.csv', 'a;b,c\n1;2,3\n'), { ...OPTIONS, delimiter: ',' });
    assert.equal(preview.delimiter, ',');
    assert.deepEqual(preview.columns.map((column) => column.name), ['a;b', 'c']);
  });

  test('pipe delimiter is sniffed', async () => {
    const preview = await reader.preview(writeTemp('pipe.txt', 'a|b|c\n1|2|3\n4|5|6\n'), OPTIONS);
    assert.equal(preview.delimiter, '|');
  });

  test('unsupported delimiter is INPUT_INVALID', async () => {
    await assert.rejects(reader.preview(writeTemp('d.csv', 'a\n'), { ...OPTIONS, delimiter: '::' }), isInletError('INPUT_INVALID'));
  });

  test('limits cut rows and columns', async () => {
    const lines = ['a,b,c,d', ...Array.from({ length: 30 }, (_, i) => `${i},x,y,z`)].join('\n');
    const preview = await reader.preview(writeTemp('limits.csv', lines), { ...OPTIONS, rows: 5, columns: 2 });
    assert.equal(preview.rows.length, 5);
    assert.equal(preview.columns.length, 2);
    assert.equal(preview.columnCount, 4);
    assert.ok(preview.rows.every((row) => row.length === 2));
  });

  test('rows limit out of range is INPUT_INVALID', async () => {
    await assert.rejects(reader.preview(writeTemp('r.csv', 'a\n1\n'), { ...OPTIONS, rows: 201 }), isInletError('INPUT_INVALID'));
  });

  test('column types are inferred', async () => {
    const preview = await reader.preview(writeTemp('types.csv', 'i,n,b,d,t,s\n1,1.5,true,2020-01-02,2020-01-02 10:00,x\n-2,3,false,2021-12-31,2021-12-31T23:59:59,y\n'), OPTIONS);
    assert.deepEqual(
      preview.columns.map((column) => column.type),
      ['integer', 'number', 'boolean', 'date', 'datetime', 'string'],
    );
  });

  test('count is estimated then exact', async () => {
    const lines = ['id,value', ...Array.from({ length: 60_000 }, (_, i) => `${i},"v ${i}"`)].join('\n');
    const source = writeTemp('big.csv', lines);
    const quick = await reader.preview(source, { ...OPTIONS, waitForCount: false });
    assert.equal(quick.rowCountExact, false);
    assert.ok(quick.rowCount > 0);
    const exact = await reader.preview(source, OPTIONS);
    assert.equal(exact.rowCountExact, true);
    assert.equal(exact.rowCount, 60_000);
  });

  test('binary bytes are INPUT_PARSE_FAILED', async () => {
    await assert.rejects(reader.preview(writeTemp('bin.csv', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x01, 0x0a])), OPTIONS), isInletError('INPUT_PARSE_FAILED'));
  });
});
