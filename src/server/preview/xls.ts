import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

import { InletError, isErrorCode, type ErrorDetails } from '../errors';
import { byteRangeStream } from '../storage/byte-ranges';
import type { ByteSource } from '../storage/object-store';
import { HEADER_BLOCK_ROWS, serialToGridValue, SheetCollector, type SheetInfo, type SheetTable } from './spreadsheet';
import type { GridValue, MergeRange } from './table';
import type { ReaderOptions } from './types';

/** Limits of the child process that parses an .xls workbook. */
export const XLS_TIMEOUT_MS = 30_000;
export const XLS_HEAP_MIB = 512;
/**
 * Largest .xls read at all. The child keeps the whole file in one Buffer (read from the file, or
 * from its stdin when the bytes come from the bucket), which lives outside the V8 heap limit, so
 * this bound keeps the child's total memory near the heap limit. BIFF8 sheets hold at most 65,536
 * rows, so real .xls files are rarely above a few tens of MiB.
 */
export const MAX_XLS_BYTES = 128 * 1024 * 1024;
/** Maximum size of the child's reply, which contains the sample rows and three numbers for each other row. */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

type ChildCell = null | string | boolean | [number, string];

type ChildReply =
  | {
      ok: true;
      sheets: SheetInfo[];
      date1904: boolean;
      selectedSheet: string;
      rows: [number, ChildCell[]][];
      extents: [number, number, number][];
      merges: MergeRange[];
    }
  | { ok: false; code: string; message: string; details?: ErrorDetails };

export interface XlsPreview extends SheetTable {
  sheets: SheetInfo[];
  selectedSheet: string;
}

function parseFailure(reason: string): InletError {
  return new InletError('INPUT_PARSE_FAILED', `The workbook could not be read as an .xls file: ${reason}.`, { reason });
}

/** The workbook to read: a local file the child opens itself, or bytes the parent sends to its stdin. */
export type XlsInput = { kind: 'file'; path: string } | { kind: 'bytes'; bytes: ByteSource };

/**
 * Runs the child script and returns its reply; every way the child can fail becomes an InletError.
 * The time limit counts from the start of the child, so with bytes from the bucket it includes
 * their transfer.
 */
function runChild(scriptPath: string, input: XlsInput, request: object): Promise<ChildReply> {
  return new Promise((resolve, reject) => {
    // With "-" in place of a path, the child reads the workbook from stdin.
    const fileArgument = input.kind === 'file' ? input.path : '-';
    const child = spawn(process.execPath, [`--max-old-space-size=${XLS_HEAP_MIB}`, scriptPath, fileArgument, JSON.stringify(request)], {
      stdio: 'pipe',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let failure: InletError | undefined;

    const stop = (error: InletError): void => {
      failure ??= error;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(parseFailure(`reading it took longer than ${XLS_TIMEOUT_MS / 1000} s, so it was stopped`)), XLS_TIMEOUT_MS);

    if (input.kind === 'file') {
      child.stdin.end();
    } else {
      // The child exits early on a failure of its own, and its reply gives the reason. The broken
      // pipe that then ends this transfer is not the cause, but a failed read from the store is.
      child.stdin.on('error', () => undefined);
      pipeline(byteRangeStream(input.bytes, { readAhead: true }), child.stdin).catch((error: unknown) => {
        const code = (error as { code?: unknown } | null)?.code;
        if (code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED') return;
        const message = error instanceof Error ? error.message : String(error);
        stop(error instanceof InletError ? error : new InletError('OBJECT_STORE_FAILED', `The .xls workbook could not be read from the object store: ${message}`, {}));
      });
    }

    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_REPLY_BYTES) stop(parseFailure('the reader produced more output than expected'));
      else stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new InletError('INTERNAL', `The .xls reader process could not start: ${error.message}`, { scriptPath }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (/heap out of memory|Allocation failed/iu.test(stderr)) {
        return reject(parseFailure(`it needs more than the ${XLS_HEAP_MIB} MiB a preview may use`));
      }
      if (code !== 0) {
        if (/Cannot find module|ERR_MODULE_NOT_FOUND/u.test(stderr)) {
          return reject(new InletError('INTERNAL', `The .xls reader script is missing: ${scriptPath}`, { scriptPath }));
        }
        return reject(parseFailure(`the reader process exited with ${signal ?? `code ${code}`}`));
      }
      try {
        resolve(JSON.parse(Buffer.concat(stdout).toString('utf8')) as ChildReply);
      } catch {
        reject(parseFailure('the reader process returned no result'));
      }
    });
  });
}

function toGridValue(cell: ChildCell, date1904: boolean): GridValue {
  if (Array.isArray(cell)) return serialToGridValue(cell[0], date1904, cell[1]);
  return cell;
}

/**
 * Reads a legacy .xls workbook (BIFF5 and BIFF8) with SheetJS in a child process limited to
 * XLS_TIMEOUT_MS and XLS_HEAP_MIB of heap, then builds the preview here from the rows it returns.
 * SheetJS needs the whole workbook, so bytes from the bucket are streamed to the child's stdin in
 * ranged reads, and nothing is written to disk.
 */
export async function readXls(scriptPath: string, input: XlsInput, options: ReaderOptions): Promise<XlsPreview> {
  const size = input.kind === 'file' ? (await fs.stat(input.path)).size : input.bytes.sizeBytes;
  if (size > MAX_XLS_BYTES) {
    throw new InletError('INPUT_PARSE_FAILED', `The .xls workbook is ${size} bytes, more than the ${MAX_XLS_BYTES}-byte limit for legacy workbooks; save it as .xlsx or CSV and upload that.`, {
      sizeBytes: size,
      limitBytes: MAX_XLS_BYTES,
    });
  }

  const collector = new SheetCollector(options.headerRow, options.rows);
  const reply = await runChild(scriptPath, input, {
    sizeBytes: size,
    sheetName: options.sheetName,
    headerRow: options.headerRow ?? null,
    rowLimit: collector.sampleRows,
    keepFirst: collector.keepFirst,
    headerBlockRows: HEADER_BLOCK_ROWS,
  });
  if (!reply.ok) {
    const code = isErrorCode(reply.code) ? reply.code : 'INPUT_PARSE_FAILED';
    throw new InletError(code, reply.message, reply.details ?? {});
  }

  // Rows with cells and rows given by extent arrive as two ascending lists; feed them in row order.
  let next = 0;
  for (const [rowNumber, cells] of reply.rows) {
    for (; next < reply.extents.length && (reply.extents[next]?.[0] ?? Infinity) < rowNumber; next += 1) {
      const [extentRow, first, last] = reply.extents[next] ?? [0, 0, 0];
      collector.addExtent(extentRow, first, last);
    }
    collector.add(rowNumber, cells.map((cell) => toGridValue(cell, reply.date1904)));
  }
  for (; next < reply.extents.length; next += 1) {
    const [extentRow, first, last] = reply.extents[next] ?? [0, 0, 0];
    collector.addExtent(extentRow, first, last);
  }

  const table = collector.finish(reply.merges, options);
  return { ...table, sheets: reply.sheets, selectedSheet: reply.selectedSheet };
}
