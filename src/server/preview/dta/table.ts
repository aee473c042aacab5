import { normalizeHeaderNames } from '../columns';
import type { Cell, ColumnType, PreviewColumn, PreviewWarning } from '../types';
import type { ByteSource } from './bytes';
import { columnTypeOf, dateKindOf } from './dates';
import { readDtaHeader, type DtaHeader } from './header';
import { decodeRows, readRowBytes, ROW_CHUNK_BYTES, stringCellSample, type ColumnPlan, type RowBytes, type StrlLimits } from './rows';
import type { StorageType } from './storage';
import { StrlIndex } from './strl';
import { createCodec, detectEncoding, parseEncodingOption, type TextCodec } from './text';
import { labelSetKey, readValueLabels, VALUE_LABEL_BUDGET_BYTES, type LabelSet } from './value-labels';

/** Rows whose string cells are sampled to choose the encoding. */
const ENCODING_SAMPLE_ROWS = 20;
const ENCODING_SAMPLE_BYTES = 64 * 1024;
const NEWLINE = Buffer.from('\n');
/** Most entries listed in a column's `valueLabels`; cells still get every label. */
export const VALUE_LABELS_LISTED_MAX = 2000;

export interface DtaOpenOptions {
  /** How many leading columns to describe and decode; the rest are counted but not read. */
  columns: number;
  /** Encoding of strings and labels, overriding the detected one. */
  encoding?: string | undefined;
}

/** Everything about the table except its rows. */
export interface DtaTableInfo {
  formatVersion: number;
  rowCount: number;
  columnCount: number;
  datasetLabel: string;
  encoding: string;
  columns: PreviewColumn[];
  warnings: PreviewWarning[];
}

function columnTypeFor(type: StorageType, format: string): ColumnType {
  if (type.kind === 'str' || type.kind === 'strL') return 'string';
  const dateKind = dateKindOf(format);
  if (dateKind) return columnTypeOf(dateKind);
  return type.kind === 'float' || type.kind === 'double' ? 'number' : 'integer';
}

function decodeLabelSet(set: LabelSet, codec: TextCodec): Map<string, string> {
  return new Map(Array.from(set, ([key, bytes]) => [key, codec.decode(bytes)]));
}

/**
 * One opened .dta file: the header, the value labels of the described columns and the chosen
 * encoding, ready to decode any range of rows.
 */
export class DtaFile {
  private constructor(
    private readonly source: ByteSource,
    readonly header: DtaHeader,
    readonly info: DtaTableInfo,
    private readonly plans: ColumnPlan[],
    private readonly codec: TextCodec,
    private readonly strls: StrlIndex | null,
  ) {}

  static async open(source: ByteSource, options: DtaOpenOptions): Promise<DtaFile> {
    const header = await readDtaHeader(source, options.columns);
    const described = header.variables;
    const warnings: PreviewWarning[] = [];

    // Value labels of the described numeric columns only.
    const requestedSets = new Set<string>();
    described.forEach((variable, index) => {
      const type = header.types[index];
      if (variable.valueLabelName.length > 0 && type && type.kind !== 'str' && type.kind !== 'strL') requestedSets.add(labelSetKey(variable.valueLabelName));
    });
    const valueLabels = await readValueLabels(source, header, requestedSets);
    if (valueLabels.skipped.length > 0) {
      warnings.push({
        code: 'VALUE_LABELS_SKIPPED',
        message: `Value-label sets ${valueLabels.skipped.join(', ')} were not read because the labels of this preview passed ${VALUE_LABEL_BUDGET_BYTES / 2 ** 20} MiB.`,
      });
    }

    const plans: ColumnPlan[] = described.map((variable, index) => ({
      type: header.types[index] as StorageType,
      offsetInRow: header.offsetsInRow[index] ?? 0,
      dateKind: dateKindOf(variable.format),
      labels: null,
    }));

    const codec = createCodec(
      options.encoding !== undefined ? parseEncodingOption(options.encoding) : detectEncoding(header.formatVersion, await textSample(source, header, plans, valueLabels.sets)),
    );

    const columnNames = normalizeHeaderNames(described.map((variable) => codec.decode(variable.name)));
    const columns: PreviewColumn[] = described.map((variable, index) => {
      const plan = plans[index] as ColumnPlan;
      const column: PreviewColumn = { name: columnNames[index] ?? `col_${index + 1}`, type: columnTypeFor(plan.type, variable.format), format: variable.format };
      const label = codec.decode(variable.label);
      if (label !== '') column.label = label;
      if (variable.valueLabelName.length > 0 && plan.type.kind !== 'str' && plan.type.kind !== 'strL') {
        const setName = labelSetKey(variable.valueLabelName);
        const set = valueLabels.sets.get(setName);
        if (set) {
          plan.labels = decodeLabelSet(set, codec);
          column.valueLabels = Object.fromEntries(Array.from(plan.labels).slice(0, VALUE_LABELS_LISTED_MAX));
          if (plan.labels.size > VALUE_LABELS_LISTED_MAX) {
            warnings.push({ code: 'VALUE_LABELS_TRUNCATED', message: `Column ${column.name} lists the first ${VALUE_LABELS_LISTED_MAX} of its ${plan.labels.size} value labels.` });
          }
        } else if (!valueLabels.skipped.includes(setName)) {
          warnings.push({ code: 'VALUE_LABELS_NOT_FOUND', message: `Column ${column.name} names value-label set ${codec.decode(variable.valueLabelName)}, which the file does not define.` });
        }
      }
      if (plan.dateKind === null && /^%-?tb/.test(variable.format)) {
        warnings.push({ code: 'BUSINESS_CALENDAR', message: `Column ${column.name} uses business calendar format ${variable.format}; its values are shown as numbers.` });
      }
      return column;
    });

    const info: DtaTableInfo = {
      formatVersion: header.formatVersion,
      rowCount: header.observationCount,
      columnCount: header.variableCount,
      datasetLabel: codec.decode(header.datasetLabel),
      encoding: codec.encoding,
      columns,
      warnings,
    };
    const strls = header.strls && plans.some((plan) => plan.type.kind === 'strL') ? new StrlIndex(source, header.strls, header.formatVersion, header.littleEndian) : null;
    return new DtaFile(source, header, info, plans, codec, strls);
  }

  /** Bytes of each row that the described columns occupy. */
  private get prefixBytes(): number {
    const last = this.plans.length - 1;
    const plan = this.plans[last];
    return plan ? plan.offsetInRow + plan.type.widthBytes : 0;
  }

  /** Reads and decodes rows [first, first + count), clipped to the table. */
  async readRows(first: number, count: number, limits: StrlLimits): Promise<Cell[][]> {
    const end = Math.min(first + count, this.header.observationCount);
    const rows: Cell[][] = [];
    const rowsPerChunk = Math.max(1, Math.floor(ROW_CHUNK_BYTES / Math.max(this.header.rowWidthBytes, 1)));
    for (let start = first; start < end; start += rowsPerChunk) {
      const chunkCount = Math.min(rowsPerChunk, end - start);
      const raw = await readRowBytes(this.source, this.header, start, chunkCount, this.prefixBytes);
      for (const row of await decodeRows(raw, this.plans, this.header, this.codec, this.strls, limits)) rows.push(row);
    }
    return rows;
  }

  /**
   * Yields every row in batches of `batchRows`, reading the file front to back in chunks of about
   * ROW_CHUNK_BYTES. The next chunk is read while the current one is decoded.
   */
  async *batches(batchRows: number, limits: StrlLimits): AsyncGenerator<Cell[][]> {
    const total = this.header.observationCount;
    const rowsPerChunk = Math.max(batchRows, Math.floor(ROW_CHUNK_BYTES / Math.max(this.header.rowWidthBytes, 1)));
    const readChunk = (start: number): Promise<RowBytes> => {
      const chunk = readRowBytes(this.source, this.header, start, Math.min(rowsPerChunk, total - start), this.prefixBytes);
      // Awaited below; this only keeps an early stop of the consumer from leaving it unhandled.
      chunk.catch(() => undefined);
      return chunk;
    };

    let pending = total > 0 ? readChunk(0) : null;
    for (let start = 0; pending; start += rowsPerChunk) {
      const raw = await pending;
      pending = start + rowsPerChunk < total ? readChunk(start + rowsPerChunk) : null;
      for (let first = 0; first < raw.rowCount; first += batchRows) {
        const count = Math.min(batchRows, raw.rowCount - first);
        const batch: RowBytes = { bytes: raw.bytes.subarray(first * raw.strideBytes, (first + count) * raw.strideBytes), strideBytes: raw.strideBytes, rowCount: count };
        yield await decodeRows(batch, this.plans, this.header, this.codec, this.strls, limits);
      }
    }
  }
}

/** Text bytes that decide the encoding: labels, value labels and the first rows' strings. */
async function textSample(source: ByteSource, header: DtaHeader, plans: ColumnPlan[], sets: Map<string, LabelSet>): Promise<Buffer> {
  const parts: Uint8Array[] = [header.datasetLabel];
  for (const variable of header.variables) parts.push(variable.label, variable.name);
  for (const set of sets.values()) parts.push(...set.values());

  const sampleRows = Math.min(ENCODING_SAMPLE_ROWS, header.observationCount);
  if (sampleRows > 0 && plans.some((plan) => plan.type.kind === 'str')) {
    const last = plans[plans.length - 1] as ColumnPlan;
    const raw = await readRowBytes(source, header, 0, sampleRows, last.offsetInRow + last.type.widthBytes);
    parts.push(...stringCellSample(raw, plans, ENCODING_SAMPLE_BYTES));
  }

  // Whole fields only, so no multibyte sequence is cut; a newline keeps fields from joining.
  const sampleParts: Uint8Array[] = [];
  let total = 0;
  for (const part of parts) {
    if (total + part.length > ENCODING_SAMPLE_BYTES * 4) break;
    sampleParts.push(part, NEWLINE);
    total += part.length + 1;
  }
  return Buffer.concat(sampleParts);
}
