import { and, eq, sql } from 'drizzle-orm';

import type { Db } from './db/client';
import { jobs, tokens } from './db/schema';
import { InletError } from './errors';
import { sha256Hex } from './ids';

export type Principal =
  | { kind: 'job'; tenantId: string; jobId: string }
  | { kind: 'tenant'; tenantId: string }
  | { kind: 'anonymous'; tenantId: string };

export const DEFAULT_TENANT_ID = 'default';
const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Parses the optional X-Tenant-Id header; a malformed value is INPUT_INVALID. */
export function parseTenantHeader(value: string | null): string | null {
  if (value === null || value === '') return null;
  if (!TENANT_ID_PATTERN.test(value)) {
    throw new InletError(
      'INPUT_INVALID',
      `X-Tenant-Id ${JSON.stringify(value)} is invalid: use 1-63 characters of a-z, 0-9 and -, starting with a letter or digit.`,
      { header: 'X-Tenant-Id', value },
    );
  }
  return value;
}

/**
 * Resolves the bearer token of a request to a principal. Without a token the caller is anonymous in
 * the tenant named by X-Tenant-Id (or `default`); a token must exist, be unexpired and belong to
 * that tenant when X-Tenant-Id is sent.
 */
export function authenticate(db: Db, authorization: string | null, tenantHeader: string | null, now: Date): Principal {
  const requestedTenant = parseTenantHeader(tenantHeader);
  if (authorization === null || authorization.trim() === '') {
    return { kind: 'anonymous', tenantId: requestedTenant ?? DEFAULT_TENANT_ID };
  }

  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match?.[1]) {
    throw new InletError('AUTH_INVALID', 'The Authorization header must be "Bearer <token>".', {});
  }

  const row = db.select().from(tokens).where(eq(tokens.secretSha256, sha256Hex(match[1]))).get();
  if (!row) {
    throw new InletError('AUTH_INVALID', 'The bearer token is not valid: it is unknown or was revoked.', {});
  }
  if (row.expiresAt !== null && row.expiresAt <= now.toISOString()) {
    throw new InletError('AUTH_EXPIRED', `The bearer token expired at ${row.expiresAt}; ask for a new job token.`, {
      expiresAt: row.expiresAt,
    });
  }
  if (requestedTenant !== null && requestedTenant !== row.tenantId) {
    throw new InletError('AUTH_INVALID', `The bearer token does not belong to tenant ${JSON.stringify(requestedTenant)}.`, {
      tenantId: requestedTenant,
    });
  }

  if (row.kind === 'tenant') return { kind: 'tenant', tenantId: row.tenantId };
  if (row.jobId === null) throw new InletError('AUTH_INVALID', 'The bearer token is not bound to a job.', {});
  return { kind: 'job', tenantId: row.tenantId, jobId: row.jobId };
}

export type JobRow = typeof jobs.$inferSelect;

/** The query of requireJob, which nearly every procedure calls, compiled once per connection. */
const jobStatements = new WeakMap<Db, ReturnType<typeof prepareJobStatement>>();

function prepareJobStatement(db: Db) {
  return db
    .select()
    .from(jobs)
    .where(and(eq(jobs.id, sql.placeholder('jobId')), eq(jobs.tenantId, sql.placeholder('tenantId'))))
    .prepare();
}

function jobStatement(db: Db): ReturnType<typeof prepareJobStatement> {
  let statement = jobStatements.get(db);
  if (!statement) {
    statement = prepareJobStatement(db);
    jobStatements.set(db, statement);
  }
  return statement;
}

/**
 * Loads a job the principal may reach. A job of another tenant, or a job that a job token was not
 * issued for, reads as JOB_NOT_FOUND so that ids cannot be probed.
 */
export function requireJob(db: Db, principal: Principal, jobId: string): JobRow {
  if (principal.kind === 'anonymous') {
    throw new InletError('AUTH_REQUIRED', 'This request needs "Authorization: Bearer <job token>".', {});
  }

  const job = jobStatement(db).get({ jobId, tenantId: principal.tenantId });
  if (!job || (principal.kind === 'job' && principal.jobId !== jobId)) {
    throw new InletError('JOB_NOT_FOUND', `Job ${JSON.stringify(jobId)} was not found.`, { jobId });
  }
  return job;
}

/** Raises JOB_LOCKED when the job no longer accepts changes to its inputs. */
export function requireOpenJob(job: JobRow): void {
  if (job.status === 'locked') {
    throw new InletError('JOB_LOCKED', `Job ${job.id} is locked; unlock it before changing its inputs.`, {
      jobId: job.id,
    });
  }
}
