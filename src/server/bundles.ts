import { asc, count, eq, inArray } from 'drizzle-orm';

import type { Principal } from './auth';
import { requireJob, requireOpenJob } from './auth';
import type { Config } from './config';
import type { Db } from './db/client';
import { bundleFiles, bundles, datasets } from './db/schema';
import { InletError } from './errors';
import { newId, nowIso } from './ids';
import type { FileFormat, Role } from './rules';
import { checkPrimaryRule, extensionOf, formatForRole, isRole, normalizeFilename, ROLES } from './rules';

export interface DeclaredFileInput {
  filename: string;
  sizeBytes: number;
  role: string;
  mimeType?: string | undefined;
  lastModified?: number | undefined;
  sha256?: string | undefined;
  sampleSha256?: string | undefined;
  relativePath?: string | undefined;
}

export interface BundleFileView {
  fileId: string;
  filename: string;
  sizeBytes: number;
  role: Role;
  mimeType: string | null;
  format: FileFormat;
  lastModified: number | null;
  sha256: string | null;
  sampleSha256: string | null;
  relativePath: string | null;
}

export interface BundleView {
  bundleId: string;
  jobId: string;
  createdAt: string;
  files: BundleFileView[];
}

const MAX_RELATIVE_PATH_CHARACTERS = 1024;

/** Keeps a folder-drop path as display text only: no control or bidi characters, bounded length. */
function sanitizeRelativePath(value: string | undefined): string | null {
  if (value === undefined) return null;
  const cleaned = value
    .normalize('NFC')
    .replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu, '')
    .replaceAll('\\', '/')
    .slice(0, MAX_RELATIVE_PATH_CHARACTERS)
    .trim();
  return cleaned === '' ? null : cleaned;
}

/**
 * Declares the files a client is about to upload as a new bundle of the job. Every file is checked
 * before anything is written, so a bad file rejects the whole declaration and stores nothing.
 */
export function declareBundle(
  db: Db,
  config: Config,
  principal: Principal,
  input: { jobId: string; files: DeclaredFileInput[] },
  now: Date,
): BundleView {
  const job = requireJob(db, principal, input.jobId);
  requireOpenJob(job);

  if (input.files.length > config.maxBundleFiles) {
    throw new InletError(
      'BUNDLE_FILES_LIMIT_EXCEEDED',
      `A bundle may declare at most ${config.maxBundleFiles} files, this one declares ${input.files.length}; split it into several bundles.`,
      { limit: config.maxBundleFiles, count: input.files.length },
    );
  }

  const datasetCount = db.select({ value: count() }).from(datasets).where(eq(datasets.jobId, job.id)).get()?.value ?? 0;
  if (datasetCount + input.files.length > config.maxJobDatasets) {
    throw new InletError(
      'BUNDLE_FILES_LIMIT_EXCEEDED',
      `Job ${job.id} holds ${datasetCount} datasets; ${input.files.length} more would pass the maximum of ${config.maxJobDatasets}.`,
      { limit: config.maxJobDatasets, count: datasetCount + input.files.length },
    );
  }

  const checked = input.files.map((file, position) => {
    if (!isRole(file.role)) {
      throw new InletError(
        'INPUT_ROLE_INVALID',
        `Role ${JSON.stringify(file.role)} of file ${position + 1} is invalid; use one of ${ROLES.join(', ')}.`,
        { role: file.role, allowed: ROLES },
      );
    }
    const filename = normalizeFilename(file.filename);
    if (file.sizeBytes > config.maxFileSizeBytes) {
      throw new InletError(
        'UPLOAD_FILE_SIZE_LIMIT_EXCEEDED',
        `File ${JSON.stringify(filename)} is ${file.sizeBytes} bytes, above the limit of ${config.maxFileSizeBytes} bytes.`,
        { filename, sizeBytes: file.sizeBytes, limit: config.maxFileSizeBytes },
      );
    }
    const format = formatForRole(filename, file.role);
    return {
      id: newId('file'),
      position,
      filename,
      extension: extensionOf(filename),
      sizeBytes: file.sizeBytes,
      role: file.role,
      format,
      mimeType: file.mimeType ?? null,
      lastModified: file.lastModified ?? null,
      sha256: file.sha256 ?? null,
      sampleSha256: file.sampleSha256 ?? null,
      relativePath: sanitizeRelativePath(file.relativePath),
    };
  });

  const bundleId = newId('bdl');
  const createdAt = nowIso(now);
  db.transaction((tx) => {
    // Counted inside the transaction, so two first declarations racing cannot both skip the rule.
    const existing = tx.select({ value: count() }).from(bundles).where(eq(bundles.jobId, job.id)).get()?.value ?? 0;
    checkPrimaryRule(
      checked.map((file) => file.role),
      existing === 0,
    );

    tx.insert(bundles).values({ id: bundleId, jobId: job.id, createdAt }).run();
    tx.insert(bundleFiles)
      .values(checked.map((file) => ({ ...file, bundleId, jobId: job.id })))
      .run();
  });

  return { bundleId, jobId: job.id, createdAt, files: checked.map(toFileView) };
}

function toFileView(row: {
  id: string;
  filename: string;
  sizeBytes: number;
  role: string;
  mimeType: string | null;
  format: string;
  lastModified: number | null;
  sha256: string | null;
  sampleSha256: string | null;
  relativePath: string | null;
}): BundleFileView {
  return {
    fileId: row.id,
    filename: row.filename,
    sizeBytes: row.sizeBytes,
    role: row.role as Role,
    mimeType: row.mimeType,
    format: row.format as FileFormat,
    lastModified: row.lastModified,
    sha256: row.sha256,
    sampleSha256: row.sampleSha256,
    relativePath: row.relativePath,
  };
}

export function getBundles(db: Db, principal: Principal, jobId: string): { jobId: string; bundles: BundleView[] } {
  const job = requireJob(db, principal, jobId);
  const bundleRows = db.select().from(bundles).where(eq(bundles.jobId, job.id)).orderBy(asc(bundles.createdAt)).all();
  const fileRows =
    bundleRows.length === 0
      ? []
      : db
          .select()
          .from(bundleFiles)
          .where(
            inArray(
              bundleFiles.bundleId,
              bundleRows.map((row) => row.id),
            ),
          )
          .orderBy(asc(bundleFiles.position))
          .all();

  return {
    jobId: job.id,
    bundles: bundleRows.map((bundle) => ({
      bundleId: bundle.id,
      jobId: job.id,
      createdAt: bundle.createdAt,
      files: fileRows.filter((file) => file.bundleId === bundle.id).map(toFileView),
    })),
  };
}
