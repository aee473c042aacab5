import { ByteCursor, SequentialReader, type ByteSource } from './bytes';
import { malformed } from './failure';
import type { DtaHeader } from './layout';
import { INTEGER_MISSING_START, missingCodeAt } from './storage';
import { untilNul } from './text';

/**
 * Value-label definitions ("label define"), from Stata's `help dta` pages. Formats 108 and later
 * store each set as a table of n entries: n, txtlen, off[n], val[n] (4-byte integers) and txt[].
 * Formats 104 and 105 store n 2-byte codes followed by n labels of 8 bytes each.
 * In 113 and later, val[] holds extended missing codes as the long missing values: `.` is
 * 2,147,483,621, `.a` the next value, up to `.z`.
 */

/** Labels of one set, keyed by the value as text ("1", "-3") or by a missing code (".a"). */
export type LabelSet = Map<string, Uint8Array>;

/** Largest total of value-label tables read for one preview; larger files skip further sets. */
export const VALUE_LABEL_BUDGET_BYTES = 64 * 1024 * 1024;

export interface ValueLabelResult {
  sets: Map<string, LabelSet>;
  /** Names of requested sets that were skipped because the budget was spent. */
  skipped: string[];
}

/** Key under which a set's name is compared with the variables' value-label names. */
export function labelSetKey(name: Uint8Array): string {
  return Buffer.from(name).toString('latin1');
}

function valueKey(value: number, extendedMissing: boolean): string {
  if (extendedMissing && value >= INTEGER_MISSING_START.long) return missingCodeAt(value - INTEGER_MISSING_START.long);
  return String(value);
}

/** Parses the body of one table (n, txtlen, off[], val[], txt[]) after checking its sizes. */
function parseTable(table: ByteCursor, tableBytes: number, extendedMissing: boolean): LabelSet {
  const count = table.uint32('the number of value labels');
  const textBytes = table.uint32('the value-label text length');
  if (count > (tableBytes - 8) / 8 || 8 + 8 * count + textBytes > tableBytes) {
    throw malformed(`a value-label table declares ${count} entries and ${textBytes} bytes of text, more than its ${tableBytes} bytes.`, { count, textBytes, tableBytes });
  }
  const offsets = Array.from({ length: count }, () => table.uint32('a value-label text offset'));
  const values = Array.from({ length: count }, () => table.int32('a labelled value'));
  const text = table.bytesOf(textBytes, 'the value-label text');

  const set: LabelSet = new Map();
  offsets.forEach((offset, index) => {
    if (offset >= textBytes) throw malformed(`a value label points at text offset ${offset}, past its ${textBytes} bytes of text.`, { offset, textBytes });
    set.set(valueKey(values[index] ?? 0, extendedMissing), untilNul(text.subarray(offset)));
  });
  return set;
}

/**
 * Reads the value-label sets named in `requested` and skips the others without reading their tables.
 * Each length is checked against the section's end before anything is allocated.
 */
export async function readValueLabels(source: ByteSource, header: DtaHeader, requested: ReadonlySet<string>): Promise<ValueLabelResult> {
  const result: ValueLabelResult = { sets: new Map(), skipped: [] };
  if (requested.size === 0) return result;

  const { formatVersion, littleEndian, extendedMissing } = header;
  const reader = new SequentialReader(source, header.valueLabels.start, header.valueLabels.end, littleEndian);
  const tagged = formatVersion >= 117;
  const nameBytes = formatVersion >= 118 ? 129 : formatVersion >= 110 ? 33 : 9;
  let budget = VALUE_LABEL_BUDGET_BYTES;

  while (reader.remaining > 0) {
    if (formatVersion < 108) {
      const entry = await readLegacyLabelSet(reader, requested);
      if (entry) result.sets.set(entry.name, entry.set);
      continue;
    }

    if (tagged) (await reader.cursor(5, 'the <lbl> tag')).expectTag('<lbl>');
    const entryHeader = await reader.cursor(4 + nameBytes + 3, 'a value-label header');
    const tableBytes = entryHeader.uint32('the value-label table length');
    const name = labelSetKey(untilNul(entryHeader.bytesOf(nameBytes, 'the value-label name')));
    if (requested.has(name) && !result.sets.has(name) && tableBytes <= budget) {
      const start = reader.position;
      const table = new ByteCursor(await reader.bytes(tableBytes, `value-label set ${JSON.stringify(name)}`), littleEndian, start);
      result.sets.set(name, parseTable(table, tableBytes, extendedMissing));
      budget -= tableBytes;
    } else {
      if (requested.has(name) && !result.sets.has(name)) result.skipped.push(name);
      reader.skip(tableBytes, `value-label set ${JSON.stringify(name)}`);
    }
    if (tagged) (await reader.cursor(6, 'the </lbl> tag')).expectTag('</lbl>');
  }
  return result;
}

/**
 * Formats 104 and 105: n (2 bytes), a 9-byte name, 1 byte of padding, n 2-byte codes, n 8-byte labels.
 * NOTE: this layout follows pandas and later ReadStat releases for 105; no reference reader here
 * reads the value labels of a 104 file, so that they share it is unconfirmed.
 */
async function readLegacyLabelSet(reader: SequentialReader, requested: ReadonlySet<string>): Promise<{ name: string; set: LabelSet } | null> {
  const entryHeader = await reader.cursor(12, 'a value-label header');
  const count = entryHeader.uint16('the number of value labels');
  const name = labelSetKey(untilNul(entryHeader.bytesOf(9, 'the value-label name')));
  const bodyBytes = count * (2 + 8);
  if (!requested.has(name)) {
    reader.skip(bodyBytes, `value-label set ${JSON.stringify(name)}`);
    return null;
  }
  const body = await reader.cursor(bodyBytes, `value-label set ${JSON.stringify(name)}`);
  const codes = Array.from({ length: count }, () => body.int16('a labelled value'));
  const set: LabelSet = new Map();
  for (const code of codes) set.set(String(code), untilNul(body.bytesOf(8, 'a value label')));
  return { name, set };
}
