import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { InletError } from '../../src/server/errors';
import { CsvReader } from '../../src/server/preview/csv';
import { fileDatasetSource } from '../../src/server/preview/file-source';
import type { DatasetSource } from '../../src/server/preview/types';
import { readReference } from '../reference/reference';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/real');
const SAMPLE_ROWS = 20;

/**
 * Facts about each CSV/TSV fixture, from fixtures/real/SOURCES.md: the encoding, the delimiter, the
 * header row (a record number; blank lines are not records) and, where SOURCES.md gives a record
 * count, the data rows it implies. The reference reader decodes with the stated encoding, so a
 * wrong detection fails here rather than being copied into the expectation.
 */
const CSV_FACTS: { file: string; encoding: string; delimiter: string; headerRow: number; dataRows?: number; footnoteRows?: number }[] = [
  { file: '1680-fread-header-encoding.csv', encoding: 'windows-1252', delimiter: ';', headerRow: 1, dataRows: 4 },
  { file: 'IngestCSV.csv', encoding: 'utf-8', delimiter: ',', headerRow: 1, dataRows: 7 },
  { file: 'diamonds.csv', encoding: 'utf-8', delimiter: ',', headerRow: 1, dataRows: 53_940 },
  { file: 'doublequote_newline.csv', encoding: 'utf-8', delimiter: ',', headerRow: 1, dataRows: 36 },
  { file: 'mac_newlines.csv', encoding: 'utf-8', delimiter: ',', headerRow: 1, dataRows: 2 },
  // Header on line 4 below three preamble lines; the 31 province rows are followed by two
  // one-field footnote lines (注：… and 数据来源：…), which are not rows of the table.
  { file: 'nbs_province_annual_2_gbk.csv', encoding: 'gb18030', delimiter: ',', headerRow: 4, dataRows: 31, footnoteRows: 2 },
  { file: 'penguins_raw.csv', encoding: 'utf-8', delimiter: ',', headerRow: 1, dataRows: 344 },
  { file: 'sample_utf8bom.csv', encoding: 'utf-8', delimiter: ',', headerRow: 1, dataRows: 5 },
  // 11 key,value records (one value spans 5 lines), a separator and "Table", then the 14-column header.
  // Below the 34 council-area rows: a ==== separator, "Footnotes" and four one-field notes.
  { file: 'scotland_population.csv', encoding: 'utf-8', delimiter: ',', headerRow: 14, dataRows: 34, footnoteRows: 6 },
  { file: 'table-with-accents.csv', encoding: 'windows-1252', delimiter: ';', headerRow: 1, dataRows: 638 },
  { file: 'table.tsv', encoding: 'utf-8', delimiter: '\t', headerRow: 1, dataRows: 3 },
  { file: 'test_utf16_little.csv', encoding: 'utf-16le', delimiter: ',', headerRow: 1, dataRows: 2 },
];

function sourceFor(file: string): DatasetSource {
  const filePath = path.join(FIXTURES, file);
  return fileDatasetSource(filePath, { datasetKey: `ds_${file}`, sha256: file, sizeBytes: fs.statSync(filePath).size, extension: path.extname(file).toLowerCase() });
}

const reader = new CsvReader();
after(() => reader.close());

describe('CSV preview matches reference readers', () => {
  test('fixture list covers every CSV and TSV file', () => {
    const onDisk = fs.readdirSync(FIXTURES).filter((file) => /\.(csv|tsv)$/iu.test(file) && file !== 'empty_newline_only.csv');
    assert.deepEqual(CSV_FACTS.map((fact) => fact.file).sort(), onDisk.sort());
  });

  for (const fact of CSV_FACTS) {
    test(`${fact.file} matches the reference`, async () => {
      const reference = readReference({ path: path.join(FIXTURES, fact.file), kind: 'csv', encoding: fact.encoding, delimiter: fact.delimiter, headerRow: fact.headerRow, rows: SAMPLE_ROWS });
      const preview = await reader.preview(sourceFor(fact.file), { rows: SAMPLE_ROWS, columns: 200, waitForCount: true });

      assert.equal(preview.encoding, fact.encoding, 'encoding');
      assert.equal(preview.delimiter, fact.delimiter, 'delimiter');
      assert.equal(preview.suggestedHeaderRow, fact.headerRow, 'suggested header row');
      assert.equal(preview.headerRow, fact.headerRow, 'header row');
      assert.equal(preview.rowCountExact, true, 'row count is exact');
      const footnoteRows = fact.footnoteRows ?? 0;
      assert.equal(preview.rowCount, reference.rowCount - footnoteRows, 'row count against the csv module, less the footnotes');
      if (fact.dataRows !== undefined) assert.equal(preview.rowCount, fact.dataRows, 'row count against SOURCES.md');
      if (reference.pandasRowCount !== null && reference.pandasRowCount !== undefined) {
        assert.equal(preview.rowCount, reference.pandasRowCount - footnoteRows, 'row count against pandas, less the footnotes');
      }
      const footnoteWarnings = preview.warnings.filter((warning) => warning.code === 'FOOTNOTES_BELOW_TABLE');
      assert.equal(footnoteWarnings.length, footnoteRows > 0 ? 1 : 0, 'footnote warning');
      if (footnoteRows > 0) assert.match(footnoteWarnings[0]?.message ?? '', new RegExp(`^${footnoteRows} rows below the table`, 'u'), 'footnote count in the warning');
      assert.equal(preview.columnCount, reference.columnCount, 'column count');
      assert.deepEqual(
        preview.columns.map((column) => column.name),
        reference.names,
        'column names',
      );
      assert.deepEqual(preview.rows, reference.rows, 'first rows');
    });
  }

  test('newline-only file is INPUT_EMPTY_FILE', async () => {
    await assert.rejects(
      reader.preview(sourceFor('empty_newline_only.csv'), { rows: SAMPLE_ROWS, columns: 50, waitForCount: true }),
      (error: unknown) => error instanceof InletError && error.code === 'INPUT_EMPTY_FILE',
    );
  });
});
