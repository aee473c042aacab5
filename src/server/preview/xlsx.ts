import fs from 'node:fs';
import { type Readable, Transform } from 'node:stream';

import ExcelJS from 'exceljs';

import { InletError } from '../errors';
import { chooseSheet, dateToSerial, parseRange, serialToGridValue, SheetCollector, type SheetInfo, type SheetState, type SheetTable } from './spreadsheet';
import type { GridValue, MergeRange } from './table';
import type { ReaderOptions } from './types';
import { inspectZip } from './zip-guard';

/** Maximum time an .xlsx preview may take before it fails as a parse failure. */
export const XLSX_TIMEOUT_MS = 60_000;
/**
 * How long parsing may make no progress once the whole file has been read. unzipper 0.10 waits
 * forever for the rest of an entry whose header promises more bytes than a damaged file holds.
 */
export const XLSX_STALL_MS = 1_000;

/** Time of the last sign of parsing progress, for the stall watchdog. */
interface Progress {
  at: number;
}

const OLE_SIGNATURE = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

// exceljs 4.4 keeps what the streaming reader learns about the workbook in fields that its type
// declarations leave out; these are the ones read here.
interface WorkbookInternals {
  model?: { sheets?: { name?: string; rId?: string; state?: string }[] };
  workbookRels?: { Id?: string; Type?: string; Target?: string }[];
  properties?: { model?: { date1904?: boolean } };
  _parseSharedStrings(entry: NodeJS.ReadableStream): AsyncGenerator<unknown>;
  _parseRels(entry: NodeJS.ReadableStream): Promise<void>;
  _parseWorkbook(entry: NodeJS.ReadableStream): Promise<void>;
  parse(): AsyncGenerator<{ eventType: string; value: unknown }>;
}

interface WorksheetInternals {
  name: string;
  iterator: AsyncIterable<Buffer | string>;
  [Symbol.asyncIterator](): AsyncIterator<ExcelJS.Row>;
}

export interface XlsxPreview extends SheetTable {
  sheets: SheetInfo[];
  selectedSheet: string | undefined;
}

function parseFailure(reason: string): InletError {
  return new InletError('INPUT_PARSE_FAILED', `The workbook could not be read: ${reason}. Open and save it again in a spreadsheet program, then upload the new file.`, { reason });
}

/** Lists the worksheets of a workbook with their state; chart sheets and macro sheets are left out. */
function listWorksheets(workbook: WorkbookInternals): SheetInfo[] {
  const relations = new Map((workbook.workbookRels ?? []).map((relation) => [relation.Id, relation.Type ?? '']));
  const sheets: SheetInfo[] = [];
  for (const sheet of workbook.model?.sheets ?? []) {
    const type = relations.get(sheet.rId) ?? '';
    if (!type.endsWith('/worksheet') || sheet.name === undefined) continue;
    const state: SheetState = sheet.state === 'hidden' || sheet.state === 'veryHidden' ? sheet.state : 'visible';
    sheets.push({ name: sheet.name, state });
  }
  return sheets;
}

/** Re-chunks a UTF-8 byte stream into strings, so that no character is split between two chunks. */
function utf8Strings(progress: Progress): Transform {
  const decoder = new TextDecoder('utf-8');
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _encoding, callback) {
      progress.at = Date.now();
      callback(null, decoder.decode(chunk, { stream: true }));
    },
    flush(callback) {
      callback(null, decoder.decode());
    },
  });
}

const WORKBOOK_DATE_1904 = /<(?:[\w-]+:)?workbookPr\b[^>]*\bdate1904="(?:1|true)"/u;
const MERGE_CELL = /<(?:[\w-]+:)?mergeCell\b[^>]*?\bref="([^"]+)"/gu;
// Whitespace after a closing or self-closing tag is indentation: exceljs 4.4 would append it to the
// cell value it is reading (an inline string then ends in "\n      "). Whitespace that is data sits
// inside <t>, right after an opening tag, and is kept.
const INDENTATION = /(<\/[^<>]+>|\/>)\s+(?=<)/gu;
/** Text held back at most while waiting for the next tag, so a huge text node cannot grow the carry. */
const MAX_CARRY_CHARS = 1024 * 1024;

/**
 * Wraps a worksheet's XML stream. It decodes UTF-8 without splitting characters, drops indentation
 * between tags and collects the merged ranges, which the streaming reader of exceljs skips. It stops
 * once more bytes inflate than the zip directory declared for its largest part.
 */
async function* watchWorksheet(source: AsyncIterable<Buffer | string>, merges: MergeRange[], maxBytes: number, progress: Progress): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let inflatedBytes = 0;
  let carry = '';
  for await (const chunk of source) {
    progress.at = Date.now();
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    inflatedBytes += bytes.length;
    if (inflatedBytes > maxBytes) throw parseFailure(`a worksheet inflates past the ${maxBytes} bytes its zip directory declares`);

    // Pass on text up to the last tag start; the rest waits until the next chunk completes it.
    const text = (carry + decoder.decode(bytes, { stream: true })).replace(INDENTATION, '$1');
    let cut = text.lastIndexOf('<');
    if (cut < 0 || text.length - cut > MAX_CARRY_CHARS) cut = text.length;
    const complete = text.slice(0, cut);
    carry = text.slice(cut);
    for (const match of complete.matchAll(MERGE_CELL)) {
      const range = parseRange(match[1] ?? '');
      if (range) merges.push(range);
    }
    if (complete !== '') yield complete;
  }
  const rest = carry + decoder.decode();
  for (const match of rest.matchAll(MERGE_CELL)) {
    const range = parseRange(match[1] ?? '');
    if (range) merges.push(range);
  }
  if (rest !== '') yield rest;
}

function richText(value: { richText: { text: string }[] }): string {
  return value.richText.map((run) => run.text).join('');
}

interface DateSystem {
  /** The workbook uses the 1904 date system. */
  date1904: boolean;
  /** The date system exceljs assumed when it turned serials into Dates. */
  libraryDate1904: boolean;
}

/** Converts one exceljs cell to a grid value: formulas give their cached result, dates become ISO text. */
function gridValueOf(cell: ExcelJS.Cell, dates: DateSystem): GridValue {
  const { date1904 } = dates;
  const value = cell.value;
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return serialToGridValue(value, date1904, cell.numFmt);
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (value instanceof Date) return serialToGridValue(dateToSerial(value, dates.libraryDate1904), date1904, cell.numFmt || 'yyyy-mm-dd');
  if ('richText' in value) return richText(value);
  if ('error' in value) return value.error;
  if ('formula' in value || 'sharedFormula' in value) {
    const result = value.result;
    // NOTE: exceljs 4.4 parses every non-string cached result as a number, so a boolean formula
    // result shows as 1 or 0 and an error result (#N/A) as an empty cell.
    if (typeof result === 'number') return Number.isNaN(result) ? null : serialToGridValue(result, date1904, cell.numFmt);
    if (typeof result === 'string' || typeof result === 'boolean') return result;
    if (result instanceof Date) return serialToGridValue(dateToSerial(result, dates.libraryDate1904), date1904, cell.numFmt);
    return null;
  }
  if ('text' in value && typeof value.text === 'string') return value.text;
  return null;
}

/**
 * Reads an .xlsx workbook with the streaming reader of exceljs: the zip directory is checked for
 * bombs first, the chosen worksheet is streamed once (its stored <dimension> is ignored), and every
 * other part is skipped without being parsed.
 */
export async function readXlsx(filePath: string, options: ReaderOptions): Promise<XlsxPreview> {
  const handle = await fs.promises.open(filePath, 'r');
  const signature = Buffer.alloc(8);
  try {
    await handle.read(signature, 0, 8, 0);
  } finally {
    await handle.close();
  }
  if (signature.equals(OLE_SIGNATURE)) {
    throw new InletError('INPUT_ENCRYPTED', 'The workbook is password-protected (Excel stores such .xlsx files in an encrypted container); save it without a password and upload it again.', {});
  }
  if (!signature.subarray(0, 4).equals(ZIP_SIGNATURE)) throw parseFailure('the file does not start like a zip archive, so it is not an .xlsx workbook');

  const zip = await inspectZip(filePath);
  const input = fs.createReadStream(filePath);
  const progress: Progress = { at: Date.now() };
  let inputEnded = false;
  input.on('end', () => {
    inputEnded = true;
    progress.at = Date.now();
  });

  let timer: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  const limits = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(parseFailure(`reading it took longer than ${XLSX_TIMEOUT_MS / 1000} s`)), XLSX_TIMEOUT_MS);
    watchdog = setInterval(() => {
      if (inputEnded && Date.now() - progress.at > XLSX_STALL_MS) reject(parseFailure('the zip archive ends inside one of its parts, so the file is truncated or damaged'));
    }, XLSX_STALL_MS / 4);
  });
  const reading = streamWorkbook(input, zip.largestEntryBytes, options, progress);
  reading.catch(() => undefined); // once a limit fires, the read is abandoned and its error unused
  try {
    return await Promise.race([reading, limits]);
  } catch (error) {
    if (error instanceof InletError) throw error;
    throw parseFailure(error instanceof Error ? error.message : String(error));
  } finally {
    clearTimeout(timer);
    clearInterval(watchdog);
    input.destroy();
  }
}

/**
 * Lets a worksheet that is not read go by. A worksheet that exceljs parked in a temporary file comes
 * as a file stream that exceljs deletes as soon as the iteration moves on, so the stream is closed
 * first and its late open error ignored.
 */
function skipWorksheet(worksheet: WorksheetInternals): void {
  const iterator = worksheet.iterator as Partial<Readable>;
  if (typeof iterator.destroy === 'function' && typeof iterator.on === 'function') {
    iterator.on('error', () => undefined);
    iterator.destroy();
  }
}

async function streamWorkbook(input: fs.ReadStream, maxPartBytes: number, options: ReaderOptions, progress: Progress): Promise<XlsxPreview> {
  // NOTE: exceljs keeps the whole shared-string table in memory, and the inflate limit below covers
  // only the worksheet stream. A workbook whose sharedStrings.xml inflates to hundreds of MiB (still
  // within the 2 GiB and 200:1 zip checks) can grow the process past 256 MiB.
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(input, {
    sharedStrings: 'cache',
    styles: 'cache',
    hyperlinks: 'ignore',
    worksheets: 'emit',
    entries: 'ignore',
  }) as unknown as WorkbookInternals;

  // exceljs decodes each inflated chunk of the shared strings on its own, so a character split
  // between two chunks comes out garbled. Feeding it whole-character strings avoids that.
  const parseSharedStrings = reader._parseSharedStrings.bind(reader);
  reader._parseSharedStrings = (entry) => parseSharedStrings(entry.pipe(utf8Strings(progress)));

  // exceljs parses a worksheet as soon as it has the shared strings and the relationships, and then
  // fails if workbook.xml comes later in the archive. Holding the relationships back until
  // workbook.xml is parsed makes it park such worksheets in temporary files and parse them last.
  // exceljs also reads only date1904="1", while LibreOffice writes date1904="true".
  let relations: WorkbookInternals['workbookRels'];
  let workbookParsed = false;
  let date1904 = false;
  const parseRels = reader._parseRels.bind(reader);
  reader._parseRels = async (entry) => {
    await parseRels(entry);
    relations = reader.workbookRels;
    if (!workbookParsed) reader.workbookRels = undefined;
  };
  const parseWorkbook = reader._parseWorkbook.bind(reader);
  reader._parseWorkbook = async (entry) => {
    const scanner = utf8Strings(progress);
    scanner.on('data', (text: string) => {
      if (WORKBOOK_DATE_1904.test(text)) date1904 = true;
    });
    await parseWorkbook(entry.pipe(scanner));
    workbookParsed = true;
    reader.workbookRels = relations;
  };

  let sheets: SheetInfo[] | undefined;
  let chosen: SheetInfo | undefined;
  let table: SheetTable | undefined;

  for await (const { eventType, value } of reader.parse()) {
    progress.at = Date.now();
    if (eventType !== 'worksheet') continue;
    sheets ??= listWorksheets(reader);
    chosen ??= chooseSheet(sheets, options.sheetName);
    const worksheet = value as WorksheetInternals;
    if (!chosen || worksheet.name !== chosen.name || table) {
      skipWorksheet(worksheet);
      continue;
    }

    const merges: MergeRange[] = [];
    worksheet.iterator = watchWorksheet(worksheet.iterator, merges, maxPartBytes, progress);
    // exceljs has already turned date-formatted numbers into Dates with its own reading of date1904.
    const converter = { date1904, libraryDate1904: reader.properties?.model?.date1904 === true };
    const collector = new SheetCollector(options.headerRow, options.rows);
    for await (const row of worksheet) {
      const cells: GridValue[] = [];
      row.eachCell({ includeEmpty: false }, (cell, column) => {
        cells[column - 1] = gridValueOf(cell, converter);
      });
      for (let index = 0; index < cells.length; index += 1) cells[index] ??= null;
      collector.add(row.number, cells);
    }
    table = collector.finish(merges, options);
    // The loop goes on so that exceljs deletes the temporary files of worksheets it parked.
  }

  sheets ??= listWorksheets(reader);
  chosen ??= chooseSheet(sheets, options.sheetName);
  if (!chosen) throw parseFailure('it has no worksheets');
  if (!table) throw parseFailure(`the part of sheet ${JSON.stringify(chosen.name)} is missing or not at the path the workbook names`);
  return { ...table, sheets, selectedSheet: chosen.name };
}
