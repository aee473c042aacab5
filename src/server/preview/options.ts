import { InletError } from '../errors';
import type { ReadOptions } from '../manifest';
import type { ReaderOptions } from './types';

/** Bounds of the `rows` and `columns` limits of a preview request. */
export const PREVIEW_LIMIT_MIN = 1;
export const PREVIEW_LIMIT_MAX = 200;

/** How long a preview waits for the exact row count before it returns an estimate. */
export const COUNT_WAIT_MS = 5000;

function invalid(field: string, value: unknown, rule: string): InletError {
  return new InletError('INPUT_INVALID', `${field} ${JSON.stringify(value)} is invalid: ${rule}.`, {
    field,
    value: typeof value === 'number' || typeof value === 'string' ? value : String(value),
  });
}

/** Checks the limits and the header row of a preview request; the API schema checks them too, but readers are also called directly. */
export function validateReaderOptions(options: ReaderOptions): void {
  for (const field of ['rows', 'columns'] as const) {
    const value = options[field];
    if (!Number.isInteger(value) || value < PREVIEW_LIMIT_MIN || value > PREVIEW_LIMIT_MAX) {
      throw invalid(field, value, `use a whole number from ${PREVIEW_LIMIT_MIN} to ${PREVIEW_LIMIT_MAX}`);
    }
  }
  const { headerRow } = options;
  if (headerRow !== undefined && headerRow !== null && (!Number.isInteger(headerRow) || headerRow < 1)) {
    throw invalid('headerRow', headerRow, 'use a row number from 1, or null for a table without a header');
  }
}

/**
 * Waits for an exact count for up to COUNT_WAIT_MS, or not at all when `wait` is false. Returns
 * undefined when the count is not ready; a failed count raises its error.
 */
export async function waitForCount(counting: Promise<number>, wait: boolean): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), wait ? COUNT_WAIT_MS : 0);
  });
  try {
    return await Promise.race([counting, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Rejects read options that do not apply to a dataset's format, so a preview request and
 * setReadOptions treat them the same way instead of one ignoring what the other rejects.
 */
export function checkReadOptionsApply(datasetKey: string, format: string, options: { [Key in keyof ReadOptions]?: ReadOptions[Key] | undefined }): void {
  if (options.sheetName !== undefined && format !== 'excel') {
    throw new InletError('INPUT_INVALID', `sheetName applies to Excel workbooks; dataset ${datasetKey} is ${format}.`, { field: 'sheetName' });
  }
  if (options.delimiter !== undefined && format !== 'csv') {
    throw new InletError('INPUT_INVALID', `delimiter applies to CSV files; dataset ${datasetKey} is ${format}.`, { field: 'delimiter' });
  }
  if (options.headerRow !== undefined && format === 'dta') {
    throw new InletError('INPUT_INVALID', `headerRow applies to CSV and Excel files; a Stata file's column names come from its variables.`, { field: 'headerRow' });
  }
  if (options.encoding !== undefined && format === 'excel') {
    throw new InletError('INPUT_INVALID', `encoding applies to CSV and Stata files; dataset ${datasetKey} is an Excel workbook.`, { field: 'encoding' });
  }
}
