import { Readable, Transform } from 'node:stream';

import { parse, type Options as CsvParseOptions } from 'csv-parse';

import { InletError } from '../errors';
import { readSequentially } from '../storage/byte-ranges';
import type { ByteSource } from '../storage/object-store';
import { countRecords } from './count';
import { bomLength, createDecoder, detectEncoding, ENCODING_SAMPLE_BYTES, normalizeEncodingOverride, type CsvEncoding } from './encoding';
import { validateReaderOptions, waitForCount } from './options';
import { normalizeDelimiterOverride, sniffDelimiter } from './sniff';
import { buildTable, footnotesWarning, HEADER_WINDOW_ROWS, suggestHeaderRow, trailingFootnoteRows, TYPE_SAMPLE_ROWS, typesFromSampleWarning, type GridRow } from './table';
import type { DatasetReader, DatasetSource, PreviewResult, PreviewWarning, ReaderOptions } from './types';

/** The longest record the sample parser buffers; a longer one is almost always a quote left open. */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** Exact counts kept per reader; each entry is a few numbers, so the bound only stops slow growth. */
const COUNT_CACHE_ENTRIES = 512;

function parseOptions(delimiter: string): CsvParseOptions {
  return {
    delimiter,
    record_delimiter: ['\r\n', '\n', '\r'],
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_BYTES,
  };
}

interface HeadRecords {
  records: string[][];
  /**
   * Bytes of the file up to the end of the last record returned. For UTF-8 this is exact. For
   * other encodings it is an estimate: the parser's UTF-8 count scaled by the ratio of file bytes
   * to decoded UTF-8 bytes read so far.
   */
  bytesRead: number;
  /** The records are all the records of the file. */
  complete: boolean;
}

/** Size of the first read after the encoding sample; later reads grow fourfold up to SEQUENTIAL_READ_BYTES. */
const SAMPLE_READ_BYTES = 256 * 1024;

/**
 * Size of the pieces a read is handed to the decoder and parser in. csv-parse parses each piece it
 * gets whole, so small pieces let the sample stop within one piece of its last record, whatever the
 * size of the read.
 */
const PARSE_SLICE_BYTES = 64 * 1024;

interface ParsedRecord {
  record: string[];
  info: { bytes: number };
}

/**
 * Reads up to `limit` records from the head of the file, without reading the rest. Parsing starts
 * on `head`, the encoding sample already read, and goes on with ranged reads that stop as soon as
 * the limit is reached.
 */
function readHeadRecords(bytes: ByteSource, head: Buffer, encoding: CsvEncoding, bomBytes: number, delimiter: string, limit: number): Promise<HeadRecords> {
  return new Promise((resolve, reject) => {
    const records: string[][] = [];
    let fileBytesDecoded = 0;
    let utf8BytesDecoded = 0;
    let lastRecordUtf8Bytes = 0;
    async function* fileChunks(): AsyncGenerator<Buffer> {
      if (head.length > bomBytes) yield head.subarray(bomBytes);
      for await (const chunk of readSequentially(bytes, { start: head.length, firstChunkBytes: SAMPLE_READ_BYTES })) {
        for (let offset = 0; offset < chunk.length; offset += PARSE_SLICE_BYTES) yield chunk.subarray(offset, offset + PARSE_SLICE_BYTES);
      }
    }
    const input = Readable.from(fileChunks(), { objectMode: false });
    const decoder = createDecoder(encoding);
    const decoding = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        const text = decoder.decode(chunk, { stream: true });
        fileBytesDecoded += chunk.length;
        utf8BytesDecoded += Buffer.byteLength(text);
        callback(null, text);
      },
      flush(callback) {
        const text = decoder.decode();
        utf8BytesDecoded += Buffer.byteLength(text);
        callback(null, text);
      },
    });
    const parser = parse({ ...parseOptions(delimiter), info: true });
    let settled = false;

    const stop = (): void => {
      input.destroy();
      decoding.destroy();
      parser.destroy();
    };
    const finish = (complete: boolean): void => {
      if (settled) return;
      settled = true;
      const bytesRead = bomBytes + Math.round(lastRecordUtf8Bytes * (fileBytesDecoded / Math.max(utf8BytesDecoded, 1)));
      stop();
      resolve({ records, bytesRead, complete });
    };
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      stop();
      reject(describeParseError(error));
    };

    parser.on('readable', () => {
      let parsed: ParsedRecord | null;
      while (!settled && (parsed = parser.read() as ParsedRecord | null) !== null) {
        records.push(parsed.record);
        lastRecordUtf8Bytes = parsed.info.bytes;
        if (records.length >= limit) finish(false);
      }
    });
    parser.on('end', () => finish(true));
    parser.on('error', fail);
    decoding.on('error', fail);
    input.on('error', fail);
    input.pipe(decoding).pipe(parser);
  });
}

function describeParseError(error: unknown): InletError {
  if (error instanceof InletError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new InletError('INPUT_PARSE_FAILED', `The delimited text could not be parsed: ${reason}. Check the delimiter and the quoting, or choose another encoding.`, {
    reason,
  });
}

function emptyFile(): InletError {
  return new InletError('INPUT_EMPTY_FILE', 'The file contains no rows: it is empty or has only blank or space-only lines.', {});
}

/**
 * Reads delimited text (CSV, TSV and the like). Every choice it makes is returned and can be
 * overridden: the encoding (from the byte order mark and the bytes), the delimiter (sniffed from the
 * head) and the header row (suggested from the shape of the first rows). Row numbers count records:
 * blank lines are not rows, and a quoted field that spans lines stays in one row.
 *
 * The sample comes from the head of the file, through ranged reads that stop once the sample is
 * complete. The exact row count is a separate sequential pass over a byte source of its own, cached
 * per file content, encoding and delimiter. The preview waits for it only briefly, and the pass
 * goes on after the preview returns.
 */
export class CsvReader implements DatasetReader {
  private readonly counts = new Map<string, Promise<number>>();
  private readonly finishedCounts = new Map<string, number>();
  private readonly aborter = new AbortController();

  async preview(source: DatasetSource, options: ReaderOptions): Promise<PreviewResult> {
    validateReaderOptions(options);
    const encodingOverride = options.encoding === undefined ? undefined : normalizeEncodingOverride(options.encoding);
    const delimiterOverride = options.delimiter === undefined ? undefined : normalizeDelimiterOverride(options.delimiter);
    if (source.sizeBytes === 0) throw emptyFile();

    const bytes = await source.openBytes();
    try {
      return await this.previewBytes(source, bytes, options, encodingOverride, delimiterOverride);
    } finally {
      await bytes.close();
    }
  }

  private async previewBytes(
    source: DatasetSource,
    bytes: ByteSource,
    options: ReaderOptions,
    encodingOverride: CsvEncoding | undefined,
    delimiterOverride: string | undefined,
  ): Promise<PreviewResult> {
    const head = await bytes.read(0, Math.min(ENCODING_SAMPLE_BYTES, bytes.sizeBytes));
    const encoding = encodingOverride ?? detectEncoding(head).encoding;
    const bomBytes = bomLength(head, encoding);
    if (encoding !== 'utf-16le' && encoding !== 'utf-16be' && head.includes(0)) {
      throw new InletError('INPUT_PARSE_FAILED', `The file contains NUL bytes, so it is not ${encoding} text; check that it is a CSV file or choose a UTF-16 encoding.`, {
        encoding,
      });
    }

    const headText = createDecoder(encoding).decode(head.subarray(bomBytes), { stream: true });
    const encodingWarning = encodingOverride === undefined ? undefined : doubtfulEncodingWarning(head, headText, encodingOverride);
    const delimiter = delimiterOverride ?? sniffDelimiter(headText, source.extension === '.tsv' ? '\t' : ',');

    const recordLimit = Math.max(HEADER_WINDOW_ROWS, options.headerRow ?? 0) + Math.max(options.rows, TYPE_SAMPLE_ROWS);
    const { records, bytesRead, complete } = await readHeadRecords(bytes, head, encoding, bomBytes, delimiter, recordLimit);
    // A file of blank and space-only lines has no header and no data, whatever csv-parse makes of it.
    if (records.length === 0 || (complete && records.every((record) => record.every((field) => field.trim() === '')))) throw emptyFile();

    const gridRows: GridRow[] = records.map((cells, index) => ({ rowNumber: index + 1, cells }));
    const suggestedHeaderRow = suggestHeaderRow(gridRows.slice(0, HEADER_WINDOW_ROWS), [], 'text');
    const headerRow = options.headerRow === undefined ? suggestedHeaderRow : options.headerRow;
    if (headerRow !== null && headerRow > records.length) {
      throw new InletError('INPUT_INVALID', `Header row ${headerRow} is past the end of the file, which has ${records.length} rows; choose a row from 1 to ${records.length}.`, {
        field: 'headerRow',
        value: headerRow,
        rowCount: records.length,
      });
    }

    // NOTE: the width comes from the header and the rows read for the sample; a wider ragged row
    // further down the file is not seen, so columnCount can be low for such files.
    const tableRows = gridRows.filter((row) => headerRow === null || row.rowNumber >= headerRow);
    const columnCount = tableRows.slice(0, options.rows + 1).reduce((width, row) => Math.max(width, row.cells.length), 0);
    // Footnotes are looked for only when the whole file was read, because they sit at its end.
    // NOTE: a file longer than the sample keeps its footnote lines as data rows, without a warning.
    let footnotes: GridRow[] = [];
    if (complete && options.headerRow === undefined) {
      const dataRows = tableRows.filter((row) => headerRow === null || row.rowNumber > headerRow);
      footnotes = trailingFootnoteRows(dataRows, 'text', columnCount);
    }
    const footnoteNumbers = new Set(footnotes.map((row) => row.rowNumber));
    const table = buildTable({
      mode: 'text',
      rows: gridRows.filter((row) => !footnoteNumbers.has(row.rowNumber)),
      merges: [],
      headerRow,
      firstColumn: 0,
      columnCount,
      rowLimit: options.rows,
      columnLimit: options.columns,
    });

    const headerRecords = headerRow ?? 0;
    let rowCount = records.length - headerRecords - footnotes.length;
    let rowCountExact = complete;
    if (!complete && !options.waitForCount) {
      // The counting pass starts after this preview returns, so that its first reads do not delay it.
      const known = this.knownCount(source, encoding, delimiter);
      if (known === undefined) {
        setImmediate(() => void this.cachedCount(source, encoding, delimiter));
        rowCount = Math.max(rowCount, Math.round((records.length / Math.max(bytesRead, 1)) * source.sizeBytes) - headerRecords);
      } else {
        rowCount = Math.max(0, known - headerRecords);
        rowCountExact = true;
      }
    } else if (!complete) {
      const total = await waitForCount(this.cachedCount(source, encoding, delimiter), true);
      if (total === undefined) {
        // An estimate from the sample's density until the counting pass finishes.
        rowCount = Math.max(rowCount, Math.round((records.length / Math.max(bytesRead, 1)) * source.sizeBytes) - headerRecords);
      } else {
        rowCount = Math.max(0, total - headerRecords);
        rowCountExact = true;
      }
    }

    const warnings = [...table.warnings];
    if (encodingWarning) warnings.push(encodingWarning);
    if (footnotes.length > 0) warnings.push(footnotesWarning(footnotes));
    const sampleWarning = typesFromSampleWarning(table.typedRows, rowCount, rowCountExact);
    if (sampleWarning) warnings.push(sampleWarning);

    return {
      datasetKey: source.datasetKey,
      format: 'csv',
      columns: table.columns,
      rows: table.rows,
      rowCount,
      rowCountExact,
      columnCount,
      headerRow,
      suggestedHeaderRow,
      encoding,
      delimiter,
      warnings,
    };
  }

  /** Stops counting passes still running, for shutdown and tests. */
  close(): void {
    this.aborter.abort();
  }

  /** Returns the exact count when a finished pass has cached it. */
  private knownCount(source: DatasetSource, encoding: CsvEncoding, delimiter: string): number | undefined {
    return this.finishedCounts.get(countKey(source, encoding, delimiter));
  }

  private cachedCount(source: DatasetSource, encoding: CsvEncoding, delimiter: string): Promise<number> {
    const key = countKey(source, encoding, delimiter);
    let pending = this.counts.get(key);
    if (pending) return pending;

    pending = countSource(source, encoding, delimiter, this.aborter.signal).then(
      (total) => {
        this.finishedCounts.set(key, total);
        if (this.finishedCounts.size > COUNT_CACHE_ENTRIES) this.finishedCounts.delete(this.finishedCounts.keys().next().value ?? key);
        return total;
      },
      (error: unknown) => {
        this.counts.delete(key);
        throw describeParseError(error);
      },
    );
    // A pass that no caller waits for any more may still fail; its error is returned to the next caller.
    pending.catch(() => undefined);
    this.counts.set(key, pending);
    if (this.counts.size > COUNT_CACHE_ENTRIES) {
      const oldest = this.counts.keys().next().value;
      if (oldest !== undefined) this.counts.delete(oldest);
    }
    return pending;
  }
}

/** Counts the records through a byte source of its own, which stays open until the count ends. */
async function countSource(source: DatasetSource, encoding: CsvEncoding, delimiter: string, signal: AbortSignal): Promise<number> {
  const bytes = await source.openBytes();
  try {
    return await countRecords(bytes, encoding, delimiter, signal);
  } finally {
    await bytes.close();
  }
}

function countKey(source: DatasetSource, encoding: CsvEncoding, delimiter: string): string {
  return `${source.sha256}\u0000${encoding}\u0000${delimiter}`;
}

/** Share of U+FFFD among the decoded sample's characters above which an encoding override is doubtful. */
const REPLACEMENT_SHARE_LIMIT = 1 / 200;

/**
 * Warns when the bytes do not fit an encoding the user chose. UTF-16 does not fit a sample without
 * a single NUL byte, because UTF-16 text of any script has them in its delimiters and line breaks.
 * Any encoding does not fit when it turns more than REPLACEMENT_SHARE_LIMIT of the characters into
 * U+FFFD.
 */
function doubtfulEncodingWarning(head: Buffer, headText: string, override: CsvEncoding): PreviewWarning | undefined {
  let reason: string | undefined;
  if ((override === 'utf-16le' || override === 'utf-16be') && head.length >= 2 && !head.includes(0)) {
    reason = 'the first bytes contain no NUL byte';
  } else {
    let replaced = 0;
    for (let index = headText.indexOf('\ufffd'); index !== -1; index = headText.indexOf('\ufffd', index + 1)) replaced += 1;
    if (replaced > headText.length * REPLACEMENT_SHARE_LIMIT) reason = `${replaced} of the first ${headText.length} characters are not valid ${override}`;
  }
  if (reason === undefined) return undefined;
  const detected = detectEncoding(head).encoding;
  return {
    code: 'ENCODING_OVERRIDE_DOUBTFUL',
    message: `The file may not be ${override} text: ${reason}. Its bytes read as ${detected}; choose that encoding if the columns or rows look wrong.`,
  };
}
