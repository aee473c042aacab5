import type { datasets } from '../db/schema';
import type { Runtime } from '../runtime';
import type { ByteSource, LocalFile } from './object-store';

type DatasetRow = Pick<typeof datasets.$inferSelect, 'relPath' | 'sizeBytes'>;

/**
 * Opens a dataset for readers that need a file path: the workspace file itself with the embedded
 * store, the local mirror or a temporary copy with S3. Call `release` when done reading.
 */
export function openDatasetFile(runtime: Runtime, workspace: { tenantId: string; jobId: string }, dataset: DatasetRow): Promise<LocalFile> {
  return runtime.store.openWorkspaceFile(workspace, dataset.relPath, dataset.sizeBytes);
}

/** Opens a dataset for ranged reads, from local disk or with ranged GETs from the bucket. */
export function openDatasetBytes(runtime: Runtime, workspace: { tenantId: string; jobId: string }, dataset: DatasetRow): Promise<ByteSource> {
  return runtime.store.openWorkspaceBytes(workspace, dataset.relPath, dataset.sizeBytes);
}
