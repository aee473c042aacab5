import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

// Times are ISO 8601 UTC strings, which sort and compare correctly as text. Sizes are integer bytes.

export const tenants = sqliteTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  createdAt: text('created_at').notNull(),
});

export const jobs = sqliteTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    title: text('title'),
    status: text('status', { enum: ['open', 'locked'] }).notNull().default('open'),
    fingerprint: text('fingerprint').notNull(),
    // Raised by every change to the job's datasets; the manifest.json writer uses it to detect a
    // newer write that happened while it was writing.
    manifestVersion: integer('manifest_version').notNull().default(0),
    // The manifest version last written to manifest.json and job.json. It is behind manifestVersion
    // when a process stopped between a commit and the rewrite, and the next start-up repairs that.
    projectedVersion: integer('projected_version').notNull().default(-1),
    createdAt: text('created_at').notNull(),
    updatedAt: text('updated_at').notNull(),
  },
  (table) => [index('jobs_tenant_idx').on(table.tenantId)],
);

/** Job tokens and tenant keys; only the SHA-256 of the secret is stored. */
export const tokens = sqliteTable(
  'tokens',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: ['job', 'tenant'] }).notNull(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    jobId: text('job_id').references(() => jobs.id, { onDelete: 'cascade' }),
    secretSha256: text('secret_sha256').notNull(),
    createdAt: text('created_at').notNull(),
    expiresAt: text('expires_at'),
  },
  (table) => [uniqueIndex('tokens_secret_idx').on(table.secretSha256)],
);

export const bundles = sqliteTable(
  'bundles',
  {
    id: text('id').primaryKey(),
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    createdAt: text('created_at').notNull(),
  },
  (table) => [index('bundles_job_idx').on(table.jobId)],
);

export const bundleFiles = sqliteTable(
  'bundle_files',
  {
    id: text('id').primaryKey(),
    bundleId: text('bundle_id')
      .notNull()
      .references(() => bundles.id, { onDelete: 'cascade' }),
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    filename: text('filename').notNull(),
    extension: text('extension').notNull(),
    sizeBytes: integer('size_bytes').notNull(),
    role: text('role').notNull(),
    format: text('format').notNull(),
    mimeType: text('mime_type'),
    lastModified: integer('last_modified'),
    sha256: text('sha256'),
    sampleSha256: text('sample_sha256'),
    relativePath: text('relative_path'),
  },
  (table) => [index('bundle_files_bundle_idx').on(table.bundleId)],
);

export const uploadSessions = sqliteTable(
  'upload_sessions',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    fileId: text('file_id')
      .notNull()
      .references(() => bundleFiles.id, { onDelete: 'cascade' }),
    strategy: text('strategy', { enum: ['direct', 'multipart'] }).notNull(),
    status: text('status', {
      enum: ['issued', 'finalizing', 'finalized', 'failed', 'aborted', 'expired'],
    }).notNull(),
    sizeBytes: integer('size_bytes').notNull(),
    partSizeBytes: integer('part_size_bytes').notNull(),
    partCount: integer('part_count').notNull(),
    createdAt: text('created_at').notNull(),
    expiresAt: text('expires_at').notNull(),
    // Finalize claims the session with a lease; a claim whose lease passed may be taken over.
    leaseExpiresAt: text('lease_expires_at'),
    // SHA-256 of the whole file once finalize has computed it, so a retried finalize need not re-read.
    sha256: text('sha256'),
    // The finalize outcome replayed to every later call: the receipt, or the failure of a failed session.
    receipt: text('receipt', { mode: 'json' }),
    failureCode: text('failure_code'),
    // The object store's own id for this upload: the S3 multipart upload id, null for the embedded
    // store and for direct uploads. Finalize may replace it when it restarts a multipart upload.
    storeUploadId: text('store_upload_id'),
    updatedAt: text('updated_at').notNull(),
  },
  (table) => [
    index('upload_sessions_job_idx').on(table.jobId, table.status),
    index('upload_sessions_file_idx').on(table.fileId),
  ],
);

/** Parts the object store acknowledged: written only after the bytes are durable under their final name. */
export const uploadParts = sqliteTable(
  'upload_parts',
  {
    uploadSessionId: text('upload_session_id')
      .notNull()
      .references(() => uploadSessions.id, { onDelete: 'cascade' }),
    partNumber: integer('part_number').notNull(),
    sizeBytes: integer('size_bytes').notNull(),
    sha256: text('sha256').notNull(),
    etag: text('etag').notNull(),
    storedAt: text('stored_at').notNull(),
  },
  (table) => [primaryKey({ columns: [table.uploadSessionId, table.partNumber] })],
);

/** The manifest: one row per dataset of a job. inputs/manifest.json is a projection of these rows. */
export const datasets = sqliteTable(
  'datasets',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    datasetKey: text('dataset_key').notNull(),
    role: text('role').notNull(),
    relPath: text('rel_path').notNull(),
    originalName: text('original_name').notNull(),
    sizeBytes: integer('size_bytes').notNull(),
    sha256: text('sha256').notNull(),
    format: text('format').notNull(),
    contentType: text('content_type').notNull(),
    uploadedAt: text('uploaded_at').notNull(),
    readOptions: text('read_options', { mode: 'json' }).notNull().default(sql`'{}'`),
    fileId: text('file_id').notNull(),
    uploadSessionId: text('upload_session_id').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.jobId, table.datasetKey] }),
    // A job has at most one primary dataset.
    uniqueIndex('datasets_one_primary_idx').on(table.jobId).where(sql`role = 'primary_dataset'`),
  ],
);

/**
 * A PUT in progress for one part of a multipart session. Parts are written in place into the
 * session's data file, so two PUTs of one part must not interleave. The lease frees the slot when
 * the process writing it dies.
 */
export const partWrites = sqliteTable(
  'part_writes',
  {
    uploadSessionId: text('upload_session_id')
      .notNull()
      .references(() => uploadSessions.id, { onDelete: 'cascade' }),
    partNumber: integer('part_number').notNull(),
    leaseExpiresAt: text('lease_expires_at').notNull(),
    // `<hostname>:<pid>` of the writing process, so a restarted server can take over the slot of a
    // writer that died without waiting for its lease.
    owner: text('owner').notNull(),
  },
  (table) => [primaryKey({ columns: [table.uploadSessionId, table.partNumber] })],
);

/**
 * Progress of a multipart file's whole-file SHA-256: one row per part fed to the hash, in order,
 * whose `state` column is the id of the hashing run. A re-PUT deletes the rows from its part on.
 */
export const hashStates = sqliteTable(
  'hash_states',
  {
    uploadSessionId: text('upload_session_id')
      .notNull()
      .references(() => uploadSessions.id, { onDelete: 'cascade' }),
    throughPart: integer('through_part').notNull(),
    state: text('state').notNull(),
  },
  (table) => [primaryKey({ columns: [table.uploadSessionId, table.throughPart] })],
);
