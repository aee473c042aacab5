/// <reference lib="webworker" />
// Computes SHA-256 digests off the main thread, so hashing a large file never blocks the page.
import { createSHA256 } from 'hash-wasm';

/** Bytes read from a Blob at a time, so a large part never sits in memory whole. */
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export interface HashRequest {
  id: number;
  /** Hashed in order, as if concatenated. */
  blobs: Blob[];
}

export type HashResponse = { id: number; sha256: string } | { id: number; error: string };

const scope = self as unknown as DedicatedWorkerGlobalScope;

scope.onmessage = async (event: MessageEvent<HashRequest>) => {
  const { id, blobs } = event.data;
  try {
    const hasher = await createSHA256();
    hasher.init();
    for (const blob of blobs) {
      for (let offset = 0; offset < blob.size; offset += READ_CHUNK_BYTES) {
        const chunk = await blob.slice(offset, offset + READ_CHUNK_BYTES).arrayBuffer();
        hasher.update(new Uint8Array(chunk));
      }
    }
    scope.postMessage({ id, sha256: hasher.digest('hex') } satisfies HashResponse);
  } catch (error) {
    scope.postMessage({ id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) } satisfies HashResponse);
  }
};
