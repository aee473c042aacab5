import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { InletError, isErrorCode } from '../../src/server/errors';
import { MemoryByteSource, openDtaRows, previewDta } from '../../src/server/preview/dta';
import { writeLegacyDta, writeTaggedDta, type LegacyVersion } from '../reference/dta-writer';

/**
 * Feeds mutated .dta files to the reader. Every outcome must be a preview or an InletError with a
 * code from the closed table: no other exception, no hang, and memory growth below 256 MiB.
 * The mutations are seeded, so a failing case number reproduces.
 */

const CASES = 2000;
const SEED = 0x5eed_d7a;
const MEMORY_LIMIT_BYTES = 256 * 1024 * 1024;
/** A single case taking this long means a loop that does not advance. */
const CASE_LIMIT_MS = 5000;
const FIXTURES = path.join(import.meta.dirname, '../../fixtures/real');

/** mulberry32: a small deterministic generator, enough to spread mutations. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

function corpus(): { name: string; bytes: Buffer }[] {
  const files: { name: string; bytes: Buffer }[] = fs
    .readdirSync(FIXTURES)
    .filter((name) => name.endsWith('.dta'))
    .map((name) => ({ name, bytes: fs.readFileSync(path.join(FIXTURES, name)) }));
  const variables = [
    { name: 'id', type: 'long' as const, format: '%12.0g', valueLabelName: 'ids' },
    { name: 'when', type: 'double' as const, format: '%tc' },
    { name: 's', type: { str: 6 }, format: '%6s', label: 'text' },
  ];
  const rows = Array.from({ length: 30 }, (_, index) => [index, index * 86_400_000, `s${index}`]);
  for (const version of [104, 105, 108, 110, 113, 115] as LegacyVersion[]) {
    files.push({ name: `written ${version}`, bytes: writeLegacyDta({ version, littleEndian: version % 2 === 0, variables, rows, valueLabels: { ids: [[1, 'one']] }, characteristic: true }) });
  }
  for (const version of [117, 118, 119]) {
    files.push({
      name: `written ${version}`,
      bytes: writeTaggedDta({
        version,
        littleEndian: version !== 118,
        variables: [...variables, { name: 'note', type: 'strL', format: '%9s' }],
        rows: rows.map((row, index) => [...row, index % 3 === 0 ? 'shared' : `note ${index}`]),
        valueLabels: { ids: [[1, 'one'], [2147483622, 'a']] },
      }),
    });
  }
  return files;
}

function mutate(bytes: Buffer, next: () => number): Buffer {
  const pick = (limit: number): number => Math.floor(next() * limit);
  // Most structure sits in the first few KiB; aim most mutations there.
  const position = (): number => (next() < 0.7 ? pick(Math.min(bytes.length, 4096)) : pick(bytes.length));
  let out = Buffer.from(bytes);
  const rounds = 1 + pick(2);
  for (let round = 0; round < rounds; round += 1) {
    switch (pick(5)) {
      case 0:
        for (let flips = 1 + pick(8); flips > 0; flips -= 1) out[position()] = pick(256);
        break;
      case 1:
        out = out.subarray(0, pick(out.length));
        break;
      case 2: {
        const extremes = [0xff, 0x7f, 0x80, 0x00];
        const at = position();
        const width = next() < 0.5 ? 4 : 8;
        const fill = extremes[pick(extremes.length)] ?? 0xff;
        for (let index = at; index < Math.min(at + width, out.length); index += 1) out[index] = fill;
        break;
      }
      case 3: {
        const at = position();
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + pick(64)))]);
        break;
      }
      default: {
        const at = position();
        const inserted = Buffer.from(Array.from({ length: 1 + pick(64) }, () => pick(256)));
        out = Buffer.concat([out.subarray(0, at), inserted, out.subarray(at)]);
      }
    }
  }
  return out;
}

async function readAll(bytes: Buffer): Promise<void> {
  await previewDta(new MemoryByteSource(bytes), 'ds_fuzz', { rows: 20, columns: 50, waitForCount: true });
  if (bytes.length < 16 * 1024) {
    const { batches } = await openDtaRows(new MemoryByteSource(bytes), { batchRows: 7 });
    for await (const batch of batches) assert.ok(Array.isArray(batch));
  }
}

test('mutated files fail cleanly', { timeout: 180_000 }, async () => {
  const files = corpus();
  const next = random(SEED);
  const baselineRss = process.memoryUsage().rss;
  let peakRss = baselineRss;
  const outcomes = { previewed: 0, rejected: 0 };

  for (let index = 0; index < CASES; index += 1) {
    const source = files[Math.floor(next() * files.length)];
    assert.ok(source);
    const mutated = mutate(source.bytes, next);
    const started = performance.now();
    try {
      await readAll(mutated);
      outcomes.previewed += 1;
    } catch (error) {
      if (!(error instanceof InletError) || !isErrorCode(error.code)) {
        assert.fail(`case ${index} (${source.name}, ${mutated.length} bytes) threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
      outcomes.rejected += 1;
    }
    const elapsed = performance.now() - started;
    assert.ok(elapsed < CASE_LIMIT_MS, `case ${index} (${source.name}) took ${Math.round(elapsed)} ms`);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }

  assert.equal(outcomes.previewed + outcomes.rejected, CASES);
  assert.ok(outcomes.rejected > CASES / 10, `only ${outcomes.rejected} of ${CASES} mutations were rejected; the mutations are too weak`);
  assert.ok(peakRss - baselineRss < MEMORY_LIMIT_BYTES, `RSS grew by ${Math.round((peakRss - baselineRss) / 2 ** 20)} MiB`);
});
