/**
 * Checks the WebAssembly record counter (RecordCounter.pushBytes) against the JavaScript scan of
 * RecordCounter.push, which counted every file before the kernel and still counts UTF-16. The inputs are random CSV-like bytes, cut into chunks at
 * every position of small inputs and at random positions of large ones. On each,
 * RecordCounter.pushBytes must return the same count, or fail with the same error and line.
 * KERNEL_CASES sets the number of random inputs of each kind (200 by default) and KERNEL_SEED the
 * first seed. A failure names the seed and the cut.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { InletError } from '../../src/server/errors';
import { bufferUnits, countRecords, RecordCounter } from '../../src/server/preview/count';
import { MemoryByteSource } from '../../src/server/preview/dta/bytes';
import { withFileBytes } from '../../src/server/preview/file-source';

const ROOT = path.join(import.meta.dirname, '../..');
const CASES = Number(process.env.KERNEL_CASES ?? 200);
const FIRST_SEED = Number(process.env.KERNEL_SEED ?? 1);

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'inlet-kernel-'));
after(() => fs.rmSync(tempDir, { recursive: true, force: true }));

/** A count, or the code and line of the error that finish() raised. */
type Outcome = { records: number } | { code: string; line: unknown; message: string };

function outcome(finish: () => number): Outcome {
  try {
    return { records: finish() };
  } catch (error) {
    if (!(error instanceof InletError)) throw error;
    return { code: error.code, line: error.details?.line, message: error.message };
  }
}

function referenceOutcome(bytes: Buffer, delimiter: number): Outcome {
  const counter = new RecordCounter(delimiter);
  counter.push(bufferUnits(bytes, bytes.length));
  return outcome(() => counter.finish());
}

/** Counts `bytes` with pushBytes, cut at `cuts`, so every chunk is copied in from outside the kernel's memory. */
function pushedOutcome(bytes: Buffer, delimiter: number, cuts: readonly number[]): Outcome {
  const counter = new RecordCounter(delimiter);
  let start = 0;
  for (const end of [...cuts, bytes.length]) {
    counter.pushBytes(bytes.subarray(start, end));
    start = end;
  }
  return outcome(() => counter.finish());
}

/** Counts `bytes` read into the kernel's own memory in chunks of `chunkBytes`, as countRecords does. */
function inPlaceOutcome(bytes: Buffer, delimiter: number, chunkBytes: number): Outcome {
  const counter = new RecordCounter(delimiter);
  const buffer = counter.inputBuffer(chunkBytes);
  for (let start = 0; start < bytes.length; start += chunkBytes) {
    const length = bytes.copy(buffer, 0, start, start + chunkBytes);
    counter.pushBytes(buffer.subarray(0, length));
  }
  return outcome(() => counter.finish());
}

/** Alternates the JavaScript scan (push) and the kernel (pushBytes) chunk by chunk. */
function mixedOutcome(bytes: Buffer, delimiter: number, cuts: readonly number[]): Outcome {
  const counter = new RecordCounter(delimiter);
  let start = 0;
  let useKernel = false;
  for (const end of [...cuts, bytes.length]) {
    const chunk = bytes.subarray(start, end);
    if (useKernel) counter.pushBytes(chunk);
    else counter.push(bufferUnits(chunk, chunk.length));
    useKernel = !useKernel;
    start = end;
  }
  return outcome(() => counter.finish());
}

/** xorshift32: a small seeded generator, so that every case can be replayed from its seed. */
function random(seed: number): () => number {
  let state = (seed * 0x9e3779b1) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)] as T;
}

/** Bytes drawn one at a time, weighted towards quotes, delimiters and line breaks. */
function byteSoup(next: () => number, length: number, delimiter: number): Buffer {
  const alphabet = [0x61, 0x62, 0x20, delimiter, delimiter, 0x22, 0x22, 0x22, 0x0a, 0x0a, 0x0d, 0x3b, 0xc3, 0xa9, 0xff];
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) bytes[i] = pick(next, alphabet);
  return bytes;
}

/** Rows of fields of every kind the counter distinguishes, joined by mixed line breaks and blank lines. */
function csvLike(next: () => number, rows: number, delimiter: string): Buffer {
  const fields = [
    () => 'plain',
    () => '',
    () => '12.5',
    () => `"quoted${delimiter} with delimiter"`,
    () => '"say ""hi"""',
    () => '""',
    () => '""""',
    () => '"multi\nline"',
    () => '"crlf\r\ninside\rand cr"',
    () => '5\'11"',
    () => 'x"y"z',
    () => '"closed"then text',
    () => '"closed"""',
    () => 'caf\u00e9 \u4e2d',
    () => 'a'.repeat(Math.floor(next() * 90)),
  ];
  const lineEnds = ['\n', '\n', '\r\n', '\r\n', '\r', '\n\n', '\r\n\r\n', '\n\r'];
  let text = '';
  for (let row = 0; row < rows; row += 1) {
    const count = 1 + Math.floor(next() * 5);
    const cells: string[] = [];
    for (let i = 0; i < count; i += 1) cells.push(pick(next, fields)());
    text += cells.join(delimiter);
    if (row < rows - 1 || next() < 0.5) text += pick(next, lineEnds);
  }
  return Buffer.from(text, 'utf8');
}

function randomCuts(next: () => number, length: number, count: number): number[] {
  const cuts = new Set<number>();
  for (let i = 0; i < count; i += 1) cuts.add(Math.floor(next() * (length + 1)));
  return [...cuts].sort((a, b) => a - b);
}

describe('record counter kernel', () => {
  test('committed binary matches the .wat source', () => {
    const output = execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-count-kernel.mjs'), '--check'], { encoding: 'utf8' });
    assert.match(output, /matches the \.wat source/u);
  });

  const TRICKY: [string, string][] = [
    ['empty input', ''],
    ['only line breaks', '\n\r\n\r\r\n\n'],
    ['unclosed quote after lines', 'a,b\n1,"open\n2,3\n'],
    ['quote mid-field then quote at field start', 'a,x"y,"z\nw"\n'],
    ['closed field followed by quote', '"a""b"x"c\n'],
    ['literal quotes then real field', 'a"",",\n"\n'],
    ['crlf split by a quoted field', '"a"\r\n"b"\r"c"\n'],
  ];
  for (const [name, text] of TRICKY) {
    test(`${name} at every cut and block offset`, () => {
      for (const pad of [0, 1, 31, 62, 63, 64, 65]) {
        const bytes = Buffer.from('p,q\n'.repeat(Math.floor(pad / 4)) + 'r'.repeat(pad % 4) + text, 'utf8');
        const expected = referenceOutcome(bytes, 0x2c);
        for (let cut = 0; cut <= bytes.length; cut += 1) {
          assert.deepEqual(pushedOutcome(bytes, 0x2c, [cut]), expected, `pad ${pad}, cut at ${cut}`);
        }
      }
    });
  }

  test('byte pairs across every block edge', () => {
    // The kernel reads 64-byte blocks from the start of each chunk, so placing a pair at every
    // offset up to 130 puts it across the edge between two blocks and between block and tail.
    const PAIRS = ['\r\n', '""', ',"', '"\n', '"\r', '\n\n', '\r\r', '\n"', 'a"', '""""'];
    const FILLERS = ['ab,c\n', '"q,\n",r\n', 'x'];
    for (const pair of PAIRS) {
      for (const filler of FILLERS) {
        for (let offset = 0; offset <= 130; offset += 1) {
          const head = filler.repeat(offset).slice(0, offset);
          // The last filler ends with an unclosed quote, so the line of the error checks the count of line breaks.
          for (const tail of ['', 'z\n', '\n"u"\n', 'y,"w"']) {
            const bytes = Buffer.from(`${head}${pair}${tail}${filler.repeat(30)}\n"open`, 'utf8');
            const expected = referenceOutcome(bytes, 0x2c);
            const label = `pair ${JSON.stringify(pair)} at ${offset}, filler ${JSON.stringify(filler)}, tail ${JSON.stringify(tail)}`;
            assert.deepEqual(pushedOutcome(bytes, 0x2c, []), expected, label);
            assert.deepEqual(pushedOutcome(bytes, 0x2c, [offset + 1]), expected, `${label}, cut inside the pair`);
          }
        }
      }
    }
  });

  test('random bytes at every cut', () => {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed += 1) {
      const next = random(seed);
      const delimiter = pick(next, [0x2c, 0x3b, 0x09, 0xa7]);
      const bytes = byteSoup(next, Math.floor(next() * 200), delimiter);
      const expected = referenceOutcome(bytes, delimiter);
      assert.deepEqual(pushedOutcome(bytes, delimiter, []), expected, `seed ${seed}, one chunk`);
      for (let cut = 0; cut <= bytes.length; cut += 1) {
        assert.deepEqual(pushedOutcome(bytes, delimiter, [cut]), expected, `seed ${seed}, cut at ${cut}`);
      }
      const cuts = randomCuts(next, bytes.length, 8);
      assert.deepEqual(mixedOutcome(bytes, delimiter, cuts), expected, `seed ${seed}, mixed push at ${cuts.join(' ')}`);
    }
  });

  test('random CSV-like rows at every cut', () => {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed += 1) {
      const next = random(seed);
      const delimiter = pick(next, [',', ';', '\t']);
      const bytes = csvLike(next, 1 + Math.floor(next() * 8), delimiter);
      const code = delimiter.charCodeAt(0);
      const expected = referenceOutcome(bytes, code);
      for (let cut = 0; cut <= bytes.length; cut += 1) {
        assert.deepEqual(pushedOutcome(bytes, code, [cut]), expected, `seed ${seed}, cut at ${cut}`);
      }
      const cuts = randomCuts(next, bytes.length, 6);
      assert.deepEqual(pushedOutcome(bytes, code, cuts), expected, `seed ${seed}, cuts at ${cuts.join(' ')}`);
      assert.deepEqual(mixedOutcome(bytes, code, cuts), expected, `seed ${seed}, mixed push at ${cuts.join(' ')}`);
    }
  });

  test('large random inputs in random chunks', () => {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES / 4; seed += 1) {
      const next = random(seed);
      const bytes = next() < 0.5 ? csvLike(next, 200 + Math.floor(next() * 800), ',') : byteSoup(next, 10_000 + Math.floor(next() * 30_000), 0x2c);
      const expected = referenceOutcome(bytes, 0x2c);
      const cuts = randomCuts(next, bytes.length, 20);
      assert.deepEqual(pushedOutcome(bytes, 0x2c, cuts), expected, `seed ${seed}, cuts at ${cuts.join(' ')}`);
      const chunkBytes = 1 + Math.floor(next() * 5000);
      assert.deepEqual(inPlaceOutcome(bytes, 0x2c, chunkBytes), expected, `seed ${seed}, in place in chunks of ${chunkBytes}`);
    }
  });

  test('delimiters the kernel leaves to the JavaScript scan', () => {
    const next = random(FIRST_SEED);
    for (const delimiter of [0x22, 0x0a, 0x0d, 0x2c6]) {
      for (let i = 0; i < 50; i += 1) {
        const bytes = byteSoup(next, Math.floor(next() * 120), 0x2c);
        const expected = referenceOutcome(bytes, delimiter);
        const cuts = randomCuts(next, bytes.length, 3);
        assert.deepEqual(pushedOutcome(bytes, delimiter, cuts), expected, `delimiter ${delimiter}, cuts at ${cuts.join(' ')}`);
      }
    }
  });

  test('countRecords over several read chunks', async () => {
    const next = random(FIRST_SEED);
    const parts: Buffer[] = [];
    let size = 0;
    while (size < 5 * 1024 * 1024) {
      const part = csvLike(next, 2000, ',');
      parts.push(part, Buffer.from('\n'));
      size += part.length + 1;
    }
    const bytes = Buffer.concat(parts);
    const filePath = path.join(tempDir, 'large.csv');
    fs.writeFileSync(filePath, bytes);
    const expected = referenceOutcome(bytes, 0x2c);
    assert.ok('records' in expected && expected.records > 0, 'the reference counts records');
    const fromFile = await withFileBytes(filePath, (source) => countRecords(source, 'utf-8', ','));
    assert.equal(fromFile, expected.records, 'a file source is read into the kernel memory');
    // A source without readInto (as from S3) goes through the sequential reads and a copy.
    const fromMemory = await countRecords(new MemoryByteSource(bytes), 'utf-8', ',');
    assert.equal(fromMemory, expected.records, 'a source without readInto');
  });
});
