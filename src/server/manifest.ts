import { and, asc, eq, inArray, lt } from 'drizzle-orm';

import type { Db } from './db/client';
import { datasets, jobs, uploadSessions } from './db/schema';
import { jobFingerprint } from './fingerprint';
import type { ObjectStore } from './storage/object-store';

export const MANIFEST_SCHEMA_VERSION = 2;
export const MANIFEST_REL_PATH = 'inputs/manifest.json';

/** Reader choices saved for a dataset; every later preview starts from them. */
export interface ReadOptions {
  sheetName?: string;
  /** 1-based row number of the header as a spreadsheet shows rows; null means the table has no header. */
  headerRow?: number | null;
  encoding?: string;
  delimiter?: string;
}

export type DatasetRow = typeof datasets.$inferSelect;

export interface ManifestDataset {
  datasetKey: string;
  role: string;
  relPath: string;
  originalName: string;
  sizeBytes: number;
  sha256: string;
  fingerprint: string;
  format: string;
  uploadedAt: string;
  contentType: string;
  readOptions: ReadOptions;
}

export interface Manifest {
  schemaVersion: typeof MANIFEST_SCHEMA_VERSION;
  fingerprint: string;
  datasets: ManifestDataset[];
}

/** Orders datasets for display and for manifest.json: the primary first, then by upload time. */
const ROLE_ORDER = ['primary_dataset', 'secondary_dataset', 'auxiliary_data', 'other'];

export function listDatasets(db: Db, jobId: string): DatasetRow[] {
  const rows = db.select().from(datasets).where(eq(datasets.jobId, jobId)).orderBy(asc(datasets.uploadedAt)).all();
  return rows.sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role));
}

export function fingerprintOf(rows: readonly DatasetRow[]): string {
  return jobFingerprint(rows.map((row) => ({ role: row.role, sha256: row.sha256, sizeBytes: row.sizeBytes })));
}

export function toManifestDataset(row: DatasetRow): ManifestDataset {
  return {
    datasetKey: row.datasetKey,
    role: row.role,
    relPath: row.relPath,
    originalName: row.originalName,
    sizeBytes: row.sizeBytes,
    sha256: row.sha256,
    fingerprint: `sha256:${row.sha256}`,
    format: row.format,
    uploadedAt: row.uploadedAt,
    contentType: row.contentType,
    readOptions: (row.readOptions ?? {}) as ReadOptions,
  };
}

export function buildManifest(db: Db, jobId: string): Manifest {
  const rows = listDatasets(db, jobId);
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    fingerprint: fingerprintOf(rows),
    datasets: rows.map(toManifestDataset),
  };
}

/** The on-disk form of one dataset: snake_case, with read options only once they are chosen. */
function toManifestFileEntry(row: DatasetRow): Record<string, unknown> {
  const options = (row.readOptions ?? {}) as ReadOptions;
  const entry: Record<string, unknown> = {
    dataset_key: row.datasetKey,
    role: row.role,
    rel_path: row.relPath,
    original_name: row.originalName,
    size_bytes: row.sizeBytes,
    sha256: row.sha256,
    fingerprint: `sha256:${row.sha256}`,
    format: row.format,
    uploaded_at: row.uploadedAt,
    content_type: row.contentType,
  };
  if (options.sheetName !== undefined) entry.sheet_name = options.sheetName;
  if (options.headerRow !== undefined) {
    entry.header_row = options.headerRow !== null;
    if (options.headerRow !== null && options.headerRow > 1) entry.header_row_number = options.headerRow;
  }
  if (options.encoding !== undefined) entry.encoding = options.encoding;
  if (options.delimiter !== undefined) entry.delimiter = options.delimiter;
  return entry;
}

/**
 * Rewrites inputs/manifest.json and job.json in the job workspace, through the object store, from
 * the database. The database is the source of truth; a writer that finds the job's manifest version moved while it wrote (another request or
 * process changed the datasets) writes again, so the last file on disk always matches the database.
 */
export async function writeProjections(db: Db, store: ObjectStore, jobId: string): Promise<void> {
  for (;;) {
    const job = db.select().from(jobs).where(eq(jobs.id, jobId)).get();
    if (!job) return;

    const rows = listDatasets(db, jobId);
    const workspace = { tenantId: job.tenantId, jobId: job.id };
    const manifestJson = { schema_version: MANIFEST_SCHEMA_VERSION, datasets: rows.map(toManifestFileEntry) };
    const jobJson = {
      job_id: job.id,
      tenant_id: job.tenantId,
      status: job.status,
      inputs: { manifest_rel_path: MANIFEST_REL_PATH, fingerprint: fingerprintOf(rows) },
    };

    await store.writeWorkspaceFile(workspace, MANIFEST_REL_PATH, `${JSON.stringify(manifestJson, null, 2)}\n`);
    await store.writeWorkspaceFile(workspace, 'job.json', `${JSON.stringify(jobJson, null, 2)}\n`);

    const after = db.select({ version: jobs.manifestVersion }).from(jobs).where(eq(jobs.id, jobId)).get();
    if (!after || after.version === job.manifestVersion) {
      db.update(jobs)
        .set({ projectedVersion: job.manifestVersion })
        .where(and(eq(jobs.id, jobId), lt(jobs.projectedVersion, job.manifestVersion)))
        .run();
      return;
    }
  }
}

/** Rewrites the projections of a job whose last change was committed but not yet written out; returns whether it did. */
export async function repairProjection(db: Db, store: ObjectStore, jobId: string): Promise<boolean> {
  const job = db.select({ manifestVersion: jobs.manifestVersion, projectedVersion: jobs.projectedVersion }).from(jobs).where(eq(jobs.id, jobId)).get();
  if (!job || job.projectedVersion >= job.manifestVersion) return false;
  await writeProjections(db, store, jobId);
  return true;
}

/** Rewrites every stale projection; run at start-up, after a process may have stopped mid-change. */
export async function repairAllProjections(db: Db, store: ObjectStore): Promise<number> {
  const stale = db.select({ id: jobs.id }).from(jobs).where(lt(jobs.projectedVersion, jobs.manifestVersion)).all();
  for (const job of stale) {
    // Finalize deletes a session's objects before it rewrites the projections, so a stale job may
    // still have objects of sessions that finalize settled; they go first, as finalize would.
    const settled = db
      .select()
      .from(uploadSessions)
      .where(and(eq(uploadSessions.jobId, job.id), inArray(uploadSessions.status, ['finalized', 'failed'])))
      .all();
    for (const session of settled) await store.deleteSessionObjects(session);
    await writeProjections(db, store, job.id);
  }
  return stale.length;
}
