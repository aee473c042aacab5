import { ByteCursor, readRange, type ByteSource } from './bytes';
import { malformed } from './failure';
import { checkDataFits, rowLayout, TAGGED_VERSIONS, type DtaHeader, type VariableText } from './layout';
import { decodeTypeCode } from './storage';
import { untilNul } from './text';

/**
 * The tagged layout of formats 117 to 119 (Stata 13 and later), from Stata's `help dta` pages:
 * `<stata_dta><header>…</header><map>…</map>` and then one tagged section per descriptor array,
 * the data, the strLs and the value labels. The map holds the file offset of each section, so the
 * reader seeks straight to what it needs instead of walking the characteristics.
 *
 *   field              117   118   119
 *   K (variables)        2     2     4   bytes
 *   N (observations)     4     8     8   bytes
 *   label length         1     2     2   bytes
 *   variable name       33   129   129
 *   display format      49    57    57
 *   value-label name    33   129   129
 *   variable label      81   321   321
 */
interface TaggedWidths {
  variableCount: 2 | 4;
  observationCount: 4 | 8;
  labelLength: 1 | 2;
  name: number;
  format: number;
  valueLabelName: number;
  variableLabel: number;
}

function taggedWidths(version: number): TaggedWidths {
  const unicode = version >= 118;
  return {
    variableCount: version >= 119 ? 4 : 2,
    observationCount: unicode ? 8 : 4,
    labelLength: unicode ? 2 : 1,
    name: unicode ? 129 : 33,
    format: unicode ? 57 : 49,
    valueLabelName: unicode ? 129 : 33,
    variableLabel: unicode ? 321 : 81,
  };
}

/** Room for the largest header and the map: a 320-byte label, a 255-byte time stamp and 14 offsets. */
const HEADER_READ_BYTES = 1024;

/** Positions in the map, as `help dta` numbers them (from 0 here). */
const MAP = {
  types: 2,
  names: 3,
  formats: 5,
  valueLabelNames: 6,
  variableLabels: 7,
  data: 9,
  strls: 10,
  valueLabels: 11,
  trailer: 12,
} as const;
const MAP_ENTRIES = 14;

/** Formats that Stata 18 added for alias variables; the layout differs, so they are reported, not guessed at. */
const ALIAS_VERSIONS: Record<string, string> = {
  '120': 'format 120 (Stata 18 with alias variables)',
  '121': 'format 121 (Stata 18 with alias variables and more than 32,767 variables)',
};

function readRelease(cursor: ByteCursor, bytes: Buffer): number {
  cursor.expectTag('<release>');
  const end = bytes.indexOf('</release>', cursor.position, 'latin1');
  const release = end === -1 || end - cursor.position > 8 ? '' : bytes.toString('latin1', cursor.position, end);
  const alias = ALIAS_VERSIONS[release];
  if (alias) {
    throw malformed(`${alias} is not supported yet; save the file in Stata with "saveold" (format 119 or earlier) to preview it.`, { formatVersion: Number(release) });
  }
  const version = Number(release);
  if (!(TAGGED_VERSIONS as readonly number[]).includes(version)) {
    throw malformed(`format ${JSON.stringify(release)} is not a .dta format this reader supports (${TAGGED_VERSIONS.join(', ')} in the tagged layout).`, { formatVersion: release });
  }
  cursor.position = end;
  cursor.expectTag('</release>');
  return version;
}

function readByteOrder(cursor: ByteCursor): boolean {
  cursor.expectTag('<byteorder>');
  const order = cursor.bytesOf(3, 'the byte order').toString('latin1');
  if (order !== 'LSF' && order !== 'MSF') throw malformed(`the byte order is ${JSON.stringify(order)}, neither LSF nor MSF.`);
  cursor.expectTag('</byteorder>');
  return order === 'LSF';
}

/**
 * Reads one tagged descriptor section: checks its opening tag, that its closing tag follows
 * `contentBytes` later (which catches a damaged K), and returns the first `requestedBytes` of content.
 */
async function readSection(source: ByteSource, start: number, name: string, contentBytes: number, requestedBytes: number): Promise<Buffer> {
  const open = `<${name}>`;
  const close = `</${name}>`;
  const openBytes = await readRange(source, start, open.length, `the <${name}> tag`);
  new ByteCursor(openBytes, true, start).expectTag(open);
  const closeAt = start + open.length + contentBytes;
  const closeBytes = await readRange(source, closeAt, close.length, `the </${name}> tag`);
  new ByteCursor(closeBytes, true, closeAt).expectTag(close);
  return readRange(source, start + open.length, requestedBytes, `the <${name}> section`);
}

async function expectTagAt(source: ByteSource, offset: number, tag: string): Promise<void> {
  const bytes = await readRange(source, offset, tag.length, `the ${tag} tag`);
  new ByteCursor(bytes, true, offset).expectTag(tag);
}

function fields(bytes: Buffer, width: number, count: number): Buffer[] {
  return Array.from({ length: count }, (_, index) => bytes.subarray(index * width, (index + 1) * width));
}

export async function readTaggedHeader(source: ByteSource, textColumns: number): Promise<DtaHeader> {
  const bytes = await readRange(source, 0, Math.min(source.sizeBytes, HEADER_READ_BYTES), 'the header');
  const probe = new ByteCursor(bytes, true);
  probe.expectTag('<stata_dta>');
  probe.expectTag('<header>');
  const version = readRelease(probe, bytes);
  const littleEndian = readByteOrder(probe);
  const widths = taggedWidths(version);

  // From here on numbers follow the file's byte order.
  const cursor = new ByteCursor(bytes, littleEndian);
  cursor.position = probe.position;
  cursor.expectTag('<K>');
  const variableCount = widths.variableCount === 2 ? cursor.uint16('K') : cursor.uint32('K');
  cursor.expectTag('</K>');
  cursor.expectTag('<N>');
  const observationCount = widths.observationCount === 4 ? cursor.uint32('N') : cursor.uint64('N');
  cursor.expectTag('</N>');
  cursor.expectTag('<label>');
  const labelLength = widths.labelLength === 1 ? cursor.uint8('the dataset label length') : cursor.uint16('the dataset label length');
  const datasetLabel = untilNul(cursor.bytesOf(labelLength, 'the dataset label'));
  cursor.expectTag('</label>');
  cursor.expectTag('<timestamp>');
  cursor.skip(cursor.uint8('the time stamp length'), 'the time stamp');
  cursor.expectTag('</timestamp>');
  cursor.expectTag('</header>');
  cursor.expectTag('<map>');
  const map = Array.from({ length: MAP_ENTRIES }, (_, index) => cursor.uint64(`map entry ${index + 1}`));
  cursor.expectTag('</map>');
  fillMissingMapEntries(map, variableCount, widths);
  checkMap(map, source.sizeBytes);
  const at = (entry: number): number => map[entry] ?? 0;

  // K two-byte type codes; checked against the section's end before anything is allocated.
  if (variableCount * 2 > at(MAP.names) - at(MAP.types)) {
    throw malformed(`the header declares ${variableCount} variables, more than the variable-types section can hold.`, { variableCount });
  }
  const typeBytes = new ByteCursor(await readSection(source, at(MAP.types), 'variable_types', variableCount * 2, variableCount * 2), littleEndian, at(MAP.types));
  const types = Array.from({ length: variableCount }, (_, index) => decodeTypeCode(typeBytes.uint16('a variable type'), version, index + 1));

  const textCount = Math.min(textColumns, variableCount);
  const names = fields(await readSection(source, at(MAP.names), 'varnames', variableCount * widths.name, textCount * widths.name), widths.name, textCount);
  const formats = fields(await readSection(source, at(MAP.formats), 'formats', variableCount * widths.format, textCount * widths.format), widths.format, textCount);
  const valueLabelNames = fields(
    await readSection(source, at(MAP.valueLabelNames), 'value_label_names', variableCount * widths.valueLabelName, textCount * widths.valueLabelName),
    widths.valueLabelName,
    textCount,
  );
  const labels = fields(
    await readSection(source, at(MAP.variableLabels), 'variable_labels', variableCount * widths.variableLabel, textCount * widths.variableLabel),
    widths.variableLabel,
    textCount,
  );
  const variables: VariableText[] = names.map((name, index) => ({
    name: untilNul(name),
    format: Buffer.from(untilNul(formats[index] ?? Buffer.alloc(0))).toString('latin1'),
    valueLabelName: untilNul(valueLabelNames[index] ?? Buffer.alloc(0)),
    label: untilNul(labels[index] ?? Buffer.alloc(0)),
  }));

  const { offsetsInRow, rowWidthBytes } = rowLayout(types);
  await expectTagAt(source, at(MAP.data), '<data>');
  const dataOffset = at(MAP.data) + '<data>'.length;
  checkDataFits(observationCount, rowWidthBytes, dataOffset, at(MAP.strls));
  await expectTagAt(source, dataOffset + observationCount * rowWidthBytes, '</data>');

  await expectTagAt(source, at(MAP.strls), '<strls>');
  await expectTagAt(source, at(MAP.valueLabels) - '</strls>'.length, '</strls>');
  await expectTagAt(source, at(MAP.valueLabels), '<value_labels>');
  await expectTagAt(source, at(MAP.trailer) - '</value_labels>'.length, '</value_labels>');

  return {
    formatVersion: version,
    littleEndian,
    variableCount,
    observationCount,
    datasetLabel,
    types,
    offsetsInRow,
    rowWidthBytes,
    dataOffset,
    variables,
    strls: { start: at(MAP.strls) + '<strls>'.length, end: at(MAP.valueLabels) - '</strls>'.length },
    valueLabels: { start: at(MAP.valueLabels) + '<value_labels>'.length, end: at(MAP.trailer) - '</value_labels>'.length },
    extendedMissing: true,
  };
}

/** Descriptor sections in file order, with the bytes each variable takes in them. */
function descriptorSections(widths: TaggedWidths): { entry: number; tag: string; bytesPerVariable: number; extraBytes: number }[] {
  const sortEntryBytes = widths.variableCount;
  return [
    { entry: MAP.types, tag: 'variable_types', bytesPerVariable: 2, extraBytes: 0 },
    { entry: MAP.names, tag: 'varnames', bytesPerVariable: widths.name, extraBytes: 0 },
    // The sort list has K + 1 entries of 2 bytes (4 in format 119).
    { entry: MAP.names + 1, tag: 'sortlist', bytesPerVariable: sortEntryBytes, extraBytes: sortEntryBytes },
    { entry: MAP.formats, tag: 'formats', bytesPerVariable: widths.format, extraBytes: 0 },
    { entry: MAP.valueLabelNames, tag: 'value_label_names', bytesPerVariable: widths.valueLabelName, extraBytes: 0 },
    { entry: MAP.variableLabels, tag: 'variable_labels', bytesPerVariable: widths.variableLabel, extraBytes: 0 },
  ];
}

/**
 * Some writers of format 117 leave map entries 0 (the variable labels entry, typically). The
 * descriptor sections have sizes fixed by K, so a zero entry is computed from the section before it.
 * Entries from <characteristics> on have no fixed size and stay as written.
 */
function fillMissingMapEntries(map: number[], variableCount: number, widths: TaggedWidths): void {
  const sections = descriptorSections(widths);
  sections.forEach((section, index) => {
    const previous = sections[index - 1];
    if (index === 0 || !previous || (map[section.entry] ?? 0) !== 0) return;
    const previousStart = map[previous.entry] ?? 0;
    map[section.entry] = previousStart + previous.tag.length * 2 + 5 + variableCount * previous.bytesPerVariable + previous.extraBytes;
  });
  const last = sections[sections.length - 1];
  if (last && (map[MAP.variableLabels + 1] ?? 0) === 0) {
    map[MAP.variableLabels + 1] = (map[last.entry] ?? 0) + last.tag.length * 2 + 5 + variableCount * last.bytesPerVariable;
  }
}

/** Checks that the section offsets rise in the documented order and stay inside the file. */
function checkMap(map: number[], sizeBytes: number): void {
  for (let index = MAP.types; index <= MAP.trailer; index += 1) {
    const offset = map[index] ?? 0;
    const previous = map[index - 1] ?? 0;
    if (offset > sizeBytes || offset < previous) {
      throw malformed(`map entry ${index + 1} (offset ${offset}) is out of order or past the end of the file (${sizeBytes} bytes); the file is truncated or damaged.`, {
        mapEntry: index + 1,
        offset,
        sizeBytes,
      });
    }
  }
}
