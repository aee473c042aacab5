import { createHash, randomBytes, type Hash } from 'node:crypto';
import fs from 'node:fs';

import { and, eq, gte } from 'drizzle-orm';

import type { Db } from '../db/client';
import { hashStates, uploadParts } from '../db/schema';
import type { Logger } from '../logger';

/**
 * The whole-file SHA-256 of a multipart upload, advanced part by part while parts arrive. Parts
 * are written in place into one data file, in any order. The hash is kept in memory per session
 * and takes in each part in one of two ways:
 *
 * - live: a PUT of the part right after the last one hashed registers a PartFeed, which hashes the
 *   body's chunks as they arrive into a copy of the whole-file hash. The copy replaces the hash
 *   only in the transaction that records the part, so an aborted PUT, a BadDigest, a full disk or
 *   a crash leaves the hash where it was.
 * - read back: a part stored while the hash had not reached it yet is read back from the data
 *   file (usually from the page cache) once the parts before it are hashed.
 *
 * Finalize then hashes only what is left, normally nothing, instead of reading the whole file.
 *
 * Each part taken in leaves a marker row in hash_states naming the hashing run (Node cannot save a
 * hash's state, so the row holds the run's id, not a state). A re-PUT deletes the markers from its
 * part on, and a hash is only trusted while the marker of the last part it covers names its run.
 * A process that restarted, or a second process that finalizes a session whose parts another one
 * received, has no hash in memory and hashes the file from the start, once.
 */

export interface HashTarget {
  uploadSessionId: string;
  dataFile: string;
  partSizeBytes: number;
  partCount: number;
  /** Receives a debug line for each part read back from the data file. */
  logger?: Logger;
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
    if (!part) {
      // The next part may be streaming in right now: from here on its PUT hashes it live.
      feedsBySession.get(uploadSessionId)?.get(partNumber)?.attach(progress);
      return { done: false, throughPart: progress.throughPart };
    }

    target.logger?.debug({ event: 'hash.part_read_back', uploadSessionId, partNumber, sizeBytes: part.sizeBytes }, 'part read back for the whole-file hash');
    await hashRange(target.dataFile, (partNumber - 1) * target.partSizeBytes, part.sizeBytes, progress.hash);
    const { runId } = progress;

    const saved = db.transaction((tx) => {
      // A re-PUT of this part while it was being read changes or deletes its record. The time it
      // was stored is compared too: an aborted re-PUT followed by a PUT of the same bytes records
      // the same sha256 again, while the read may have taken in the aborted PUT's bytes.
      const current = tx
        .select({ sha256: uploadParts.sha256, storedAt: uploadParts.storedAt })
        .from(uploadParts)
        .where(and(eq(uploadParts.uploadSessionId, uploadSessionId), eq(uploadParts.partNumber, partNumber)))
        .get();
      if (current?.sha256 !== part.sha256 || current.storedAt !== part.storedAt) return false;
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
      if (progressBySession.get(uploadSessionId) === progress) progressBySession.delete(uploadSessionId);
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

/**
 * Bytes of a streaming part kept in memory until the hash reaches that part, per part and for all
 * parts of the process together. A part that passes either limit is read back after it is stored.
 */
const FEED_RETAINED_MAX_BYTES_PER_PART = 16 * 1024 * 1024;
const FEED_RETAINED_MAX_BYTES_TOTAL = 64 * 1024 * 1024;
let feedRetainedBytesTotal = 0;

/** The multipart PUTs streaming in right now, by upload session id and part number. */
const feedsBySession = new Map<string, Map<number, PartFeed>>();

/**
 * The whole-file hash's view of one multipart PUT while its body streams in. Until the hash reaches
 * the part, the feed keeps the body's chunks. Once it does, the feed hashes them and every later
 * chunk into a copy of the whole-file hash. `commitRecorded` and `applyCommit` swap the copy in
 * when the part is recorded, and `close` drops it, so the hash never takes in a failed part.
 */
export class PartFeed {
  private retained: Buffer[] | null = [];
  private retainedBytes = 0;
  private speculative: { progress: Progress; hash: Hash } | null = null;

  private constructor(
    readonly uploadSessionId: string,
    readonly partNumber: number,
  ) {}

  /**
   * Registers the PUT of a part whose write slot the caller holds, after the claim dropped the
   * part's old record and markers. Part 1 starts a new run at once. A later part starts hashing
   * now if the hash covers every part before it and no read-back is changing the hash.
   */
  static open(uploadSessionId: string, partNumber: number): PartFeed {
    const feed = new PartFeed(uploadSessionId, partNumber);
    let feeds = feedsBySession.get(uploadSessionId);
    if (!feeds) {
      feeds = new Map();
      feedsBySession.set(uploadSessionId, feeds);
    }
    feeds.set(partNumber, feed);

    if (!running.has(uploadSessionId)) {
      let progress = progressBySession.get(uploadSessionId);
      if (partNumber === 1 && progress?.throughPart !== 0) {
        // The claim of part 1 deleted every marker, so any hash kept so far is stale.
        progress = { runId: randomBytes(8).toString('hex'), throughPart: 0, hash: createHash('sha256') };
        progressBySession.set(uploadSessionId, progress);
      }
      if (progress) feed.attach(progress);
    }
    return feed;
  }

  update(chunk: Buffer): void {
    if (this.speculative) {
      this.speculative.hash.update(chunk);
      return;
    }
    if (!this.retained) return;
    if (this.retainedBytes + chunk.length > FEED_RETAINED_MAX_BYTES_PER_PART || feedRetainedBytesTotal + chunk.length > FEED_RETAINED_MAX_BYTES_TOTAL) {
      this.dropRetained();
      return;
    }
    this.retained.push(chunk);
    this.retainedBytes += chunk.length;
    feedRetainedBytesTotal += chunk.length;
  }

  /**
   * Starts hashing this part on a copy of `progress`, when `progress` covers exactly the parts
   * before it and the feed still has every chunk received so far. The caller guarantees that no
   * read-back is changing `progress.hash` at this moment.
   */
  attach(progress: Progress): void {
    if (this.speculative || !this.retained || progress.throughPart !== this.partNumber - 1) return;
    if (feedsBySession.get(this.uploadSessionId)?.get(this.partNumber) !== this) return;

    const hash = progress.hash.copy();
    for (const chunk of this.retained) hash.update(chunk);
    this.dropRetained();
    this.speculative = { progress, hash };
  }

  /**
   * Writes the hash marker of this part, inside the transaction that records the part, when the
   * feed hashed the whole body on top of the session's current hash. Returns whether it did; then
   * the caller must call `applyCommit` once the transaction has committed, before any await.
   */
  commitRecorded(tx: Db): boolean {
    const speculative = this.speculative;
    if (!speculative) return false;
    const { progress } = speculative;
    if (progressBySession.get(this.uploadSessionId) !== progress || progress.throughPart !== this.partNumber - 1) return false;
    if (!isStillValid(tx, this.uploadSessionId, this.partNumber - 1, progress.runId)) return false;

    tx.insert(hashStates)
      .values({ uploadSessionId: this.uploadSessionId, throughPart: this.partNumber, state: progress.runId })
      .onConflictDoUpdate({ target: [hashStates.uploadSessionId, hashStates.throughPart], set: { state: progress.runId } })
      .run();
    return true;
  }

  /** Moves the session's in-memory hash past this part, after `commitRecorded` returned true. */
  applyCommit(): void {
    const speculative = this.speculative;
    if (!speculative) return;
    speculative.progress.hash = speculative.hash;
    speculative.progress.throughPart = this.partNumber;
    this.speculative = null;
  }

  /** Unregisters the PUT and drops whatever it hashed or kept that was not committed. */
  close(): void {
    this.dropRetained();
    this.speculative = null;
    const feeds = feedsBySession.get(this.uploadSessionId);
    if (feeds?.get(this.partNumber) === this) feeds.delete(this.partNumber);
    if (feeds?.size === 0) feedsBySession.delete(this.uploadSessionId);
  }

  private dropRetained(): void {
    feedRetainedBytesTotal -= this.retainedBytes;
    this.retainedBytes = 0;
    this.retained = null;
  }
}
