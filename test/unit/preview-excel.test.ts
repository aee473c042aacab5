import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { ExcelReader } from '../../src/server/preview/excel';
import { classifyDateFormat } from '../../src/server/preview/spreadsheet';
import type { DatasetSource, ReaderOptions } from '../../src/server/preview/types';
import { readReference } from '../reference/reference';

const ROOT = path.join(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'fixtures/real');
const reader = new ExcelReader({ projectRoot: ROOT });

function fixture(file: string): DatasetSource {
  const filePath = path.join(FIXTURES, file);
  return { datasetKey: `ds_${file}`, sha256: file, filePath, sizeBytes: fs.statSync(filePath).size, extension: path.extname(file).toLowerCase() };
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
