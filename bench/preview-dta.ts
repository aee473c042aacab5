/**
 * Benchmark of the Stata .dta reader against pandas, measured in one run on one machine.
 *
 *   node --import tsx bench/preview-dta.ts [--rows-large N]
 *
 * Generates two files with pandas `to_stata` (format 118, same columns: long, double, float,
 * labelled byte, str20, %td date) of about 1 MB and 100 MB, then reports:
 *   1. a 20-row preview of the 100 MB file against the 1 MB file (goal: at most 1.5x);
 *   2. that preview against pandas' own 20-row read, `read_stata(path, iterator=True).read(20)`,
 *      timed inside Python without interpreter start-up (goal: at most 0.2x);
 *   3. reading every row of the 100 MB file with the row iterator against `pandas.read_stata`
 *      of the whole file (goal: at most 1x), each in its own process, with its peak RSS.
 * Needs Debian's python3-pandas. Times are medians; see docs/BENCHMARKS.md for recorded results.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { FileByteSource, openDtaRows, previewDta } from '../src/server/preview/dta';

const PYTHON = '/usr/bin/python3';
/** Bytes per row as pandas writes these columns (long, double, float, byte, str7, long days). */
const ROW_BYTES = 33;
const PREVIEW_RUNS = 30;
const PANDAS_PREVIEW_RUNS = 10;

const GENERATE = `
import sys, numpy as np, pandas as pd
path, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
frame = pd.DataFrame({
    "id": np.arange(rows, dtype=np.int32),
    "x": rng.normal(size=rows),
    "y": rng.normal(size=rows).astype(np.float32),
    "grade": pd.Categorical.from_codes(rng.integers(0, 3, size=rows), ["low", "mid", "high"]),
    "name": np.array(["name %d" % (i % 1000) for i in range(rows)], dtype=object),
    "day": pd.to_datetime("2000-01-01") + pd.to_timedelta(rng.integers(0, 9000, size=rows), unit="D"),
})
frame.to_stata(path, write_index=False, version=118, convert_dates={"day": "td"})
`;

const PANDAS_PREVIEW = `
import sys, time, statistics, warnings, pandas as pd
warnings.simplefilter("ignore")
path, runs = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(runs):
    start = time.perf_counter()
    with pd.read_stata(path, iterator=True) as reader:
        reader.read(20)
    times.append((time.perf_counter() - start) * 1000)
print(statistics.median(times))
`;

const PANDAS_FULL = `
import sys, time, resource, warnings, pandas as pd
warnings.simplefilter("ignore")
start = time.perf_counter()
frame = pd.read_stata(sys.argv[1])
elapsed = (time.perf_counter() - start) * 1000
print(elapsed, len(frame), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function previewMs(filePath: string): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < PREVIEW_RUNS + 3; run += 1) {
    const started = performance.now();
    const source = await FileByteSource.open(filePath);
    try {
      await previewDta(source, 'ds_bench', { rows: 20, columns: 50, waitForCount: true });
    } finally {
      await source.close();
    }
    // The first runs warm up the JIT and the page cache.
    if (run >= 3) times.push(performance.now() - started);
  }
  return median(times);
}

/** Child-process mode: reads every row of a file and prints time, rows and peak RSS as JSON. */
async function iterateChild(filePath: string): Promise<void> {
  const started = performance.now();
  const source = await FileByteSource.open(filePath);
  let rows = 0;
  try {
    const { batches } = await openDtaRows(source, { batchRows: 10_000 });
    for await (const batch of batches) rows += batch.length;
  } finally {
    await source.close();
  }
  const elapsedMs = performance.now() - started;
  console.log(JSON.stringify({ elapsedMs, rows, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

function iterateInChild(filePath: string): { elapsedMs: number; rows: number; maxRssMiB: number } {
  const output = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--iterate', filePath], { maxBuffer: 1024 * 1024 });
  return JSON.parse(output.toString('utf8')) as { elapsedMs: number; rows: number; maxRssMiB: number };
}

function pandasFull(filePath: string): { elapsedMs: number; rows: number; maxRssMiB: number } {
  const [elapsedMs, rows, maxRssMiB] = execFileSync(PYTHON, ['-c', PANDAS_FULL, filePath]).toString('utf8').trim().split(/\s+/).map(Number);
  return { elapsedMs: elapsedMs ?? Number.NaN, rows: rows ?? 0, maxRssMiB: maxRssMiB ?? Number.NaN };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--iterate' && argv[1]) return iterateChild(argv[1]);

  const largeRowsFlag = argv.indexOf('--rows-large');
  const largeRows = largeRowsFlag === -1 ? Math.round((100 * 1024 * 1024) / ROW_BYTES) : Number(argv[largeRowsFlag + 1]);
  const smallRows = Math.round((1024 * 1024) / ROW_BYTES);
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'inlet-bench-dta-'));
  try {
    const small = path.join(directory, 'small.dta');
    const large = path.join(directory, 'large.dta');
    execFileSync(PYTHON, ['-c', GENERATE, small, String(smallRows)]);
    execFileSync(PYTHON, ['-c', GENERATE, large, String(largeRows)]);
    const sizeMiB = (file: string): string => (fs.statSync(file).size / 2 ** 20).toFixed(1);

    const smallPreview = await previewMs(small);
    const largePreview = await previewMs(large);
    const pandasPreview = Number(execFileSync(PYTHON, ['-c', PANDAS_PREVIEW, large, String(PANDAS_PREVIEW_RUNS)]).toString('utf8').trim());
    const ours = iterateInChild(large);
    const oursSmall = iterateInChild(small);
    const pandas = pandasFull(large);

    console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
    console.log(`files: small ${sizeMiB(small)} MiB (${smallRows} rows), large ${sizeMiB(large)} MiB (${largeRows} rows)`);
    console.log(`1. 20-row preview: large ${largePreview.toFixed(2)} ms, small ${smallPreview.toFixed(2)} ms, ratio ${(largePreview / smallPreview).toFixed(2)}x (goal <= 1.5x)`);
    console.log(`2. 20-row preview vs pandas iterator read(20): ${largePreview.toFixed(2)} ms vs ${pandasPreview.toFixed(2)} ms, ratio ${(largePreview / pandasPreview).toFixed(3)}x (goal <= 0.2x)`);
    console.log(
      `3. all rows of large: iterator ${ours.elapsedMs.toFixed(0)} ms (${ours.rows} rows, peak RSS ${ours.maxRssMiB.toFixed(0)} MiB) vs pandas read_stata ${pandas.elapsedMs.toFixed(0)} ms (${pandas.rows} rows, peak RSS ${pandas.maxRssMiB.toFixed(0)} MiB), ratio ${(ours.elapsedMs / pandas.elapsedMs).toFixed(2)}x (goal <= 1x)`,
    );
    console.log(`   iterator peak RSS on the small file: ${oursSmall.maxRssMiB.toFixed(0)} MiB`);
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

await main();
