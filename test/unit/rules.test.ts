import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { InletError } from '../../src/server/errors';
import { checkPrimaryRule, extensionOf, formatForRole, normalizeFilename } from '../../src/server/rules';

function codeOf(run: () => unknown): string | null {
  try {
    run();
    return null;
  } catch (error) {
    assert.ok(error instanceof InletError, `expected an InletError, got ${String(error)}`);
    return error.code;
  }
}

describe('filename rules', () => {
  const accepted: [string, string][] = [
    ['data.csv', 'data.csv'],
    ['分省年度数据 (2).csv', '分省年度数据 (2).csv'],
    ['😀 emoji.csv', '😀 emoji.csv'],
    ['Straße.xlsx', 'Straße.xlsx'],
    ['.hidden.csv', '.hidden.csv'],
    ['no extension', 'no extension'],
    ['e\u0301t\u00e9.dta', '\u00e9t\u00e9.dta'], // decomposed é is normalised to NFC
    [`${'a'.repeat(251)}.csv`, `${'a'.repeat(251)}.csv`], // exactly 255 bytes
  ];
  for (const [raw, expected] of accepted) {
    test(`accepts ${JSON.stringify(raw.slice(0, 30))}`, () => {
      assert.equal(normalizeFilename(raw), expected);
    });
  }

  const rejected: [string, string][] = [
    ['', 'empty'],
    ['   ', 'blank'],
    ['\t', 'tab only'],
    ['dir/data.csv', 'slash'],
    ['dir\\data.csv', 'backslash'],
    ['.', 'dot'],
    ['..', 'dot-dot'],
    ['a\u0000b.csv', 'NUL'],
    ['a\u001fb.csv', 'unit separator'],
    ['a\u007fb.csv', 'DEL'],
    ['a\u0085b.csv', 'C1 next line'],
    ['invoice\u202Efdp.exe', 'right-to-left override'],
    ['a\u2066b.csv', 'left-to-right isolate'],
    ['a\ud800b.csv', 'lone high surrogate'],
    ['a\udc00b.csv', 'lone low surrogate'],
    [`${'a'.repeat(252)}.csv`, '256 bytes'],
    [`${'数'.repeat(86)}.csv`, '262 UTF-8 bytes in 90 characters'],
  ];
  for (const [raw, why] of rejected) {
    test(`rejects ${why}`, () => {
      assert.equal(codeOf(() => normalizeFilename(raw)), 'INPUT_FILENAME_UNSAFE');
    });
  }
});

describe('role and format rules', () => {
  test('dataset extensions in any case', () => {
    assert.equal(formatForRole('a.CSV', 'primary_dataset'), 'csv');
    assert.equal(formatForRole('a.Tsv', 'secondary_dataset'), 'csv');
    assert.equal(formatForRole('a.txt', 'auxiliary_data'), 'csv');
    assert.equal(formatForRole('a.XLSX', 'primary_dataset'), 'excel');
    assert.equal(formatForRole('a.xls', 'primary_dataset'), 'excel');
    assert.equal(formatForRole('a.DTA', 'primary_dataset'), 'dta');
  });

  test('other takes any file', () => {
    assert.equal(formatForRole('codebook.pdf', 'other'), 'other');
    assert.equal(formatForRole('analysis.do', 'other'), 'other');
    assert.equal(formatForRole('README', 'other'), 'other');
  });

  test('dataset role needs a dataset extension', () => {
    assert.equal(codeOf(() => formatForRole('codebook.pdf', 'primary_dataset')), 'INPUT_UNSUPPORTED_FORMAT');
    assert.equal(codeOf(() => formatForRole('data', 'secondary_dataset')), 'INPUT_UNSUPPORTED_FORMAT');
    assert.equal(codeOf(() => formatForRole('data.sav', 'auxiliary_data')), 'INPUT_UNSUPPORTED_FORMAT');
  });

  test('extension is lower-cased with its dot', () => {
    assert.equal(extensionOf('Survey.DTA'), '.dta');
    assert.equal(extensionOf('archive.tar.gz'), '.gz');
    assert.equal(extensionOf('.bashrc'), '');
    assert.equal(extensionOf('noext'), '');
  });

  test('first bundle needs exactly one primary', () => {
    assert.equal(codeOf(() => checkPrimaryRule(['secondary_dataset'], true)), 'INPUT_PRIMARY_DATASET_MISSING');
    assert.equal(codeOf(() => checkPrimaryRule([], true)), 'INPUT_PRIMARY_DATASET_MISSING');
    assert.equal(codeOf(() => checkPrimaryRule(['primary_dataset', 'other'], true)), null);
  });

  test('later bundle may omit the primary', () => {
    assert.equal(codeOf(() => checkPrimaryRule(['secondary_dataset', 'other'], false)), null);
    assert.equal(codeOf(() => checkPrimaryRule(['primary_dataset'], false)), null);
  });

  test('no bundle holds two primaries', () => {
    assert.equal(codeOf(() => checkPrimaryRule(['primary_dataset', 'primary_dataset'], false)), 'INPUT_PRIMARY_DATASET_MULTIPLE');
    assert.equal(codeOf(() => checkPrimaryRule(['primary_dataset', 'primary_dataset'], true)), 'INPUT_PRIMARY_DATASET_MULTIPLE');
  });
});
