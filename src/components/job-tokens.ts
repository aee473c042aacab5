'use client';

import { useMemo, useSyncExternalStore } from 'react';

/**
 * Job tokens this browser holds, in localStorage under one key per job. A token never goes into a
 * page's path or query, where it would end up in history, logs and Referer headers.
 */
export interface StoredJob {
  jobId: string;
  token: string;
  title: string | null;
  createdAt: string | null;
  tokenExpiresAt: string | null;
}

const KEY_PREFIX = 'inlet.job.';
/** Fired on this tab's window when it changes a token; the `storage` event only reaches other tabs. */
const CHANGE_EVENT = 'inlet:job-tokens';

function keyFor(jobId: string): string {
  return `${KEY_PREFIX}${jobId}`;
}

function parseStoredJob(jobId: string, raw: string | null): StoredJob | null {
  if (raw === null) return null;
  try {
    const value = JSON.parse(raw) as Partial<StoredJob>;
    if (typeof value.token !== 'string' || value.token === '') return null;
    return {
      jobId,
      token: value.token,
      title: typeof value.title === 'string' ? value.title : null,
      createdAt: typeof value.createdAt === 'string' ? value.createdAt : null,
      tokenExpiresAt: typeof value.tokenExpiresAt === 'string' ? value.tokenExpiresAt : null,
    };
  } catch {
    return null;
  }
}

export function saveJob(job: StoredJob): void {
  const { jobId, ...stored } = job;
  window.localStorage.setItem(keyFor(jobId), JSON.stringify(stored));
  window.dispatchEvent(new Event(CHANGE_EVENT));
}

export function forgetJob(jobId: string): void {
  window.localStorage.removeItem(keyFor(jobId));
  window.dispatchEvent(new Event(CHANGE_EVENT));
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('storage', onChange);
  window.addEventListener(CHANGE_EVENT, onChange);
  return () => {
    window.removeEventListener('storage', onChange);
    window.removeEventListener(CHANGE_EVENT, onChange);
  };
}

/** Returns the stored job, `null` when this browser has no token for it, `undefined` until hydrated. */
export function useStoredJob(jobId: string): StoredJob | null | undefined {
  const raw = useSyncExternalStore(
    subscribe,
    () => window.localStorage.getItem(keyFor(jobId)),
    () => undefined,
  );
  return useMemo(() => (raw === undefined ? undefined : parseStoredJob(jobId, raw)), [jobId, raw]);
}

/** Reads every stored job as one string, which stays equal while nothing changes, as useSyncExternalStore requires. */
function readAllRaw(): string {
  const entries: [string, string][] = [];
  for (let index = 0; index < window.localStorage.length; index += 1) {
    const key = window.localStorage.key(index);
    if (key?.startsWith(KEY_PREFIX)) entries.push([key.slice(KEY_PREFIX.length), window.localStorage.getItem(key) ?? '']);
  }
  entries.sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify(entries);
}

/** Returns every job this browser has a token for, newest first, or `undefined` until hydrated. */
export function useStoredJobs(): StoredJob[] | undefined {
  const raw = useSyncExternalStore(subscribe, readAllRaw, () => undefined);
  return useMemo(() => {
    if (raw === undefined) return undefined;
    const entries = JSON.parse(raw) as [string, string][];
    return entries
      .map(([jobId, value]) => parseStoredJob(jobId, value))
      .filter((job): job is StoredJob => job !== null)
      .sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
  }, [raw]);
}
