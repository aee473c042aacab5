import { parse } from 'csv-parse/sync';

import { InletError } from '../errors';

/** Delimiters the sniffer considers, in the order that breaks ties. */
export const CSV_DELIMITERS = [',', ';', '\t', '|'] as const;

/** Records of the head that delimiter sniffing looks at. */
const SNIFF_RECORDS = 100;

/**
 * Maps a delimiter override to the character itself. Accepts the character or a name for the
 * invisible one ("tab", "\t"); anything that is not one character of the allowed set is
 * INPUT_INVALID.
 */
export function normalizeDelimiterOverride(value: string): string {
  const named: Record<string, string> = { tab: '\t', '\\t': '\t', comma: ',', semicolon: ';', pipe: '|' };
  const delimiter = named[value.toLowerCase()] ?? value;
  if (!(CSV_DELIMITERS as readonly string[]).includes(delimiter)) {
    throw new InletError('INPUT_INVALID', `Delimiter ${JSON.stringify(value)} is not supported; use one of comma, semicolon, tab or pipe.`, {
      field: 'delimiter',
      value,
      allowed: [',', ';', 'tab', '|'],
    });
  }
  return delimiter;
}

/** Parses the first records of `text` leniently; a quote left open by the cut at the end is not an error. */
function parseHead(text: string, delimiter: string): string[][] {
  try {
    return parse(text, { delimiter, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, to: SNIFF_RECORDS }) as string[][];
  } catch {
    // The head may end inside a quoted field; retry without the last partial line.
    const cut = Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r'));
    if (cut <= 0) return [];
    try {
      return parse(text.slice(0, cut), { delimiter, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, to: SNIFF_RECORDS }) as string[][];
    } catch {
      return [];
    }
  }
}

/**
 * Picks the delimiter that splits the head into the most consistent table: for each candidate,
 * the most common field count m (above 1) and how many records have it, scored as
 * records × (m - 1) so that a wider consistent split beats a narrow one (a semicolon file with
 * decimal commas splits into fewer, equally consistent fields on the comma). `preferred` wins ties;
 * with no candidate splitting anything, it is returned as is.
 */
export function sniffDelimiter(headText: string, preferred: string): string {
  let best = preferred;
  let bestScore = 0;
  const candidates = [preferred, ...CSV_DELIMITERS.filter((delimiter) => delimiter !== preferred)];

  for (const delimiter of candidates) {
    const frequency = new Map<number, number>();
    for (const record of parseHead(headText, delimiter)) {
      if (record.length > 1) frequency.set(record.length, (frequency.get(record.length) ?? 0) + 1);
    }
    let score = 0;
    for (const [fields, records] of frequency) score = Math.max(score, records * (fields - 1));
    if (score > bestScore) {
      best = delimiter;
      bestScore = score;
    }
  }
  return best;
}
