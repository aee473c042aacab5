import path from 'node:path';

import { getRuntime } from '../runtime';
import { validateReaderOptions } from './options';
import type { DatasetReader, DatasetSource, PreviewResult, ReaderOptions } from './types';
import { readXls } from './xls';
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
    const table =
      source.extension === '.xls'
        ? await readXls(path.join(this.settings.projectRoot ?? defaultProjectRoot(), XLS_SCRIPT_RELATIVE_PATH), source.filePath, options)
        : await readXlsx(source.filePath, options);

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
}
