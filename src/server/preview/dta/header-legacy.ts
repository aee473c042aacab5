import { ByteCursor, readRange, type ByteSource } from './bytes';
import { malformed } from './failure';
import { checkDataFits, rowLayout, type DtaHeader, type VariableText } from './layout';
import { decodeTypeCode } from './storage';
import { untilNul } from './text';

/**
 * The binary layout of formats 104 to 115 (Stata 4 to 12): a fixed header, descriptor arrays of
 * fixed-width fields, variable labels, expansion fields (105 and later), the data, then value
 * labels up to the end of the file. Field widths by format, from Stata's dta_113 and dta_115
 * descriptions and the older format notes:
 *
 *   field              104   105   108   110-111   113   114-115
 *   dataset label       32    32    81     81       81     81
 *   time stamp           -    18    18     18       18     18
 *   variable name        9     9     9     33       33     33
 *   display format       7    12    12     12       12     49
 *   value-label name     9     9     9     33       33     33
 *   variable label      32    32    81     81       81     81
 *   expansion length     -     2     2      4        4      4
 */
interface LegacyWidths {
  datasetLabel: number;
  timestamp: number;
  name: number;
  format: number;
  valueLabelName: number;
  variableLabel: number;
  expansionLength: 0 | 2 | 4;
}

function legacyWidths(version: number): LegacyWidths {
  return {
    datasetLabel: version >= 108 ? 81 : 32,
    timestamp: version >= 105 ? 18 : 0,
    name: version >= 110 ? 33 : 9,
    format: version >= 114 ? 49 : version >= 105 ? 12 : 7,
    valueLabelName: version >= 110 ? 33 : 9,
    variableLabel: version >= 108 ? 81 : 32,
    expansionLength: version >= 110 ? 4 : version >= 105 ? 2 : 0,
  };
}

/** Fixed part of the header: version, byte order, file type, padding, K (2 bytes), N (4 bytes). */
const FIXED_HEADER_BYTES = 10;

/** Splits `count` fixed-width fields out of one buffer. */
function fields(bytes: Buffer, width: number, count: number): Buffer[] {
  return Array.from({ length: count }, (_, index) => bytes.subarray(index * width, (index + 1) * width));
}

export async function readLegacyHeader(source: ByteSource, version: number, littleEndian: boolean, textColumns: number): Promise<DtaHeader> {
  const widths = legacyWidths(version);
  const headerBytes = FIXED_HEADER_BYTES + widths.datasetLabel + widths.timestamp;
  const header = new ByteCursor(await readRange(source, 0, headerBytes, 'the header'), littleEndian);
  header.skip(4, 'the format version, byte order and file type');
  const variableCount = header.uint16('the number of variables');
  const observationCount = header.uint32('the number of observations');
  const datasetLabel = untilNul(header.bytesOf(widths.datasetLabel, 'the dataset label'));

  // The descriptor arrays follow each other without markers.
  const typesOffset = headerBytes;
  const namesOffset = typesOffset + variableCount;
  const sortOffset = namesOffset + variableCount * widths.name;
  const formatsOffset = sortOffset + 2 * (variableCount + 1);
  const valueLabelNamesOffset = formatsOffset + variableCount * widths.format;
  const labelsOffset = valueLabelNamesOffset + variableCount * widths.valueLabelName;
  const expansionOffset = labelsOffset + variableCount * widths.variableLabel;

  const typeCodes = await readRange(source, typesOffset, variableCount, 'the variable types');
  const types = Array.from(typeCodes, (code, index) => decodeTypeCode(code, version, index + 1));

  const textCount = Math.min(textColumns, variableCount);
  const names = fields(await readRange(source, namesOffset, textCount * widths.name, 'the variable names'), widths.name, textCount);
  const formats = fields(await readRange(source, formatsOffset, textCount * widths.format, 'the display formats'), widths.format, textCount);
  const valueLabelNames = fields(
    await readRange(source, valueLabelNamesOffset, textCount * widths.valueLabelName, 'the value-label names'),
    widths.valueLabelName,
    textCount,
  );
  const labels = fields(await readRange(source, labelsOffset, textCount * widths.variableLabel, 'the variable labels'), widths.variableLabel, textCount);
  const variables: VariableText[] = names.map((name, index) => ({
    name: untilNul(name),
    format: Buffer.from(untilNul(formats[index] ?? Buffer.alloc(0))).toString('latin1'),
    valueLabelName: untilNul(valueLabelNames[index] ?? Buffer.alloc(0)),
    label: untilNul(labels[index] ?? Buffer.alloc(0)),
  }));

  const dataOffset = await skipExpansionFields(source, expansionOffset, widths.expansionLength, littleEndian);
  const { offsetsInRow, rowWidthBytes } = rowLayout(types);
  checkDataFits(observationCount, rowWidthBytes, dataOffset, source.sizeBytes);

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
    strls: null,
    valueLabels: { start: dataOffset + observationCount * rowWidthBytes, end: source.sizeBytes },
    extendedMissing: version >= 113,
  };
}

/**
 * Walks the expansion fields (characteristics and notes), each a 1-byte type and a 2- or 4-byte
 * length, until the terminating type 0, and returns the offset of the data that follows. Every
 * step moves forward by at least the field header, so a damaged file ends the walk at its end.
 */
async function skipExpansionFields(source: ByteSource, offset: number, lengthBytes: 0 | 2 | 4, littleEndian: boolean): Promise<number> {
  if (lengthBytes === 0) return offset;

  let position = offset;
  for (;;) {
    const fieldHeader = new ByteCursor(await readRange(source, position, 1 + lengthBytes, 'an expansion field header'), littleEndian, position);
    const type = fieldHeader.uint8('the expansion field type');
    const length = lengthBytes === 2 ? fieldHeader.uint16('the expansion field length') : fieldHeader.uint32('the expansion field length');
    position += 1 + lengthBytes;
    if (type === 0) return position;
    if (position + length > source.sizeBytes) {
      throw malformed(`an expansion field at byte ${position} declares ${length} bytes, past the end of the file.`, { offset: position, length });
    }
    position += length;
  }
}
