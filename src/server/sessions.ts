import fs from 'node:fs/promises';

import { and, count, eq, inArray } from 'drizzle-orm';

import type { Principal } from './auth';
import { requireJob, requireOpenJob } from './auth';
import type { Db } from './db/client';
import { bundleFiles, uploadSessions } from './db/schema';
import { InletError } from './errors';
import { addSeconds, newId, nowIso } from './ids';
import { partSizeOf, planUpload } from './parts';
import type { Runtime } from './runtime';

export type SessionRow = typeof uploadSessions.$inferSelect;
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

async function requireFreeSpace(dataDir: string, sizeBytes: number): Promise<void> {
  const stats = await fs.statfs(dataDir);
  const freeBytes = stats.bavail * stats.bsize;
  if (freeBytes < sizeBytes + STORAGE_MARGIN_BYTES) {
    throw new InletError(
      'STORAGE_FULL',
      `The server has ${freeBytes} bytes free, not enough for ${sizeBytes} bytes plus a margin of ${STORAGE_MARGIN_BYTES}; try again later or ask the operator for space.`,
      { freeBytes, sizeBytes, marginBytes: STORAGE_MARGIN_BYTES },
    );
  }
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
  const job = requireJob(db, principal, input.jobId);
  requireOpenJob(job);

  const file = db
    .select()
    .from(bundleFiles)
    .where(and(eq(bundleFiles.id, input.fileId), eq(bundleFiles.jobId, job.id)))
    .get();
  if (!file || file.bundleId !== input.bundleId) {
    const bundleKnown = db
      .select({ id: bundleFiles.bundleId })
      .from(bundleFiles)
      .where(and(eq(bundleFiles.bundleId, input.bundleId), eq(bundleFiles.jobId, job.id)))
      .get();
    if (!bundleKnown) {
      throw new InletError('BUNDLE_NOT_FOUND', `Bundle ${JSON.stringify(input.bundleId)} was not found in job ${job.id}.`, {
        bundleId: input.bundleId,
      });
    }
    throw new InletError('FILE_NOT_FOUND', `File ${JSON.stringify(input.fileId)} was not found in bundle ${input.bundleId}.`, {
      fileId: input.fileId,
    });
  }

  const existing = db
    .select()
    .from(uploadSessions)
    .where(and(eq(uploadSessions.fileId, file.id), inArray(uploadSessions.status, [...LIVE_STATUSES, 'finalized'])))
    .get();
  if (existing && existing.expiresAt > nowIso(now)) {
    return describeSession(runtime, existing, file.mimeType, baseUrl, now);
  }
  if (existing?.status === 'finalized') {
    return describeSession(runtime, existing, file.mimeType, baseUrl, now);
  }

  const plan = planUpload(file.sizeBytes, config);
  await requireFreeSpace(config.dataDir, file.sizeBytes);

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
    receipt: null,
    failureCode: null,
    updatedAt: createdAt,
  };

  db.transaction((tx) => {
    // Counted inside the write transaction so that concurrent requests cannot pass the limit together.
    const live =
      tx
        .select({ value: count() })
        .from(uploadSessions)
        .where(and(eq(uploadSessions.jobId, job.id), inArray(uploadSessions.status, LIVE_STATUSES)))
        .get()?.value ?? 0;
    if (live >= config.maxSessionsPerJob) {
      throw new InletError(
        'UPLOAD_SESSIONS_LIMIT_EXCEEDED',
        `Job ${job.id} already has ${live} unfinished upload sessions, the maximum is ${config.maxSessionsPerJob}; finish or abort some first.`,
        { limit: config.maxSessionsPerJob, count: live },
      );
    }
    tx.insert(uploadSessions).values(session).run();
  });

  logger.info(
    { event: 'session.created', uploadSessionId: session.id, jobId: job.id, fileId: file.id, strategy: plan.strategy, sizeBytes: file.sizeBytes, partCount: plan.partCount },
    'upload session created',
  );
  return describeSession(runtime, session, file.mimeType, baseUrl, now);
}

/** Builds the API view of a session, signing fresh URLs for its parts while it is live. */
export function describeSession(
  runtime: Runtime,
  session: SessionRow,
  mimeType: string | null,
  baseUrl: string,
  now: Date,
): SessionView {
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

  const sign = (partNumber: number): string =>
    store.signPartUrl({
      session,
      partNumber,
      sizeBytes: partSizeOf(session, session.sizeBytes, partNumber),
      contentType: mimeType,
      baseUrl,
      expiresAt: urlExpiry,
    });

  if (session.strategy === 'direct') {
    view.url = sign(1);
    return view;
  }

  view.partSize = session.partSizeBytes;
  view.partCount = session.partCount;
  view.parts = [];
  for (let partNumber = 1; partNumber <= Math.min(session.partCount, FIRST_PART_URLS); partNumber += 1) {
    view.parts.push({ partNumber, url: sign(partNumber) });
  }
  return view;
}
