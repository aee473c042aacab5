import type { datasets } from '../db/schema';
import type { Runtime } from '../runtime';
import type { ByteSource } from './object-store';

type DatasetRow = Pick<typeof datasets.$inferSelect, 'relPath' | 'sizeBytes'>;

/** Opens a dataset for ranged reads, from local disk or with ranged GETs from the bucket. */
export function openDatasetBytes(runtime: Runtime, workspace: { tenantId: string; jobId: string }, dataset: DatasetRow): Promise<ByteSource> {
  return runtime.store.openWorkspaceBytes(workspace, dataset.relPath, dataset.sizeBytes);
}

/** Returns the path of a local file with the dataset's bytes, or null when they are only in the bucket. */
export function localDatasetPath(runtime: Runtime, workspace: { tenantId: string; jobId: string }, dataset: DatasetRow): Promise<string | null> {
  return runtime.store.localWorkspacePath(workspace, dataset.relPath, dataset.sizeBytes);
}
