import { and, count, desc, eq, sql } from 'drizzle-orm';

import type { Principal } from './auth';
import { requireJob } from './auth';
import type { Config } from './config';
import type { Db } from './db/client';
import { datasets, jobs, tenants, tokens, uploadParts, uploadSessions } from './db/schema';
import { InletError } from './errors';
import { jobFingerprint } from './fingerprint';
import { addSeconds, newId, newSecret, nowIso, sha256Hex } from './ids';
import { writeProjections } from './manifest';
import type { Runtime } from './runtime';
import type { ObjectStore } from './storage/object-store';

export interface CreatedJob {
  jobId: string;
  tenantId: string;
  token: string;
  tokenExpiresAt: string;
  createdAt: string;
}

export interface JobView {
  jobId: string;
  tenantId: string;
  title: string | null;
  status: 'open' | 'locked';
  createdAt: string;
  datasetCount: number;
  fingerprint: string;
}

/** Creates the tenant row if it is missing; the default tenant exists from the first start. */
export function ensureTenant(db: Db, tenantId: string, now: Date): void {
  db.insert(tenants).values({ id: tenantId, name: tenantId, createdAt: nowIso(now) }).onConflictDoNothing().run();
}

/**
 * Creates a job and its first job token. In open mode anyone may create a job in the default
 * tenant; otherwise a tenant key is required. The token is returned here once; only its hash is kept.
 */
export async function createJob(
  db: Db,
  config: Config,
  store: ObjectStore,
  principal: Principal,
  input: { title?: string | undefined },
  now: Date,
): Promise<CreatedJob> {
  if (principal.kind === 'job') {
    throw new InletError('FORBIDDEN', 'A job token cannot create jobs; send no token (open mode) or a tenant key.', {});
  }
  if (principal.kind === 'anonymous' && !config.openMode) {
    throw new InletError('AUTH_REQUIRED', 'Creating a job needs "Authorization: Bearer <tenant key>" because open mode is off.', {});
  }
  if (principal.kind === 'anonymous' && principal.tenantId !== 'default') {
    throw new InletError('AUTH_REQUIRED', `Creating a job in tenant ${JSON.stringify(principal.tenantId)} needs that tenant's key.`, {
      tenantId: principal.tenantId,
    });
  }

  const jobId = newId('job');
  const token = newSecret('inlet_job');
  const createdAt = nowIso(now);
  const tokenExpiresAt = nowIso(addSeconds(now, config.jobTokenTtlSeconds));

  db.transaction((tx) => {
    tx.insert(tenants).values({ id: principal.tenantId, name: principal.tenantId, createdAt }).onConflictDoNothing().run();
    tx.insert(jobs)
      .values({
        id: jobId,
        tenantId: principal.tenantId,
        title: input.title ?? null,
        status: 'open',
        fingerprint: jobFingerprint([]),
        createdAt,
        updatedAt: createdAt,
      })
      .run();
    tx.insert(tokens)
      .values({
        id: newId('tok'),
        kind: 'job',
        tenantId: principal.tenantId,
        jobId,
        secretSha256: sha256Hex(token),
        createdAt,
        expiresAt: tokenExpiresAt,
      })
      .run();
  });

  await writeProjections(db, store, jobId);
  return { jobId, tenantId: principal.tenantId, token, tokenExpiresAt, createdAt };
}

export function getJob(db: Db, principal: Principal, jobId: string): JobView {
  const job = requireJob(db, principal, jobId);
  const datasetCount = db.select({ value: count() }).from(datasets).where(and(eq(datasets.jobId, job.id))).get()?.value ?? 0;
  return {
    jobId: job.id,
    tenantId: job.tenantId,
    title: job.title,
    status: job.status,
    createdAt: job.createdAt,
    datasetCount,
    fingerprint: job.fingerprint,
  };
}

function bumpJob(db: Db, jobId: string, set: Partial<typeof jobs.$inferInsert>, now: Date): void {
  db.update(jobs)
    .set({ ...set, manifestVersion: sql`${jobs.manifestVersion} + 1`, updatedAt: nowIso(now) })
    .where(eq(jobs.id, jobId))
    .run();
}

/**
 * Locks a job: sessions already finalizing finish, issued ones are aborted and their parts deleted,
 * and every later change to the job's inputs gets JOB_LOCKED. Locking a locked job changes nothing.
 */
export async function lockJob(runtime: Runtime, principal: Principal, input: { jobId: string }, now: Date): Promise<JobView> {
  const { db, store, logger } = runtime;
  const job = requireJob(db, principal, input.jobId);

  const aborted = db.transaction((tx) => {
    tx.update(jobs)
      .set({ status: 'locked', manifestVersion: sql`${jobs.manifestVersion} + 1`, updatedAt: nowIso(now) })
      .where(eq(jobs.id, job.id))
      .run();
    const issued = tx
      .select()
      .from(uploadSessions)
      .where(and(eq(uploadSessions.jobId, job.id), eq(uploadSessions.status, 'issued')))
      .all();
    tx.update(uploadSessions)
      .set({ status: 'aborted', updatedAt: nowIso(now) })
      .where(and(eq(uploadSessions.jobId, job.id), eq(uploadSessions.status, 'issued')))
      .run();
    return issued;
  });

  for (const session of aborted) {
    db.delete(uploadParts).where(eq(uploadParts.uploadSessionId, session.id)).run();
    await store.deleteSessionObjects(session);
    logger.info({ event: 'session.aborted', uploadSessionId: session.id, jobId: job.id, reason: 'job locked' }, 'upload session aborted');
  }
  await writeProjections(db, store, job.id);
  logger.info({ event: 'job.locked', jobId: job.id, abortedSessions: aborted.length }, 'job locked');
  return getJob(db, principal, job.id);
}

export async function unlockJob(runtime: Runtime, principal: Principal, input: { jobId: string }, now: Date): Promise<JobView> {
  const { db, store, logger } = runtime;
  const job = requireJob(db, principal, input.jobId);
  if (job.status !== 'open') {
    bumpJob(db, job.id, { status: 'open' }, now);
    await writeProjections(db, store, job.id);
    logger.info({ event: 'job.unlocked', jobId: job.id }, 'job unlocked');
  }
  return getJob(db, principal, job.id);
}

/** Deletes a job with its sessions, tokens, stored bytes and workspace. */
export async function deleteJob(runtime: Runtime, principal: Principal, input: { jobId: string }): Promise<{ deleted: true }> {
  const { db, store, logger } = runtime;
  const job = requireJob(db, principal, input.jobId);

  // Foreign keys cascade from the job row to its tokens, bundles, sessions, parts and datasets.
  db.delete(jobs).where(eq(jobs.id, job.id)).run();
  await store.deleteJobObjects({ tenantId: job.tenantId, jobId: job.id });
  logger.info({ event: 'job.deleted', jobId: job.id }, 'job deleted');
  return { deleted: true };
}

/** Lists the jobs of the tenant whose key made the request. */
export function listJobs(db: Db, principal: Principal): { jobs: JobView[] } {
  if (principal.kind === 'anonymous') {
    throw new InletError('AUTH_REQUIRED', 'Listing jobs needs "Authorization: Bearer <tenant key>".', {});
  }
  if (principal.kind === 'job') {
    throw new InletError('FORBIDDEN', 'A job token reaches only its own job; listing jobs needs a tenant key.', {});
  }
  const rows = db.select().from(jobs).where(eq(jobs.tenantId, principal.tenantId)).orderBy(desc(jobs.createdAt)).all();
  return { jobs: rows.map((row) => getJob(db, principal, row.id)) };
}

/** Creates a tenant key: the secret is returned once and only its SHA-256 is stored. */
export function createTenantKey(db: Db, tenantId: string, now: Date): { tenantId: string; key: string } {
  const key = newSecret('inlet_key');
  db.transaction((tx) => {
    tx.insert(tenants).values({ id: tenantId, name: tenantId, createdAt: nowIso(now) }).onConflictDoNothing().run();
    tx.insert(tokens)
      .values({ id: newId('tkey'), kind: 'tenant', tenantId, jobId: null, secretSha256: sha256Hex(key), createdAt: nowIso(now), expiresAt: null })
      .run();
  });
  return { tenantId, key };
}

/** Issues another job token for a job, for example after the first one was lost or expired. */
export function createJobToken(db: Db, config: Config, jobId: string, now: Date): { jobId: string; token: string; tokenExpiresAt: string } {
  const job = db.select().from(jobs).where(eq(jobs.id, jobId)).get();
  if (!job) throw new InletError('JOB_NOT_FOUND', `Job ${JSON.stringify(jobId)} was not found.`, { jobId });
  const token = newSecret('inlet_job');
  const tokenExpiresAt = nowIso(addSeconds(now, config.jobTokenTtlSeconds));
  db.insert(tokens)
    .values({ id: newId('tok'), kind: 'job', tenantId: job.tenantId, jobId, secretSha256: sha256Hex(token), createdAt: nowIso(now), expiresAt: tokenExpiresAt })
    .run();
  return { jobId, token, tokenExpiresAt };
}
