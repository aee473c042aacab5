import { pipeline, Readable, Transform } from 'node:stream';

import ExcelJS from 'exceljs';

import { InletError } from '../errors';
import { SNIFF_BYTES } from '@/lib/file-rules';

import { oleInXlsxProblem } from '../formats';
import type { ByteSource } from '../storage/object-store';
import { chooseSheet, dateToSerial, parseRange, serialToGridValue, SheetCollector, type SheetInfo, type SheetState, type SheetTable } from './spreadsheet';
import type { GridValue, MergeRange } from './table';
import type { ReaderOptions } from './types';
import { inspectZip, openZipEntry, type ZipSummary } from './zip-guard';

/** Maximum time an .xlsx preview may take before it fails as a parse failure. */
export const XLSX_TIMEOUT_MS = 60_000;

const OLE_SIGNATURE = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/** Part name of the workbook; exceljs 4.4 reads only workbooks stored there. */
const WORKBOOK_PART = 'xl/workbook.xml';
const WORKBOOK_RELS_PART = 'xl/_rels/workbook.xml.rels';

// exceljs 4.4 keeps what the streaming reader learns about the workbook in fields that its type
// declarations leave out; these are the ones read here.
interface WorkbookInternals {
  model?: { sheets?: { name?: string; rId?: string; state?: string }[] };
  workbookRels?: { Id?: string; Type?: string; Target?: string }[];
  properties?: { model?: { date1904?: boolean } };
  _parseSharedStrings(entry: NodeJS.ReadableStream): AsyncGenerator<unknown>;
  _parseStyles(entry: NodeJS.ReadableStream): Promise<void>;
  _parseRels(entry: NodeJS.ReadableStream): Promise<void>;
  _parseWorkbook(entry: NodeJS.ReadableStream): Promise<void>;
  _parseWorksheet(iterator: AsyncIterable<Buffer | string>, sheetNo: string): Generator<{ eventType: string; value: unknown }>;
}

interface WorksheetInternals {
  [Symbol.asyncIterator](): AsyncIterator<ExcelJS.Row>;
}

export interface XlsxPreview extends SheetTable {
  sheets: SheetInfo[];
  selectedSheet: string | undefined;
}

function parseFailure(reason: string): InletError {
  return new InletError('INPUT_PARSE_FAILED', `The workbook could not be read: ${reason}. Open and save it again in a spreadsheet program, then upload the new file.`, { reason });
}

/**
 * Resolves a relationship target of the workbook part to a zip entry name. Targets are relative to
 * the folder of workbook.xml (`worksheets/sheet1.xml`, as Excel writes them) or absolute within the
 * package (`/xl/worksheets/sheet1.xml`, as openpyxl writes them).
 */
export function resolveWorkbookTarget(target: string): string {
  const segments = target.startsWith('/') ? [] : WORKBOOK_PART.split('/').slice(0, -1);
  for (const segment of target.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  return segments.join('/');
}

interface WorksheetPart extends SheetInfo {
  /** Zip entry name of the worksheet XML. */
  partName: string;
}

/** Lists the worksheets of a workbook with their state and part; chart sheets and macro sheets are left out. */
function listWorksheets(workbook: WorkbookInternals): WorksheetPart[] {
  const relations = new Map((workbook.workbookRels ?? []).map((relation) => [relation.Id, relation]));
  const sheets: WorksheetPart[] = [];
  for (const sheet of workbook.model?.sheets ?? []) {
    const relation = relations.get(sheet.rId);
    if (!(relation?.Type ?? '').endsWith('/worksheet') || sheet.name === undefined) continue;
    const state: SheetState = sheet.state === 'hidden' || sheet.state === 'veryHidden' ? sheet.state : 'visible';
    sheets.push({ name: sheet.name, state, partName: resolveWorkbookTarget(relation?.Target ?? '') });
  }
  return sheets;
}

/** Returns the part that the workbook relationship of `type` (the last segment of its URI) names, else `fallback`. */
function relatedPart(workbook: WorkbookInternals, type: string, fallback: string): string {
  const relation = (workbook.workbookRels ?? []).find((candidate) => (candidate.Type ?? '').endsWith(`/${type}`));
  return relation?.Target === undefined ? fallback : resolveWorkbookTarget(relation.Target);
}

/** Re-chunks a UTF-8 byte stream into strings, so that no character is split between two chunks. */
function utf8Strings(): Transform {
  const decoder = new TextDecoder('utf-8');
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _encoding, callback) {
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
 * between tags and collects the merged ranges, which the streaming reader of exceljs skips.
 */
async function* watchWorksheet(source: AsyncIterable<Buffer | string>, merges: MergeRange[]): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let carry = '';
  for await (const chunk of source) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;

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
 * other part is skipped without being parsed. Every byte comes through ranged reads of `source`:
 * the head, the zip directory at the tail, then the parts the preview needs.
 */
export async function readXlsx(source: ByteSource, options: ReaderOptions): Promise<XlsxPreview> {
  const head = await source.read(0, Math.min(SNIFF_BYTES, source.sizeBytes));
  if (head.subarray(0, 8).equals(OLE_SIGNATURE)) {
    const problem = oleInXlsxProblem(head);
    throw new InletError(problem.code === 'INPUT_ENCRYPTED' ? 'INPUT_ENCRYPTED' : 'INPUT_PARSE_FAILED', problem.message, {});
  }
  if (!head.subarray(0, 4).equals(ZIP_SIGNATURE)) throw parseFailure('the file does not start like a zip archive, so it is not an .xlsx workbook');

  const zip = await inspectZip(source);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(parseFailure(`reading it took longer than ${XLSX_TIMEOUT_MS / 1000} s`)), XLSX_TIMEOUT_MS);
  });
  const reading = readWorkbook(source, zip, options);
  reading.catch(() => undefined); // once the time limit fires, the read is abandoned and its error unused
  try {
    return await Promise.race([reading, limit]);
  } catch (error) {
    if (error instanceof InletError) throw error;
    throw parseFailure(error instanceof Error ? error.message : String(error));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads the parts a preview needs through the zip directory, in dependency order: relationships,
 * workbook, shared strings and styles, then the chosen worksheet. The order of entries in the
 * archive does not matter, and no other worksheet is inflated.
 *
 * The streaming `parse()` of exceljs 4.4 is not used because it loses entries at random. unzipper
 * 0.10 emits `end` on its entry stream as soon as all input is consumed, while entries it pushed
 * may still wait in the paused stream. A worksheet stored before sharedStrings.xml then came back
 * without its shared-string cells in some runs.
 */
async function readWorkbook(source: ByteSource, zip: ZipSummary, options: ReaderOptions): Promise<XlsxPreview> {
  // OPC part names compare case-insensitively.
  const entries = new Map(zip.entries.map((entry) => [entry.name.toLowerCase(), entry]));
  const open = async (partName: string): Promise<NodeJS.ReadableStream | undefined> => {
    const entry = entries.get(partName.toLowerCase());
    return entry === undefined ? undefined : openZipEntry(source, entry);
  };
  // exceljs decodes each inflated chunk on its own, so a character split between two chunks comes
  // out garbled. Feeding it whole-character strings avoids that.
  const openText = async (partName: string): Promise<NodeJS.ReadableStream | undefined> => {
    const part = await open(partName);
    if (part === undefined) return undefined;
    const decoder = utf8Strings();
    pipeline(part, decoder, () => undefined); // an error reaches the consumer through `decoder`
    return decoder;
  };

  // NOTE: exceljs keeps the whole shared-string table in memory. Each part may inflate only to the
  // size its directory entry declares, and the zip checks bound those sizes, but a workbook whose
  // sharedStrings.xml inflates to hundreds of MiB can still grow the process past 256 MiB.
  // The reader's own input is never read: each part reaches it as a stream from openZipEntry.
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(Readable.from([]), {
    sharedStrings: 'cache',
    styles: 'cache',
    hyperlinks: 'ignore',
    worksheets: 'emit',
    entries: 'ignore',
  }) as unknown as WorkbookInternals;

  const relations = await open(WORKBOOK_RELS_PART);
  if (relations !== undefined) await reader._parseRels(relations);
  const workbookPart = await openText(WORKBOOK_PART);
  if (workbookPart === undefined) throw parseFailure(`it has no ${WORKBOOK_PART} part, so it is not an Excel workbook`);
  // exceljs reads only date1904="1", while LibreOffice writes date1904="true".
  let date1904 = false;
  const scanner = new Transform({
    objectMode: true,
    transform(text: string, _encoding, callback) {
      if (WORKBOOK_DATE_1904.test(text)) date1904 = true;
      callback(null, text);
    },
  });
  pipeline(workbookPart, scanner, () => undefined);
  await reader._parseWorkbook(scanner);

  const sharedStrings = await openText(relatedPart(reader, 'sharedStrings', 'xl/sharedStrings.xml'));
  if (sharedStrings !== undefined) {
    // In 'cache' mode the generator yields nothing, so running it to the end is the whole parse.
    const parsing = reader._parseSharedStrings(sharedStrings);
    for (let step = await parsing.next(); step.done !== true; step = await parsing.next());
  }
  const styles = await open(relatedPart(reader, 'styles', 'xl/styles.xml'));
  if (styles !== undefined) await reader._parseStyles(styles);

  const worksheets = listWorksheets(reader);
  const chosen = chooseSheet(worksheets, options.sheetName) as WorksheetPart | undefined;
  if (!chosen) throw parseFailure('it has no worksheets');
  const sheets: SheetInfo[] = worksheets.map(({ name, state }) => ({ name, state }));
  const part = await open(chosen.partName);
  if (part === undefined) throw parseFailure(`the part of sheet ${JSON.stringify(chosen.name)} is missing or not at the path the workbook names`);

  const merges: MergeRange[] = [];
  const [event] = reader._parseWorksheet(watchWorksheet(part as AsyncIterable<Buffer>, merges), '1');
  const worksheet = event?.value as WorksheetInternals;
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
  const table = collector.finish(merges, options);
  return { ...table, sheets, selectedSheet: chosen.name };
}
