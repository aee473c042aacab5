import type { Cell } from '../types';
import { readRange, type ByteSource } from './bytes';
import { columnDecoders, type ColumnDecoder, type ColumnPlan, type RowBlock } from './cells';
import type { DtaHeader } from './layout';
import { readStrlRef, type StrlIndex, type StrlRef } from './strl';
import { untilNul, type TextCodec } from './text';

export type { ColumnPlan } from './cells';

/**
 * The row stream: reads byte ranges of observations and decodes their cells. Rows are fixed-width
 * records, so observation i starts at dataOffset + i * rowWidthBytes and nothing before it is read.
 */

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

/** A strL cell whose text is fetched after the synchronous pass over the rows. */
interface PendingStrl {
  row: number;
  column: number;
  ref: StrlRef;
}

/** Rows per block. Each block is decoded one column after another, and its rows stay in the CPU cache meanwhile. */
const BLOCK_ROWS = 512;

interface DecoderSet {
  header: DtaHeader;
  codec: TextCodec;
  decoders: (ColumnDecoder | null)[];
}

/** Decoders per plan list, kept across calls so their caches of repeated cells carry over between batches. */
const decoderSets = new WeakMap<readonly ColumnPlan[], DecoderSet>();

function decodersFor(plans: readonly ColumnPlan[], header: DtaHeader, codec: TextCodec): (ColumnDecoder | null)[] {
  const known = decoderSets.get(plans);
  if (known && known.header === header && known.codec === codec) return known.decoders;
  const decoders = columnDecoders(plans, header, codec);
  decoderSets.set(plans, { header, codec, decoders });
  return decoders;
}

/**
 * Decodes rows of raw bytes into cells for the planned columns. strL cells are resolved through the
 * index after all fixed-width cells, in row order, because their text lives elsewhere in the file.
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
  const decoders = decodersFor(plans, header, codec);
  // Every row starts as a copy of an array of nulls, so writing a number and then a string into
  // it does not change its element kind (and reallocate it) cell by cell.
  const emptyRow: Cell[] = Array.from({ length: plans.length }, () => null);
  const rows: Cell[][] = new Array<Cell[]>(raw.rowCount);
  const block: RowBlock = { bytes: raw.bytes, view, strideBytes: raw.strideBytes, first: 0, end: 0, rows };
  for (let first = 0; first < raw.rowCount; first += BLOCK_ROWS) {
    block.first = first;
    block.end = Math.min(first + BLOCK_ROWS, raw.rowCount);
    // Rows are created just before they are filled, so they are still in the young generation when
    // the cells are written and the garbage collector tracks no old-to-young pointers for them.
    for (let row = first; row < block.end; row += 1) rows[row] = emptyRow.slice();
    for (let column = 0; column < decoders.length; column += 1) decoders[column]?.decode(block, column);
  }

  const strlColumns = plans.flatMap((plan, column) => (plan.type.kind === 'strL' ? [column] : []));
  const pending: PendingStrl[] = [];
  for (let row = 0; row < raw.rowCount && strlColumns.length > 0; row += 1) {
    for (const column of strlColumns) {
      const offset = row * raw.strideBytes + (plans[column] as ColumnPlan).offsetInRow;
      (rows[row] as Cell[])[column] = '';
      pending.push({ row, column, ref: readStrlRef(view, offset, header.formatVersion, header.littleEndian) });
    }
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
