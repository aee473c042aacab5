/**
 * Writes small .dta files for tests, from Stata's format descriptions. It covers the binary layout
 * (formats 104 to 115), which no installed program writes. It also writes the tagged layout (117
 * to 119) for cases pandas cannot write correctly, such as strLs in big-endian files.
 * Field widths per format are listed in src/server/preview/dta/header-legacy.ts; this writer keeps
 * its own copy on purpose, so a wrong width in the reader is not hidden by the same mistake here.
 */

export type LegacyVersion = 104 | 105 | 108 | 110 | 111 | 113 | 114 | 115;
export type WriterType = 'byte' | 'int' | 'long' | 'float' | 'double' | { str: number };
/** A value to write: a number, a string, null for `.`, or an extended missing code such as ".b". */
export type WriterValue = number | string | null | { missing: string };

export interface WriterVariable {
  name: string;
  type: WriterType;
  format: string;
  label?: string;
  valueLabelName?: string;
}

export interface LegacySpec {
  version: LegacyVersion;
  littleEndian: boolean;
  datasetLabel?: string;
  variables: WriterVariable[];
  rows: WriterValue[][];
  /** Value-label sets: name to [value, text] pairs. */
  valueLabels?: Record<string, [number, string][]>;
  /** Adds one characteristic as an expansion field (formats 105 and later). */
  characteristic?: boolean;
  /** Encodes text fields; defaults to Latin-1. */
  encode?: (text: string) => Buffer;
}

interface Widths {
  datasetLabel: number;
  timestamp: number;
  name: number;
  format: number;
  valueLabelName: number;
  variableLabel: number;
  expansionLength: number;
}

function widthsFor(version: LegacyVersion): Widths {
  switch (version) {
    case 104:
      return { datasetLabel: 32, timestamp: 0, name: 9, format: 7, valueLabelName: 9, variableLabel: 32, expansionLength: 0 };
    case 105:
      return { datasetLabel: 32, timestamp: 18, name: 9, format: 12, valueLabelName: 9, variableLabel: 32, expansionLength: 2 };
    case 108:
      return { datasetLabel: 81, timestamp: 18, name: 9, format: 12, valueLabelName: 9, variableLabel: 81, expansionLength: 2 };
    case 110:
    case 111:
    case 113:
      return { datasetLabel: 81, timestamp: 18, name: 33, format: 12, valueLabelName: 33, variableLabel: 81, expansionLength: 4 };
    case 114:
    case 115:
      return { datasetLabel: 81, timestamp: 18, name: 33, format: 49, valueLabelName: 33, variableLabel: 81, expansionLength: 4 };
  }
}

const NUMERIC_WIDTH = { byte: 1, int: 2, long: 4, float: 4, double: 8 } as const;

function typeCode(type: WriterType, version: LegacyVersion): number {
  if (typeof type === 'object') return version >= 111 ? type.str : 0x7f + type.str;
  if (version >= 111) return { byte: 251, int: 252, long: 253, float: 254, double: 255 }[type];
  return { byte: 0x62, int: 0x69, long: 0x6c, float: 0x66, double: 0x64 }[type];
}

function widthOf(type: WriterType): number {
  return typeof type === 'object' ? type.str : NUMERIC_WIDTH[type];
}

/** Encodes a missing value of a numeric type: `.` and, from format 113, `.a` to `.z`. */
function missingNumber(type: Exclude<WriterType, { str: number }>, code: string, version: LegacyVersion): { bits: number[] } | number {
  const index = code === '.' ? 0 : code.charCodeAt(1) - 0x60;
  if (version < 113) {
    if (index !== 0) throw new Error(`format ${version} has no extended missing values`);
    return { byte: 127, int: 32767, long: 2147483647, float: 2 ** 127, double: 2 ** 1023 }[type];
  }
  switch (type) {
    case 'byte':
      return 101 + index;
    case 'int':
      return 32741 + index;
    case 'long':
      return 2147483621 + index;
    case 'float':
      return { bits: [0x7f000000 + index * 0x800] };
    case 'double':
      return { bits: [0x7fe00000 + index * 0x100, 0] };
  }
}

type BinaryKind = 'u8' | 'u16' | 'u32' | 'u64' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64';

/** Encodes one number in the given byte order. */
function binary(kind: BinaryKind, value: number | bigint, littleEndian: boolean): Buffer {
  const width = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, f64: 8 }[kind];
  const view = new DataView(new ArrayBuffer(width));
  const number = Number(value);
  switch (kind) {
    case 'u8':
      view.setUint8(0, number);
      break;
    case 'i8':
      view.setInt8(0, number);
      break;
    case 'u16':
      view.setUint16(0, number, littleEndian);
      break;
    case 'i16':
      view.setInt16(0, number, littleEndian);
      break;
    case 'u32':
      view.setUint32(0, number, littleEndian);
      break;
    case 'i32':
      view.setInt32(0, number, littleEndian);
      break;
    case 'u64':
      view.setBigUint64(0, BigInt(value), littleEndian);
      break;
    case 'f32':
      view.setFloat32(0, number, littleEndian);
      break;
    case 'f64':
      view.setFloat64(0, number, littleEndian);
      break;
  }
  return Buffer.from(view.buffer);
}

class Out {
  private readonly parts: Buffer[] = [];

  constructor(private readonly littleEndian: boolean) {}

  bytes(buffer: Buffer): void {
    this.parts.push(buffer);
  }

  fixed(buffer: Buffer, width: number, filler = 0): void {
    const field = Buffer.alloc(width, filler);
    buffer.copy(field, 0, 0, Math.min(buffer.length, width));
    this.parts.push(field);
  }

  uint(value: number, width: 1 | 2 | 4): void {
    this.parts.push(binary(({ 1: 'u8', 2: 'u16', 4: 'u32' } as const)[width], value, this.littleEndian));
  }

  int(value: number, width: 1 | 2 | 4): void {
    this.parts.push(binary(({ 1: 'i8', 2: 'i16', 4: 'i32' } as const)[width], value, this.littleEndian));
  }

  float(value: number, width: 4 | 8): void {
    this.parts.push(binary(width === 4 ? 'f32' : 'f64', value, this.littleEndian));
  }

  /** Writes 4 or 8 bytes given as 32-bit words from the most significant one. */
  words(words: number[]): void {
    const ordered = this.littleEndian ? [...words].reverse() : words;
    for (const word of ordered) this.parts.push(binary('u32', word, this.littleEndian));
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export function writeLegacyDta(spec: LegacySpec): Buffer {
  const { version, littleEndian, variables } = spec;
  const widths = widthsFor(version);
  const encode = spec.encode ?? ((text: string) => Buffer.from(text, 'latin1'));
  const out = new Out(littleEndian);

  // Header.
  out.uint(version, 1);
  out.uint(littleEndian ? 2 : 1, 1);
  out.uint(1, 1);
  out.uint(0, 1);
  out.uint(variables.length, 2);
  out.uint(spec.rows.length, 4);
  out.fixed(encode(spec.datasetLabel ?? ''), widths.datasetLabel);
  if (widths.timestamp > 0) out.fixed(Buffer.from(' 1 Jan 2000 12:00'), widths.timestamp);

  // Descriptors; fixed-width fields get junk after the NUL, as Stata leaves it.
  for (const variable of variables) out.uint(typeCode(variable.type, version), 1);
  for (const variable of variables) out.fixed(Buffer.concat([encode(variable.name), Buffer.from([0])]), widths.name, 0x2a);
  out.uint(0, 2);
  for (let index = 0; index < variables.length; index += 1) out.uint(0, 2);
  for (const variable of variables) out.fixed(Buffer.from(variable.format, 'latin1'), widths.format);
  for (const variable of variables) out.fixed(encode(variable.valueLabelName ?? ''), widths.valueLabelName);
  for (const variable of variables) out.fixed(encode(variable.label ?? ''), widths.variableLabel);

  // Expansion fields: one characteristic (type 1), then the terminator.
  if (widths.expansionLength > 0) {
    if (spec.characteristic) {
      const contents = Buffer.concat([Buffer.from('_dta\0'), Buffer.from('note1\0'), Buffer.from('A note that readers skip.\0')]);
      out.uint(1, 1);
      out.uint(contents.length, widths.expansionLength as 2 | 4);
      out.bytes(contents);
    }
    out.uint(0, 1);
    out.uint(0, widths.expansionLength as 2 | 4);
  }

  // Data.
  for (const row of spec.rows) {
    variables.forEach((variable, index) => {
      const value = row[index] ?? null;
      const type = variable.type;
      if (typeof type === 'object') {
        out.fixed(encode(typeof value === 'string' ? value : ''), type.str);
        return;
      }
      let encoded: number | { bits: number[] };
      if (value === null) encoded = missingNumber(type, '.', version);
      else if (typeof value === 'object') encoded = missingNumber(type, value.missing, version);
      else encoded = Number(value);
      if (typeof encoded === 'object') out.words(encoded.bits);
      else if (type === 'float') out.float(encoded, 4);
      else if (type === 'double') out.float(encoded, 8);
      else out.int(encoded, NUMERIC_WIDTH[type] as 1 | 2 | 4);
    });
  }

  // Value labels.
  for (const [name, entries] of Object.entries(spec.valueLabels ?? {})) {
    if (version < 108) {
      out.uint(entries.length, 2);
      out.fixed(encode(name), 9);
      out.uint(0, 1);
      for (const [value] of entries) out.int(value, 2);
      for (const [, text] of entries) out.fixed(encode(text), 8);
      continue;
    }
    const texts = entries.map(([, text]) => Buffer.concat([encode(text), Buffer.from([0])]));
    const textBytes = texts.reduce((sum, text) => sum + text.length, 0);
    out.uint(8 + 8 * entries.length + textBytes, 4);
    out.fixed(encode(name), widths.valueLabelName);
    out.fixed(Buffer.alloc(0), 3);
    out.uint(entries.length, 4);
    out.uint(textBytes, 4);
    let offset = 0;
    for (const text of texts) {
      out.uint(offset, 4);
      offset += text.length;
    }
    for (const [value] of entries) out.int(value, 4);
    for (const text of texts) out.bytes(text);
  }
  return out.toBuffer();
}

/** Total bytes of one observation, for tests that cut files at row boundaries. */
export function rowWidth(variables: WriterVariable[]): number {
  return variables.reduce((sum, variable) => sum + widthOf(variable.type), 0);
}

export interface TaggedVariable {
  name: string;
  type: Exclude<WriterType, { str: number }> | { str: number } | 'strL';
  format: string;
  label?: string;
  valueLabelName?: string;
}

export interface TaggedSpec {
  /** 117 to 119, or 120 and 121 to test that they are reported as unsupported. */
  version: number;
  littleEndian: boolean;
  datasetLabel?: string;
  variables: TaggedVariable[];
  rows: WriterValue[][];
  valueLabels?: Record<string, [number, string][]>;
  encode?: (text: string) => Buffer;
}

/**
 * Writes a tagged-layout file. A strL value equal to one already written in the same column is
 * stored as a reference to the earlier (v,o), a cross-link that `help dta` requires readers to follow.
 */
export function writeTaggedDta(spec: TaggedSpec): Buffer {
  const { version, littleEndian, variables } = spec;
  const unicode = version >= 118;
  const encode = spec.encode ?? ((text: string) => Buffer.from(text, unicode ? 'utf8' : 'latin1'));
  const out = new Out(littleEndian);
  const offsets: number[] = [];
  let written = 0;
  const emit = (buffer: Buffer): void => {
    out.bytes(buffer);
    written += buffer.length;
  };
  const tag = (text: string): void => emit(Buffer.from(text, 'latin1'));
  const number = (value: number, width: 1 | 2 | 4 | 8): Buffer => binary(({ 1: 'u8', 2: 'u16', 4: 'u32', 8: 'u64' } as const)[width], value, littleEndian);
  const fixed = (buffer: Buffer, width: number): Buffer => {
    const field = Buffer.alloc(width);
    buffer.copy(field, 0, 0, Math.min(buffer.length, width));
    return field;
  };
  const widths = {
    name: unicode ? 129 : 33,
    format: unicode ? 57 : 49,
    label: unicode ? 321 : 81,
  };

  offsets.push(0);
  tag('<stata_dta><header>');
  tag(`<release>${version}</release><byteorder>${littleEndian ? 'LSF' : 'MSF'}</byteorder>`);
  tag('<K>');
  emit(number(variables.length, version >= 119 ? 4 : 2));
  tag('</K><N>');
  emit(number(spec.rows.length, unicode ? 8 : 4));
  tag('</N><label>');
  const label = encode(spec.datasetLabel ?? '');
  emit(number(label.length, unicode ? 2 : 1));
  emit(label);
  tag('</label><timestamp>');
  emit(number(17, 1));
  tag(' 1 Jan 2020 12:00</timestamp></header>');

  // The map is written last, once every offset is known; reserve its place.
  const mapAt = written;
  offsets.push(mapAt);
  const mapBytes = '<map>'.length + 14 * 8 + '</map>'.length;
  written += mapBytes;

  const sections: Buffer[] = [];
  const section = (name: string, body: Buffer): void => {
    offsets.push(written);
    const buffer = Buffer.concat([Buffer.from(`<${name}>`), body, Buffer.from(`</${name}>`)]);
    sections.push(buffer);
    written += buffer.length;
  };
  const typeCode = (type: TaggedVariable['type']): number => {
    if (type === 'strL') return 32768;
    if (typeof type === 'object') return type.str;
    return { byte: 65530, int: 65529, long: 65528, float: 65527, double: 65526 }[type];
  };
  section('variable_types', Buffer.concat(variables.map((variable) => number(typeCode(variable.type), 2))));
  section('varnames', Buffer.concat(variables.map((variable) => fixed(encode(variable.name), widths.name))));
  section('sortlist', Buffer.alloc((variables.length + 1) * (version >= 119 ? 4 : 2)));
  section('formats', Buffer.concat(variables.map((variable) => fixed(Buffer.from(variable.format), widths.format))));
  section('value_label_names', Buffer.concat(variables.map((variable) => fixed(encode(variable.valueLabelName ?? ''), widths.name))));
  section('variable_labels', Buffer.concat(variables.map((variable) => fixed(encode(variable.label ?? ''), widths.label))));
  section('characteristics', Buffer.alloc(0));

  // Data, collecting strLs as (v,o) references.
  const cells = new Out(littleEndian);
  const gsos: Buffer[] = [];
  const firstSeen = variables.map(() => new Map<string, [number, number]>());
  // (v,o) is 4 + 4 bytes in 117; in 118 (2 + 6) and 119 (3 + 5) it packs into one 8-byte integer.
  const reference = (v: number, o: number): Buffer => {
    if (version === 117) return Buffer.concat([number(v, 4), number(o, 4)]);
    const vBits = BigInt(version === 118 ? 16 : 24);
    const packed = littleEndian ? BigInt(v) + (BigInt(o) << vBits) : (BigInt(v) << (64n - vBits)) + BigInt(o);
    return binary('u64', packed, littleEndian);
  };
  spec.rows.forEach((row, rowIndex) => {
    variables.forEach((variable, index) => {
      const value = row[index] ?? null;
      const type = variable.type;
      if (type === 'strL') {
        const text = typeof value === 'string' ? value : '';
        if (text === '') {
          cells.bytes(Buffer.alloc(8));
          return;
        }
        const earlier = firstSeen[index]?.get(text);
        if (earlier) {
          cells.bytes(reference(earlier[0], earlier[1]));
          return;
        }
        const [v, o] = [index + 1, rowIndex + 1];
        firstSeen[index]?.set(text, [v, o]);
        cells.bytes(reference(v, o));
        const contents = Buffer.concat([encode(text), Buffer.from([0])]);
        gsos.push(Buffer.concat([Buffer.from('GSO'), number(v, 4), number(o, version === 117 ? 4 : 8), Buffer.from([130]), number(contents.length, 4), contents]));
        return;
      }
      if (typeof type === 'object') {
        cells.bytes(fixed(encode(typeof value === 'string' ? value : ''), type.str));
        return;
      }
      let encoded: number | { bits: number[] };
      if (value === null) encoded = missingNumber(type, '.', 115);
      else if (typeof value === 'object') encoded = missingNumber(type, value.missing, 115);
      else encoded = Number(value);
      if (typeof encoded === 'object') cells.words(encoded.bits);
      else if (type === 'float') cells.float(encoded, 4);
      else if (type === 'double') cells.float(encoded, 8);
      else cells.int(encoded, NUMERIC_WIDTH[type] as 1 | 2 | 4);
    });
  });
  section('data', cells.toBuffer());
  section('strls', Buffer.concat(gsos));

  const labelSets = Object.entries(spec.valueLabels ?? {}).map(([name, entries]) => {
    const texts = entries.map(([, text]) => Buffer.concat([encode(text), Buffer.from([0])]));
    const textBytes = texts.reduce((sum, text) => sum + text.length, 0);
    let offset = 0;
    const table = Buffer.concat([
      number(entries.length, 4),
      number(textBytes, 4),
      ...texts.map((text) => {
        const at = number(offset, 4);
        offset += text.length;
        return at;
      }),
      ...entries.map(([value]) => binary('i32', value, littleEndian)),
      ...texts,
    ]);
    return Buffer.concat([Buffer.from('<lbl>'), number(table.length, 4), fixed(encode(name), widths.name), Buffer.alloc(3), table, Buffer.from('</lbl>')]);
  });
  section('value_labels', Buffer.concat(labelSets));
  offsets.push(written);
  sections.push(Buffer.from('</stata_dta>'));
  written += '</stata_dta>'.length;
  offsets.push(written);

  const map = Buffer.concat([Buffer.from('<map>'), ...offsets.map((offset) => number(offset, 8)), Buffer.from('</map>')]);
  return Buffer.concat([out.toBuffer(), map, ...sections]);
}
