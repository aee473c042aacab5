import stringWidth from 'string-width';

/** Shortens text to at most `width` terminal columns, ending with "…" when it was cut. */
export function truncateToWidth(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  let result = '';
  for (const character of text) {
    if (stringWidth(result + character) > width - 1) break;
    result += character;
  }
  return `${result}…`;
}

function pad(text: string, width: number, alignRight: boolean): string {
  const fill = ' '.repeat(Math.max(0, width - stringWidth(text)));
  return alignRight ? fill + text : text + fill;
}

export interface TableOptions {
  /** Widest a column may be, in terminal columns. */
  maxColumnWidth: number;
  /** Width of the terminal; columns that do not fit are left out. */
  maxWidth: number;
  /** Column indexes to align right (numbers). */
  alignRight?: ReadonlySet<number>;
}

/**
 * Renders rows as an aligned text table with a header and a rule. Widths count terminal columns,
 * so CJK text lines up. Returns the text and how many columns did not fit the width.
 */
export function renderTable(headers: string[], rows: string[][], options: TableOptions): { text: string; hiddenColumns: number } {
  const cleaned = (text: string): string => truncateToWidth(text.replace(/[\r\n\t]+/g, ' '), options.maxColumnWidth);
  const head = headers.map(cleaned);
  const body = rows.map((row) => row.map(cleaned));
  const widths = head.map((header, index) => Math.max(stringWidth(header), ...body.map((row) => stringWidth(row[index] ?? ''))));

  const separator = '  ';
  let shown = 0;
  let used = 0;
  for (const width of widths) {
    const next = used + (shown > 0 ? separator.length : 0) + width;
    if (shown > 0 && next > options.maxWidth) break;
    used = next;
    shown += 1;
  }

  const line = (cells: string[]): string =>
    cells
      .slice(0, shown)
      .map((cell, index) => pad(cell, widths[index] ?? 0, options.alignRight?.has(index) ?? false))
      .join(separator)
      .trimEnd();
  const rule = widths
    .slice(0, shown)
    .map((width) => '-'.repeat(width))
    .join(separator);
  const text = [line(head), rule, ...body.map(line)].join('\n');
  return { text, hiddenColumns: headers.length - shown };
}
