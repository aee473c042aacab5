/**
 * Turns a pandas reference reading into the cells the Stata reader must return, with each rule
 * where the reader's contract differs from pandas stated in place.
 */
import type { Cell, PreviewColumn } from '../../src/server/preview/types';
import type { PandasReference, ReferenceCell } from './dta-tools';

const MISSING_LETTERS = 'abcdefghijklmnopqrstuvwxyz';
/** Value-label tables store `.` as 2,147,483,621 and `.a` to `.z` after it (Stata's `help dta`). */
const LONG_MISSING_START = 2147483621;

/** Rewrites pandas' value-label keys: numbers stay, the long missing codes become ".a" and so on. */
export function labelKeysFromPandas(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(labels).map(([key, text]) => {
      const value = Number(key);
      if (value < LONG_MISSING_START) return [key, text];
      const index = value - LONG_MISSING_START;
      return [index === 0 ? '.' : `.${MISSING_LETTERS[index - 1]}`, text];
    }),
  );
}

export interface ExpectOptions {
  /** Expected cells of whole columns that pandas does not render (%tC), by column name. */
  columnOverrides?: Record<string, Cell[]>;
}

/**
 * Builds the expected rows. The rules:
 * - pandas' system missing `.` is null in the preview contract, and `.a` to `.z` stay `{ missing }`.
 * - Formats before 113 have only `.`. pandas still applies the 113 missing ranges to them (it calls
 *   an integer's maximum `.z`), so every missing value of those formats is expected as null.
 * - A value or missing code with a value label is `{ value, label }` or `{ missing, label }`.
 * - Date columns take pandas' own conversion, written in the reader's text forms by dta_reference.py.
 */
export function expectedRows(reference: PandasReference, columns: PreviewColumn[], options: ExpectOptions = {}): Cell[][] {
  const labelSets = columns.map((_, index) => {
    const setName = reference.valueLabelNames[index] ?? '';
    const labels = reference.valueLabels[setName];
    return labels ? labelKeysFromPandas(labels) : null;
  });

  return reference.rows.map((row, rowIndex) =>
    columns.map((column, index) => {
      const override = options.columnOverrides?.[column.name];
      if (override) return override[rowIndex] ?? null;

      const raw: ReferenceCell = row[index] ?? null;
      const labels = labelSets[index];
      if (raw !== null && typeof raw === 'object') {
        if (reference.formatVersion < 113) return null;
        const label = labels?.[raw.missing];
        if (label !== undefined) return { missing: raw.missing, label };
        return raw.missing === '.' ? null : { missing: raw.missing };
      }
      if (typeof raw === 'number' && labels?.[String(raw)] !== undefined) return { value: raw, label: labels[String(raw)] as string };

      const dates = reference.dates[column.name];
      if (Array.isArray(dates)) return dates[rowIndex] ?? raw;
      return raw;
    }),
  );
}

/**
 * Makes cells comparable: 4-byte floats are compared at float precision, because the reader shows
 * the shortest decimal of the stored float (0.1) and pandas its double expansion (0.100000001…).
 */
export function comparable(rows: Cell[][], storage: string[]): Cell[][] {
  return rows.map((row) => row.map((cell, index) => (storage[index] === 'f' && typeof cell === 'number' ? Math.fround(cell) : cell)));
}
