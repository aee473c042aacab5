import type { Cell } from '../types';
import { renderDate, type DateKind } from './dates';
import type { DtaHeader } from './layout';
import { INTEGER_MISSING_START, missingCodeAt, shortestFloat32FromBits, type MissingCode, type StorageType } from './storage';
import type { TextCodec } from './text';

/**
 * Column decoders of the row stream. Each decoder fills one column of a block of rows in a loop
 * specialised for its storage type, so the loop over cells neither branches on the type nor calls
 * through a per-column closure. Cells that repeat are shared instead of created per cell: the
 * `{ value, label }` and `{ missing }` objects (frozen, so a consumer cannot change every row that
 * shares one), and the strings of dates and short text fields, through fixed-size caches.
 *
 * Missing values follow storage.ts (numericReader), which cites Stata's `help dta` for them.
 */

/** Decoding plan of one column: storage type, place in the row, date kind and value labels. */
export interface ColumnPlan {
  type: StorageType;
  offsetInRow: number;
  dateKind: DateKind | null;
  /** Decoded value labels, keyed like the label sets ("1", ".a"), or null. */
  labels: ReadonlyMap<string, string> | null;
}

/** A block of rows to fill: row r of the block starts at byte `r * strideBytes` of `bytes`. */
export interface RowBlock {
  bytes: Buffer;
  view: DataView;
  strideBytes: number;
  /** Rows to fill are rows[first] to rows[end - 1]; row r of the block is rows[r]. */
  first: number;
  end: number;
  rows: Cell[][];
}

/** Fills cells `rows[r][column]` for the rows of a block. */
export interface ColumnDecoder {
  decode(block: RowBlock, column: number): void;
}

/** Total cache slots over all string columns, and over all date columns, of one file. */
const STRING_CACHE_SLOTS_TOTAL = 1 << 16;
const DATE_CACHE_SLOTS_TOTAL = 1 << 18;
const CACHE_SLOTS_MIN = 1 << 8;
const STRING_CACHE_SLOTS_MAX = 1 << 14;
const DATE_CACHE_SLOTS_MAX = 1 << 14;
/** Maximum length of a text field (bytes before the NUL) that the string cache keeps. */
const STRING_CACHE_MAX_BYTES = 32;

/**
 * Shares `total` cache slots among the plans that `uses` selects: each gets the same power of two,
 * from CACHE_SLOTS_MIN to `max`. When there are more such plans than total / CACHE_SLOTS_MIN, the
 * ones after that get no cache (0 slots), so a file with thousands of columns stays within `total`.
 */
function cacheSlotsByPlan(plans: readonly ColumnPlan[], uses: (plan: ColumnPlan) => boolean, total: number, max: number): number[] {
  const columns = plans.filter(uses).length;
  let slots = max;
  while (slots > CACHE_SLOTS_MIN && slots * columns > total) slots >>= 1;
  let granted = 0;
  return plans.map((plan) => {
    if (!uses(plan) || granted + slots > total) return 0;
    granted += slots;
    return slots;
  });
}

/** Spreads a 32-bit key over the slot bits (Fibonacci hashing), so keys that step by 1000 still use every slot. */
function slotOf(key: number, shift: number): number {
  return Math.imul(key | 0, 0x9e3779b1) >>> shift;
}

/**
 * Direct-mapped cache of renderings keyed by a number: a new key replaces the one in its slot.
 * Its size is fixed, so memory does not grow with the file.
 */
class NumberKeyedCache {
  private readonly keys: Float64Array;
  private readonly values: (string | number)[];
  private readonly shift: number;

  constructor(slots: number) {
    // NaN never equals a key, so an empty slot never matches.
    this.keys = new Float64Array(slots).fill(Number.NaN);
    this.values = new Array<string | number>(slots).fill(0);
    this.shift = 32 - Math.log2(slots);
  }

  getOrRender(key: number, render: (key: number) => string | number): string | number {
    const slot = slotOf(key, this.shift);
    if (this.keys[slot] === key) return this.values[slot] as string | number;
    const rendered = render(key);
    this.keys[slot] = key;
    this.values[slot] = rendered;
    return rendered;
  }
}

/** Frozen cells of the 27 missing codes `.` to `.z`: null for an unlabelled `.`. */
function missingCells(labels: ReadonlyMap<string, string> | null): Cell[] {
  if (labels === null) return UNLABELLED_MISSING_CELLS;
  return buildMissingCells(labels);
}

function buildMissingCells(labels: ReadonlyMap<string, string> | null): Cell[] {
  return Array.from({ length: 27 }, (_, index) => {
    const missing: MissingCode = missingCodeAt(index);
    const label = labels?.get(missing);
    if (label !== undefined) return Object.freeze({ missing, label });
    return missing === '.' ? null : Object.freeze({ missing });
  });
}

/** Missing cells of every column without value labels, shared so wide files do not repeat them. */
const UNLABELLED_MISSING_CELLS = buildMissingCells(null);

/** Largest span of labelled integers kept in an array instead of a Map. */
const DENSE_LABELS_MAX_SPAN = 4096;

/** Frozen `{ value, label }` cells of an integer column's labelled values. */
class IntegerLabelCells {
  private readonly dense: (Cell | undefined)[] | null = null;
  private readonly sparse: Map<number, Cell> | null = null;
  private readonly min: number = 0;

  constructor(labels: ReadonlyMap<string, string>) {
    const cells = new Map<number, Cell>();
    for (const [key, label] of labels) {
      if (key.startsWith('.')) continue;
      const value = Number(key);
      cells.set(value, Object.freeze({ value, label }));
    }
    const keys = [...cells.keys()];
    const min = Math.min(...keys);
    const span = Math.max(...keys) - min + 1;
    if (keys.length > 0 && keys.every(Number.isSafeInteger) && span <= DENSE_LABELS_MAX_SPAN) {
      this.min = min;
      this.dense = new Array<Cell | undefined>(span).fill(undefined);
      for (const [value, cell] of cells) this.dense[value - min] = cell;
    } else {
      this.sparse = cells;
    }
  }

  get(value: number): Cell | undefined {
    if (this.dense) {
      const index = value - this.min;
      return index >= 0 && index < this.dense.length ? this.dense[index] : undefined;
    }
    return (this.sparse as Map<number, Cell>).get(value);
  }
}

/** Returns the rendering of a date value, or the value itself outside Stata's calendar. */
function dateRenderer(kind: DateKind): (value: number) => string | number {
  return (value) => renderDate(kind, value) ?? value;
}

/**
 * Integer columns (byte, int, long). A value at or above `firstMissing` is missing. In format 113
 * and later the codes run from `.` upwards. In earlier formats only the type's maximum is `.`.
 */
class IntegerColumn implements ColumnDecoder {
  private readonly firstMissing: number;
  private readonly missing: Cell[];
  private readonly labels: IntegerLabelCells | null;
  private readonly dates: NumberKeyedCache | null;
  private readonly render: ((value: number) => string | number) | null;

  constructor(
    private readonly plan: ColumnPlan,
    private readonly kind: 'byte' | 'int' | 'long',
    private readonly littleEndian: boolean,
    extendedMissing: boolean,
    dateSlots: number,
  ) {
    this.firstMissing = extendedMissing ? INTEGER_MISSING_START[kind] : { byte: 127, int: 32767, long: 2147483647 }[kind];
    this.missing = missingCells(plan.labels);
    this.labels = plan.labels ? new IntegerLabelCells(plan.labels) : null;
    this.dates = plan.dateKind && dateSlots > 0 ? new NumberKeyedCache(dateSlots) : null;
    this.render = plan.dateKind ? dateRenderer(plan.dateKind) : null;
  }

  decode(block: RowBlock, column: number): void {
    const { view, strideBytes, rows } = block;
    const { kind, littleEndian, firstMissing, missing, labels, dates, render } = this;
    let offset = block.first * strideBytes + this.plan.offsetInRow;
    for (let row = block.first; row < block.end; row += 1, offset += strideBytes) {
      let value: number;
      if (kind === 'byte') value = view.getInt8(offset);
      else if (kind === 'int') value = view.getInt16(offset, littleEndian);
      else value = view.getInt32(offset, littleEndian);
      let cell: Cell;
      if (value >= firstMissing) {
        cell = missing[Math.min(value - firstMissing, 26)] as Cell;
      } else {
        cell = value;
        const labelled = labels?.get(value);
        if (labelled !== undefined) cell = labelled;
        else if (render) cell = dates ? dates.getOrRender(value, render) : render(value);
      }
      (rows[row] as Cell[])[column] = cell;
    }
  }
}

/** Largest non-missing float: +1.fffffeX+7e (bit pattern 0x7effffff). `.` is 0x7f000000, and codes step by 0x800. */
const FLOAT_MAX_BITS = 0x7effffff;
const FLOAT_MISSING_BITS = 0x7f000000;
/** `.` for double starts at high word 0x7fe00000, and codes step by 0x100. */
const DOUBLE_MISSING_HIGH = 0x7fe00000;

/**
 * Float and double columns. Positive bit patterns above the largest value (including infinity and
 * NaN) are missing values. Non-finite patterns at the negative end, which Stata never writes, are `.`.
 */
class FloatingColumn implements ColumnDecoder {
  private readonly missing: Cell[];
  private readonly labels: Map<number, string> | null = null;
  private readonly dates: NumberKeyedCache | null;
  private readonly render: ((value: number) => string | number) | null;
  private readonly highWordAt: number;

  constructor(
    private readonly plan: ColumnPlan,
    private readonly double: boolean,
    private readonly littleEndian: boolean,
    private readonly extendedMissing: boolean,
    dateSlots: number,
  ) {
    this.missing = missingCells(plan.labels);
    if (plan.labels) {
      this.labels = new Map();
      for (const [key, label] of plan.labels) if (!key.startsWith('.')) this.labels.set(Number(key), label);
    }
    this.dates = plan.dateKind && dateSlots > 0 ? new NumberKeyedCache(dateSlots) : null;
    this.render = plan.dateKind ? dateRenderer(plan.dateKind) : null;
    this.highWordAt = littleEndian ? 4 : 0;
  }

  decode(block: RowBlock, column: number): void {
    const { view, strideBytes, rows } = block;
    const { double, littleEndian, extendedMissing, missing, labels, dates, render, highWordAt } = this;
    let offset = block.first * strideBytes + this.plan.offsetInRow;
    for (let row = block.first; row < block.end; row += 1, offset += strideBytes) {
      let cell: Cell;
      let value: number;
      if (double) {
        const high = view.getUint32(offset + highWordAt, littleEndian);
        if (high >= DOUBLE_MISSING_HIGH && high < 0x80000000) {
          (rows[row] as Cell[])[column] = missing[extendedMissing ? Math.min((high - DOUBLE_MISSING_HIGH) >> 8, 26) : 0] as Cell;
          continue;
        }
        value = view.getFloat64(offset, littleEndian);
      } else {
        const bits = view.getUint32(offset, littleEndian);
        if (bits > FLOAT_MAX_BITS && bits < 0x80000000) {
          (rows[row] as Cell[])[column] = missing[extendedMissing ? Math.min((bits - FLOAT_MISSING_BITS) >> 11, 26) : 0] as Cell;
          continue;
        }
        value = view.getFloat32(offset, littleEndian);
        if (Number.isFinite(value)) value = shortestFloat32FromBits(value, bits);
      }
      if (!Number.isFinite(value)) {
        cell = missing[0] as Cell;
      } else {
        cell = value;
        const label = labels?.get(value);
        // A fresh object keeps the value as read, so -0 stays -0 even where 0 is labelled.
        if (label !== undefined) cell = { value, label };
        else if (render) cell = dates ? dates.getOrRender(value, render) : render(value);
      }
      (rows[row] as Cell[])[column] = cell;
    }
  }
}

/**
 * Two-way set-associative cache of decoded text fields, keyed by their bytes (at most
 * STRING_CACHE_MAX_BYTES). A new field goes into the first way of its set and moves the older
 * entry to the second, so two values that alternate down a column do not evict each other.
 */
class TextFieldCache {
  private readonly hashes: Int32Array;
  private readonly lengths: Int32Array;
  private readonly keyBytes: Uint8Array;
  private readonly strings: string[];
  private readonly shift: number;

  constructor(slots: number) {
    this.hashes = new Int32Array(slots);
    // -1 never equals a field length, so an empty slot never matches.
    this.lengths = new Int32Array(slots).fill(-1);
    this.keyBytes = new Uint8Array(slots * STRING_CACHE_MAX_BYTES);
    this.strings = new Array<string>(slots).fill('');
    // Sets of two slots: the set index has one bit less than the slot index.
    this.shift = 33 - Math.log2(slots);
  }

  private matches(slot: number, bytes: Buffer, start: number, length: number, hash: number): boolean {
    if (this.hashes[slot] !== hash || this.lengths[slot] !== length) return false;
    const keyStart = slot * STRING_CACHE_MAX_BYTES;
    for (let index = 0; index < length; index += 1) if (this.keyBytes[keyStart + index] !== bytes[start + index]) return false;
    return true;
  }

  /** Returns the cached text of bytes[start, start + length) with FNV-1a hash `hash`, or undefined. */
  get(bytes: Buffer, start: number, length: number, hash: number): string | undefined {
    const slot = (Math.imul(hash, 0x9e3779b1) >>> this.shift) << 1;
    if (this.matches(slot, bytes, start, length, hash)) return this.strings[slot];
    if (this.matches(slot + 1, bytes, start, length, hash)) return this.strings[slot + 1];
    return undefined;
  }

  set(bytes: Buffer, start: number, length: number, hash: number, text: string): void {
    const slot = (Math.imul(hash, 0x9e3779b1) >>> this.shift) << 1;
    const { hashes, lengths, keyBytes, strings } = this;
    const first = slot * STRING_CACHE_MAX_BYTES;
    const second = first + STRING_CACHE_MAX_BYTES;
    for (let index = 0; index < (lengths[slot] as number); index += 1) keyBytes[second + index] = keyBytes[first + index] as number;
    hashes[slot + 1] = hashes[slot] as number;
    lengths[slot + 1] = lengths[slot] as number;
    strings[slot + 1] = strings[slot] as string;
    for (let index = 0; index < length; index += 1) keyBytes[first + index] = bytes[start + index] as number;
    hashes[slot] = hash;
    lengths[slot] = length;
    strings[slot] = text;
  }
}

/**
 * Fixed-width text columns (str1 to str2045). A field ends at its first NUL. Fields of up to
 * STRING_CACHE_MAX_BYTES bytes go through a cache keyed by their bytes, so a value that repeats
 * down the column is decoded once and shared.
 */
class TextColumn implements ColumnDecoder {
  private cache: TextFieldCache | null = null;

  constructor(
    private readonly plan: ColumnPlan,
    private readonly codec: TextCodec,
    private readonly cacheSlots: number,
  ) {}

  decode(block: RowBlock, column: number): void {
    const { bytes, strideBytes, rows } = block;
    const width = this.plan.type.widthBytes;
    const codec = this.codec;
    if (this.cache === null && this.cacheSlots > 0) this.cache = new TextFieldCache(this.cacheSlots);
    const cache = this.cache;

    let start = block.first * strideBytes + this.plan.offsetInRow;
    for (let row = block.first; row < block.end; row += 1, start += strideBytes) {
      const end = start + width;
      // FNV-1a over the bytes before the NUL.
      let hash = 0x811c9dc5;
      let stop = start;
      for (; stop < end; stop += 1) {
        const byte = bytes[stop] as number;
        if (byte === 0) break;
        hash = Math.imul(hash ^ byte, 0x01000193);
      }
      const length = stop - start;
      let cell: string | undefined;
      if (length > STRING_CACHE_MAX_BYTES || cache === null) {
        cell = codec.decodeField(bytes, start, stop);
      } else {
        cell = cache.get(bytes, start, length, hash);
        if (cell === undefined) {
          cell = codec.decodeField(bytes, start, stop);
          cache.set(bytes, start, length, hash, cell);
        }
      }
      (rows[row] as Cell[])[column] = cell;
    }
  }
}

/** Builds the decoders of the planned columns, with no decoder (null) for strL columns. */
export function columnDecoders(plans: readonly ColumnPlan[], header: DtaHeader, codec: TextCodec): (ColumnDecoder | null)[] {
  const stringSlots = cacheSlotsByPlan(plans, (plan) => plan.type.kind === 'str', STRING_CACHE_SLOTS_TOTAL, STRING_CACHE_SLOTS_MAX);
  const dateSlots = cacheSlotsByPlan(plans, (plan) => plan.dateKind !== null, DATE_CACHE_SLOTS_TOTAL, DATE_CACHE_SLOTS_MAX);
  const { littleEndian, extendedMissing } = header;

  return plans.map((plan, index) => {
    switch (plan.type.kind) {
      case 'byte':
      case 'int':
      case 'long':
        return new IntegerColumn(plan, plan.type.kind, littleEndian, extendedMissing, dateSlots[index] ?? 0);
      case 'float':
      case 'double':
        return new FloatingColumn(plan, plan.type.kind === 'double', littleEndian, extendedMissing, dateSlots[index] ?? 0);
      case 'str':
        return new TextColumn(plan, codec, stringSlots[index] ?? 0);
      case 'strL':
        return null;
    }
  });
}
