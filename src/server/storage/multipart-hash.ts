import { createHash, randomBytes, type Hash } from 'node:crypto';
import fs from 'node:fs';

import { and, eq, gte } from 'drizzle-orm';

import type { Db } from '../db/client';
import { hashStates, uploadParts } from '../db/schema';

/**
 * The whole-file SHA-256 of a multipart upload, advanced part by part while parts arrive. Parts
 * are written in place into one data file, in any order; whenever the next part in sequence is
 * stored, its byte range is read back (usually from the page cache) and fed to Node's native
 * SHA-256, kept in memory per session. Finalize then hashes only what is left, normally nothing or
 * the last part, instead of reading the whole file again.
 *
 * Each part fed to the hash leaves a marker row in hash_states naming the hashing run (Node cannot
 * save a hash's state, so the row holds the run's id, not a state). A re-PUT deletes the markers
 * from its part on, and a hash is only trusted while the marker of the last part it covers names
 * its run. A process that restarted, or a second process that finalizes a session whose parts
 * another one received, has no hash in memory and hashes the file from the start, once.
 */

export interface HashTarget {
  uploadSessionId: string;
  dataFile: string;
  partSizeBytes: number;
  partCount: number;
}

export type AdvanceResult = { done: true; sha256: string } | { done: false; throughPart: number };

const READ_CHUNK_BYTES = 1024 * 1024;

interface Progress {
  runId: string;
  throughPart: number;
  hash: Hash;
}

/** In-memory hashes by upload session id, for the sessions whose parts this process hashed. */
const progressBySession = new Map<string, Progress>();

/** True when the marker of part `throughPart` still names run `runId` (part 0 needs no marker). */
function isStillValid(db: Db, uploadSessionId: string, throughPart: number, runId: string): boolean {
  if (throughPart === 0) return true;
  const marker = db
    .select({ runId: hashStates.state })
    .from(hashStates)
    .where(and(eq(hashStates.uploadSessionId, uploadSessionId), eq(hashStates.throughPart, throughPart)))
    .get();
  return marker?.runId === runId;
}

function hashRange(file: string, start: number, length: number, hash: Hash): Promise<void> {
  return new Promise((resolve, reject) => {
    if (length === 0) {
      resolve();
      return;
    }
    const stream = fs.createReadStream(file, { start, end: start + length - 1, highWaterMark: READ_CHUNK_BYTES });
    let seen = 0;
    stream.on('data', (chunk) => {
      const bytes = chunk as Buffer;
      seen += bytes.length;
      hash.update(bytes);
    });
    stream.on('error', reject);
    stream.on('end', () => {
      if (seen !== length) reject(new Error(`Data file ${file} is shorter than its recorded parts.`));
      else resolve();
    });
  });
}

async function advanceOnce(db: Db, target: HashTarget): Promise<AdvanceResult> {
  const { uploadSessionId } = target;
  let progress = progressBySession.get(uploadSessionId);
  if (!progress || !isStillValid(db, uploadSessionId, progress.throughPart, progress.runId)) {
    progress = { runId: randomBytes(8).toString('hex'), throughPart: 0, hash: createHash('sha256') };
    progressBySession.set(uploadSessionId, progress);
  }

  while (progress.throughPart < target.partCount) {
    const partNumber = progress.throughPart + 1;
    const part = db
      .select()
      .from(uploadParts)
      .where(and(eq(uploadParts.uploadSessionId, uploadSessionId), eq(uploadParts.partNumber, partNumber)))
      .get();
    if (!part) return { done: false, throughPart: progress.throughPart };

    await hashRange(target.dataFile, (partNumber - 1) * target.partSizeBytes, part.sizeBytes, progress.hash);
    const { runId } = progress;

    const saved = db.transaction((tx) => {
      // A re-PUT of this part while it was being read changes or deletes its record.
      const current = tx
        .select({ sha256: uploadParts.sha256 })
        .from(uploadParts)
        .where(and(eq(uploadParts.uploadSessionId, uploadSessionId), eq(uploadParts.partNumber, partNumber)))
        .get();
      if (current?.sha256 !== part.sha256) return false;
      // A re-PUT of an earlier part deletes the markers from that part on, and then the bytes
      // hashed so far are no longer the file's.
      if (!isStillValid(tx as unknown as Db, uploadSessionId, partNumber - 1, runId)) return false;
      tx.insert(hashStates)
        .values({ uploadSessionId, throughPart: partNumber, state: runId })
        .onConflictDoUpdate({ target: [hashStates.uploadSessionId, hashStates.throughPart], set: { state: runId } })
        .run();
      return true;
    });
    if (!saved) {
      // The hash already took in bytes that are no longer the file's; the next advance starts over.
      progressBySession.delete(uploadSessionId);
      return { done: false, throughPart: partNumber - 1 };
    }
    progress.throughPart = partNumber;
  }

  return { done: true, sha256: progress.hash.copy().digest('hex') };
}

// One advance per session at a time in this process; callers share the running one.
const running = new Map<string, Promise<AdvanceResult>>();

/** Hashes every stored part that follows the last one hashed, and returns how far the hash got. */
export function advanceHash(db: Db, target: HashTarget): Promise<AdvanceResult> {
  const current = running.get(target.uploadSessionId);
  if (current) return current.then(() => advanceHash(db, target));

  const next = advanceOnce(db, target).finally(() => running.delete(target.uploadSessionId));
  running.set(target.uploadSessionId, next);
  return next;
}

/** Forgets a session's in-memory hash once its file is finalized or its session has ended. */
export function forgetHash(uploadSessionId: string): void {
  progressBySession.delete(uploadSessionId);
}

/** Drops the markers of part `partNumber` and later, before that part is written again. */
export function invalidateHashFrom(db: Db, uploadSessionId: string, partNumber: number): void {
  db.delete(hashStates)
    .where(and(eq(hashStates.uploadSessionId, uploadSessionId), gte(hashStates.throughPart, partNumber)))
    .run();
}
