import { FileByteSource } from '../storage/file-bytes';
import type { ByteSource } from '../storage/object-store';
import type { DatasetSource } from './types';

/** Builds a DatasetSource over a local file, for tests, benchmarks and scripts that preview files on disk. */
export function fileDatasetSource(filePath: string, fields: Omit<DatasetSource, 'openBytes' | 'localPath'>): DatasetSource {
  return { ...fields, openBytes: () => FileByteSource.open(filePath), localPath: filePath };
}

/** Opens a local file as a ByteSource, runs `work` on it and closes it. */
export async function withFileBytes<T>(filePath: string, work: (bytes: ByteSource) => Promise<T>): Promise<T> {
  const bytes = await FileByteSource.open(filePath);
  try {
    return await work(bytes);
  } finally {
    await bytes.close();
  }
}
