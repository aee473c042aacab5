import { InletError } from '../../errors';
import type { Cell, DatasetReader, DatasetSource, PreviewResult, PreviewWarning, ReaderOptions } from '../types';
import type { ByteSource } from './bytes';
import { columnsTruncatedWarning } from '../table';
import { DtaFile, type DtaTableInfo } from './table';

export { MemoryByteSource, FileByteSource, type ByteSource } from './bytes';
export type { DtaTableInfo } from './table';

/** Cap on one strL cell in a preview, and on all strL text of one preview. */
export const PREVIEW_STRL_CELL_BYTES = 64 * 1024;
export const PREVIEW_STRL_BUDGET_BYTES = 32 * 1024 * 1024;
/** Cap on one strL cell when iterating over all rows. */
export const ITERATOR_STRL_CELL_BYTES = 16 * 1024 * 1024;

function ignoredOptionWarnings(options: ReaderOptions): PreviewWarning[] {
  const ignored = [
    options.sheetName !== undefined ? 'sheetName' : null,
    options.headerRow !== undefined && options.headerRow !== null ? 'headerRow' : null,
    options.delimiter !== undefined ? 'delimiter' : null,
  ].filter((name): name is string => name !== null);
  return ignored.length === 0 ? [] : [{ code: 'READ_OPTION_IGNORED', message: `Stata files have no ${ignored.join(', ')}; the option was ignored.` }];
}

/**
 * Builds the preview of a .dta file from a byte source: the header, the first `options.rows`
 * observations of the first `options.columns` variables, their value labels and the strLs they use.
 */
export async function previewDta(source: ByteSource, datasetKey: string, options: ReaderOptions): Promise<PreviewResult> {
  const file = await DtaFile.open(source, { columns: options.columns, encoding: options.encoding });
  const limits = { cellMaxBytes: PREVIEW_STRL_CELL_BYTES, budgetBytes: PREVIEW_STRL_BUDGET_BYTES, truncatedCells: 0 };
  const rows = await file.readRows(0, options.rows, limits);
  const { info } = file;

  const warnings = [...ignoredOptionWarnings(options), ...info.warnings];
  if (info.columnCount > info.columns.length) warnings.push(columnsTruncatedWarning(info.columnCount, info.columns.length));
  if (limits.truncatedCells > 0) {
    warnings.push({
      code: 'STRL_TRUNCATED',
      message: `${limits.truncatedCells} long string (strL) cells were cut for the preview, at ${PREVIEW_STRL_CELL_BYTES / 1024} KiB each and ${PREVIEW_STRL_BUDGET_BYTES / 2 ** 20} MiB in all; the file is unchanged.`,
    });
  }

  const result: PreviewResult = {
    datasetKey,
    format: 'dta',
    columns: info.columns,
    rows,
    rowCount: info.rowCount,
    // N in the header is the exact number of observations.
    rowCountExact: true,
    columnCount: info.columnCount,
    // Variable names come from the file's variable list, not from a row of the table.
    headerRow: null,
    suggestedHeaderRow: null,
    encoding: info.encoding,
    formatVersion: info.formatVersion,
    warnings,
  };
  if (info.datasetLabel !== '') result.datasetLabel = info.datasetLabel;
  return result;
}

/** Runs `work` on the dataset's bytes and closes them. */
async function withBytes<T>(dataset: DatasetSource, work: (source: ByteSource) => Promise<T>): Promise<T> {
  const source = await dataset.openBytes();
  try {
    return await work(source);
  } finally {
    await source.close();
  }
}

/** Reads Stata .dta files of formats 104 to 119, as described in the `dta` module. */
export class DtaReader implements DatasetReader {
  async preview(source: DatasetSource, options: ReaderOptions): Promise<PreviewResult> {
    if (source.sizeBytes === 0) throw new InletError('INPUT_EMPTY_FILE', 'The Stata file is empty: it has 0 bytes.', { format: 'dta' });
    return withBytes(source, (bytes) => previewDta(bytes, source.datasetKey, options));
  }
}

export interface DtaRowIteratorOptions {
  /** Rows per yielded batch (default 10,000). */
  batchRows?: number;
  encoding?: string;
  /** Maximum strL bytes per cell; longer values are cut and end in "…". */
  strlCellMaxBytes?: number;
}

/**
 * Opens a .dta file for reading every row: returns the table's description and an async generator
 * of row batches. Memory stays bounded by one batch (plus the strL index, see StrlIndex).
 */
export async function openDtaRows(
  source: ByteSource,
  options: DtaRowIteratorOptions = {},
): Promise<{ info: DtaTableInfo; batches: AsyncGenerator<Cell[][]> }> {
  const file = await DtaFile.open(source, { columns: Number.MAX_SAFE_INTEGER, encoding: options.encoding });
  const limits = { cellMaxBytes: options.strlCellMaxBytes ?? ITERATOR_STRL_CELL_BYTES, budgetBytes: Number.MAX_SAFE_INTEGER, truncatedCells: 0 };
  return { info: file.info, batches: file.batches(options.batchRows ?? 10_000, limits) };
}
