import { createHash } from 'node:crypto';
import fs from 'node:fs';

import { and, desc, eq, gte } from 'drizzle-orm';
import { createSHA256, type IHasher } from 'hash-wasm';

import type { Db } from '../db/client';
import { hashStates, uploadParts } from '../db/schema';

/**
 * The whole-file SHA-256 of a multipart upload, advanced part by part while parts arrive. Parts
 * are written in place into one data file, in any order; whenever the next part in sequence is
 * stored, its byte range is read back (usually from the page cache) and fed to a resumable hasher
 * whose state is saved in the database after each part. Finalize then only hashes what is left,
 * normally nothing or the last part, instead of re-reading the whole file.
 *
 * The same read checks each part against the SHA-256 recorded when it was stored; a part whose
 * bytes changed on disk is dropped from the records so that it reads as missing.
 */

export interface HashTarget {
  uploadSessionId: string;
  dataFile: string;
  partSizeBytes: number;
  partCount: number;
}

export type AdvanceResult =
  | { done: true; sha256: string }
  | { done: false; throughPart: number; corruptParts: number[] };

const READ_CHUNK_BYTES = 1024 * 1024;

async function hasherAt(db: Db, uploadSessionId: string): Promise<{ hasher: IHasher; throughPart: number }> {
  const hasher = await createSHA256();
  hasher.init();
  const saved = db
    .select()
    .from(hashStates)
    .where(eq(hashStates.uploadSessionId, uploadSessionId))
    .orderBy(desc(hashStates.throughPart))
    .get();
  if (!saved) return { hasher, throughPart: 0 };
  hasher.load(Buffer.from(saved.state, 'base64'));
  return { hasher, throughPart: saved.throughPart };
}

function hashRange(file: string, start: number, length: number, hasher: IHasher): Promise<string> {
  const partHash = createHash('sha256');
  return new Promise((resolve, reject) => {
    if (length === 0) {
      resolve(partHash.digest('hex'));
      return;
    }
    const stream = fs.createReadStream(file, { start, end: start + length - 1, highWaterMark: READ_CHUNK_BYTES });
    let seen = 0;
    stream.on('data', (chunk) => {
      const bytes = chunk as Buffer;
      seen += bytes.length;
      hasher.update(bytes);
      partHash.update(bytes);
    });
    stream.on('error', reject);
    stream.on('end', () => {
      if (seen !== length) reject(new Error(`Data file ${file} is shorter than its recorded parts.`));
      else resolve(partHash.digest('hex'));
    });
  });
}

async function advanceOnce(db: Db, target: HashTarget): Promise<AdvanceResult> {
  const { hasher, throughPart: start } = await hasherAt(db, target.uploadSessionId);
  let throughPart = start;

  while (throughPart < target.partCount) {
    const partNumber = throughPart + 1;
    const part = db
      .select()
      .from(uploadParts)
      .where(and(eq(uploadParts.uploadSessionId, target.uploadSessionId), eq(uploadParts.partNumber, partNumber)))
      .get();
    if (!part) return { done: false, throughPart, corruptParts: [] };

    const actual = await hashRange(target.dataFile, (partNumber - 1) * target.partSizeBytes, part.sizeBytes, hasher);
    if (actual !== part.sha256) {
      // The bytes on disk are not what the PUT stored: forget the part so that it is sent again.
      db.delete(uploadParts)
        .where(and(eq(uploadParts.uploadSessionId, target.uploadSessionId), eq(uploadParts.partNumber, partNumber), eq(uploadParts.sha256, part.sha256)))
        .run();
      return { done: false, throughPart, corruptParts: [partNumber] };
    }

    const state = Buffer.from(hasher.save()).toString('base64');
    const saved = db.transaction((tx) => {
      // A re-PUT of this part while it was being read invalidates what was just hashed.
      const current = tx
        .select({ sha256: uploadParts.sha256 })
        .from(uploadParts)
        .where(and(eq(uploadParts.uploadSessionId, target.uploadSessionId), eq(uploadParts.partNumber, partNumber)))
        .get();
      if (current?.sha256 !== part.sha256) return false;
      // The state this one extends must still be saved: a re-PUT of an earlier part deletes the
      // states from that part on, and then the bytes hashed so far are no longer the file's.
      if (partNumber > 1) {
        const base = tx
          .select({ throughPart: hashStates.throughPart })
          .from(hashStates)
          .where(and(eq(hashStates.uploadSessionId, target.uploadSessionId), eq(hashStates.throughPart, partNumber - 1)))
          .get();
        if (!base) return false;
      }
      tx.insert(hashStates).values({ uploadSessionId: target.uploadSessionId, throughPart: partNumber, state }).onConflictDoUpdate({
        target: [hashStates.uploadSessionId, hashStates.throughPart],
        set: { state },
      }).run();
      return true;
    });
    if (!saved) return { done: false, throughPart, corruptParts: [] };
    throughPart = partNumber;
  }

  return { done: true, sha256: hasher.digest('hex') };
}

// One advance per session at a time in this process; callers share the running one.
const running = new Map<string, Promise<AdvanceResult>>();

/** Hashes every stored part that follows the saved state, and returns how far the hash got. */
export function advanceHash(db: Db, target: HashTarget): Promise<AdvanceResult> {
  const current = running.get(target.uploadSessionId);
  if (current) return current.then(() => advanceHash(db, target));

  const next = advanceOnce(db, target).finally(() => running.delete(target.uploadSessionId));
  running.set(target.uploadSessionId, next);
  return next;
}

/** Drops saved hash states that include part `partNumber`, before that part is written again. */
export function invalidateHashFrom(db: Db, uploadSessionId: string, partNumber: number): void {
  db.delete(hashStates)
    .where(and(eq(hashStates.uploadSessionId, uploadSessionId), gte(hashStates.throughPart, partNumber)))
    .run();
}
