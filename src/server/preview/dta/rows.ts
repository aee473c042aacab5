import type { Cell } from '../types';
import { readRange, type ByteSource } from './bytes';
import { renderDate, type DateKind } from './dates';
import type { DtaHeader } from './layout';
import { numericReader, type MissingCode, type NumericKind, type StorageType } from './storage';
import { readStrlRef, type StrlIndex, type StrlRef } from './strl';
import { untilNul, type TextCodec } from './text';

/**
 * The row stream: reads byte ranges of observations and decodes their cells. Rows are fixed-width
 * records, so observation i starts at dataOffset + i * rowWidthBytes and nothing before it is read.
 */

/** Decoding plan of one column: storage type, place in the row, date kind and value labels. */
export interface ColumnPlan {
  type: StorageType;
  offsetInRow: number;
  dateKind: DateKind | null;
  /** Decoded value labels, keyed like the label sets ("1", ".a"), or null. */
  labels: ReadonlyMap<string, string> | null;
}

/** Limits on strL text per call, so one huge strL cannot exhaust memory. */
export interface StrlLimits {
  cellMaxBytes: number;
  /** Bytes of strL text left for this call; cells after it is spent are cut to `cellMaxBytes` of 0. */
  budgetBytes: number;
  /** Count of cells that were cut. */
  truncatedCells: number;
}

/** Largest read of whole rows at once. */
export const ROW_CHUNK_BYTES = 4 * 1024 * 1024;

/** Raw bytes of a run of rows: row r starts at `r * strideBytes` in `bytes`. */
export interface RowBytes {
  bytes: Buffer;
  strideBytes: number;
  rowCount: number;
}

/**
 * Reads rows [first, first + count) but only their first `prefixBytes` bytes (the described columns).
 * Whole rows are read in one range when the prefix is most of the row, else row by row.
 */
export async function readRowBytes(source: ByteSource, header: DtaHeader, first: number, count: number, prefixBytes: number): Promise<RowBytes> {
  const { dataOffset, rowWidthBytes } = header;
  if (prefixBytes * 2 >= rowWidthBytes || count === 1) {
    const bytes = await readRange(source, dataOffset + first * rowWidthBytes, count * rowWidthBytes, `observations ${first + 1} to ${first + count}`);
    return { bytes, strideBytes: rowWidthBytes, rowCount: count };
  }
  const bytes = Buffer.allocUnsafe(count * prefixBytes);
  for (let row = 0; row < count; row += 1) {
    const part = await readRange(source, dataOffset + (first + row) * rowWidthBytes, prefixBytes, `observation ${first + row + 1}`);
    part.copy(bytes, row * prefixBytes);
  }
  return { bytes, strideBytes: prefixBytes, rowCount: count };
}

type CellDecoder = (view: DataView, offset: number) => Cell;

/** Builds the column's labels of ordinary values keyed by number, so a lookup creates no string per cell. */
function labelsByNumber(plan: ColumnPlan): Map<number, string> | null {
  if (!plan.labels) return null;
  const labels = new Map<number, string>();
  for (const [key, label] of plan.labels) if (!key.startsWith('.')) labels.set(Number(key), label);
  return labels;
}

/** Turns a decoded number or missing code into a cell: labels first, then dates, then the value. */
function finishNumeric(plan: ColumnPlan, raw: number | MissingCode, labelsByNumber: Map<number, string> | null): Cell {
  if (typeof raw === 'string') {
    const label = plan.labels?.get(raw);
    if (label !== undefined) return { missing: raw, label };
    return raw === '.' ? null : { missing: raw };
  }
  if (labelsByNumber) {
    const label = labelsByNumber.get(raw);
    if (label !== undefined) return { value: raw, label };
  }
  if (plan.dateKind) return renderCachedDate(plan, raw);
  return raw;
}

/**
 * Builds the decoder of one numeric column once per call, so the loop over cells does not branch on
 * the storage type. Columns without labels or dates skip finishNumeric.
 */
function numericDecoder(plan: ColumnPlan, header: DtaHeader): CellDecoder {
  const read = numericReader(plan.type.kind as NumericKind, header.littleEndian, header.extendedMissing);
  if (plan.labels !== null || plan.dateKind !== null) {
    const byNumber = labelsByNumber(plan);
    return (view, offset) => finishNumeric(plan, read(view, offset), byNumber);
  }
  return (view, offset) => {
    const raw = read(view, offset);
    if (typeof raw === 'number') return raw;
    return raw === '.' ? null : { missing: raw };
  };
}

/** Most recent renderings per date column; dates repeat across rows, so this saves most of the work. */
const DATE_CACHE_ENTRIES = 65_536;
const dateCaches = new WeakMap<ColumnPlan, Map<number, string | number>>();

function renderCachedDate(plan: ColumnPlan, value: number): string | number {
  let cache = dateCaches.get(plan);
  if (!cache) {
    cache = new Map();
    dateCaches.set(plan, cache);
  }
  const cached = cache.get(value);
  if (cached !== undefined) return cached;
  const rendered = renderDate(plan.dateKind as DateKind, value) ?? value;
  if (cache.size >= DATE_CACHE_ENTRIES) cache.clear();
  cache.set(value, rendered);
  return rendered;
}

/** A strL cell whose text is fetched after the synchronous pass over the rows. */
interface PendingStrl {
  row: number;
  column: number;
  ref: StrlRef;
}

/**
 * Decodes rows of raw bytes into cells for the planned columns. strL cells are resolved through the
 * index after all fixed-width cells, because their text lives elsewhere in the file.
 */
export async function decodeRows(
  raw: RowBytes,
  plans: readonly ColumnPlan[],
  header: DtaHeader,
  codec: TextCodec,
  strls: StrlIndex | null,
  limits: StrlLimits,
): Promise<Cell[][]> {
  const view = new DataView(raw.bytes.buffer, raw.bytes.byteOffset, raw.bytes.byteLength);
  const decoders = plans.map((plan) => (plan.type.kind === 'str' || plan.type.kind === 'strL' ? null : numericDecoder(plan, header)));
  const rows: Cell[][] = [];
  const pending: PendingStrl[] = [];

  for (let row = 0; row < raw.rowCount; row += 1) {
    const rowStart = row * raw.strideBytes;
    const cells: Cell[] = new Array<Cell>(plans.length);
    for (let column = 0; column < plans.length; column += 1) {
      const plan = plans[column] as ColumnPlan;
      const offset = rowStart + plan.offsetInRow;
      if (plan.type.kind === 'str') {
        cells[column] = codec.decodeField(raw.bytes, offset, offset + plan.type.widthBytes);
      } else if (plan.type.kind === 'strL') {
        cells[column] = '';
        pending.push({ row, column, ref: readStrlRef(view, offset, header.formatVersion, header.littleEndian) });
      } else {
        cells[column] = (decoders[column] as CellDecoder)(view, offset);
      }
    }
    rows.push(cells);
  }

  for (const { row, column, ref } of pending) {
    if (!strls || (ref.variable === 0 && ref.observation === 0)) continue;
    const allowed = Math.min(limits.cellMaxBytes, limits.budgetBytes);
    const { bytes, truncated } = await strls.read(ref, allowed);
    limits.budgetBytes -= bytes.length;
    if (truncated) limits.truncatedCells += 1;
    const cells = rows[row] as Cell[];
    cells[column] = codec.decode(bytes) + (truncated ? '…' : '');
  }
  return rows;
}

/** Collects the bytes of fixed-width string cells, for choosing the file's encoding. */
export function stringCellSample(raw: RowBytes, plans: readonly ColumnPlan[], maxBytes: number): Buffer[] {
  const parts: Buffer[] = [];
  let total = 0;
  for (let row = 0; row < raw.rowCount && total < maxBytes; row += 1) {
    for (const plan of plans) {
      if (plan.type.kind !== 'str') continue;
      const offset = row * raw.strideBytes + plan.offsetInRow;
      const bytes = Buffer.from(untilNul(raw.bytes.subarray(offset, offset + plan.type.widthBytes)));
      parts.push(bytes);
      total += bytes.length + 1;
    }
  }
  return parts;
}
