import { and, eq } from 'drizzle-orm';

import type { Principal } from '../auth';
import { requireJob } from '../auth';
import { datasets } from '../db/schema';
import { InletError } from '../errors';
import type { ReadOptions } from '../manifest';
import { extensionOf } from '../rules';
import type { Runtime } from '../runtime';
import { localDatasetPath, openDatasetBytes } from '../storage/dataset-files';
import type { ByteSource } from '../storage/object-store';
import { CsvReader } from './csv';
import { DtaReader } from './dta';
import { ExcelReader } from './excel';
import { checkReadOptionsApply } from './options';
import type { DatasetReader, PreviewResult } from './types';

export interface PreviewInput {
  jobId: string;
  datasetKey?: string | undefined;
  rows: number;
  columns: number;
  sheetName?: string | undefined;
  headerRow?: number | null | undefined;
  encoding?: string | undefined;
  delimiter?: string | undefined;
  waitForCount: boolean;
}

const READERS: Partial<Record<string, DatasetReader>> = {
  csv: new CsvReader(),
  dta: new DtaReader(),
  excel: new ExcelReader(),
};

/**
 * Builds a bounded preview of a dataset, the primary one by default. Options in the request
 * override the dataset's saved read options for this call only.
 */
export async function previewDataset(runtime: Runtime, principal: Principal, input: PreviewInput): Promise<PreviewResult> {
  const { db } = runtime;
  const job = requireJob(db, principal, input.jobId);

  const row =
    input.datasetKey === undefined
      ? db.select().from(datasets).where(and(eq(datasets.jobId, job.id), eq(datasets.role, 'primary_dataset'))).get()
      : db.select().from(datasets).where(and(eq(datasets.jobId, job.id), eq(datasets.datasetKey, input.datasetKey))).get();
  if (!row) {
    const message =
      input.datasetKey === undefined ? `Job ${job.id} has no primary dataset.` : `Job ${job.id} has no dataset ${JSON.stringify(input.datasetKey)}.`;
    throw new InletError('DATASET_NOT_FOUND', message, { jobId: job.id, datasetKey: input.datasetKey ?? null });
  }

  const reader = READERS[row.format];
  if (!reader) {
    const message =
      row.format === 'other'
        ? `Dataset ${row.datasetKey} has role other and is stored, not previewed.`
        : `Preview of ${row.format} files is not available in this version; the file is stored and listed in the manifest.`;
    throw new InletError('INPUT_PARSE_FAILED', message, { datasetKey: row.datasetKey, format: row.format });
  }

  checkReadOptionsApply(row.datasetKey, row.format, input);

  const saved = (row.readOptions ?? {}) as ReadOptions;
  const workspace = { tenantId: job.tenantId, jobId: job.id };
  // Every byte source opened during the call, so the log line can report what the preview fetched.
  const opened: ByteSource[] = [];
  const startedAt = performance.now();
  const result = await reader.preview(
    {
      datasetKey: row.datasetKey,
      sha256: row.sha256,
      sizeBytes: row.sizeBytes,
      extension: extensionOf(row.originalName),
      openBytes: async () => {
        const bytes = await openDatasetBytes(runtime, workspace, row);
        opened.push(bytes);
        return bytes;
      },
      localPath: await localDatasetPath(runtime, workspace, row),
    },
    {
      rows: input.rows,
      columns: input.columns,
      sheetName: input.sheetName ?? saved.sheetName,
      headerRow: input.headerRow !== undefined ? input.headerRow : saved.headerRow,
      encoding: input.encoding ?? saved.encoding,
      delimiter: input.delimiter ?? saved.delimiter,
      waitForCount: input.waitForCount,
    },
  );

  // Sources still open (a row count that goes on) have fetched part of their bytes by now.
  const fetched = opened.some((bytes) => bytes.fetched !== undefined)
    ? { storeRequests: sum(opened, (bytes) => bytes.fetched?.requests ?? 0), storeBytes: sum(opened, (bytes) => bytes.fetched?.bytes ?? 0) }
    : {};
  runtime.logger.debug(
    {
      event: 'preview.read',
      jobId: job.id,
      datasetKey: row.datasetKey,
      format: row.format,
      sizeBytes: row.sizeBytes,
      rowCountExact: result.rowCountExact,
      durationMs: Math.round(performance.now() - startedAt),
      ...fetched,
    },
    'dataset previewed',
  );
  return result;
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}
