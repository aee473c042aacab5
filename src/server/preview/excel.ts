import path from 'node:path';

import { getRuntime } from '../runtime';
import type { ByteSource } from '../storage/object-store';
import { validateReaderOptions } from './options';
import type { DatasetReader, DatasetSource, PreviewResult, ReaderOptions } from './types';
import { readXls, type XlsPreview } from './xls';
import { readXlsx } from './xlsx';

/** Path of the .xls child script relative to the project root. */
export const XLS_SCRIPT_RELATIVE_PATH = 'src/server/preview/xls-child.mjs';

export interface ExcelReaderOptions {
  /** Folder holding package.json and src/; by default the server runtime's project root, else the working directory. */
  projectRoot?: string;
}

function defaultProjectRoot(): string {
  try {
    return getRuntime().projectRoot;
  } catch {
    // Unit tests and scripts call readers without starting the server.
    return process.cwd();
  }
}

/**
 * Reads Excel workbooks: .xlsx in-process with the streaming reader of exceljs, legacy .xls in a
 * child process. The sheet and the header row it chooses are returned and can be overridden.
 */
export class ExcelReader implements DatasetReader {
  constructor(private readonly settings: ExcelReaderOptions = {}) {}

  async preview(source: DatasetSource, options: ReaderOptions): Promise<PreviewResult> {
    validateReaderOptions(options);
    const table = source.extension === '.xls' ? await this.readXls(source, options) : await withBytes(source, (bytes) => readXlsx(bytes, options));

    return {
      datasetKey: source.datasetKey,
      format: 'excel',
      columns: table.columns,
      rows: table.rows,
      rowCount: table.rowCount,
      rowCountExact: table.rowCountExact,
      columnCount: table.columnCount,
      sheets: table.sheets,
      sheetNames: table.sheets.filter((sheet) => sheet.state === 'visible').map((sheet) => sheet.name),
      selectedSheet: table.selectedSheet,
      headerRow: table.headerRow,
      suggestedHeaderRow: table.suggestedHeaderRow,
      warnings: table.warnings,
    };
  }

  /** SheetJS needs the whole workbook: a local file is passed by path, bytes from the bucket through the child's stdin. */
  private readXls(source: DatasetSource, options: ReaderOptions): Promise<XlsPreview> {
    const scriptPath = path.join(this.settings.projectRoot ?? defaultProjectRoot(), XLS_SCRIPT_RELATIVE_PATH);
    const { localPath } = source;
    if (localPath !== null) return readXls(scriptPath, { kind: 'file', path: localPath }, options);
    return withBytes(source, (bytes) => readXls(scriptPath, { kind: 'bytes', bytes }, options));
  }
}

async function withBytes<T>(source: DatasetSource, work: (bytes: ByteSource) => Promise<T>): Promise<T> {
  const bytes = await source.openBytes();
  try {
    return await work(bytes);
  } finally {
    await bytes.close();
  }
}
