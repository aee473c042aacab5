/**
 * Feeds mutated copies of the real fixtures to the CSV and Excel readers: every preview must either
 * succeed or fail with an InletError that carries a known code, within a deadline, and the process
 * must not grow by more than 256 MiB. FUZZ_CASES sets the number of CSV and .xlsx cases and
 * FUZZ_XLS_CASES the number of .xls cases (2,000 each by default), and FUZZ_SEED the first seed; a
 * failure names the seed that reproduces it. The .xls cases take most of the time (about 5 minutes
 * on 2 cores): each one starts a child process, and mutated BIFF records often make SheetJS fill
 * its 512 MiB heap before it fails.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { InletError, isErrorCode } from '../../src/server/errors';
import { countRecords } from '../../src/server/preview/count';
import { CsvReader } from '../../src/server/preview/csv';
import { CSV_ENCODINGS } from '../../src/server/preview/encoding';
import { ExcelReader } from '../../src/server/preview/excel';
import { fileDatasetSource, withFileBytes } from '../../src/server/preview/file-source';
import type { DatasetReader, DatasetSource, ReaderOptions } from '../../src/server/preview/types';

const ROOT = path.join(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'fixtures/real');
const CASES = Number(process.env.FUZZ_CASES ?? 2000);
const XLS_CASES = Number(process.env.FUZZ_XLS_CASES ?? 2000);
const FIRST_SEED = Number(process.env.FUZZ_SEED ?? 1);
/** Previews running at once; .xls cases spend most of their time starting a child process. */
const CONCURRENCY = 4;
/** Maximum time of one preview before the test reports a hang; above the readers' own limits. */
const CASE_DEADLINE_MS = 90_000;
const MAX_RSS_GROWTH_BYTES = 256 * 1024 * 1024;

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'inlet-fuzz-'));
after(() => fs.rmSync(tempDir, { recursive: true, force: true }));

/** mulberry32: a small seeded generator, so that every case can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Applies one to four mutations: byte flips, truncation, inserted bytes, a zeroed or repeated range. */
function mutate(bytes: Buffer, next: () => number): Buffer {
  let out = Buffer.from(bytes);
  const steps = 1 + Math.floor(next() * 4);
  for (let step = 0; step < steps && out.length > 0; step += 1) {
    const at = Math.floor(next() * out.length);
    const span = 1 + Math.floor(next() * Math.min(64, out.length - at));
    switch (Math.floor(next() * 5)) {
      case 0:
        for (let i = 0; i < span; i += 1) out[(at + i) % out.length] = Math.floor(next() * 256);
        break;
      case 1:
        out = out.subarray(0, at);
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), Buffer.from(Array.from({ length: span }, () => Math.floor(next() * 256))), out.subarray(at)]);
        break;
      case 3:
        out.fill(0, at, at + span);
        break;
      default:
        out = Buffer.concat([out.subarray(0, at + span), out.subarray(at, at + span), out.subarray(at + span)]);
    }
  }
  return out;
}

function fixtures(pattern: RegExp): { name: string; bytes: Buffer }[] {
  return fs
    .readdirSync(FIXTURES)
    .filter((name) => pattern.test(name))
    .map((name) => {
      const bytes = fs.readFileSync(path.join(FIXTURES, name));
      // Large fixtures are cut to their head so that a case stays fast; the count still runs on it.
      return { name, bytes: bytes.length > 256 * 1024 ? bytes.subarray(0, 256 * 1024) : bytes };
    });
}

function randomOptions(next: () => number, format: 'csv' | 'excel'): ReaderOptions {
  const options: ReaderOptions = { rows: 1 + Math.floor(next() * 200), columns: 1 + Math.floor(next() * 200), waitForCount: next() < 0.8 };
  const header = next();
  if (header < 0.15) options.headerRow = null;
  else if (header < 0.35) options.headerRow = 1 + Math.floor(next() * 40);
  if (format === 'csv') {
    if (next() < 0.2) options.encoding = CSV_ENCODINGS[Math.floor(next() * CSV_ENCODINGS.length)];
    if (next() < 0.2) options.delimiter = [',', ';', '\t', '|'][Math.floor(next() * 4)];
  } else if (next() < 0.1) {
    options.sheetName = ['Sheet1', 'mtcars', 'Hidden', 'nope'][Math.floor(next() * 4)];
  }
  return options;
}

async function withDeadline<T>(work: Promise<T>, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label} did not finish within ${CASE_DEADLINE_MS} ms`)), CASE_DEADLINE_MS);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function assertInletError(error: unknown, label: string): void {
  if (!(error instanceof InletError)) {
    assert.fail(`${label} failed with a non-InletError: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  assert.ok(isErrorCode(error.code), `${label}: unknown code ${error.code}`);
  assert.notEqual(error.code, 'INTERNAL', `${label}: ${error.message}`);
  assert.ok(error.message.length > 0, `${label}: empty message`);
}

async function runCases(format: 'csv' | 'excel', reader: DatasetReader, pattern: RegExp, seedOffset: number, cases: number, check?: (source: DatasetSource, seed: number) => Promise<void>): Promise<Map<string, number>> {
  const inputs = fixtures(pattern);
  const outcomes = new Map<string, number>();
  let nextCase = 0;

  const worker = async (): Promise<void> => {
    for (let index = nextCase++; index < cases; index = nextCase++) {
      const seed = FIRST_SEED + seedOffset + index;
      const next = random(seed);
      const input = inputs[Math.floor(next() * inputs.length)];
      assert.ok(input);
      const bytes = mutate(input.bytes, next);
      const extension = path.extname(input.name).toLowerCase();
      const filePath = path.join(tempDir, `${format}-${seed}${extension}`);
      fs.writeFileSync(filePath, bytes);
      const source = fileDatasetSource(filePath, { datasetKey: `ds_${seed}`, sha256: `fuzz-${seed}`, sizeBytes: bytes.length, extension });
      const label = `${format} seed ${seed} (from ${input.name})`;

      try {
        await withDeadline(reader.preview(source, randomOptions(next, format)), label);
        outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
      } catch (error) {
        assertInletError(error, label);
        const code = (error as InletError).code;
        outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
      }
      if (check) await check(source, seed);
      fs.rmSync(filePath, { force: true });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return outcomes;
}

describe('fuzzed fixtures', { concurrency: false }, () => {
  const startRss = process.memoryUsage().rss;
  const csvReader = new CsvReader();
  after(() => csvReader.close());
  const excelReader = new ExcelReader({ projectRoot: ROOT });

  test('csv reader survives mutations', async () => {
    const outcomes = await runCases('csv', csvReader, /\.(csv|tsv)$/iu, 0, CASES, async (source, seed) => {
      // The counter runs on every mutated file too, for every encoding it supports.
      const encoding = CSV_ENCODINGS[seed % CSV_ENCODINGS.length] ?? 'utf-8';
      try {
        const count = await withFileBytes(source.localPath!, (bytes) => countRecords(bytes, encoding, ','));
        assert.ok(Number.isInteger(count), `counter seed ${seed}: ${count} is not an integer`);
        assert.ok(count >= 0, `counter seed ${seed}: negative count`);
      } catch (error) {
        assertInletError(error, `counter seed ${seed}`);
      }
    });
    assert.ok((outcomes.get('ok') ?? 0) > 0, `some mutated CSV files still read: ${JSON.stringify([...outcomes])}`);
  });

  test('xlsx reader survives mutations', async () => {
    const outcomes = await runCases('excel', excelReader, /\.xlsx$/iu, 1_000_000, CASES);
    assert.ok(outcomes.size > 1, `mutations produce failures and successes: ${JSON.stringify([...outcomes])}`);
  });

  test('xls reader survives mutations', async () => {
    const outcomes = await runCases('excel', excelReader, /\.xls$/iu, 2_000_000, XLS_CASES);
    assert.ok(outcomes.size > 1, `mutations produce failures and successes: ${JSON.stringify([...outcomes])}`);
  });

  test('memory growth stays bounded', () => {
    const growth = process.memoryUsage().rss - startRss;
    assert.ok(growth < MAX_RSS_GROWTH_BYTES, `RSS grew by ${Math.round(growth / 1024 / 1024)} MiB`);
  });
});
