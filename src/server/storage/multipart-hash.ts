import { createHash, randomBytes, type Hash } from 'node:crypto';
import fs from 'node:fs';

import { and, eq, gte } from 'drizzle-orm';

import { HASH_RETAIN_BYTES } from '../config';
import type { Db } from '../db/client';
import { hashStates, uploadParts } from '../db/schema';
import type { Logger } from '../logger';

/**
 * The whole-file SHA-256 of a multipart upload, advanced part by part while parts arrive. Parts
 * are written in place into one data file, in any order. The hash is kept in memory per session
 * and takes in each part in one of three ways:
 *
 * - live: the PUT of a part registers a PartFeed, which hashes the body's chunks as they arrive
 *   into a copy of the hash through the part before it. That base is the whole-file hash when it
 *   covers exactly the parts before, or else the end state of the previous part's PUT once that
 *   PUT has received its whole body, even before it is fsynced or recorded. The copies form a
 *   chain (see Link). A copy replaces the hash only in a transaction that checks the part's
 *   record, and only after every copy under it has. An aborted PUT, a BadDigest, a full disk or a
 *   crash leaves the hash where it was, and discards the copies built on the failed one.
 * - parked: a part recorded before any copy took in its body keeps the body in memory after its
 *   PUT ends. It builds on the previous part's copy once that part has arrived, or the hash takes
 *   the kept chunks when it reaches the part.
 * - read back: any other part is read back from the data file (usually from the page cache) once
 *   the parts before it are hashed.
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
    discardLinksOf(uploadSessionId);
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

    // A recorded part whose link has not committed by now never will: its base failed.
    const link = linkOf(uploadSessionId, partNumber);
    if (link) discardLink(link);
    const parkedChunks = feedsBySession.get(uploadSessionId)?.get(partNumber)?.takeParked(part);
    if (parkedChunks) {
      for (const chunk of parkedChunks) progress.hash.update(chunk);
    } else {
      target.logger?.debug({ event: 'hash.part_read_back', uploadSessionId, partNumber, sizeBytes: part.sizeBytes }, 'part read back for the whole-file hash');
      await hashRange(target.dataFile, (partNumber - 1) * target.partSizeBytes, part.sizeBytes, progress.hash);
    }
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
      if (progressBySession.get(uploadSessionId) === progress) {
        progressBySession.delete(uploadSessionId);
        discardLinksOf(uploadSessionId);
      }
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
  discardLinksOf(uploadSessionId);
  // Copied first, because dropping a parked feed removes it from the session's map.
  const feeds = [...(feedsBySession.get(uploadSessionId)?.values() ?? [])];
  for (const feed of feeds) feed.dropParked();
}

/** Drops the markers of part `partNumber` and later, before that part is written again. */
export function invalidateHashFrom(db: Db, uploadSessionId: string, partNumber: number): void {
  db.delete(hashStates)
    .where(and(eq(hashStates.uploadSessionId, uploadSessionId), gte(hashStates.throughPart, partNumber)))
    .run();
}

/**
 * Bytes of a part kept in memory until the hash reaches that part, per part and for all parts of
 * the process together. A part that passes either limit is read back after it is stored. When a
 * streaming part needs room, the parts parked longest give theirs up first.
 */
const FEED_RETAINED_MAX_BYTES_PER_PART = 16 * 1024 * 1024;
let feedRetainedBytesLimit = HASH_RETAIN_BYTES;
let feedRetainedBytesTotal = 0;

/** Sets the process-wide limit of retained bytes. Test mode lowers it to exercise eviction. */
export function setRetainedBytesLimit(bytes: number): void {
  feedRetainedBytesLimit = bytes;
}

/**
 * The multipart PUTs streaming in right now, and the parked parts, by upload session id and part
 * number.
 */
const feedsBySession = new Map<string, Map<number, PartFeed>>();

/** Parked feeds, oldest first: the order in which they give up their bytes when room is needed. */
const parkedFeeds = new Set<PartFeed>();

/** Drops parked parts, oldest first, until `bytes` more fit in the process-wide limit, and returns whether they fit. */
function makeRoom(bytes: number): boolean {
  for (const feed of parkedFeeds) {
    if (feedRetainedBytesTotal + bytes <= feedRetainedBytesLimit) break;
    feed.dropParked();
  }
  return feedRetainedBytesTotal + bytes <= feedRetainedBytesLimit;
}

/**
 * The whole-file hash through one part, computed by that part's PUT on top of a copy of the hash
 * through the part before it. That base is the session's hash when `base` is null, or else the end
 * state of the previous part's link, whose PUT may not have recorded it yet.
 *
 * - streaming: the body is still arriving and is hashed into `hash` chunk by chunk.
 * - received: every byte of the body is in `hash`, so the next part may build on a copy of it.
 * - recorded: the part is recorded but the part before it is not committed yet. `record` is
 *   the record that was hashed, and the link waits for its base to commit.
 * - committed: `hash` became the session's hash and the part's marker was written.
 * - discarded: the link or a link under it failed, and the part will be read back instead.
 */
interface Link {
  readonly uploadSessionId: string;
  readonly partNumber: number;
  /** The session hash at the bottom of the chain, which must still be current to commit. */
  readonly progress: Progress;
  base: Link | null;
  next: Link | null;
  hash: Hash;
  status: 'streaming' | 'received' | 'recorded' | 'committed' | 'discarded';
  record: { sha256: string; storedAt: string } | null;
}

/** The live links by upload session id and part number; committed and discarded ones are removed. */
const linksBySession = new Map<string, Map<number, Link>>();

function linkOf(uploadSessionId: string, partNumber: number): Link | undefined {
  return linksBySession.get(uploadSessionId)?.get(partNumber);
}

function unregisterLink(link: Link): void {
  const links = linksBySession.get(link.uploadSessionId);
  if (links?.get(link.partNumber) === link) links.delete(link.partNumber);
  if (links?.size === 0) linksBySession.delete(link.uploadSessionId);
}

/** Discards `link` and every link built on it; their parts are read back once the hash reaches them. */
function discardLink(link: Link): void {
  let current: Link | null = link;
  while (current && current.status !== 'discarded' && current.status !== 'committed') {
    current.status = 'discarded';
    unregisterLink(current);
    const next: Link | null = current.next;
    current.next = null;
    current.base = null;
    current = next;
  }
}

function discardLinksOf(uploadSessionId: string): void {
  const links = linksBySession.get(uploadSessionId);
  if (!links) return;
  for (const link of [...links.values()]) discardLink(link);
  linksBySession.delete(uploadSessionId);
}

/**
 * Writes the hash marker of `link`'s part inside transaction `tx`, when the link is built directly
 * on the session's current hash and that hash still covers exactly the parts before it. Returns
 * whether it wrote the marker; the caller then calls `applyLink` once `tx` has committed.
 */
function writeMarker(tx: Db, link: Link): boolean {
  const { progress, uploadSessionId, partNumber } = link;
  if (link.status === 'discarded' || link.base !== null) return false;
  if (progressBySession.get(uploadSessionId) !== progress || progress.throughPart !== partNumber - 1) return false;
  if (!isStillValid(tx, uploadSessionId, partNumber - 1, progress.runId)) return false;

  tx.insert(hashStates)
    .values({ uploadSessionId, throughPart: partNumber, state: progress.runId })
    .onConflictDoUpdate({ target: [hashStates.uploadSessionId, hashStates.throughPart], set: { state: progress.runId } })
    .run();
  return true;
}

/** Makes `link`'s hash the session's hash, and returns the link built on it, if any. */
function applyLink(link: Link): Link | null {
  link.progress.hash = link.hash;
  link.progress.throughPart = link.partNumber;
  link.status = 'committed';
  unregisterLink(link);
  const next = link.next;
  link.next = null;
  if (next) next.base = null;
  return next;
}

/**
 * Applies `link`, whose marker was just written, then commits the recorded links built on it in
 * part order. Each of them gets its own transaction, which checks that the part's record is still
 * the one its PUT hashed: a re-PUT changes sha256 and stored_at, even with the same bytes.
 */
function applyChain(db: Db, link: Link): void {
  let next = applyLink(link);
  while (next?.status === 'recorded' && next.record) {
    const pending: Link = next;
    const record = next.record;
    const committed = db.transaction((tx) => {
      const current = tx
        .select({ sha256: uploadParts.sha256, storedAt: uploadParts.storedAt })
        .from(uploadParts)
        .where(and(eq(uploadParts.uploadSessionId, pending.uploadSessionId), eq(uploadParts.partNumber, pending.partNumber)))
        .get();
      if (current?.sha256 !== record.sha256 || current.storedAt !== record.storedAt) return false;
      return writeMarker(tx as unknown as Db, pending);
    });
    if (!committed) {
      discardLink(pending);
      return;
    }
    next = applyLink(pending);
  }
}

/**
 * The whole-file hash's view of one multipart PUT while its body streams in. Until the hash
 * reaches the part, or the part before it has been received in full by a PUT that hashed it live,
 * the feed keeps the body's chunks. From then on the feed hashes them and every later chunk into a
 * Link. The link becomes the session's hash only in the transaction that records the part, or,
 * when the part is recorded before the part ahead of it, once every link under it has committed.
 * A failed link takes every link built on it down, so the hash never takes in a failed part.
 */
export class PartFeed {
  private retained: Buffer[] | null = [];
  private retainedBytes = 0;
  private link: Link | null = null;
  private bodyReceived = false;
  private outcome: 'commit' | 'pending' | 'none' = 'none';
  private record: { sha256: string; storedAt: string } | null = null;
  /** The part's committed record, when it was recorded before any link took in its bytes. */
  private stored: { sha256: string; storedAt: string } | null = null;
  private parked = false;

  private constructor(
    readonly uploadSessionId: string,
    readonly partNumber: number,
  ) {}

  /**
   * Registers the PUT of a part whose write slot the caller holds, after the claim dropped the
   * part's old record and markers. Links of an earlier PUT of this part, and the links built on
   * them, are discarded. Part 1 starts a new run at once. A later part starts hashing now if the
   * hash covers every part before it and no read-back is changing the hash, or if the part before
   * it has been received in full by a PUT that hashed it live.
   */
  static open(uploadSessionId: string, partNumber: number): PartFeed {
    const stale = linkOf(uploadSessionId, partNumber);
    if (stale) discardLink(stale);

    // A part parked by an earlier PUT of this part is being replaced.
    feedsBySession.get(uploadSessionId)?.get(partNumber)?.dropParked();
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
        discardLinksOf(uploadSessionId);
        progress = { runId: randomBytes(8).toString('hex'), throughPart: 0, hash: createHash('sha256') };
        progressBySession.set(uploadSessionId, progress);
      }
      if (progress) feed.attach(progress);
    }
    const previous = linkOf(uploadSessionId, partNumber - 1);
    if (previous) feed.attachToLink(previous);
    return feed;
  }

  update(chunk: Buffer): void {
    if (this.link) {
      // A discarded link is never committed, so its part is read back and hashing it is wasted.
      if (this.link.status !== 'discarded') this.link.hash.update(chunk);
      return;
    }
    if (!this.retained) return;
    if (this.retainedBytes + chunk.length > FEED_RETAINED_MAX_BYTES_PER_PART || !makeRoom(chunk.length)) {
      this.dropRetained();
      return;
    }
    this.retained.push(chunk);
    this.retainedBytes += chunk.length;
    feedRetainedBytesTotal += chunk.length;
  }

  /**
   * Marks the body as received in full (every byte of the signed size went through `update`), so
   * the next part's PUT may build on this part's hash before this part is fsynced and recorded.
   */
  finishBody(): void {
    this.bodyReceived = true;
    if (this.link?.status === 'streaming') this.markReceived(this.link);
  }

  /**
   * Starts hashing this part on a copy of `progress`, when `progress` covers exactly the parts
   * before it and the feed still has every chunk received so far. The caller guarantees that no
   * read-back is changing `progress.hash` at this moment.
   */
  attach(progress: Progress): void {
    if (!this.canAttach() || progress.throughPart !== this.partNumber - 1) return;
    this.startLink(progress, null);
  }

  /**
   * Writes the hash marker of this part, inside the transaction that records the part as
   * `record`, when the feed hashed the whole body on top of the session's current hash. Returns
   * whether it did. The caller must call `applyCommit` once the transaction has committed, before
   * any await, whatever this returned.
   */
  commitRecorded(tx: Db, record: { sha256: string; storedAt: string }): boolean {
    this.outcome = 'none';
    this.record = record;
    const link = this.link;
    if (link?.status !== 'received') return false;
    if (writeMarker(tx, link)) {
      this.outcome = 'commit';
      return true;
    }
    if (link.base !== null) {
      // The part before is not committed yet: this part's hash waits for it.
      this.outcome = 'pending';
    }
    return false;
  }

  /**
   * Settles this part's link after the transaction of `commitRecorded` committed. The link either
   * moves the session's hash past this part and the recorded parts waiting on it, or waits for
   * the part before it. A link that can no longer commit is discarded with the links built on it.
   */
  applyCommit(db: Db): void {
    const link = this.link;
    if (!link) {
      // No link took in the body yet: the part's bytes may still be parked when the PUT closes.
      this.stored = this.record;
      return;
    }
    if (this.outcome === 'commit') applyChain(db, link);
    else if (this.outcome === 'pending' && link.status === 'received') {
      link.status = 'recorded';
      link.record = this.record;
    } else discardLink(link);
  }

  /**
   * Ends the PUT. A part that was recorded before any link took in its bytes stays parked with its
   * whole body in memory. Once the part before it is received in full by a PUT that hashes it
   * live, the parked bytes build on that hash. If the hash reaches the part first, it takes the
   * parked bytes instead of reading the part back. A streaming part that needs the room drops
   * them. Any other feed is unregistered and drops what it kept. Its link is discarded unless the
   * part was recorded, so the links built on a failed PUT go too.
   */
  close(): void {
    if (this.stored && this.link === null && this.retained !== null && this.bodyReceived && this.isRegistered()) {
      this.parked = true;
      parkedFeeds.add(this);
      return;
    }
    this.dropRetained();
    if (this.link && (this.link.status === 'streaming' || this.link.status === 'received')) discardLink(this.link);
    this.link = null;
    this.unregister();
  }

  /**
   * Returns the parked body of this part when `part` is the record it was parked with, so the
   * caller hashes the chunks in place of reading the part back. A parked feed is unregistered
   * either way.
   */
  takeParked(part: { sha256: string; storedAt: string }): Buffer[] | null {
    const chunks = this.retained;
    if (!this.parked || !chunks) return null;
    const recordMatches = this.stored?.sha256 === part.sha256 && this.stored.storedAt === part.storedAt;
    // When another process stored the part again, the parked bytes are no longer the part's.
    this.dropParked();
    return recordMatches ? chunks : null;
  }

  /** Gives up a parked part's bytes: the part is read back once the hash reaches it. */
  dropParked(): void {
    if (!this.parked) return;
    this.parked = false;
    parkedFeeds.delete(this);
    this.dropRetained();
    this.unregister();
  }

  private isRegistered(): boolean {
    return feedsBySession.get(this.uploadSessionId)?.get(this.partNumber) === this;
  }

  private unregister(): void {
    const feeds = feedsBySession.get(this.uploadSessionId);
    if (feeds?.get(this.partNumber) === this) feeds.delete(this.partNumber);
    if (feeds?.size === 0) feedsBySession.delete(this.uploadSessionId);
  }

  /** Starts hashing this part on a copy of the end state of `base`, the previous part's link. */
  private attachToLink(base: Link): void {
    if (!this.canAttach() || base.partNumber !== this.partNumber - 1) return;
    if (base.status !== 'received' && base.status !== 'recorded') return;
    this.startLink(base.progress, base);
  }

  private canAttach(): boolean {
    return this.link === null && this.retained !== null && this.isRegistered();
  }

  private startLink(progress: Progress, base: Link | null): void {
    const hash = (base ? base.hash : progress.hash).copy();
    for (const chunk of this.retained ?? []) hash.update(chunk);
    this.dropRetained();

    const link: Link = { uploadSessionId: this.uploadSessionId, partNumber: this.partNumber, progress, base, next: null, hash, status: 'streaming', record: null };
    if (base) base.next = link;
    const stale = linkOf(this.uploadSessionId, this.partNumber);
    if (stale) discardLink(stale);
    let links = linksBySession.get(this.uploadSessionId);
    if (!links) {
      links = new Map();
      linksBySession.set(this.uploadSessionId, links);
    }
    links.set(this.partNumber, link);
    this.link = link;
    if (this.bodyReceived) this.markReceived(link);
    if (this.parked) {
      // The part was recorded already: its link waits for the links under it to commit.
      link.status = 'recorded';
      link.record = this.stored;
      this.parked = false;
      parkedFeeds.delete(this);
      this.link = null;
      this.unregister();
    }
  }

  /** Marks `link` received and lets the PUT of the next part, if it is streaming, build on it. */
  private markReceived(link: Link): void {
    link.status = 'received';
    feedsBySession.get(this.uploadSessionId)?.get(this.partNumber + 1)?.attachToLink(link);
  }

  private dropRetained(): void {
    feedRetainedBytesTotal -= this.retainedBytes;
    this.retainedBytes = 0;
    this.retained = null;
  }
}
