import { and, count, eq } from 'drizzle-orm';

import type { Principal } from './auth';
import { requireJob } from './auth';
import type { Config } from './config';
import type { Db } from './db/client';
import { datasets, jobs, tenants, tokens } from './db/schema';
import { InletError } from './errors';
import { jobFingerprint } from './fingerprint';
import { addSeconds, newId, newSecret, nowIso, sha256Hex } from './ids';
import type { DataPaths } from './workspace';
import { writeProjections } from './manifest';

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
  paths: DataPaths,
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

  await writeProjections(db, paths, jobId);
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
