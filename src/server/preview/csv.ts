import fs from 'node:fs';

import { parse, type Options as CsvOptions } from 'csv-parse';

import { InletError } from '../errors';
import { inferColumnType, normalizeHeaderNames } from './columns';
import type { Cell, DatasetReader, DatasetSource, PreviewResult, ReaderOptions } from './types';

/** How long a preview waits for the exact row count before it returns an estimate. */
const COUNT_WAIT_MS = 5000;

const SUPPORTED_ENCODINGS = ['utf-8'] as const;

function csvOptions(delimiter: string): CsvOptions {
  return {
    delimiter,
    bom: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
  };
}

/** Counts the records of a CSV file in one streaming, quote-aware pass. */
function countRecords(filePath: string, delimiter: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let records = 0;
    const parser = parse({ ...csvOptions(delimiter), raw: false });
    parser.on('readable', () => {
      while (parser.read() !== null) records += 1;
    });
    parser.on('error', reject);
    parser.on('end', () => resolve(records));
    fs.createReadStream(filePath).on('error', reject).pipe(parser);
  });
}

/** Reads the first `limit` records from the head of the file, without reading the rest. */
function readHeadRecords(filePath: string, delimiter: string, limit: number): Promise<{ records: string[][]; bytesRead: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const records: string[][] = [];
    const input = fs.createReadStream(filePath, { highWaterMark: 64 * 1024 });
    const parser = parse(csvOptions(delimiter));
    let settled = false;

    const finish = (complete: boolean): void => {
      if (settled) return;
      settled = true;
      const bytesRead = input.bytesRead;
      input.destroy();
      parser.destroy();
      resolve({ records, bytesRead, complete });
    };

    parser.on('readable', () => {
      let record: string[] | null;
      while ((record = parser.read() as string[] | null) !== null) {
        records.push(record);
        if (records.length >= limit) {
          finish(false);
          return;
        }
      }
    });
    parser.on('error', (error) => {
      if (settled) return;
      settled = true;
      input.destroy();
      reject(error);
    });
    parser.on('end', () => finish(true));
    input.on('error', (error) => {
      if (settled) return;
      settled = true;
      reject(error);
    });
    input.pipe(parser);
  });
}

// Exact counts are cached per file content and read options; they never change for those.
const countCache = new Map<string, Promise<number>>();

function cachedCount(source: DatasetSource, delimiter: string): Promise<number> {
  const key = `${source.sha256}\u0000${delimiter}`;
  let pending = countCache.get(key);
  if (!pending) {
    pending = countRecords(source.filePath, delimiter);
    pending.catch(() => countCache.delete(key));
    countCache.set(key, pending);
  }
  return pending;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function describeParseError(error: unknown): InletError {
  const message = error instanceof Error ? error.message : String(error);
  return new InletError('INPUT_PARSE_FAILED', `The CSV file could not be read: ${message}`, { reason: message });
}

/**
 * Reads UTF-8 delimited text. The sample comes from the head of the file; the exact row count is a
 * separate streaming pass, cached per file and delimiter.
 * NOTE: encoding detection and delimiter sniffing are not implemented yet; the reader assumes UTF-8
 * and a comma unless the request names another delimiter.
 */
export class CsvReader implements DatasetReader {
  async preview(source: DatasetSource, options: ReaderOptions): Promise<PreviewResult> {
    if (options.encoding !== undefined && !(SUPPORTED_ENCODINGS as readonly string[]).includes(options.encoding.toLowerCase())) {
      throw new InletError('INPUT_INVALID', `Encoding ${JSON.stringify(options.encoding)} is not supported; use utf-8.`, {
        field: 'encoding',
        value: options.encoding,
        allowed: SUPPORTED_ENCODINGS,
      });
    }
    const delimiter = options.delimiter ?? (source.extension === '.tsv' ? '\t' : ',');
    if (source.sizeBytes === 0) throw emptyFile();

    const suggestedHeaderRow = 1;
    const headerRow = options.headerRow === undefined ? suggestedHeaderRow : options.headerRow;
    const headerRecords = headerRow ?? 0;

    let head: Awaited<ReturnType<typeof readHeadRecords>>;
    try {
      head = await readHeadRecords(source.filePath, delimiter, headerRecords + options.rows);
    } catch (error) {
      throw describeParseError(error);
    }
    if (head.records.length === 0) throw emptyFile();
    if (headerRow !== null && headerRow > head.records.length) {
      throw new InletError('INPUT_INVALID', `Header row ${headerRow} is past the end of the table, which has ${head.records.length} rows.`, {
        field: 'headerRow',
        value: headerRow,
      });
    }

    const headerCells = headerRow === null ? [] : (head.records[headerRow - 1] ?? []);
    const dataRecords = head.records.slice(headerRecords);
    const width = Math.max(headerCells.length, ...dataRecords.map((record) => record.length));
    const names = normalizeHeaderNames(Array.from({ length: width }, (_, index) => headerCells[index] ?? ''));
    const shownWidth = Math.min(width, options.columns);

    const rows: Cell[][] = dataRecords.map((record) =>
      Array.from({ length: shownWidth }, (_, index) => {
        const value = record[index];
        return value === undefined || value === '' ? null : value;
      }),
    );
    const columns = names.slice(0, shownWidth).map((name, index) => ({
      name,
      type: inferColumnType(rows.map((row) => row[index] as string | null)),
    }));

    let rowCount: number;
    let rowCountExact: boolean;
    if (head.complete) {
      rowCount = dataRecords.length;
      rowCountExact = true;
    } else {
      const counting = cachedCount(source, delimiter);
      let total: number | undefined;
      try {
        total = options.waitForCount ? await withTimeout(counting, COUNT_WAIT_MS) : await withTimeout(counting, 0);
      } catch (error) {
        throw describeParseError(error);
      }
      if (total === undefined) {
        // An estimate from the sample's density until the counting pass finishes.
        rowCount = Math.max(dataRecords.length, Math.round((head.records.length / Math.max(head.bytesRead, 1)) * source.sizeBytes) - headerRecords);
        rowCountExact = false;
      } else {
        rowCount = Math.max(0, total - headerRecords);
        rowCountExact = true;
      }
    }

    return {
      datasetKey: source.datasetKey,
      format: 'csv',
      columns,
      rows,
      rowCount,
      rowCountExact,
      columnCount: width,
      headerRow,
      suggestedHeaderRow,
      encoding: 'utf-8',
      delimiter,
      warnings: [],
    };
  }
}

function emptyFile(): InletError {
  return new InletError('INPUT_EMPTY_FILE', 'The file holds no rows: it is empty or has only blank lines.', {});
}
