/** The reader interface every dataset format implements, and the preview it returns. */

import type { ByteSource } from '../storage/object-store';

/**
 * A cell value. `{ missing: ".a" }` is a Stata extended missing value; it carries `label` when a
 * value label names that missing code.
 */
export type Cell = string | number | boolean | null | { value: string | number; label: string } | { missing: string; label?: string };

export type ColumnType = 'integer' | 'number' | 'boolean' | 'date' | 'datetime' | 'string';

export interface PreviewColumn {
  name: string;
  type: ColumnType;
  label?: string;
  format?: string;
  valueLabels?: Record<string, string>;
}

export interface PreviewWarning {
  code: string;
  message: string;
}

export interface PreviewResult {
  datasetKey: string;
  format: string;
  columns: PreviewColumn[];
  rows: Cell[][];
  rowCount: number;
  rowCountExact: boolean;
  columnCount: number;
  sheets?: { name: string; state: 'visible' | 'hidden' | 'veryHidden' }[];
  sheetNames?: string[];
  selectedSheet?: string;
  headerRow: number | null;
  suggestedHeaderRow: number | null;
  encoding?: string;
  delimiter?: string;
  formatVersion?: number;
  datasetLabel?: string;
  warnings: PreviewWarning[];
}

/** Reader choices for one preview: the request's overrides on top of the dataset's saved options. */
export interface ReaderOptions {
  rows: number;
  columns: number;
  sheetName?: string | undefined;
  /** 1-based header row; null reads the table without a header; undefined lets the reader suggest one. */
  headerRow?: number | null | undefined;
  encoding?: string | undefined;
  delimiter?: string | undefined;
  waitForCount: boolean;
}

/** The dataset a reader previews. Readers read its bytes through ranged reads, never a whole copy. */
export interface DatasetSource {
  datasetKey: string;
  sha256: string;
  sizeBytes: number;
  extension: string;
  /**
   * Opens the dataset's bytes for ranged reads. Each caller closes the sources it opens, so work
   * that outlives the preview call, such as the CSV row count, opens its own and closes it when done.
   */
  openBytes(): Promise<ByteSource>;
  /**
   * A local file with the same bytes (the embedded store, or S3 with INLET_WORKSPACE_MIRROR=local),
   * or null when they are only in the bucket. The .xls reader hands it to its child process.
   */
  localPath: string | null;
}

export interface DatasetReader {
  preview(source: DatasetSource, options: ReaderOptions): Promise<PreviewResult>;
}
