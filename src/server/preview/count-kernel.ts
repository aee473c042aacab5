import { COUNT_KERNEL_WASM_BASE64 } from './count-kernel-wasm';

const PAGE_BYTES = 64 * 1024;
/**
 * Smallest memory of a kernel. Chunks from outside its memory are copied in pieces of its size, which
 * is this or the size of the first chunk or input buffer, whichever is larger.
 */
const MIN_INPUT_BYTES = 64 * 1024;

/** Bits of the state flags that `count` reads and returns, as documented in count-kernel.wat. */
export const KERNEL_STATE = {
  inQuotes: 1,
  quotePending: 2,
  atFieldStart: 4,
  recordHasUnits: 8,
  afterCarriageReturn: 16,
} as const;

interface KernelExports {
  count(offset: number, length: number, delimiter: number, state: number): number;
  records: WebAssembly.Global;
  lineBreaks: WebAssembly.Global;
}

/** Counts of one call of the kernel, and the parser state after it as KERNEL_STATE flags. */
export interface KernelResult {
  state: number;
  records: number;
  lineBreaks: number;
}

let compiled: WebAssembly.Module | undefined;

/** Compiles the module once per process, on first use. Each counter makes its own instance. */
function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(Buffer.from(COUNT_KERNEL_WASM_BASE64, 'base64'));
  return compiled;
}

/**
 * One instance of the WebAssembly record counter (count-kernel.wat) with its own memory, which is
 * also the input buffer: bytes read into `inputBuffer` are counted where they lie.
 */
export class CountKernel {
  private readonly memory: WebAssembly.Memory;
  private readonly exports: KernelExports;

  constructor(inputBytes: number) {
    this.memory = new WebAssembly.Memory({ initial: pagesFor(Math.max(inputBytes, MIN_INPUT_BYTES)) });
    const instance = new WebAssembly.Instance(kernelModule(), { env: { memory: this.memory } });
    this.exports = instance.exports as unknown as KernelExports;
  }

  /** Bytes that fit in the memory without growing it. */
  get capacity(): number {
    return this.memory.buffer.byteLength;
  }

  /** Returns a view of the first `length` bytes of the memory, growing it when needed. */
  inputBuffer(length: number): Buffer {
    const missing = pagesFor(length) - this.memory.buffer.byteLength / PAGE_BYTES;
    if (missing > 0) this.memory.grow(missing);
    return Buffer.from(this.memory.buffer, 0, length);
  }

  /** Returns the offset of `bytes` in the memory, or -1 when they lie elsewhere. */
  offsetOf(bytes: Uint8Array): number {
    return bytes.buffer === this.memory.buffer ? bytes.byteOffset : -1;
  }

  /** Counts `length` bytes at `offset` of the memory, starting from the parser state `state`. */
  count(offset: number, length: number, delimiter: number, state: number): KernelResult {
    const { records, lineBreaks } = this.exports;
    records.value = 0;
    lineBreaks.value = 0;
    const next = this.exports.count(offset, length, delimiter, state);
    // The globals are i32 and wrap at 2^32. A call covers fewer than 2^32 bytes, so reading them unsigned is exact.
    return { state: next, records: (records.value as number) >>> 0, lineBreaks: (lineBreaks.value as number) >>> 0 };
  }
}

function pagesFor(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / PAGE_BYTES));
}
