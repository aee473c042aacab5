import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { DtaReader, FileByteSource } from '../../src/server/preview/dta';
import { readDtaHeader } from '../../src/server/preview/dta/header';
import { fileDatasetSource } from '../../src/server/preview/file-source';
import type { PreviewResult } from '../../src/server/preview/types';
import { comparable, expectedRows, labelKeysFromPandas } from '../reference/dta-compare';
import { pandasReference, readstatMetadata, readstatSummary } from '../reference/dta-tools';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/real');
const ROWS = 20;
const files = fs
  .readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.dta'))
  .sort();

/** Facts about each fixture from fixtures/real/SOURCES.md: "N obs x K vars; dta V LSF; … first vars: a, b". */
function sourceFacts(name: string): { observations: number; variables: number; version: number; byteOrder: string; datasetLabel?: string; firstNames: string[] } {
  const sources = fs.readFileSync(path.join(FIXTURES, 'SOURCES.md'), 'utf8');
  const row = sources.split('\n').find((line) => line.startsWith(`| \`${name}\``));
  assert.ok(row, `SOURCES.md has no row for ${name}`);
  const facts = row.split('|').at(-2) ?? '';
  const shape = /(\d+) obs x (\d+) vars; dta (\d+) (LSF|MSF)/.exec(facts);
  assert.ok(shape, `SOURCES.md row for ${name} has no shape facts`);
  const label = /data label "([^"]*)"/.exec(facts)?.[1];
  const firstNames = (/first vars: ([^|]*)/.exec(facts)?.[1] ?? '').split(',').map((item) => item.trim());
  return {
    observations: Number(shape[1]),
    variables: Number(shape[2]),
    version: Number(shape[3]),
    byteOrder: shape[4] ?? '',
    ...(label === undefined ? {} : { datasetLabel: label }),
    firstNames,
  };
}

async function preview(name: string): Promise<PreviewResult> {
  const filePath = path.join(FIXTURES, name);
  return new DtaReader().preview(
    fileDatasetSource(filePath, { datasetKey: 'ds_fixture', sha256: '', sizeBytes: fs.statSync(filePath).size, extension: '.dta' }),
    { rows: ROWS, columns: 200, waitForCount: true },
  );
}

/**
 * %tC counts leap seconds; pandas leaves it as a number. In dta114_time_series_examples.dta,
 * 1479596223000 ms %tC is after the 23 leap seconds inserted from 1972 to 2005 (IERS Bulletin C),
 * so it is 1479596200000 ms %tc: 2006-11-19 22:56:40. -1479590 ms is before 1972, so no shift.
 */
const LEAP_CLOCK_EXPECTED = { datetime_big_c: ['2006-11-19T22:56:40.000', '1959-12-31T23:35:20.410'] };

describe('real .dta fixtures', () => {
  const references = pandasReference(
    files.map((name) => path.join(FIXTURES, name)),
    ROWS,
  );

  for (const name of files) {
    describe(name, () => {
      const reference = references[path.join(FIXTURES, name)];

      test('pandas reads the fixture', () => {
        assert.ok(reference, `no pandas reference for ${name}`);
        assert.equal(reference.error, undefined);
      });

      test('header matches pandas and readstat', async () => {
        assert.ok(reference);
        const result = await preview(name);
        const readstat = readstatSummary(path.join(FIXTURES, name));

        assert.equal(result.formatVersion, reference.formatVersion);
        assert.equal(result.formatVersion, readstat.formatVersion);
        assert.equal(result.rowCount, reference.rowCount);
        assert.equal(result.rowCount, readstat.rows);
        assert.equal(result.rowCountExact, true);
        assert.equal(result.columnCount, reference.columnCount);
        assert.equal(result.columnCount, readstat.columns);
        assert.equal(result.datasetLabel ?? '', reference.datasetLabel);
      });

      test('header matches SOURCES.md facts', async () => {
        const facts = sourceFacts(name);
        const result = await preview(name);
        const source = await FileByteSource.open(path.join(FIXTURES, name));
        const header = await readDtaHeader(source, 0).finally(() => source.close());

        assert.equal(result.rowCount, facts.observations);
        assert.equal(result.columnCount, facts.variables);
        assert.equal(result.formatVersion, facts.version);
        assert.equal(header.littleEndian ? 'LSF' : 'MSF', facts.byteOrder);
        if (facts.datasetLabel !== undefined) assert.equal(result.datasetLabel, facts.datasetLabel);
        assert.deepEqual(
          result.columns.slice(0, facts.firstNames.length).map((column) => column.name),
          facts.firstNames,
        );
      });

      test('columns match pandas and readstat', async () => {
        assert.ok(reference);
        const result = await preview(name);
        const metadata = readstatMetadata(path.join(FIXTURES, name));

        assert.deepEqual(
          result.columns.map((column) => column.name),
          reference.names,
        );
        assert.deepEqual(
          result.columns.map((column) => column.format),
          reference.formats,
        );
        assert.deepEqual(
          result.columns.map((column) => column.label ?? ''),
          reference.variableLabels,
        );
        // ReadStat drops trailing blanks of labels ("Turn Circle (ft.) " in the auto data); Stata keeps them, as pandas and this reader do.
        assert.deepEqual(
          result.columns.map((column) => (column.label ?? '').trimEnd()),
          metadata.map((variable) => variable.label ?? ''),
        );
        result.columns.forEach((column, index) => {
          const setName = reference.valueLabelNames[index] ?? '';
          const labels = reference.valueLabels[setName];
          assert.deepEqual(column.valueLabels, labels ? labelKeysFromPandas(labels) : undefined, `value labels of ${column.name}`);
          const categories = metadata[index]?.categories;
          if (categories) {
            assert.deepEqual(column.valueLabels, Object.fromEntries(categories.map((entry) => [String(entry.code), entry.label])), `readstat value labels of ${column.name}`);
          }
        });
      });

      test(`first ${ROWS} rows match pandas`, async () => {
        assert.ok(reference);
        const result = await preview(name);
        const expected = expectedRows(reference, result.columns, { columnOverrides: name === 'dta114_time_series_examples.dta' ? LEAP_CLOCK_EXPECTED : {} });

        assert.equal(result.rows.length, Math.min(ROWS, reference.rowCount));
        comparable(result.rows, reference.storage).forEach((row, index) => {
          assert.deepEqual(row, comparable(expected, reference.storage)[index], `row ${index + 1}`);
        });
      });
    });
  }
});

describe('fixture specifics', () => {
  test('notes file cuts names at NUL', async () => {
    // dta115_notes.dta has bytes after the NUL of each name and label; SOURCES.md lists the names.
    const result = await preview('dta115_notes.dta');
    assert.deepEqual(
      result.columns.map((column) => column.name),
      ['id', 'female', 'treatment', 'outcome'],
    );
    assert.equal(result.datasetLabel, 'This is a test dataset.');
  });

  test('tagged missing codes keep labels', async () => {
    // SOURCES.md: set testlabel labels .a as "apple" and .z as ".zebra".
    const result = await preview('dta118_tagged-na-double.dta');
    const cells = result.rows.map((row) => row[0]);
    assert.deepEqual(result.columns[0]?.valueLabels, { '.a': 'apple', '.z': '.zebra' });
    assert.ok(cells.some((cell) => JSON.stringify(cell) === JSON.stringify({ missing: '.a', label: 'apple' })));
    assert.ok(cells.some((cell) => JSON.stringify(cell) === JSON.stringify({ missing: '.z', label: '.zebra' })));
  });

  test('alltypes strL column is read', async () => {
    const result = await preview('dta118_alltypes.dta');
    const index = result.columns.findIndex((column) => column.name === 'vstrL');
    assert.equal(result.columns[index]?.type, 'string');
    assert.equal(result.rows[0]?.[index], 'This is a long string! '.repeat(5).trimEnd());
  });

  test('column types follow storage and format', async () => {
    const result = await preview('dta114_time_series_examples.dta');
    assert.deepEqual(
      result.columns.map((column) => column.type),
      ['datetime', 'datetime', 'date', 'date', 'date', 'date', 'date', 'date'],
    );
    const auto = await preview('dta117_stata13-auto.dta');
    assert.deepEqual(
      auto.columns.slice(0, 5).map((column) => column.type),
      ['string', 'integer', 'integer', 'integer', 'number'],
    );
  });
});
