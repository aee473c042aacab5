import fs from 'node:fs/promises';

import { and, asc, count, eq, getTableColumns, gt, inArray, sql } from 'drizzle-orm';

import type { Principal } from './auth';
import { requireJob, requireOpenJob } from './auth';
import type { Db } from './db/client';
import { bundleFiles, jobs, uploadParts, uploadSessions } from './db/schema';
import { InletError } from './errors';
import { addSeconds, newId, nowIso } from './ids';
import { partSizeOf, planUpload } from './parts';
import type { Runtime } from './runtime';

export type { SessionRow } from './storage/object-store';
import type { SessionRow } from './storage/object-store';
export type SessionStatus = SessionRow['status'];

export const LIVE_STATUSES: SessionStatus[] = ['issued', 'finalizing'];

/** Multipart sessions return signed URLs for at most this many parts; refreshUrls signs the rest. */
export const FIRST_PART_URLS = 100;

/** Free space kept on the data dir's disk beyond the declared size before a session is refused. */
const STORAGE_MARGIN_BYTES = 256 * 1024 * 1024;

export interface SessionView {
  uploadSessionId: string;
  jobId: string;
  fileId: string;
  strategy: 'direct' | 'multipart';
  status: SessionStatus;
  sizeBytes: number;
  expiresAt: string;
  sessionExpiresAt: string;
  checksumsInUrl: boolean;
  url?: string;
  partSize?: number;
  partCount?: number;
  parts?: { partNumber: number; url: string }[];
}

/**
 * Loads a session the principal may reach. A session of another job or tenant reads as
 * UPLOAD_SESSION_NOT_FOUND.
 */
export function requireSession(db: Db, principal: Principal, uploadSessionId: string): SessionRow {
  if (principal.kind === 'anonymous') {
    throw new InletError('AUTH_REQUIRED', 'This request needs "Authorization: Bearer <job token>".', {});
  }
  const session = db.select().from(uploadSessions).where(eq(uploadSessions.id, uploadSessionId)).get();
  const reachable =
    session !== undefined &&
    session.tenantId === principal.tenantId &&
    (principal.kind === 'tenant' || session.jobId === principal.jobId);
  if (!reachable) {
    throw new InletError('UPLOAD_SESSION_NOT_FOUND', `Upload session ${JSON.stringify(uploadSessionId)} was not found.`, {
      uploadSessionId,
    });
  }
  return session;
}

/** Free space readings younger than this are reused; the margin absorbs what changed since. */
const FREE_SPACE_READING_TTL_MS = 1000;
let freeSpaceReading: { dataDir: string; freeBytes: number; atMs: number } | null = null;

async function freeBytesOf(dataDir: string): Promise<number> {
  const nowMs = Date.now();
  if (freeSpaceReading?.dataDir === dataDir && nowMs - freeSpaceReading.atMs < FREE_SPACE_READING_TTL_MS) return freeSpaceReading.freeBytes;
  const stats = await fs.statfs(dataDir);
  freeSpaceReading = { dataDir, freeBytes: stats.bavail * stats.bsize, atMs: nowMs };
  return freeSpaceReading.freeBytes;
}

async function requireFreeSpace(dataDir: string, sizeBytes: number): Promise<void> {
  const freeBytes = await freeBytesOf(dataDir);
  if (freeBytes < sizeBytes + STORAGE_MARGIN_BYTES) {
    throw new InletError(
      'STORAGE_FULL',
      `The server has ${freeBytes} bytes free, not enough for ${sizeBytes} bytes plus a margin of ${STORAGE_MARGIN_BYTES}; try again later or ask the operator for space.`,
      { freeBytes, sizeBytes, marginBytes: STORAGE_MARGIN_BYTES },
    );
  }
}

/**
 * createSession's queries, built and compiled once per database connection instead of on every
 * call: drizzle's query building and SQLite's statement compiling were most of its cost.
 */
function prepareSessionStatements(db: Db) {
  const insertValues = Object.fromEntries(Object.keys(getTableColumns(uploadSessions)).map((key) => [key, sql.placeholder(key)]));
  return {
    file: db
      .select()
      .from(bundleFiles)
      .where(and(eq(bundleFiles.id, sql.placeholder('fileId')), eq(bundleFiles.jobId, sql.placeholder('jobId'))))
      .prepare(),
    bundleKnown: db
      .select({ id: bundleFiles.bundleId })
      .from(bundleFiles)
      .where(and(eq(bundleFiles.bundleId, sql.placeholder('bundleId')), eq(bundleFiles.jobId, sql.placeholder('jobId'))))
      .limit(1)
      .prepare(),
    reusable: db
      .select()
      .from(uploadSessions)
      .where(and(eq(uploadSessions.fileId, sql.placeholder('fileId')), inArray(uploadSessions.status, [...LIVE_STATUSES, 'finalized'])))
      .limit(1)
      .prepare(),
    liveCount: db
      .select({ value: count() })
      .from(uploadSessions)
      .where(and(eq(uploadSessions.jobId, sql.placeholder('jobId')), inArray(uploadSessions.status, LIVE_STATUSES)))
      .prepare(),
    insert: db
      .insert(uploadSessions)
      .values(insertValues as unknown as SessionRow)
      .prepare(),
  };
}

const sessionStatementsByDb = new WeakMap<Db, ReturnType<typeof prepareSessionStatements>>();

function sessionStatements(db: Db): ReturnType<typeof prepareSessionStatements> {
  let statements = sessionStatementsByDb.get(db);
  if (!statements) {
    statements = prepareSessionStatements(db);
    sessionStatementsByDb.set(db, statements);
  }
  return statements;
}

/**
 * Issues an upload session for a declared file and returns its signed URLs. A file that already
 * has a live or finalized session gets that session back (with fresh URLs while it is live), so a
 * retried call never leaves an orphan session behind.
 */
export async function createSession(
  runtime: Runtime,
  principal: Principal,
  input: { jobId: string; bundleId: string; fileId: string },
  baseUrl: string,
  now: Date,
): Promise<SessionView> {
  const { db, config, logger } = runtime;
  const statements = sessionStatements(db);
  const job = requireJob(db, principal, input.jobId);
  requireOpenJob(job);

  const file = statements.file.get({ fileId: input.fileId, jobId: job.id });
  if (!file || file.bundleId !== input.bundleId) {
    const bundleKnown = statements.bundleKnown.get({ bundleId: input.bundleId, jobId: job.id });
    if (!bundleKnown) {
      throw new InletError('BUNDLE_NOT_FOUND', `Bundle ${JSON.stringify(input.bundleId)} was not found in job ${job.id}.`, {
        bundleId: input.bundleId,
      });
    }
    throw new InletError('FILE_NOT_FOUND', `File ${JSON.stringify(input.fileId)} was not found in bundle ${input.bundleId}.`, {
      fileId: input.fileId,
    });
  }

  const reusable = (): SessionRow | undefined => {
    const existing = statements.reusable.get({ fileId: file.id });
    return existing && (existing.status === 'finalized' || existing.expiresAt > nowIso(now)) ? existing : undefined;
  };
  const existing = reusable();
  if (existing) return describeSession(runtime, existing, file.mimeType, baseUrl, now);

  const plan = planUpload(file.sizeBytes, config);
  // Bytes land on this server's disk only with the embedded store or a local workspace mirror.
  if (runtime.store.kind === 'local' || config.workspaceMirror === 'local') await requireFreeSpace(config.dataDir, file.sizeBytes);

  const createdAt = nowIso(now);
  const session: SessionRow = {
    id: newId('ups'),
    tenantId: job.tenantId,
    jobId: job.id,
    fileId: file.id,
    strategy: plan.strategy,
    status: 'issued',
    sizeBytes: file.sizeBytes,
    partSizeBytes: plan.partSizeBytes,
    partCount: plan.partCount,
    createdAt,
    expiresAt: nowIso(addSeconds(now, config.sessionTtlSeconds)),
    leaseExpiresAt: null,
    sha256: null,
    receipt: null,
    failureCode: null,
    storeUploadId: null,
    updatedAt: createdAt,
  };
  // Outside the transaction below: a network call. A session that then loses the race for the
  // limit leaves a multipart upload behind, which the bucket's lifecycle rule removes.
  session.storeUploadId = await runtime.store.beginUpload(session, file.mimeType);

  // The prepared statements run on the same connection, so they take part in the transaction.
  const winner = db.transaction(() => {
    // Checked again inside the write transaction: a concurrent call for the same file may have
    // issued its session since the check above, and then that session is the answer.
    const concurrent = reusable();
    if (concurrent) return concurrent;

    // Counted inside the write transaction so that concurrent requests cannot pass the limit together.
    const live = statements.liveCount.get({ jobId: job.id })?.value ?? 0;
    if (live >= config.maxSessionsPerJob) {
      throw new InletError(
        'UPLOAD_SESSIONS_LIMIT_EXCEEDED',
        `Job ${job.id} already has ${live} unfinished upload sessions, the maximum is ${config.maxSessionsPerJob}; finish or abort some first.`,
        { limit: config.maxSessionsPerJob, count: live },
      );
    }
    statements.insert.run(session);
    return null;
  });
  if (winner) return describeSession(runtime, winner, file.mimeType, baseUrl, now);

  logger.info(
    { event: 'session.created', uploadSessionId: session.id, jobId: job.id, fileId: file.id, strategy: plan.strategy, sizeBytes: file.sizeBytes, partCount: plan.partCount },
    'upload session created',
  );
  return describeSession(runtime, session, file.mimeType, baseUrl, now);
}

/** Builds the API view of a session, signing fresh URLs for its parts while it is live. */
export async function describeSession(
  runtime: Runtime,
  session: SessionRow,
  mimeType: string | null,
  baseUrl: string,
  now: Date,
): Promise<SessionView> {
  const { config, store } = runtime;
  const urlExpiry = new Date(Math.min(addSeconds(now, config.urlTtlSeconds).getTime(), Date.parse(session.expiresAt)));
  const view: SessionView = {
    uploadSessionId: session.id,
    jobId: session.jobId,
    fileId: session.fileId,
    strategy: session.strategy,
    status: session.status,
    sizeBytes: session.sizeBytes,
    expiresAt: nowIso(urlExpiry),
    sessionExpiresAt: session.expiresAt,
    checksumsInUrl: store.checksumsInUrl,
  };
  if (session.status !== 'issued') return view;

  const sign = (partNumber: number): Promise<string> =>
    store.signPartUrl({
      session,
      partNumber,
      sizeBytes: partSizeOf(session, session.sizeBytes, partNumber),
      contentType: mimeType,
      baseUrl,
      expiresAt: urlExpiry,
    });

  if (session.strategy === 'direct') {
    view.url = await sign(1);
    return view;
  }

  view.partSize = session.partSizeBytes;
  view.partCount = session.partCount;
  view.parts = [];
  for (let partNumber = 1; partNumber <= Math.min(session.partCount, FIRST_PART_URLS); partNumber += 1) {
    view.parts.push({ partNumber, url: await sign(partNumber) });
  }
  return view;
}

/** Raises the error for a session that no longer accepts parts: ended, expired, or in a locked job. */
function requireIssued(runtime: Runtime, session: SessionRow, now: Date): void {
  if (session.status === 'expired' || (session.status === 'issued' && session.expiresAt <= nowIso(now))) {
    throw new InletError('UPLOAD_SESSION_EXPIRED', `Upload session ${session.id} expired at ${session.expiresAt}; start a new one.`, {
      uploadSessionId: session.id,
      expiresAt: session.expiresAt,
    });
  }
  if (session.status !== 'issued') {
    throw new InletError('UPLOAD_SESSION_ENDED', `Upload session ${session.id} no longer accepts parts: it is ${session.status}.`, {
      uploadSessionId: session.id,
      status: session.status,
    });
  }
  const job = runtime.db.select().from(jobs).where(eq(jobs.id, session.jobId)).get();
  if (job) requireOpenJob(job);
}

function storedPartNumbers(db: Db, uploadSessionId: string): Set<number> {
  return new Set(
    db
      .select({ partNumber: uploadParts.partNumber })
      .from(uploadParts)
      .where(eq(uploadParts.uploadSessionId, uploadSessionId))
      .all()
      .map((row) => row.partNumber),
  );
}

/**
 * Signs fresh URLs for parts of a live session: the parts named, or every part not yet stored.
 * A part's checksum, when given, is bound into its URL so that the store verifies it.
 */
export async function refreshUrls(
  runtime: Runtime,
  principal: Principal,
  input: { uploadSessionId: string; partNumbers?: number[] | undefined; checksums?: { partNumber: number; sha256: string }[] | undefined },
  baseUrl: string,
  now: Date,
): Promise<{ uploadSessionId: string; parts: { partNumber: number; url: string }[]; expiresAt: string }> {
  const { db, config, store, logger } = runtime;
  const session = requireSession(db, principal, input.uploadSessionId);
  requireIssued(runtime, session, now);

  const requested = [...(input.partNumbers ?? []), ...(input.checksums ?? []).map((entry) => entry.partNumber)];
  const outOfRange = requested.filter((partNumber) => partNumber > session.partCount);
  if (outOfRange.length > 0) {
    throw new InletError(
      'UPLOAD_PARTS_INVALID',
      `Part number ${outOfRange[0]} is out of range; this session has parts 1 to ${session.partCount}.`,
      { partNumber: outOfRange[0] ?? null, partCount: session.partCount },
    );
  }

  const checksums = new Map((input.checksums ?? []).map((entry) => [entry.partNumber, Buffer.from(entry.sha256, 'hex').toString('base64')]));
  let partNumbers: number[];
  if (input.partNumbers !== undefined || checksums.size > 0) {
    partNumbers = [...new Set(requested)].sort((a, b) => a - b);
  } else {
    await store.syncParts(session);
    const stored = storedPartNumbers(db, session.id);
    partNumbers = Array.from({ length: session.partCount }, (_, index) => index + 1).filter((partNumber) => !stored.has(partNumber));
  }

  const file = db.select({ mimeType: bundleFiles.mimeType }).from(bundleFiles).where(eq(bundleFiles.id, session.fileId)).get();
  const expiresAt = new Date(Math.min(addSeconds(now, config.urlTtlSeconds).getTime(), Date.parse(session.expiresAt)));
  const parts = [];
  for (const partNumber of partNumbers) {
    const url = await store.signPartUrl({
      session,
      partNumber,
      sizeBytes: partSizeOf(session, session.sizeBytes, partNumber),
      contentType: file?.mimeType ?? null,
      checksumBase64: checksums.get(partNumber),
      baseUrl,
      expiresAt,
    });
    parts.push({ partNumber, url });
  }

  logger.info({ event: 'session.refreshed', uploadSessionId: session.id, jobId: session.jobId, partCount: parts.length }, 'upload URLs refreshed');
  return { uploadSessionId: session.id, parts, expiresAt: nowIso(expiresAt) };
}

export interface PartListing {
  uploadSessionId: string;
  status: SessionStatus;
  partSize: number;
  partCount: number;
  /** `sha256` is null for an S3 part until finalize hashed it, unless the store reported it. */
  parts: { partNumber: number; sizeBytes: number; etag: string; sha256: string | null }[];
}

/**
 * Lists the parts the store acknowledged, from the server's records (also after finalize). With
 * S3 the records are first brought in line with the bucket's ListParts.
 */
export async function listParts(runtime: Runtime, principal: Principal, input: { uploadSessionId: string }): Promise<PartListing> {
  const session = requireSession(runtime.db, principal, input.uploadSessionId);
  await runtime.store.syncParts(session);
  const parts = runtime.db
    .select()
    .from(uploadParts)
    .where(eq(uploadParts.uploadSessionId, session.id))
    .orderBy(asc(uploadParts.partNumber))
    .all();
  return {
    uploadSessionId: session.id,
    status: session.status,
    partSize: session.partSizeBytes,
    partCount: session.partCount,
    parts: parts.map((part) => ({ partNumber: part.partNumber, sizeBytes: part.sizeBytes, etag: part.etag, sha256: part.sha256 === '' ? null : part.sha256 })),
  };
}

export interface ResumableSession {
  uploadSessionId: string;
  bundleId: string;
  fileId: string;
  strategy: 'direct' | 'multipart';
  status: SessionStatus;
  sizeBytes: number;
  partSize: number;
  partCount: number;
  storedPartCount: number;
  sessionExpiresAt: string;
  file: { filename: string; sizeBytes: number; role: string; lastModified: number | null; sampleSha256: string | null; sha256: string | null };
}

/** Lists a job's unfinished sessions with their file's identity, so a client can resume them. */
export function listSessions(runtime: Runtime, principal: Principal, input: { jobId: string }, now: Date): { jobId: string; sessions: ResumableSession[] } {
  const { db } = runtime;
  const job = requireJob(db, principal, input.jobId);
  const rows = db
    .select({ session: uploadSessions, file: bundleFiles })
    .from(uploadSessions)
    .innerJoin(bundleFiles, eq(bundleFiles.id, uploadSessions.fileId))
    .where(and(eq(uploadSessions.jobId, job.id), inArray(uploadSessions.status, LIVE_STATUSES), gt(uploadSessions.expiresAt, nowIso(now))))
    .orderBy(asc(uploadSessions.createdAt))
    .all();

  // NOTE: with S3 these counts come from the part records, which only listParts, refreshUrls and
  // finalize bring up to date from the bucket, so a count may lag behind parts already sent.
  const counts = new Map(
    db
      .select({ id: uploadParts.uploadSessionId, value: count() })
      .from(uploadParts)
      .innerJoin(uploadSessions, eq(uploadSessions.id, uploadParts.uploadSessionId))
      .where(and(eq(uploadSessions.jobId, job.id), inArray(uploadSessions.status, LIVE_STATUSES)))
      .groupBy(uploadParts.uploadSessionId)
      .all()
      .map((row) => [row.id, row.value]),
  );

  return {
    jobId: job.id,
    sessions: rows.map(({ session, file }) => ({
      uploadSessionId: session.id,
      bundleId: file.bundleId,
      fileId: file.id,
      strategy: session.strategy,
      status: session.status,
      sizeBytes: session.sizeBytes,
      partSize: session.partSizeBytes,
      partCount: session.partCount,
      storedPartCount: counts.get(session.id) ?? 0,
      sessionExpiresAt: session.expiresAt,
      file: {
        filename: file.filename,
        sizeBytes: file.sizeBytes,
        role: file.role,
        lastModified: file.lastModified,
        sampleSha256: file.sampleSha256,
        sha256: file.sha256,
      },
    })),
  };
}

/**
 * Ends a session at the client's request and deletes its stored parts. Aborting an aborted session
 * succeeds again; a session that finalize has claimed or finished cannot be aborted.
 */
export async function abortSession(runtime: Runtime, principal: Principal, input: { uploadSessionId: string }): Promise<{ uploadSessionId: string; status: 'aborted' }> {
  const { db, store, logger } = runtime;
  const session = requireSession(db, principal, input.uploadSessionId);
  if (session.status === 'expired' || (session.status === 'issued' && session.expiresAt <= nowIso())) {
    throw new InletError('UPLOAD_SESSION_EXPIRED', `Upload session ${session.id} expired at ${session.expiresAt}; its parts are deleted by the sweeper.`, {
      uploadSessionId: session.id,
      expiresAt: session.expiresAt,
    });
  }
  if (session.status !== 'aborted') {
    const job = db.select().from(jobs).where(eq(jobs.id, session.jobId)).get();
    if (job) requireOpenJob(job);
    const changed = db
      .update(uploadSessions)
      .set({ status: 'aborted', updatedAt: nowIso() })
      .where(and(eq(uploadSessions.id, session.id), eq(uploadSessions.status, 'issued')))
      .run();
    if (changed.changes !== 1) {
      const current = db.select({ status: uploadSessions.status }).from(uploadSessions).where(eq(uploadSessions.id, session.id)).get();
      if (current?.status !== 'aborted') {
        throw new InletError('UPLOAD_SESSION_ENDED', `Upload session ${session.id} cannot be aborted: it is ${current?.status ?? 'gone'}.`, {
          uploadSessionId: session.id,
          status: current?.status ?? null,
        });
      }
    }
    db.delete(uploadParts).where(eq(uploadParts.uploadSessionId, session.id)).run();
    logger.info({ event: 'session.aborted', uploadSessionId: session.id, jobId: session.jobId }, 'upload session aborted');
  }
  await store.deleteSessionObjects(session);
  return { uploadSessionId: session.id, status: 'aborted' };
}
