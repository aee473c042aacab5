import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { InletError } from '../../src/server/errors';
import { ExcelReader } from '../../src/server/preview/excel';
import { fileDatasetSource } from '../../src/server/preview/file-source';
import { classifyDateFormat } from '../../src/server/preview/spreadsheet';
import type { DatasetSource, ReaderOptions } from '../../src/server/preview/types';
import { resolveWorkbookTarget } from '../../src/server/preview/xlsx';
import { PYTHON, readReference } from '../reference/reference';

const ROOT = path.join(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'fixtures/real');
const reader = new ExcelReader({ projectRoot: ROOT });
const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'inlet-excel-'));
after(() => fs.rmSync(tempDir, { recursive: true, force: true }));

function fixture(file: string): DatasetSource {
  const filePath = path.join(FIXTURES, file);
  return fileDatasetSource(filePath, { datasetKey: `ds_${file}`, sha256: file, sizeBytes: fs.statSync(filePath).size, extension: path.extname(file).toLowerCase() });
}

function source(filePath: string): DatasetSource {
  return fileDatasetSource(filePath, { datasetKey: `ds_${path.basename(filePath)}`, sha256: filePath, sizeBytes: fs.statSync(filePath).size, extension: path.extname(filePath).toLowerCase() });
}

/** Runs a Python script that writes a workbook to the path given as its first argument, and returns that path. */
function writeWithPython(name: string, script: string): string {
  const filePath = path.join(tempDir, name);
  const result = spawnSync(PYTHON, ['-c', script, filePath], { encoding: 'utf8' });
  assert.equal(result.status, 0, `${PYTHON} failed to write ${name}: ${result.stderr}`);
  return filePath;
}

function options(extra: Partial<ReaderOptions> = {}): ReaderOptions {
  return { rows: 200, columns: 200, waitForCount: true, ...extra };
}

describe('xlsx part order', () => {
  // geometry.xlsx stores its worksheets before sharedStrings.xml and styles.xml, and every sheet
  // contains shared-string cells: the header and data texts of Sheet1, "wtf" on the others.
  const ROUNDS = 50;

  for (const sheet of ['Sheet1', 'warning_B6', 'warning_AT6', 'warning_AKE6']) {
    test(`geometry ${sheet} same every round`, async () => {
      const reference = readReference({ path: path.join(FIXTURES, 'geometry.xlsx'), kind: 'xlsx', headerRow: 3, sheet, rows: 200 });
      const answers = new Map<string, number>();
      for (let round = 0; round < ROUNDS; round += 1) {
        const preview = await reader.preview(fixture('geometry.xlsx'), options({ sheetName: sheet }));
        const answer = JSON.stringify({ headerRow: preview.headerRow, names: preview.columns.map((column) => column.name), rows: preview.rows });
        answers.set(answer, (answers.get(answer) ?? 0) + 1);
      }

      const expected = JSON.stringify({ headerRow: 3, names: reference.names, rows: reference.rows });
      assert.deepEqual([...answers.keys()], [expected], `answers over ${ROUNDS} rounds`);
    });
  }
});

describe('number format General', () => {
  for (const format of ['General', 'GENERAL', 'general', 'General;-General']) {
    test(`${format} is not a date`, () => {
      assert.equal(classifyDateFormat(format), null);
    });
  }

  test('date format still a date', () => {
    assert.equal(classifyDateFormat('dd.mm.yyyy'), 'date');
  });

  test('Formate.xls Blätt3 keeps numbers', async () => {
    // xlrd reports the XF format of every cell on this sheet as GENERAL.
    const reference = readReference({ path: path.join(FIXTURES, 'Formate.xls'), kind: 'xls', headerRow: null, sheet: 'Blätt3', rows: 200 });
    const preview = await reader.preview(fixture('Formate.xls'), options({ sheetName: 'Blätt3' }));

    assert.deepEqual(preview.rows, reference.rows);
    assert.equal(preview.columns[0]?.type, 'integer');
  });
});

describe('header above no data', () => {
  test('Formate.xls ÖÄÜ keeps A1', async () => {
    // A1 holds the number -100 and C3 the text "MERGED CELLS", merged over C3:E5 (SOURCES.md).
    // Row 3 alone would make a header with no data under it, so the sheet has no header row.
    const reference = readReference({ path: path.join(FIXTURES, 'Formate.xls'), kind: 'xls', headerRow: null, sheet: 'ÖÄÜ', rows: 200 });
    const preview = await reader.preview(fixture('Formate.xls'), options({ sheetName: 'ÖÄÜ' }));

    assert.equal(preview.suggestedHeaderRow, null);
    assert.equal(preview.headerRow, null);
    assert.deepEqual(
      preview.columns.map((column) => [column.name, column.type]),
      [
        ['col_1', 'integer'],
        ['col_2', 'string'],
        ['col_3', 'string'],
      ],
    );
    assert.deepEqual(reference.names, ['col_1', 'col_2', 'col_3']);
    assert.equal(preview.columnCount, reference.columnCount);
    assert.equal(preview.rowCount, reference.rowCount);
    assert.deepEqual(preview.rows, reference.rows);
    assert.deepEqual(preview.warnings, []);
  });
});

describe('workbooks written by openpyxl', () => {
  test('absolute targets resolve', () => {
    assert.equal(resolveWorkbookTarget('/xl/worksheets/sheet1.xml'), 'xl/worksheets/sheet1.xml');
    assert.equal(resolveWorkbookTarget('worksheets/sheet1.xml'), 'xl/worksheets/sheet1.xml');
    assert.equal(resolveWorkbookTarget('../xl/worksheets/./sheet2.xml'), 'xl/worksheets/sheet2.xml');
  });

  test('pandas to_excel matches openpyxl', async () => {
    // openpyxl writes relationship targets as absolute part names and stores the worksheet before
    // xl/workbook.xml in the archive.
    const filePath = writeWithPython(
      'pandas.xlsx',
      [
        'import sys, pandas',
        'frame = pandas.DataFrame({"id": [1, 2, 3], "region": ["Zürich", "北京", "Åre"], "income": [1200.5, None, 980.25],',
        '    "visit": pandas.to_datetime(["2021-03-01 08:30", "2021-03-02", None])})',
        'frame.to_excel(sys.argv[1], sheet_name="data", index=False, engine="openpyxl")',
      ].join('\n'),
    );
    const reference = readReference({ path: filePath, kind: 'xlsx', headerRow: 1, rows: 200 });
    const preview = await reader.preview(source(filePath), options());

    assert.deepEqual(preview.sheets, reference.sheets);
    assert.equal(preview.headerRow, 1);
    assert.deepEqual(preview.columns.map((column) => column.name), reference.names);
    assert.equal(preview.rowCount, reference.rowCount);
    assert.equal(preview.columnCount, reference.columnCount);
    assert.deepEqual(preview.rows, reference.rows);
  });

  test('GENERAL format keeps numbers', async () => {
    const filePath = writeWithPython(
      'general.xlsx',
      [
        'import sys, openpyxl',
        'book = openpyxl.Workbook()',
        'sheet = book.active',
        'sheet.append(["name", "share", "count"])',
        'sheet.append(["a", 12.5, 100])',
        'sheet.append(["b", 0.25, 2000])',
        'for row in sheet.iter_rows(min_row=2):',
        '    for cell in row: cell.number_format = "GENERAL"',
        'book.save(sys.argv[1])',
      ].join('\n'),
    );
    const reference = readReference({ path: filePath, kind: 'xlsx', headerRow: 1, rows: 200 });
    const preview = await reader.preview(source(filePath), options());

    assert.deepEqual(preview.rows, reference.rows);
    assert.deepEqual(
      preview.columns.map((column) => column.type),
      ['string', 'number', 'integer'],
    );
  });
});

describe('damaged .xls', () => {
  test('truncated file names the damage', async () => {
    const bytes = fs.readFileSync(path.join(FIXTURES, 'datasets.xls'));
    const filePath = path.join(tempDir, 'truncated.xls');
    fs.writeFileSync(filePath, bytes.subarray(0, Math.floor(bytes.length / 2)));

    await assert.rejects(reader.preview(source(filePath), options()), (error: unknown) => {
      assert.ok(error instanceof InletError);
      assert.equal(error.code, 'INPUT_PARSE_FAILED');
      assert.match(error.message, /damaged or truncated/u);
      assert.doesNotMatch(error.message, /Cannot read properties|undefined/u);
      return true;
    });
  });
});

describe('spreadsheet footnotes', () => {
  for (const sheet of ['arts', 'other']) {
    test(`deaths ${sheet} notes are not rows`, async () => {
      // SOURCES.md: header on row 5, data on rows 6-15, free-text notes on rows 16-19.
      const preview = await reader.preview(fixture('deaths.xlsx'), options({ sheetName: sheet }));
      const warning = preview.warnings.find((candidate) => candidate.code === 'FOOTNOTES_BELOW_TABLE');

      assert.equal(preview.rowCount, 10);
      assert.equal(preview.rows.length, 10);
      assert.equal(warning?.message.startsWith('4 rows below the table (rows 16-19)'), true, warning?.message);
      assert.deepEqual(
        preview.columns.map((column) => column.type),
        ['string', 'string', 'integer', 'boolean', 'date', 'date'],
      );
    });
  }
});
