import { and, eq, sql } from 'drizzle-orm';

import type { Principal } from './auth';
import { requireJob, requireOpenJob, type JobRow } from './auth';
import type { Db } from './db/client';
import { datasets, jobs } from './db/schema';
import { InletError } from './errors';
import { addSeconds, nowIso } from './ids';
import type { Manifest, ManifestDataset, ReadOptions } from './manifest';
import { buildManifest, fingerprintOf, listDatasets, MANIFEST_REL_PATH, toManifestDataset, writeProjections } from './manifest';
import type { Role } from './rules';
import { formatForRole, isRole, ROLES } from './rules';
import type { Runtime } from './runtime';
import { parseEncodingOption } from './preview/dta/text';
import { normalizeEncodingOverride } from './preview/encoding';
import { previewDataset } from './preview';
import { checkReadOptionsApply } from './preview/options';

export const DOWNLOADS_PATH_PREFIX = '/api/objects/downloads/';

function requireDataset(db: Db, job: JobRow, datasetKey: string): typeof datasets.$inferSelect {
  const row = db
    .select()
    .from(datasets)
    .where(and(eq(datasets.jobId, job.id), eq(datasets.datasetKey, datasetKey)))
    .get();
  if (!row) {
    throw new InletError('DATASET_NOT_FOUND', `Dataset ${JSON.stringify(datasetKey)} was not found in job ${job.id}.`, { datasetKey, jobId: job.id });
  }
  return row;
}

/** Recomputes the job's fingerprint inside a write transaction that changed its datasets. */
function refreshFingerprint(tx: Db, jobId: string, now: Date): void {
  const fingerprint = fingerprintOf(listDatasets(tx, jobId));
  tx.update(jobs)
    .set({ fingerprint, manifestVersion: sql`${jobs.manifestVersion} + 1`, updatedAt: nowIso(now) })
    .where(eq(jobs.id, jobId))
    .run();
}

/**
 * Changes a dataset's role. Making a dataset primary demotes the current primary to
 * secondary_dataset instead of dropping it, so no stored data is lost by a role change.
 */
export async function setRole(runtime: Runtime, principal: Principal, input: { jobId: string; datasetKey: string; role: string }, now: Date): Promise<Manifest> {
  const { db, store } = runtime;
  const job = requireJob(db, principal, input.jobId);
  requireOpenJob(job);
  if (!isRole(input.role)) {
    throw new InletError('INPUT_ROLE_INVALID', `Role ${JSON.stringify(input.role)} is invalid; use one of ${ROLES.join(', ')}.`, { role: input.role, allowed: ROLES });
  }
  const role: Role = input.role;
  const dataset = requireDataset(db, job, input.datasetKey);
  const format = formatForRole(dataset.originalName, role);

  if (dataset.role !== role) {
    db.transaction((tx) => {
      if (role === 'primary_dataset') {
        tx.update(datasets)
          .set({ role: 'secondary_dataset' })
          .where(and(eq(datasets.jobId, job.id), eq(datasets.role, 'primary_dataset')))
          .run();
      }
      tx.update(datasets)
        .set({ role, format })
        .where(and(eq(datasets.jobId, job.id), eq(datasets.datasetKey, dataset.datasetKey)))
        .run();
      refreshFingerprint(tx as unknown as Db, job.id, now);
    });
    await writeProjections(db, store, job.id);
  }
  return buildManifest(db, job.id);
}

/** Removes a dataset from the manifest and deletes its bytes. */
export async function removeDataset(runtime: Runtime, principal: Principal, input: { jobId: string; datasetKey: string }, now: Date): Promise<Manifest> {
  const { db, store } = runtime;
  const job = requireJob(db, principal, input.jobId);
  requireOpenJob(job);
  const dataset = requireDataset(db, job, input.datasetKey);

  db.transaction((tx) => {
    tx.delete(datasets)
      .where(and(eq(datasets.jobId, job.id), eq(datasets.datasetKey, dataset.datasetKey)))
      .run();
    refreshFingerprint(tx as unknown as Db, job.id, now);
  });
  await store.deleteWorkspaceFile({ tenantId: job.tenantId, jobId: job.id }, dataset.relPath);
  await writeProjections(db, store, job.id);
  return buildManifest(db, job.id);
}

/**
 * Saves reader choices for a dataset; every later preview starts from them. Fields left out keep
 * their saved value; `headerRow: null` records that the table has no header row.
 */
export async function setReadOptions(
  runtime: Runtime,
  principal: Principal,
  input: { jobId: string; datasetKey: string } & ReadOptions,
): Promise<ManifestDataset> {
  const { db, store } = runtime;
  const job = requireJob(db, principal, input.jobId);
  requireOpenJob(job);
  const dataset = requireDataset(db, job, input.datasetKey);
  if (dataset.format === 'other') {
    throw new InletError('INPUT_UNSUPPORTED_FORMAT', `Dataset ${dataset.datasetKey} has role other and is not read, so it has no read options.`, {
      datasetKey: dataset.datasetKey,
    });
  }
  checkReadOptionsApply(dataset.datasetKey, dataset.format, input);

  const merged: ReadOptions = { ...((dataset.readOptions ?? {}) as ReadOptions) };
  if (input.sheetName !== undefined) merged.sheetName = input.sheetName;
  if (input.headerRow !== undefined) merged.headerRow = input.headerRow;
  if (input.encoding !== undefined) {
    // Saved under the reader's own label, so an alias such as "GBK" is stored as "gb18030".
    merged.encoding = dataset.format === 'csv' ? normalizeEncodingOverride(input.encoding) : parseEncodingOption(input.encoding);
  }
  if (input.delimiter !== undefined) merged.delimiter = input.delimiter;

  // The reader must accept the new options before they are saved, so a saved choice can never
  // make every later preview fail (a sheet that does not exist, a header row past the table).
  await previewDataset(runtime, principal, {
    jobId: job.id,
    datasetKey: dataset.datasetKey,
    rows: 1,
    columns: 1,
    sheetName: merged.sheetName,
    headerRow: merged.headerRow,
    encoding: merged.encoding,
    delimiter: merged.delimiter,
    waitForCount: false,
  });

  db.transaction((tx) => {
    tx.update(datasets)
      .set({ readOptions: merged })
      .where(and(eq(datasets.jobId, job.id), eq(datasets.datasetKey, dataset.datasetKey)))
      .run();
    tx.update(jobs)
      .set({ manifestVersion: sql`${jobs.manifestVersion} + 1`, updatedAt: nowIso() })
      .where(eq(jobs.id, job.id))
      .run();
  });
  await writeProjections(db, store, job.id);
  return toManifestDataset(requireDataset(db, job, dataset.datasetKey));
}

/** Signs a GET URL for a dataset's bytes, or for manifest.json when no dataset key is given. */
export async function downloadUrl(
  runtime: Runtime,
  principal: Principal,
  input: { jobId: string; datasetKey?: string | undefined },
  baseUrl: string,
  now: Date,
): Promise<{ url: string; expiresAt: string }> {
  const { db, config, store } = runtime;
  const job = requireJob(db, principal, input.jobId);
  const dataset = input.datasetKey === undefined ? null : requireDataset(db, job, input.datasetKey);

  const expiresAt = addSeconds(now, config.urlTtlSeconds);
  const url = await store.signDownloadUrl({
    workspace: { tenantId: job.tenantId, jobId: job.id },
    relPath: dataset?.relPath ?? MANIFEST_REL_PATH,
    downloadPath: `${DOWNLOADS_PATH_PREFIX}${job.id}/${dataset?.datasetKey ?? 'manifest'}`,
    filename: dataset?.originalName ?? 'manifest.json',
    contentType: dataset?.contentType ?? 'application/json',
    baseUrl,
    expiresAt,
  });
  return { url, expiresAt: nowIso(expiresAt) };
}
