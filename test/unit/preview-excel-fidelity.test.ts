import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { InletError } from '../../src/server/errors';
import { ExcelReader } from '../../src/server/preview/excel';
import { fileDatasetSource } from '../../src/server/preview/file-source';
import type { Cell, DatasetSource } from '../../src/server/preview/types';
import { readReference } from '../reference/reference';

const ROOT = path.join(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'fixtures/real');
const SAMPLE_ROWS = 20;

interface ExcelFact {
  file: string;
  sheet?: string;
  /** Header row as the spreadsheet numbers rows, from SOURCES.md and the sheet itself; null when the table has none. */
  headerRow: number | null;
  /** Names the reference reader cannot produce, stated here with the reason. */
  names?: string[];
  /** Cells where the reference reader is wrong: [data row index, column index, correct value]. */
  corrections?: [number, number, Cell][];
  /** Note rows below the table, which the reference reader counts as data rows. */
  footnoteRows?: number;
}

const EXCEL_FACTS: ExcelFact[] = [
  // Rows 1-3 hold numbers only and row 5 a note, so there is no header.
  { file: 'any_sheets.xlsx', headerRow: null },
  { file: 'calamine_issue_174.xlsx', headerRow: 1 },
  { file: 'datasets.xlsx', headerRow: 1 },
  { file: 'datasets.xlsx', sheet: 'quakes', headerRow: 1 },
  { file: 'date_1904.xlsx', headerRow: null },
  // Header on row 5, data on rows 6-15, free-text notes on rows 1-4 (one merged range) and 16-19.
  { file: 'deaths.xlsx', headerRow: 5, footnoteRows: 4 },
  { file: 'deaths.xlsx', sheet: 'other', headerRow: 5, footnoteRows: 4 },
  // The table sits at B3:D6; column A and rows 1-2 are not part of it.
  { file: 'geometry.xlsx', headerRow: 3 },
  {
    file: 'multiline-headers.xlsx',
    // The header spans rows 1-5 through the merged ranges A1:A5, B1:B4, C1:D3, C4:C5 and D4:D5.
    // openpyxl returns each merged value once, in its top-left cell, so the names are stated here:
    // each column joins the texts that cover it, top to bottom.
    headerRow: 5,
    names: [
      'Region',
      'Caloric contribution (%)',
      'Cumulative impact of changes on cost of food basket from previous quarter',
      'Cumulative impact of changes on cost of food basket from baseline (%)',
    ],
  },
  { file: 'ne_1033_data.xlsx', headerRow: 1 },
  // No header row: column B contains dates and times under custom formats.
  { file: 'Formate.xls', headerRow: null },
  // A1 holds a number; the text merged over C3:E5 is no header, because no data lies below it.
  { file: 'Formate.xls', sheet: 'ÖÄÜ', headerRow: null },
  // Two title rows above the header.
  { file: 'biff5-label-records.xls', headerRow: 3 },
  { file: 'datasets.xls', headerRow: 1 },
  {
    file: 'date_1904.xls',
    headerRow: null,
    // A3 is 10.632 days under the elapsed-time format [hh]:mm:ss, shown by Excel as 255:10:10. xlrd
    // does not support elapsed formats and returns the date 1904-01-11 15:10:10.
    corrections: [[2, 0, '255:10:10']],
  },
  { file: 'empty-sheets.xls', sheet: 'header_only', headerRow: 1 },
];

function sourceFor(file: string): DatasetSource {
  const filePath = path.join(FIXTURES, file);
  return fileDatasetSource(filePath, { datasetKey: `ds_${file}`, sha256: file, sizeBytes: fs.statSync(filePath).size, extension: path.extname(file).toLowerCase() });
}

const reader = new ExcelReader({ projectRoot: ROOT });

describe('Excel preview matches reference readers', () => {
  test('fixture list covers every workbook', () => {
    const onDisk = fs.readdirSync(FIXTURES).filter((file) => /\.xlsx?$/iu.test(file));
    assert.deepEqual([...new Set(EXCEL_FACTS.map((fact) => fact.file))].sort(), onDisk.sort());
  });

  for (const fact of EXCEL_FACTS) {
    test(`${fact.file}${fact.sheet ? ` sheet ${fact.sheet}` : ''} matches the reference`, async () => {
      const kind = fact.file.endsWith('.xls') ? 'xls' : 'xlsx';
      const reference = readReference({ path: path.join(FIXTURES, fact.file), kind, headerRow: fact.headerRow, sheet: fact.sheet ?? null, rows: SAMPLE_ROWS });
      const preview = await reader.preview(sourceFor(fact.file), { rows: SAMPLE_ROWS, columns: 200, waitForCount: true, sheetName: fact.sheet });

      // The footnote rows are the last rows of the table, so the reference returns them last.
      const expectedRows = reference.rows.slice(0, reference.rowCount - (fact.footnoteRows ?? 0)).map((row) => [...row]);
      for (const [rowIndex, columnIndex, value] of fact.corrections ?? []) {
        const row = expectedRows[rowIndex];
        assert.ok(row, `correction row ${rowIndex} exists`);
        row[columnIndex] = value;
      }

      assert.deepEqual(preview.sheets, reference.sheets, 'sheets and their states');
      assert.deepEqual(
        preview.sheetNames,
        reference.sheets?.filter((sheet) => sheet.state === 'visible').map((sheet) => sheet.name),
        'visible sheet names',
      );
      assert.equal(preview.selectedSheet, reference.selectedSheet, 'selected sheet');
      assert.equal(preview.suggestedHeaderRow, fact.headerRow, 'suggested header row');
      const footnoteRows = fact.footnoteRows ?? 0;
      assert.equal(preview.rowCount, reference.rowCount - footnoteRows, 'row count less the footnotes');
      const footnoteWarnings = preview.warnings.filter((warning) => warning.code === 'FOOTNOTES_BELOW_TABLE');
      assert.equal(footnoteWarnings.length, footnoteRows > 0 ? 1 : 0, 'footnote warning');
      if (footnoteRows > 0) assert.match(footnoteWarnings[0]?.message ?? '', new RegExp(`^${footnoteRows} rows below the table`, 'u'), 'footnote count in the warning');
      assert.equal(preview.rowCountExact, true, 'row count is exact');
      assert.equal(preview.columnCount, reference.columnCount, 'column count');
      assert.deepEqual(
        preview.columns.map((column) => column.name),
        fact.names ?? reference.names,
        'column names',
      );
      assert.deepEqual(preview.rows, expectedRows, 'first rows');
    });
  }

  test('any_sheets leaves out the chart sheet', async () => {
    const preview = await reader.preview(sourceFor('any_sheets.xlsx'), { rows: 5, columns: 5, waitForCount: true });
    assert.deepEqual(preview.sheets?.map((sheet) => sheet.name), ['Visible', 'Hidden', 'VeryHidden']);
  });

  test('hidden sheet can be chosen by name', async () => {
    const preview = await reader.preview(sourceFor('any_sheets.xlsx'), { rows: 5, columns: 5, waitForCount: true, sheetName: 'VeryHidden' });
    assert.equal(preview.selectedSheet, 'VeryHidden');
  });

  for (const file of ['datasets.xlsx', 'datasets.xls']) {
    test(`${file} unknown sheet names available sheets`, async () => {
      await assert.rejects(reader.preview(sourceFor(file), { rows: 5, columns: 5, waitForCount: true, sheetName: 'nope' }), (error: unknown) => {
        assert.ok(error instanceof InletError);
        assert.equal(error.code, 'INPUT_EXCEL_SHEET_NOT_FOUND');
        assert.equal(error.details.sheetName, 'nope');
        assert.deepEqual(error.details.available, ['mtcars', 'chickwts', 'quakes']);
        return true;
      });
    });
  }

  test('deaths.xlsx dates and types', async () => {
    const preview = await reader.preview(sourceFor('deaths.xlsx'), { rows: 3, columns: 10, waitForCount: true });
    assert.deepEqual(
      preview.columns.map((column) => column.type),
      ['string', 'string', 'integer', 'boolean', 'date', 'date'],
    );
    assert.deepEqual(preview.rows[0], ['David Bowie', 'musician', 69, true, '1947-01-08', '2016-01-10']);
  });

  test('date_1904.xlsx uses the 1904 date system', async () => {
    // SOURCES.md: workbookPr date1904; Excel shows A1 as 2021-01-01.
    const preview = await reader.preview(sourceFor('date_1904.xlsx'), { rows: 3, columns: 5, waitForCount: true });
    assert.equal(preview.rows[0]?.[0], '2021-01-01');
  });

  test('empty first sheet returns a warning', async () => {
    const preview = await reader.preview(sourceFor('empty-sheets.xls'), { rows: 3, columns: 5, waitForCount: true });
    assert.equal(preview.selectedSheet, 'empty');
    assert.equal(preview.rowCount, 0);
    assert.equal(preview.columnCount, 0);
    assert.ok(preview.warnings.some((warning) => warning.code === 'SHEET_EMPTY'));
  });

  test('explicit header row is honoured', async () => {
    const preview = await reader.preview(sourceFor('deaths.xlsx'), { rows: 2, columns: 10, waitForCount: true, headerRow: 3 });
    assert.equal(preview.headerRow, 3);
    assert.equal(preview.suggestedHeaderRow, 5);
    assert.equal(preview.columns[0]?.name, 'at');
  });
});
