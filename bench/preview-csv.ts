/**
 * Benchmark of the CSV preview, run on demand: `npx tsx bench/preview-csv.ts`.
 *
 * Generates a 1 GiB and a 1 MiB CSV in a temporary folder and reports two ratios measured in the
 * same run, so that they do not depend on the machine's absolute speed:
 *   1. preview without the exact count, 1 GiB file vs 1 MiB file (goal: at most 1.5x);
 *   2. exact row count of the 1 GiB file vs `wc -l` of it (goal: at most 4x).
 * Both files are read once before timing so that every measurement reads from the page cache.
 * BENCH_SIZE_MIB overrides the size of the large file (1024 by default) for a quick smoke run.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { countRecords } from '../src/server/preview/count';
import { CsvReader } from '../src/server/preview/csv';
import { fileDatasetSource, withFileBytes } from '../src/server/preview/file-source';
import type { DatasetSource, ReaderOptions } from '../src/server/preview/types';

const LARGE_BYTES = Number(process.env.BENCH_SIZE_MIB ?? 1024) * 1024 * 1024;
const SMALL_BYTES = 1024 * 1024;
const PREVIEW_RUNS = 9;
const COUNT_RUNS = 5;
const OPTIONS: ReaderOptions = { rows: 20, columns: 50, waitForCount: false };

/** One block of realistic rows: quoted text with commas and doubled quotes, dates, decimals, blanks. */
function rowBlock(firstId: number, rows: number): string {
  const lines: string[] = [];
  for (let i = 0; i < rows; i += 1) {
    const id = firstId + i;
    const note = i % 7 === 0 ? `"Adult, 1 Egg Stage ""checked"""` : i % 11 === 0 ? '' : `plain note ${id % 97}`;
    lines.push(`${id},PAL${id % 1000},${(id % 500) / 10 + 30.5},2008-11-${String((id % 28) + 1).padStart(2, '0')},${note},${id % 3 === 0 ? 'TRUE' : 'FALSE'}`);
  }
  return `${lines.join('\n')}\n`;
}

function writeCsv(filePath: string, sizeBytes: number): number {
  const header = 'id,study,length_mm,date_egg,comments,clutch_complete\n';
  const block = Buffer.from(rowBlock(1, 50_000));
  const handle = fs.openSync(filePath, 'w');
  let written = fs.writeSync(handle, header);
  while (written + block.length <= sizeBytes) written += fs.writeSync(handle, block);
  // Fill up to the size with whole lines.
  const tail = block.subarray(0, block.lastIndexOf(0x0a, sizeBytes - written - 1) + 1);
  written += fs.writeSync(handle, tail);
  fs.closeSync(handle);
  return written;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function time<T>(work: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

function source(filePath: string, name: string): DatasetSource {
  return fileDatasetSource(filePath, { datasetKey: `ds_${name}`, sha256: name, sizeBytes: fs.statSync(filePath).size, extension: '.csv' });
}

/** Times one preview with a new reader, so no cached count helps, and stops its count after. */
async function timePreview(file: DatasetSource): Promise<number> {
  const reader = new CsvReader();
  const { ms } = await time(() => reader.preview(file, OPTIONS));
  reader.close();
  return ms;
}

/**
 * Returns the median preview times of both files. The runs alternate between the files, so a
 * change in the machine's load during the measurement affects both alike.
 */
async function timePreviews(large: DatasetSource, small: DatasetSource): Promise<{ largeMs: number; smallMs: number }> {
  const largeRuns: number[] = [];
  const smallRuns: number[] = [];
  for (let run = 0; run < PREVIEW_RUNS; run += 1) {
    smallRuns.push(await timePreview(small));
    largeRuns.push(await timePreview(large));
  }
  return { largeMs: median(largeRuns), smallMs: median(smallRuns) };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inlet-bench-'));
  try {
    const largePath = path.join(dir, 'large.csv');
    const smallPath = path.join(dir, 'small.csv');
    const largeBytes = writeCsv(largePath, LARGE_BYTES);
    const smallBytes = writeCsv(smallPath, SMALL_BYTES);
    execFileSync('cat', [largePath, smallPath], { stdio: ['ignore', 'ignore', 'inherit'] });

    const large = source(largePath, 'large');
    const small = source(smallPath, 'small');
    await timePreviews(large, small); // warm-up: module loading and JIT
    const { largeMs: previewLargeMs, smallMs: previewSmallMs } = await timePreviews(large, small);

    // Count and wc -l alternate, so a change in the machine's load affects both alike.
    const countRuns: number[] = [];
    const wcRuns: number[] = [];
    let records = 0;
    let lines = 0;
    for (let run = 0; run < COUNT_RUNS; run += 1) {
      const counted = await time(() => withFileBytes(largePath, (bytes) => countRecords(bytes, 'utf-8', ',')));
      countRuns.push(counted.ms);
      records = counted.value;
      const wc = await time(() => execFileSync('wc', ['-l', largePath], { encoding: 'utf8' }));
      wcRuns.push(wc.ms);
      lines = Number(wc.value.trim().split(/\s+/u)[0]);
    }
    const countMs = median(countRuns);
    const wcMs = median(wcRuns);

    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(`machine: ${os.cpus().length} cores, ${cpu}, Node ${process.version}, ${os.platform()} ${os.release()}`);
    console.log(`files: ${largeBytes} bytes (${records} records, wc -l ${lines}) and ${smallBytes} bytes`);
    console.log(`preview without count, median of ${PREVIEW_RUNS}: large ${previewLargeMs.toFixed(1)} ms, small ${previewSmallMs.toFixed(1)} ms, ratio ${(previewLargeMs / previewSmallMs).toFixed(2)}x (goal <= 1.5x)`);
    console.log(`exact count of the large file, median of ${COUNT_RUNS}: ${countMs.toFixed(0)} ms; wc -l ${wcMs.toFixed(0)} ms; ratio ${(countMs / wcMs).toFixed(2)}x (goal <= 4x)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
