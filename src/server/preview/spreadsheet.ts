/**
 * Helpers shared by the .xlsx and .xls readers: sheet choice, date serials, and the collector that
 * keeps the head of a sheet and the extent of every row while the sheet streams past.
 */
import { InletError } from '../errors';
import { buildTable, footnotesWarning, HEADER_WINDOW_ROWS, suggestHeaderRow, trailingFootnoteRows, TYPE_SAMPLE_ROWS, typesFromSampleWarning, type GridRow, type GridValue, type MergeRange } from './table';
import type { PreviewResult, PreviewWarning, ReaderOptions } from './types';

export type SheetState = 'visible' | 'hidden' | 'veryHidden';

export interface SheetInfo {
  name: string;
  state: SheetState;
}

const MS_PER_DAY = 86_400_000;
/** Serial of 1970-01-01 in the 1900 date system. */
const UNIX_EPOCH_SERIAL = 25_569;
/** Days between the 1900 and 1904 date systems' day zero. */
const DATE_1904_OFFSET_DAYS = 1_462;

/**
 * Picks the sheet to read: the requested one by exact name (hidden sheets included), else the first
 * visible worksheet. An unknown name is INPUT_EXCEL_SHEET_NOT_FOUND with the names there are.
 */
export function chooseSheet(worksheets: readonly SheetInfo[], requested: string | undefined): SheetInfo | undefined {
  if (requested !== undefined) {
    const found = worksheets.find((sheet) => sheet.name === requested);
    if (!found) {
      const available = worksheets.map((sheet) => sheet.name);
      throw new InletError('INPUT_EXCEL_SHEET_NOT_FOUND', `Sheet ${JSON.stringify(requested)} is not a worksheet of this workbook; choose one of: ${available.map((name) => JSON.stringify(name)).join(', ')}.`, {
        sheetName: requested,
        available,
      });
    }
    return found;
  }
  return worksheets.find((sheet) => sheet.state === 'visible') ?? worksheets[0];
}

type DateFormatKind = 'date' | 'datetime' | 'time' | 'elapsed';

/**
 * Classifies an Excel number format by the date and time tokens outside quoted text and [...]
 * sections. `m` is a month unless it sits next to an hour or second token, as Excel reads it.
 * Returns null for a format that shows no date or time.
 */
export function classifyDateFormat(format: string | undefined): DateFormatKind | null {
  if (!format) return null;
  const elapsed = /\[(h+|m+|s+)\]/iu.test(format);
  // The keyword General is matched in any case: German Excel and LibreOffice write GENERAL, and
  // its E would otherwise read as the era-year token.
  const bare = format
    .replace(/"[^"]*"/gu, '')
    .replace(/general/giu, '')
    .replace(/\[[^\]]*\]/gu, '')
    .replace(/\\./gu, '')
    .replace(/_.|\*./gu, '')
    .replace(/E[+-]/gu, '');
  if (elapsed) return 'elapsed';
  const hasTime = /[hs]/iu.test(bare) || /AM\/PM|A\/P/iu.test(bare);
  const withoutMinutes = bare.replace(/AM\/PM|A\/P/giu, '').replace(/h+[^a-z]*m+|m+[^a-z]*s+/giu, 'h');
  const hasDate = /[yde]/iu.test(withoutMinutes) || /m/iu.test(withoutMinutes);
  if (hasDate && hasTime) return 'datetime';
  if (hasDate) return 'date';
  if (hasTime) return 'time';
  return null;
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/**
 * Converts a date serial under a number format to a grid value: an ISO date or date-time, a time
 * of day as HH:MM:SS text, or an elapsed time as H:MM:SS text. Serials are rounded to the second.
 * In the 1900 system serials below 60 are shifted by a day, because Excel counts a 29 February 1900
 * that never existed.
 */
export function serialToGridValue(serial: number, date1904: boolean, format: string | undefined): GridValue {
  const kind = classifyDateFormat(format);
  if (kind === null || !Number.isFinite(serial)) return serial;

  const totalSeconds = Math.round(serial * 86_400);
  if (kind === 'elapsed' || kind === 'time') {
    const seconds = kind === 'time' ? ((totalSeconds % 86_400) + 86_400) % 86_400 : Math.abs(totalSeconds);
    const text = `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor((seconds % 3600) / 60))}:${pad(seconds % 60)}`;
    return kind === 'elapsed' && totalSeconds < 0 ? `-${text}` : text;
  }

  if (serial < 0) return serial;
  let days = serial + (date1904 ? DATE_1904_OFFSET_DAYS : 0);
  if (!date1904 && serial < 60) days += 1;
  const date = new Date(Math.round((days - UNIX_EPOCH_SERIAL) * 86_400) * 1000);
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() > 9999) return serial;

  const day = `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  const hasTimeOfDay = date.getTime() % MS_PER_DAY !== 0;
  if (kind === 'date' && !hasTimeOfDay) return { iso: day, kind: 'date' };
  return { iso: `${day}T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`, kind: 'datetime' };
}

/** Converts a Date that a library built from a serial with the 1900 epoch back to that serial. */
export function dateToSerial(date: Date, date1904: boolean): number {
  return date.getTime() / MS_PER_DAY + UNIX_EPOCH_SERIAL - (date1904 ? DATE_1904_OFFSET_DAYS : 0);
}

function isEmptyValue(value: GridValue | undefined): boolean {
  return value === null || value === undefined || (typeof value === 'string' && value.trim() === '');
}

/** Rows of the sheet above an explicit header row that are kept for a header written across merged rows. */
export const HEADER_BLOCK_ROWS = 50;

/**
 * Collects a sheet as it streams past: the first non-empty rows (for the header suggestion and the
 * sample), the rows around an explicit header row further down, and the row number and used column
 * range of every non-empty row (12 bytes a row), from which the count and the table's extent come.
 */
export class SheetCollector {
  private readonly kept: GridRow[] = [];
  /** Non-empty rows from the top that are always kept: the header window and a full sample below it. */
  readonly keepFirst: number;
  private rowNumbers: Int32Array = new Int32Array(1024);
  private firstColumns: Int32Array = new Int32Array(1024);
  private lastColumns: Int32Array = new Int32Array(1024);
  private rowTotal = 0;
  private dataRowsAfterExplicitHeader = 0;
  /** Data rows kept for the sample and the column types: the requested rows, at least TYPE_SAMPLE_ROWS. */
  readonly sampleRows: number;

  constructor(
    private readonly explicitHeaderRow: number | null | undefined,
    rowLimit: number,
  ) {
    this.sampleRows = Math.max(rowLimit, TYPE_SAMPLE_ROWS);
    this.keepFirst = HEADER_WINDOW_ROWS + this.sampleRows;
  }

  /** Adds a row; rows must arrive in increasing row order, and empty rows are skipped. */
  add(rowNumber: number, cells: GridValue[]): void {
    let first = -1;
    let last = -1;
    for (let column = 0; column < cells.length; column += 1) {
      if (isEmptyValue(cells[column])) continue;
      if (first === -1) first = column;
      last = column;
    }
    if (first === -1) return;

    const header = this.explicitHeaderRow;
    if (this.kept.length < this.keepFirst) {
      this.kept.push({ rowNumber, cells });
    } else if (typeof header === 'number' && rowNumber >= header - HEADER_BLOCK_ROWS && rowNumber <= header) {
      this.kept.push({ rowNumber, cells });
    } else if (typeof header === 'number' && rowNumber > header && this.dataRowsAfterExplicitHeader < this.sampleRows) {
      this.kept.push({ rowNumber, cells });
    }
    this.addExtent(rowNumber, first, last);
  }

  /** Adds a non-empty row that the caller knows is not kept, by its used column range (0-based, inclusive). */
  addExtent(rowNumber: number, firstColumn: number, lastColumn: number): void {
    if (this.rowTotal === this.rowNumbers.length) this.grow();
    this.rowNumbers[this.rowTotal] = rowNumber;
    this.firstColumns[this.rowTotal] = firstColumn;
    this.lastColumns[this.rowTotal] = lastColumn;
    this.rowTotal += 1;
    if (typeof this.explicitHeaderRow === 'number' && rowNumber > this.explicitHeaderRow) this.dataRowsAfterExplicitHeader += 1;
  }

  get nonEmptyRows(): number {
    return this.rowTotal;
  }

  private grow(): void {
    const size = this.rowNumbers.length * 2;
    const copy = (from: Int32Array): Int32Array => {
      const to = new Int32Array(size);
      to.set(from);
      return to;
    };
    this.rowNumbers = copy(this.rowNumbers);
    this.firstColumns = copy(this.firstColumns);
    this.lastColumns = copy(this.lastColumns);
  }

  /** Decides the header row and builds the preview fields a spreadsheet reader returns. */
  finish(merges: readonly MergeRange[], options: ReaderOptions): SheetTable {
    const window = this.kept.slice(0, HEADER_WINDOW_ROWS);
    const suggestedHeaderRow = suggestHeaderRow(window, merges, 'typed');
    const headerRow = options.headerRow === undefined ? suggestedHeaderRow : options.headerRow;

    const lastRowNumber = this.rowTotal > 0 ? (this.rowNumbers[this.rowTotal - 1] ?? 0) : 0;
    if (headerRow !== null && headerRow > lastRowNumber && this.rowTotal > 0) {
      throw new InletError('INPUT_INVALID', `Header row ${headerRow} is below the last row with values, row ${lastRowNumber}; choose a row from 1 to ${lastRowNumber}.`, {
        field: 'headerRow',
        value: headerRow,
        lastRow: lastRowNumber,
      });
    }

    let extent = this.tableExtent(headerRow, merges, new Set());
    // Footnotes sit below the table, so they are looked for only when every row of the sheet was
    // kept. NOTE: a sheet longer than the kept rows keeps its footnote rows as data, without a warning.
    // A sheet without a suggested header has no header whose width separates notes from data rows,
    // so all of its rows stay data.
    let footnotes: GridRow[] = [];
    if (options.headerRow === undefined && headerRow !== null && this.kept.length === this.rowTotal) {
      const dataRows = this.kept.filter((row) => headerRow === null || row.rowNumber > headerRow);
      footnotes = trailingFootnoteRows(dataRows, 'typed', extent.columnCount);
    }
    const footnoteNumbers = new Set(footnotes.map((row) => row.rowNumber));
    if (footnotes.length > 0) extent = this.tableExtent(headerRow, merges, footnoteNumbers);
    const { rowCount, firstColumn, columnCount } = extent;

    const table = buildTable({
      mode: 'typed',
      rows: this.kept.filter((row) => !footnoteNumbers.has(row.rowNumber)),
      merges,
      headerRow,
      firstColumn,
      columnCount,
      rowLimit: options.rows,
      columnLimit: options.columns,
    });
    const warnings: PreviewWarning[] = [...table.warnings];
    if (this.rowTotal === 0) warnings.push({ code: 'SHEET_EMPTY', message: 'The sheet has no cells with values; choose another sheet.' });
    if (footnotes.length > 0) warnings.push(footnotesWarning(footnotes));
    const sampleWarning = typesFromSampleWarning(table.typedRows, rowCount, true);
    if (sampleWarning) warnings.push(sampleWarning);

    return {
      columns: table.columns,
      rows: table.rows,
      rowCount,
      rowCountExact: true,
      columnCount,
      headerRow,
      suggestedHeaderRow,
      warnings,
    };
  }

  /**
   * Measures the table: the data rows below the header and the columns used by the header row and
   * every row below it, leaving out the rows in `excluded`.
   */
  private tableExtent(headerRow: number | null, merges: readonly MergeRange[], excluded: ReadonlySet<number>): { rowCount: number; firstColumn: number; columnCount: number } {
    let rowCount = 0;
    let firstColumn = Number.MAX_SAFE_INTEGER;
    let lastColumn = -1;
    for (let index = 0; index < this.rowTotal; index += 1) {
      const rowNumber = this.rowNumbers[index] ?? 0;
      if ((headerRow !== null && rowNumber < headerRow) || excluded.has(rowNumber)) continue;
      if (headerRow === null || rowNumber > headerRow) rowCount += 1;
      firstColumn = Math.min(firstColumn, this.firstColumns[index] ?? 0);
      lastColumn = Math.max(lastColumn, this.lastColumns[index] ?? -1);
    }
    if (headerRow !== null) {
      // Merged header cells may start left of the header row's first value.
      for (const merge of merges) if (merge.top <= headerRow && merge.bottom >= headerRow) firstColumn = Math.min(firstColumn, merge.left);
    }
    if (lastColumn < 0) firstColumn = 0;
    return { rowCount, firstColumn, columnCount: lastColumn < 0 ? 0 : lastColumn - firstColumn + 1 };
  }
}

export type SheetTable = Pick<PreviewResult, 'columns' | 'rows' | 'rowCount' | 'rowCountExact' | 'columnCount' | 'headerRow' | 'suggestedHeaderRow' | 'warnings'>;

/** Parses an A1-style reference ("B3" or "B3:D6") into a merged range; returns undefined if malformed. */
export function parseRange(ref: string): MergeRange | undefined {
  const match = /^\$?([A-Z]{1,3})\$?(\d{1,7})(?::\$?([A-Z]{1,3})\$?(\d{1,7}))?$/u.exec(ref.trim().toUpperCase());
  if (!match) return undefined;
  const [, leftLetters = 'A', topText = '1', rightLetters = leftLetters, bottomText = topText] = match;
  const columnIndex = (letters: string): number => [...letters].reduce((sum, letter) => sum * 26 + letter.charCodeAt(0) - 64, 0) - 1;
  const range = { top: Number(topText), left: columnIndex(leftLetters), bottom: Number(bottomText), right: columnIndex(rightLetters) };
  if (range.top < 1 || range.bottom < range.top || range.right < range.left) return undefined;
  return range;
}
