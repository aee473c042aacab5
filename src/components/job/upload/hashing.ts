import { createSHA256 } from 'hash-wasm';

import type { HashRequest, HashResponse } from './hash-worker';
import { FileReadFailure } from './transfer';

/** Bytes taken from each end of a file for its sample digest, which recognises the file after a reload. */
export const SAMPLE_EDGE_BYTES = 1024 * 1024;

/** Workers that hash at the same time; each one keeps a core busy while parts upload. */
const MAX_WORKERS = 4;

interface Pending {
  resolve: (sha256: string) => void;
  reject: (error: Error) => void;
}

/**
 * A small pool of Web Workers that compute SHA-256 with hash-wasm. Falls back to hashing on the
 * main thread (still with hash-wasm, in chunks) where workers cannot start.
 */
class HashPool {
  private workers: Worker[] | null = null;
  private nextWorker = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private start(): Worker[] {
    if (this.workers !== null) return this.workers;
    const count = Math.max(1, Math.min(MAX_WORKERS, navigator.hardwareConcurrency || 2));
    try {
      this.workers = Array.from({ length: count }, () => {
        const worker = new Worker(new URL('./hash-worker.ts', import.meta.url), { type: 'module' });
        worker.onmessage = (event: MessageEvent<HashResponse>) => this.settle(event.data);
        return worker;
      });
    } catch {
      this.workers = [];
    }
    return this.workers;
  }

  private settle(response: HashResponse): void {
    const entry = this.pending.get(response.id);
    if (!entry) return;
    this.pending.delete(response.id);
    if ('sha256' in response) entry.resolve(response.sha256);
    else entry.reject(new FileReadFailure(response.error));
  }

  /** Returns the lower-case hex SHA-256 of the blobs concatenated in order. */
  digest(blobs: Blob[]): Promise<string> {
    const workers = this.start();
    const worker = workers[this.nextWorker % Math.max(1, workers.length)];
    if (worker === undefined) return digestOnMainThread(blobs);
    this.nextWorker += 1;
    const id = this.nextId;
    this.nextId += 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, blobs } satisfies HashRequest);
    });
  }
}

async function digestOnMainThread(blobs: Blob[]): Promise<string> {
  try {
    const hasher = await createSHA256();
    hasher.init();
    for (const blob of blobs) hasher.update(new Uint8Array(await blob.arrayBuffer()));
    return hasher.digest('hex');
  } catch (error) {
    throw new FileReadFailure(error);
  }
}

let pool: HashPool | null = null;

function hashPool(): HashPool {
  pool ??= new HashPool();
  return pool;
}

/** Returns the hex SHA-256 of bytes `startByte` (inclusive) to `endByte` (exclusive) of a file. */
export function sha256OfRange(file: Blob, startByte: number, endByte: number): Promise<string> {
  return hashPool().digest([file.slice(startByte, endByte)]);
}

/**
 * Returns the file's sample digest: SHA-256 of its first and last MiB concatenated, or of the whole
 * file when it is 2 MiB or smaller. The server stores it to recognise the same file after a reload.
 */
export function sampleSha256(file: Blob): Promise<string> {
  if (file.size <= 2 * SAMPLE_EDGE_BYTES) return hashPool().digest([file]);
  return hashPool().digest([file.slice(0, SAMPLE_EDGE_BYTES), file.slice(file.size - SAMPLE_EDGE_BYTES)]);
}
