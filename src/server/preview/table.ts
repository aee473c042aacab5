/**
 * Shared table logic of the CSV and Excel readers: where the header is, what the columns are called
 * and typed, and which cells the preview returns. Readers turn their input into grid rows (1-based
 * row numbers, 0-based column indexes) and leave the decisions to this module.
 */
import { inferColumnType, normalizeHeaderNames } from './columns';
import type { Cell, ColumnType, PreviewColumn, PreviewWarning } from './types';

/** A spreadsheet date or date-time cell, already converted to ISO 8601 text. */
export interface DateValue {
  iso: string;
  kind: 'date' | 'datetime';
}

export type GridValue = string | number | boolean | DateValue | null;

export interface GridRow {
  /** 1-based: the record number for CSV (blank lines excluded), the sheet row number for Excel. */
  rowNumber: number;
  cells: GridValue[];
}

/** A merged range: 1-based rows, 0-based columns, both ends inclusive. */
export interface MergeRange {
  top: number;
  left: number;
  bottom: number;
  right: number;
}

/**
 * How a reader's cells carry types. `text`: every cell is a string that may spell a number or date
 * (CSV), and a row's width is its field count. `typed`: cells carry their own type (Excel), and a
 * row's width is its number of filled cells.
 */
export type GridMode = 'text' | 'typed';

/** Non-blank rows from the top of the table that header detection looks at. */
export const HEADER_WINDOW_ROWS = 50;
/**
 * Data rows that column types are inferred from, however few rows the request returns, so that a
 * column's type does not change with the `rows` option.
 */
export const TYPE_SAMPLE_ROWS = 200;
/** Tables narrower than this have no footnote detection: a row with one empty cell is not a note. */
const FOOTNOTE_MIN_TABLE_COLUMNS = 3;

const TEXT_NUMBER = /^\s*[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?%?\s*$/u;
const TEXT_DATE = /^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*$/u;
const TEXT_BOOLEAN = /^\s*(true|false)\s*$/iu;

export function isDateValue(value: GridValue): value is DateValue {
  return typeof value === 'object' && value !== null;
}

function isEmpty(value: GridValue | undefined): boolean {
  return value === null || value === undefined || (typeof value === 'string' && value.trim() === '');
}

/** Checks whether a cell contains a number, date or boolean rather than text, which distinguishes data rows from header rows. */
function isTypedValue(value: GridValue | undefined, mode: GridMode): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'string') return mode === 'text' && (TEXT_NUMBER.test(value) || TEXT_DATE.test(value) || TEXT_BOOLEAN.test(value));
  return true;
}

/** Returns the top-left value of the merged range covering a cell, or the cell's own value. */
function mergedValue(rowsByNumber: ReadonlyMap<number, GridRow>, merges: readonly MergeRange[], rowNumber: number, column: number): GridValue {
  const own = rowsByNumber.get(rowNumber)?.cells[column] ?? null;
  if (!isEmpty(own)) return own;
  for (const merge of merges) {
    if (rowNumber >= merge.top && rowNumber <= merge.bottom && column >= merge.left && column <= merge.right) {
      return rowsByNumber.get(merge.top)?.cells[merge.left] ?? null;
    }
  }
  return own;
}

function rowWidth(row: GridRow, mode: GridMode, rowsByNumber: ReadonlyMap<number, GridRow>, merges: readonly MergeRange[]): number {
  if (mode === 'text') return row.cells.length;

  let filled = row.cells.filter((value) => !isEmpty(value)).length;
  for (const merge of merges) {
    if (row.rowNumber < merge.top || row.rowNumber > merge.bottom) continue;
    if (isEmpty(rowsByNumber.get(merge.top)?.cells[merge.left] ?? null)) continue;
    for (let column = merge.left; column <= merge.right; column += 1) {
      if (isEmpty(row.cells[column] ?? null)) filled += 1;
    }
  }
  return filled;
}

/**
 * Suggests the header row of the table in `window` (the first non-blank rows, in order):
 * 1. The table width W is the most common row width above 1 (the wider one on a tie); a row fits
 *    the table when its width is at least half of W. Preamble lines and footnotes are narrower.
 * 2. The table is the longest run of fitting rows (the first one on a tie).
 * 3. The data starts at the first row of the run that holds a typed value (number, date, boolean).
 *    The header is the row just above it. If the run starts with data, there is no header (null).
 *    If no row of the run holds a typed value but a row above the run does, there is no header
 *    (null), so those rows stay in the table. If no row holds a typed value, the header is the
 *    run's first row, extended down over any vertical merged ranges that start in it (a header
 *    written across several merged rows).
 */
export function suggestHeaderRow(window: readonly GridRow[], merges: readonly MergeRange[], mode: GridMode): number | null {
  if (window.length === 0) return null;
  const rowsByNumber = new Map(window.map((row) => [row.rowNumber, row]));
  const widths = window.map((row) => rowWidth(row, mode, rowsByNumber, merges));

  const frequency = new Map<number, number>();
  for (const width of widths) if (width > 1) frequency.set(width, (frequency.get(width) ?? 0) + 1);
  let tableWidth = 1;
  let tableWidthRows = 0;
  for (const [width, rows] of frequency) {
    if (rows > tableWidthRows || (rows === tableWidthRows && width > tableWidth)) [tableWidth, tableWidthRows] = [width, rows];
  }
  const minWidth = Math.max(Math.min(2, tableWidth), Math.ceil(tableWidth / 2));

  let bestStart = 0;
  let bestLength = 0;
  for (let start = 0; start < window.length; ) {
    if ((widths[start] ?? 0) < minWidth) {
      start += 1;
      continue;
    }
    let end = start;
    while (end + 1 < window.length && (widths[end + 1] ?? 0) >= minWidth) end += 1;
    if (end - start + 1 > bestLength) [bestStart, bestLength] = [start, end - start + 1];
    start = end + 1;
  }
  const run = window.slice(bestStart, bestStart + bestLength);
  const first = run[0];
  if (!first) return null;

  // NOTE: a header whose names all read as numbers (years such as 2019,2020) counts as data, so no
  // header is suggested for such a table, and rows below the table (footnotes) stay data rows.
  const hasTypedValue = (row: GridRow): boolean => row.cells.some((value) => isTypedValue(value, mode));
  const dataStart = run.findIndex(hasTypedValue);
  if (dataStart === 0) return null;
  if (dataStart > 0) return run[dataStart - 1]?.rowNumber ?? null;
  // The run holds no data, so a header from it would describe an empty table. When narrow rows above
  // the run hold typed values, those are the data: read the sheet without a header instead of
  // dropping them as a preamble.
  if (window.slice(0, bestStart).some(hasTypedValue)) return null;

  const lastRow = run[run.length - 1]?.rowNumber ?? first.rowNumber;
  let bottom = first.rowNumber;
  for (let grown = true; grown; ) {
    grown = false;
    for (const merge of merges) {
      if (merge.top <= bottom && merge.bottom > bottom && merge.top >= first.rowNumber && merge.bottom < lastRow) {
        bottom = merge.bottom;
        grown = true;
      }
    }
  }
  return bottom;
}

/** Returns the first row of a header that ends at `headerRow` and may span merged rows above it. */
function headerBlockTop(headerRow: number, merges: readonly MergeRange[]): number {
  let top = headerRow;
  for (let grown = true; grown; ) {
    grown = false;
    for (const merge of merges) {
      if (merge.top < top && merge.bottom >= top && merge.bottom <= headerRow) {
        top = merge.top;
        grown = true;
      }
    }
  }
  return top;
}

function cellText(value: GridValue): string {
  if (value === null) return '';
  if (isDateValue(value)) return value.iso;
  return String(value);
}

export interface TableInput {
  mode: GridMode;
  /** Rows read from the top, in order: at least the header block and the sampled data rows. */
  rows: readonly GridRow[];
  merges: readonly MergeRange[];
  headerRow: number | null;
  /** Columns of the table: from `firstColumn` (0-based) for `columnCount` columns. */
  firstColumn: number;
  columnCount: number;
  rowLimit: number;
  columnLimit: number;
}

export interface TablePreview {
  columns: PreviewColumn[];
  rows: Cell[][];
  /** Data rows the column types were inferred from: at most TYPE_SAMPLE_ROWS. */
  typedRows: number;
  warnings: PreviewWarning[];
}

/**
 * Builds the returned columns and rows: header names composed from the header block (a merged
 * range's value counts in every cell it covers, and stacked header rows join with a space), then
 * normalised; the first `rowLimit` rows after the header, cut to `columnLimit` columns.
 */
export function buildTable(input: TableInput): TablePreview {
  const { mode, rows, merges, headerRow, firstColumn, columnCount } = input;
  const shownColumns = Math.min(columnCount, input.columnLimit);
  const rowsByNumber = new Map(rows.map((row) => [row.rowNumber, row]));

  const rawNames: string[] = [];
  if (headerRow !== null) {
    const top = headerBlockTop(headerRow, merges);
    for (let offset = 0; offset < columnCount; offset += 1) {
      const parts: string[] = [];
      for (let rowNumber = top; rowNumber <= headerRow; rowNumber += 1) {
        const value = mode === 'typed' ? mergedValue(rowsByNumber, merges, rowNumber, firstColumn + offset) : (rowsByNumber.get(rowNumber)?.cells[firstColumn + offset] ?? null);
        const text = cellText(value);
        if (text.trim() !== '' && parts[parts.length - 1] !== text) parts.push(text);
      }
      rawNames.push(parts.join(' '));
    }
  }
  const names = normalizeHeaderNames(Array.from({ length: columnCount }, (_, index) => rawNames[index] ?? ''));

  const typeRows = rows.filter((row) => headerRow === null || row.rowNumber > headerRow).slice(0, Math.max(input.rowLimit, TYPE_SAMPLE_ROWS));
  const dataRows = typeRows.slice(0, input.rowLimit);
  const shownRows: Cell[][] = dataRows.map((row) =>
    Array.from({ length: shownColumns }, (_, offset) => toCell(row.cells[firstColumn + offset] ?? null)),
  );

  const columns: PreviewColumn[] = names.slice(0, shownColumns).map((name, offset) => {
    const values = typeRows.map((row) => row.cells[firstColumn + offset] ?? null);
    const column: PreviewColumn = { name, type: mode === 'text' ? inferColumnType(values.map((value) => (typeof value === 'string' ? value : null))) : typedColumnType(values) };
    const raw = rawNames[offset];
    // The header text as written, when normalising changed more than the outer whitespace.
    if (raw !== undefined && raw.trim() !== '' && raw.trim() !== name) column.label = raw.trim();
    return column;
  });

  const warnings: PreviewWarning[] = [];
  if (columnCount > shownColumns) warnings.push(columnsTruncatedWarning(columnCount, shownColumns));
  return { columns, rows: shownRows, typedRows: typeRows.length, warnings };
}

/**
 * Builds the warning that column types come from the first `typedRows` data rows only, or returns
 * undefined when those are all the rows the table has.
 */
export function typesFromSampleWarning(typedRows: number, rowCount: number, rowCountExact: boolean): PreviewWarning | undefined {
  if (rowCount <= typedRows) return undefined;
  const total = rowCountExact ? `${rowCount}` : `about ${rowCount}`;
  return {
    code: 'TYPES_FROM_SAMPLE',
    message: `Column types come from the first ${typedRows} of the ${total} rows; a value further down may not fit its column's type.`,
  };
}

/**
 * Finds footnote rows at the end of a table: the trailing run of rows whose non-empty cells are all
 * text and fill less than half of the table's columns, the rule by which header detection distinguishes
 * preamble lines from table rows. Source lines, notes and `====` separators below a table look like
 * this. `dataRows` must end with the table's last row.
 * Readers look for footnotes only under a suggested header row, so an explicit header row is the
 * way to read them as data. Returns the footnote rows, or none when every data row would be one or the table has fewer than
 * FOOTNOTE_MIN_TABLE_COLUMNS columns.
 */
export function trailingFootnoteRows(dataRows: readonly GridRow[], mode: GridMode, columnCount: number): GridRow[] {
  if (columnCount < FOOTNOTE_MIN_TABLE_COLUMNS) return [];
  const tableRowCells = Math.ceil(columnCount / 2);
  const isNote = (row: GridRow): boolean => {
    const filled = row.cells.filter((value) => !isEmpty(value));
    return filled.length >= 1 && filled.length < tableRowCells && filled.every((value) => !isTypedValue(value, mode));
  };

  let start = dataRows.length;
  while (start > 0 && isNote(dataRows[start - 1] as GridRow)) start -= 1;
  return start === 0 ? [] : dataRows.slice(start);
}

/** Builds the warning for footnote rows left out of the table. */
export function footnotesWarning(footnotes: readonly GridRow[]): PreviewWarning {
  const first = footnotes[0]?.rowNumber ?? 0;
  const last = footnotes[footnotes.length - 1]?.rowNumber ?? first;
  const where = first === last ? `row ${first}` : `rows ${first}-${last}`;
  return {
    code: 'FOOTNOTES_BELOW_TABLE',
    message: `${footnotes.length} rows below the table (${where}) contain only a note in a few cells, so they were read as footnotes and left out of the row count, the rows and the column types; set the header row explicitly to read them as data rows.`,
  };
}

/** Builds the warning every reader gives when the preview returns fewer columns than the table has. */
export function columnsTruncatedWarning(columnCount: number, shownColumns: number): PreviewWarning {
  return { code: 'COLUMNS_TRUNCATED', message: `The table has ${columnCount} columns; the preview shows the first ${shownColumns}.` };
}

function toCell(value: GridValue): Cell {
  if (isDateValue(value)) return value.iso;
  if (typeof value === 'string' && value === '') return null;
  return value;
}

/** Infers a column type from typed cells: the narrowest type every non-empty value has, else string. */
function typedColumnType(values: readonly GridValue[]): ColumnType {
  const present = values.filter((value) => !isEmpty(value));
  if (present.length === 0) return 'string';
  if (present.every((value) => typeof value === 'number' && Number.isInteger(value))) return 'integer';
  if (present.every((value) => typeof value === 'number')) return 'number';
  if (present.every((value) => typeof value === 'boolean')) return 'boolean';
  if (present.every((value) => isDateValue(value) && value.kind === 'date')) return 'date';
  if (present.every((value) => isDateValue(value))) return 'datetime';
  return 'string';
}
