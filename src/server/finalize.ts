import { and, eq, lt, ne, or, sql } from 'drizzle-orm';

import { SNIFF_BYTES } from '@/lib/file-rules';

import type { Principal } from './auth';
import { crashPoint } from './crash';
import { bundleFiles, datasets, jobs, uploadParts, uploadSessions } from './db/schema';
import type { FinalizeFailureCode } from './errors';
import { InletError } from './errors';
import { datasetKeyFor } from './fingerprint';
import { checkFormat } from './formats';
import { addSeconds, nowIso } from './ids';
import { fingerprintOf, listDatasets, repairProjection, writeProjections } from './manifest';
import type { FileFormat } from './rules';
import { contentTypeFor } from './rules';
import type { Runtime } from './runtime';
import type { SessionRow } from './sessions';
import { requireSession } from './sessions';
import { normalizeEtag } from './storage/etags';
import type { PartRecord } from './storage/object-store';
import { storedExtension } from './workspace';

export { normalizeEtag };

export interface Receipt {
  success: true;
  status: 'finalized';
  uploadSessionId: string;
  fileId: string;
  datasetKey: string;
  sha256: string;
  sizeBytes: number;
  fingerprint: string;
  finalizedAt: string;
}

export interface FinalizeFailure {
  success: false;
  retryable: boolean;
  errorCode: FinalizeFailureCode;
  message: string;
  details?: Record<string, unknown>;
  partNumbers?: number[];
  retryAfterMs?: number;
}

export type FinalizeResult = Receipt | FinalizeFailure;

export interface ClientPart {
  partNumber: number;
  etag: string;
  sha256?: string | undefined;
}

/** How long a concurrent caller waits for the winner's receipt before FINALIZE_IN_PROGRESS. */
const WAIT_FOR_WINNER_MS = 20_000;
const POLL_INTERVAL_MS = 100;

/** Raises UPLOAD_PARTS_INVALID unless the list names parts 1..partCount exactly once each. */
export function checkPartList(parts: readonly ClientPart[], partCount: number): void {
  const seen = new Set<number>();
  for (const part of parts) {
    if (part.partNumber < 1 || part.partNumber > partCount) {
      throw new InletError(
        'UPLOAD_PARTS_INVALID',
        `Part number ${part.partNumber} is out of range; this session has parts 1 to ${partCount}.`,
        { partNumber: part.partNumber, partCount },
      );
    }
    if (seen.has(part.partNumber)) {
      throw new InletError('UPLOAD_PARTS_INVALID', `Part number ${part.partNumber} is listed twice.`, {
        partNumber: part.partNumber,
      });
    }
    seen.add(part.partNumber);
  }
  if (seen.size !== partCount) {
    const missing = [];
    for (let partNumber = 1; partNumber <= partCount; partNumber += 1) {
      if (!seen.has(partNumber)) missing.push(partNumber);
    }
    throw new InletError(
      'UPLOAD_PARTS_INVALID',
      `The part list must name every part from 1 to ${partCount}; missing: ${missing.slice(0, 20).join(', ')}.`,
      { partCount, missing: missing.slice(0, 100) },
    );
  }
}

function failure(code: FinalizeFailureCode, retryable: boolean, message: string, extra: Partial<FinalizeFailure> = {}): FinalizeFailure {
  return { success: false, retryable, errorCode: code, message, ...extra };
}

/**
 * Finalizes an upload session: verifies the parts, places the file content-addressed in the job
 * workspace, upserts the manifest and returns the receipt. It is a state machine on the session
 * row: a conditional UPDATE claims `issued → finalizing` with a lease, the winner does the work,
 * and every other caller (concurrent, retried, or after a restart) gets the stored result.
 */
export async function finalizeSession(
  runtime: Runtime,
  principal: Principal,
  input: { uploadSessionId: string; parts: ClientPart[] },
): Promise<FinalizeResult> {
  const { db } = runtime;
  const session = requireSession(db, principal, input.uploadSessionId);

  const settled = settledResult(session);
  if (settled) {
    await completeSettled(runtime, session);
    return settled;
  }
  checkPartList(input.parts, session.partCount);

  const now = new Date();
  if (session.status === 'issued' && session.expiresAt <= nowIso(now)) {
    throw new InletError('UPLOAD_SESSION_EXPIRED', `Upload session ${session.id} expired at ${session.expiresAt}; start a new one.`, {
      uploadSessionId: session.id,
      expiresAt: session.expiresAt,
    });
  }
  const job = db.select().from(jobs).where(eq(jobs.id, session.jobId)).get();
  if (job?.status === 'locked' && session.status === 'issued') {
    throw new InletError('JOB_LOCKED', `Job ${session.jobId} is locked; unlock it before finalizing uploads.`, { jobId: session.jobId });
  }

  // With S3 the browser PUTs parts straight to the bucket: the records are brought up to date first.
  // Only an issued session has parts still to learn of; a concurrent caller may have claimed it and
  // completed the store's upload meanwhile, and then it waits for that caller's receipt below.
  if (session.status === 'issued') {
    try {
      await runtime.store.syncParts(session);
    } catch (error) {
      const current = db.select({ status: uploadSessions.status }).from(uploadSessions).where(eq(uploadSessions.id, session.id)).get();
      if (current?.status === 'issued') throw error;
      return waitForWinner(runtime, session.id);
    }
  }
  const partProblem = checkStoredParts(runtime, session, input.parts);
  if (partProblem) return partProblem;

  if (!claim(runtime, session.id, now)) return waitForWinner(runtime, session.id);

  const lease = setInterval(() => renewLease(runtime, session.id), (runtime.config.finalizeLeaseSeconds * 1000) / 3);
  lease.unref();
  try {
    return await completeClaimed(runtime, session, input.parts);
  } finally {
    clearInterval(lease);
  }
}

/**
 * Finishes the steps after the commit that a process may have stopped before. Finalize deletes the
 * session's objects before it rewrites the projections, so a job whose projections are current
 * needs nothing, and a replay then costs one database read.
 * NOTE: if another change of the same job rewrote the projections first, the stopped session's
 * objects are left to the sweeper (local disk) or the bucket's lifecycle rule (S3).
 */
async function completeSettled(runtime: Runtime, session: SessionRow): Promise<void> {
  const { db, store } = runtime;
  const job = db.select({ manifestVersion: jobs.manifestVersion, projectedVersion: jobs.projectedVersion }).from(jobs).where(eq(jobs.id, session.jobId)).get();
  if (!job || job.projectedVersion >= job.manifestVersion) return;
  await store.deleteSessionObjects(session);
  await repairProjection(db, store, session.jobId);
}

/** Returns the stored outcome of a session that finalize already settled, or raises for ended ones. */
function settledResult(session: SessionRow): FinalizeResult | null {
  if (session.status === 'finalized' || (session.status === 'failed' && session.receipt !== null)) {
    return session.receipt as FinalizeResult;
  }
  if (session.status === 'aborted' || session.status === 'failed') {
    throw new InletError('UPLOAD_SESSION_ENDED', `Upload session ${session.id} has ended (${session.status}); start a new one.`, {
      uploadSessionId: session.id,
      status: session.status,
    });
  }
  if (session.status === 'expired') {
    throw new InletError('UPLOAD_SESSION_EXPIRED', `Upload session ${session.id} expired at ${session.expiresAt}; start a new one.`, {
      uploadSessionId: session.id,
      expiresAt: session.expiresAt,
    });
  }
  return null;
}

/** Names up to 20 part numbers in a message: "Part 3" or "Parts 1, 2". */
function describeParts(partNumbers: readonly number[]): string {
  const listed = partNumbers.slice(0, 20).join(', ');
  const more = partNumbers.length > 20 ? ` and ${partNumbers.length - 20} more` : '';
  return `${partNumbers.length === 1 ? 'Part' : 'Parts'} ${listed}${more}`;
}

function checkStoredParts(runtime: Runtime, session: SessionRow, clientParts: readonly ClientPart[]): FinalizeFailure | null {
  const stored = new Map(
    runtime.db
      .select()
      .from(uploadParts)
      .where(eq(uploadParts.uploadSessionId, session.id))
      .all()
      .map((part) => [part.partNumber, part]),
  );

  const missing = clientParts
    .filter((part) => !stored.has(part.partNumber))
    .map((part) => part.partNumber)
    .sort((a, b) => a - b);
  if (missing.length > 0) {
    const [verb, pronoun] = missing.length === 1 ? ['has', 'it'] : ['have', 'them'];
    return failure('UPLOAD_INCOMPLETE', true, `${describeParts(missing)} ${verb} not been stored; PUT ${pronoun}, then finalize again.`, {
      partNumbers: missing,
    });
  }

  const mismatched = clientParts.filter((part) => {
    const record = stored.get(part.partNumber);
    if (!record) return true;
    const etagMatches = normalizeEtag(part.etag) === normalizeEtag(record.etag);
    // An S3 part's SHA-256 is unknown until finalize hashes it; hashUpload checks it then.
    const shaMatches = part.sha256 === undefined || record.sha256 === '' || part.sha256 === record.sha256;
    return !etagMatches || !shaMatches;
  });
  if (mismatched.length > 0) {
    const partNumbers = mismatched.map((part) => part.partNumber).sort((a, b) => a - b);
    // The bytes stored may be right and only the list wrong, so the message shows both ETags.
    const first = mismatched[0]!;
    const example = `part ${first.partNumber}: ETag ${JSON.stringify(first.etag)} given, ${JSON.stringify(stored.get(first.partNumber)?.etag ?? '')} stored`;
    return failure(
      'CHECKSUM_MISMATCH',
      true,
      `${describeParts(partNumbers)} in the list do not match the stored parts (${example}). Send the ETags and checksums the PUTs returned, or PUT the parts again if their bytes changed, then finalize again.`,
      { partNumbers },
    );
  }
  return null;
}

/** Claims the session for this caller; also takes over a claim whose lease has passed. */
function claim(runtime: Runtime, uploadSessionId: string, now: Date): boolean {
  const nowText = nowIso(now);
  const result = runtime.db
    .update(uploadSessions)
    .set({
      status: 'finalizing',
      leaseExpiresAt: nowIso(addSeconds(now, runtime.config.finalizeLeaseSeconds)),
      updatedAt: nowText,
    })
    .where(
      and(
        eq(uploadSessions.id, uploadSessionId),
        or(eq(uploadSessions.status, 'issued'), and(eq(uploadSessions.status, 'finalizing'), lt(uploadSessions.leaseExpiresAt, nowText))),
      ),
    )
    .run();
  return result.changes === 1;
}

function renewLease(runtime: Runtime, uploadSessionId: string): void {
  const now = new Date();
  runtime.db
    .update(uploadSessions)
    .set({ leaseExpiresAt: nowIso(addSeconds(now, runtime.config.finalizeLeaseSeconds)) })
    .where(and(eq(uploadSessions.id, uploadSessionId), eq(uploadSessions.status, 'finalizing')))
    .run();
}

async function waitForWinner(runtime: Runtime, uploadSessionId: string): Promise<FinalizeResult> {
  const deadline = Date.now() + WAIT_FOR_WINNER_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    const row = runtime.db.select().from(uploadSessions).where(eq(uploadSessions.id, uploadSessionId)).get();
    if (!row) break;
    const settled = settledResult(row);
    if (settled) return settled;
    // The winner's lease ran out (it crashed): this caller takes over.
    if (row.status === 'finalizing' && row.leaseExpiresAt !== null && row.leaseExpiresAt < nowIso()) {
      return failure('FINALIZE_IN_PROGRESS', true, 'The previous finalize stopped; call finalize again to take over.', { retryAfterMs: 0 });
    }
  }
  return failure('FINALIZE_IN_PROGRESS', true, 'Another finalize of this session is still running; call again shortly.', {
    retryAfterMs: 1000,
  });
}

/** Moves a claimed session to `failed` with its outcome stored, so replays return the same failure. */
function recordFailure(runtime: Runtime, session: SessionRow, result: FinalizeFailure): FinalizeFailure {
  runtime.db
    .update(uploadSessions)
    .set({ status: 'failed', failureCode: result.errorCode, receipt: result, leaseExpiresAt: null, updatedAt: nowIso() })
    .where(and(eq(uploadSessions.id, session.id), eq(uploadSessions.status, 'finalizing')))
    .run();
  runtime.logger.warn(
    { event: 'session.failed', uploadSessionId: session.id, jobId: session.jobId, errorCode: result.errorCode },
    'upload session failed',
  );
  return result;
}

/** Puts a claimed session back to `issued`, so the client can re-send parts and finalize again. */
function releaseClaim(runtime: Runtime, session: SessionRow): void {
  runtime.db
    .update(uploadSessions)
    .set({ status: 'issued', leaseExpiresAt: null, updatedAt: nowIso() })
    .where(and(eq(uploadSessions.id, session.id), eq(uploadSessions.status, 'finalizing')))
    .run();
}

/**
 * Returns the file's SHA-256 from the store, which also checks each part against the SHA-256 the
 * client sent for it. The result is saved on the session before any byte moves, so a retry after
 * a crash never needs the moved bytes to know it.
 */
async function wholeFileSha256(runtime: Runtime, session: SessionRow, parts: PartRecord[], clientParts: readonly ClientPart[]): Promise<string | FinalizeFailure> {
  if (session.sha256 !== null) return session.sha256;

  const clientSha256 = new Map(clientParts.flatMap((part) => (part.sha256 === undefined ? [] : [[part.partNumber, part.sha256] as const])));
  const hashed = await runtime.store.hashUpload(session, parts, clientSha256);
  if (!hashed.ok) return failure(hashed.code, true, hashed.message, { partNumbers: hashed.partNumbers });

  runtime.db.update(uploadSessions).set({ sha256: hashed.sha256 }).where(eq(uploadSessions.id, session.id)).run();
  return hashed.sha256;
}

async function completeClaimed(runtime: Runtime, session: SessionRow, clientParts: readonly ClientPart[]): Promise<FinalizeResult> {
  const { db, store, logger } = runtime;
  const file = db.select().from(bundleFiles).where(eq(bundleFiles.id, session.fileId)).get();
  if (!file) throw new InletError('FILE_NOT_FOUND', `File ${session.fileId} of session ${session.id} was not found.`, { fileId: session.fileId });
  crashPoint(runtime, 'finalize.after_claim');

  const parts = db
    .select()
    .from(uploadParts)
    .where(eq(uploadParts.uploadSessionId, session.id))
    .orderBy(uploadParts.partNumber)
    .all();

  // 1. Know the file's SHA-256.
  const sha256 = await wholeFileSha256(runtime, session, parts, clientParts);
  if (typeof sha256 !== 'string') {
    releaseClaim(runtime, session);
    return sha256;
  }
  const datasetKey = datasetKeyFor(sha256);
  const relPath = `inputs/${datasetKey}${storedExtension(file.extension)}`;

  // 2. Stage the bytes next to their target (the embedded store renames them under inputs/ with a
  //    hidden name; S3's completed upload object is already staged), unless a previous attempt
  //    already placed them.
  const placed = await store.workspaceFileExists(session, relPath);
  if (!placed) await store.stageUpload(session, parts, relPath);
  crashPoint(runtime, 'finalize.after_stage');
  const discardStaged = (): Promise<void> => store.discardStaged(session, relPath);

  // 3. Check the bytes against the declaration.
  if (file.sha256 !== null && file.sha256 !== sha256) {
    await discardStaged();
    return recordFailure(
      runtime,
      session,
      failure('CHECKSUM_MISMATCH', false, `The uploaded file's SHA-256 is ${sha256}, but ${file.sha256} was declared.`, {
        details: { declared: file.sha256, actual: sha256 },
      }),
    );
  }
  const head = await store.readStagedHead(session, parts, relPath, SNIFF_BYTES);
  const formatCheck = checkFormat(file.format as FileFormat, file.extension, head);
  if (!formatCheck.ok) {
    await discardStaged();
    return recordFailure(runtime, session, failure(formatCheck.code, false, formatCheck.message, { details: { filename: file.filename, format: file.format } }));
  }

  // 4. Place the file content-addressed and commit the manifest change with the receipt.
  const finalizedAt = nowIso();
  const existing = db
    .select()
    .from(datasets)
    .where(and(eq(datasets.jobId, session.jobId), eq(datasets.datasetKey, datasetKey)))
    .get();
  if (existing && existing.role !== file.role) {
    await discardStaged();
    return recordFailure(
      runtime,
      session,
      failure('DATASET_ROLE_CONFLICT', false, `The same bytes are already dataset ${datasetKey} with role ${existing.role}.`, {
        details: { datasetKey, existingRole: existing.role, role: file.role },
      }),
    );
  }
  if (existing) {
    await discardStaged();
  } else {
    await store.placeStaged(session, parts, relPath);
  }
  crashPoint(runtime, 'finalize.after_place');

  let replaced: { relPath: string } | null = null;
  const outcome = db.transaction((tx): FinalizeResult | null => {
    const current = tx.select().from(uploadSessions).where(eq(uploadSessions.id, session.id)).get();
    if (!current || current.status !== 'finalizing') return current ? settledResult(current) : null;

    if (!existing) {
      if (file.role === 'primary_dataset') {
        const previous = tx
          .select()
          .from(datasets)
          .where(and(eq(datasets.jobId, session.jobId), eq(datasets.role, 'primary_dataset'), ne(datasets.datasetKey, datasetKey)))
          .get();
        if (previous) {
          tx.delete(datasets).where(and(eq(datasets.jobId, session.jobId), eq(datasets.datasetKey, previous.datasetKey))).run();
          replaced = { relPath: previous.relPath };
        }
      }
      tx.insert(datasets)
        .values({
          jobId: session.jobId,
          datasetKey,
          role: file.role,
          relPath,
          originalName: file.filename,
          sizeBytes: session.sizeBytes,
          sha256,
          format: file.format,
          contentType: contentTypeFor(file.extension),
          uploadedAt: finalizedAt,
          readOptions: {},
          fileId: file.id,
          uploadSessionId: session.id,
        })
        .onConflictDoNothing()
        .run();
    }

    const fingerprint = fingerprintOf(listDatasets(tx as unknown as typeof db, session.jobId));
    tx.update(jobs)
      .set({ fingerprint, manifestVersion: sql`${jobs.manifestVersion} + 1`, updatedAt: finalizedAt })
      .where(eq(jobs.id, session.jobId))
      .run();

    const receipt: Receipt = {
      success: true,
      status: 'finalized',
      uploadSessionId: session.id,
      fileId: file.id,
      datasetKey,
      sha256,
      sizeBytes: session.sizeBytes,
      fingerprint,
      finalizedAt,
    };
    tx.update(uploadSessions)
      .set({ status: 'finalized', receipt, leaseExpiresAt: null, updatedAt: finalizedAt })
      .where(eq(uploadSessions.id, session.id))
      .run();
    return receipt;
  });

  if (outcome === null) throw new InletError('UPLOAD_SESSION_NOT_FOUND', `Upload session ${session.id} was not found.`, { uploadSessionId: session.id });
  crashPoint(runtime, 'finalize.after_commit');

  // 5. Clean up outside the transaction; each step is safe to repeat.
  const replacedPath = (replaced as { relPath: string } | null)?.relPath;
  if (replacedPath && replacedPath !== relPath) {
    const stillUsed = db.select().from(datasets).where(and(eq(datasets.jobId, session.jobId), eq(datasets.relPath, replacedPath))).get();
    if (!stillUsed) await store.deleteWorkspaceFile(session, replacedPath);
  }
  // The session's objects go before the projections are rewritten, so current projections mean
  // that every step after the commit has run (a replay relies on this).
  await store.deleteSessionObjects(session);
  await writeProjections(db, store, session.jobId);

  if (outcome.success) {
    logger.info(
      { event: 'session.finalized', uploadSessionId: session.id, jobId: session.jobId, datasetKey, sizeBytes: session.sizeBytes },
      'upload session finalized',
    );
  }
  return outcome;
}
