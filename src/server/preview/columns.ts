import type { ColumnType } from './types';

const WHITESPACE_RUN = /\s+/gu;

/**
 * Normalises header names: trimmed, inner whitespace runs become one space, blank names become
 * `col_<n>` (1-based position), and repeats get `_2`, `_3`… suffixes. Names are never truncated or
 * re-cased.
 */
export function normalizeHeaderNames(raw: readonly (string | null | undefined)[]): string[] {
  const base = raw.map((name, index) => {
    const cleaned = (name ?? '').replace(WHITESPACE_RUN, ' ').trim();
    return cleaned === '' ? `col_${index + 1}` : cleaned;
  });

  const used = new Set<string>();
  return base.map((name) => {
    let candidate = name;
    for (let suffix = 2; used.has(candidate); suffix += 1) candidate = `${name}_${suffix}`;
    used.add(candidate);
    return candidate;
  });
}

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEAN = /^(true|false|TRUE|FALSE|True|False)$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

function isValidDate(text: string): boolean {
  const time = Date.parse(text.slice(0, 10));
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === text.slice(0, 10);
}

/** Checks a date-time text: a real calendar date and a time of day from 00:00:00 to 23:59:59, or the leap second 23:59:60. */
function isValidDateTime(text: string): boolean {
  const match = DATETIME.exec(text);
  if (!match || !isValidDate(text)) return false;
  const [, hours = '', minutes = '', seconds = '0'] = match;
  if (Number(hours) > 23 || Number(minutes) > 59) return false;
  return Number(seconds) <= 59 || (hours === '23' && minutes === '59' && seconds === '60');
}

/**
 * Infers a column type from sample text values: the narrowest of integer, number, boolean, date,
 * datetime that every non-empty value fits, else string. A column with no values is string.
 */
export function inferColumnType(values: readonly (string | null)[]): ColumnType {
  const present = values.filter((value): value is string => value !== null && value.trim() !== '').map((value) => value.trim());
  if (present.length === 0) return 'string';

  if (present.every((value) => INTEGER.test(value))) return 'integer';
  if (present.every((value) => NUMBER.test(value))) return 'number';
  if (present.every((value) => BOOLEAN.test(value))) return 'boolean';
  if (present.every((value) => DATE.test(value) && isValidDate(value))) return 'date';
  if (present.every((value) => isValidDateTime(value))) return 'datetime';
  return 'string';
}
