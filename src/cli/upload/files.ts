/**
 * Turns local files into declared bundle files with upload sessions: reuses what an earlier run
 * left (its state file, or a live session on the server with the same file identity) and declares
 * one new bundle for the rest.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

import type { ApiClient, BundleView, PartListing, Receipt, ResumableSession } from '../api';
import { ApiError } from '../api';
import { CommandError } from '../common';
import { sampleSha256OfFile, sha256OfFile } from '../hashing';
import type { ProgressReporter } from '../progress';
import { type FileState, matchesIdentity, type StateStore } from '../state';

export const ROLE_ALIASES: Record<string, string> = {
  primary: 'primary_dataset',
  primary_dataset: 'primary_dataset',
  secondary: 'secondary_dataset',
  secondary_dataset: 'secondary_dataset',
  auxiliary: 'auxiliary_data',
  auxiliary_data: 'auxiliary_data',
  other: 'other',
};

export interface FileSpec {
  /** The path as typed. */
  path: string;
  role: string;
}

export interface LocalFile {
  /** Absolute path. */
  path: string;
  displayPath: string;
  filename: string;
  role: string;
  sizeBytes: number;
  lastModified: number;
  sampleSha256: string;
  sha256?: string | undefined;
}

export interface UploadContext {
  api: ApiClient;
  baseUrl: string;
  jobId: string;
  /** Null when resuming is off (--no-state): nothing is read or written. */
  states: StateStore | null;
  reporter: ProgressReporter;
  /** Hash each whole file first and declare its SHA-256, so finalize checks it. */
  hashWholeFile: boolean;
  /** Ignore saved state and live sessions, and start new upload sessions. */
  fresh: boolean;
}

/** Reads what identifies a local file: size, modification time and the sample SHA-256. */
export async function inspectFile(spec: FileSpec): Promise<LocalFile> {
  const absolute = path.resolve(spec.path);
  const stat = await fs.stat(absolute).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new CommandError(`File ${spec.path} was not found.`, 'FILE_NOT_FOUND', { path: spec.path });
    throw error;
  });
  if (!stat.isFile()) throw new CommandError(`${spec.path} is not a regular file; name each file to upload.`, 'FILE_NOT_REGULAR', { path: spec.path });
  return {
    path: absolute,
    displayPath: spec.path,
    filename: path.basename(absolute).normalize('NFC'),
    role: spec.role,
    sizeBytes: stat.size,
    lastModified: Math.max(0, Math.trunc(stat.mtimeMs)),
    sampleSha256: await sampleSha256OfFile(absolute, stat.size),
  };
}

function newState(context: UploadContext, file: LocalFile): FileState {
  return {
    version: 1,
    baseUrl: context.baseUrl,
    jobId: context.jobId,
    path: file.path,
    filename: file.filename,
    role: file.role,
    sizeBytes: file.sizeBytes,
    lastModified: file.lastModified,
    sampleSha256: file.sampleSha256,
    sha256: file.sha256,
    updatedAt: new Date().toISOString(),
  };
}

/** Aborts a session an earlier run left behind, so it stops counting against the job's limit. */
async function abandonSession(context: UploadContext, uploadSessionId: string): Promise<void> {
  try {
    await context.api.mutation('uploads.abort', { uploadSessionId });
  } catch (error) {
    // A session that ended meanwhile, or that finalize already claimed, needs nothing more.
    if (!(error instanceof ApiError) || error.status >= 500) throw error;
  }
}

/** True when the session of a saved state can still be continued or finalized. */
async function sessionUsable(context: UploadContext, uploadSessionId: string): Promise<boolean> {
  try {
    const listing = await context.api.query<PartListing>('uploads.listParts', { uploadSessionId });
    return listing.status === 'issued' || listing.status === 'finalizing' || listing.status === 'finalized';
  } catch (error) {
    if (error instanceof ApiError && error.errorCode === 'UPLOAD_SESSION_NOT_FOUND') return false;
    throw error;
  }
}

/** Finds a live session on the server for the same file, as a browser reload would. */
function matchLiveSession(sessions: ResumableSession[], file: LocalFile, taken: Set<string>): ResumableSession | undefined {
  return sessions
    .filter(
      (session) =>
        !taken.has(session.uploadSessionId) &&
        session.file.filename === file.filename &&
        session.file.sizeBytes === file.sizeBytes &&
        session.file.role === file.role &&
        session.file.lastModified === file.lastModified &&
        session.file.sampleSha256 === file.sampleSha256 &&
        (session.file.sha256 === null || file.sha256 === undefined || session.file.sha256 === file.sha256),
    )
    .sort((a, b) => b.storedPartCount - a.storedPartCount)[0];
}

/**
 * Returns one state per file, each with a declared bundle file (bundleId, fileId) and, where an
 * earlier run got that far, its upload session or receipt. Every state is saved before it returns.
 */
export async function prepareStates(context: UploadContext, files: LocalFile[]): Promise<FileState[]> {
  const { reporter } = context;
  const states: (FileState | null)[] = [];

  for (const file of files) {
    let state = context.states ? await context.states.load(context.jobId, file.path) : null;
    if (state && (context.fresh || !matchesIdentity(state, { ...file, baseUrl: context.baseUrl, jobId: context.jobId }))) {
      if (!context.fresh) reporter.note(`${file.displayPath} changed since the last run (size, time or content); starting its upload over.`);
      if (state.uploadSessionId && !state.receipt) await abandonSession(context, state.uploadSessionId);
      state = null;
    }
    if (state?.uploadSessionId && !state.receipt && !(await sessionUsable(context, state.uploadSessionId))) {
      reporter.note(`The upload session of ${file.displayPath} has ended on the server; starting a new one.`);
      state = { ...state, uploadSessionId: undefined, bundleId: undefined, fileId: undefined };
    }

    if (context.hashWholeFile && file.sha256 === undefined) {
      file.sha256 = state?.sha256 ?? (await hashWithNote(reporter, file));
    }
    if (state) state.sha256 = file.sha256;
    states.push(state?.fileId ? state : null);
  }

  // Files without a usable state: continue a live session on the server with the same identity.
  if (!context.fresh && states.some((state) => state === null)) {
    const { sessions } = await context.api.query<{ sessions: ResumableSession[] }>('uploads.listSessions', { jobId: context.jobId });
    const taken = new Set(states.flatMap((state) => (state?.uploadSessionId ? [state.uploadSessionId] : [])));
    files.forEach((file, index) => {
      if (states[index] !== null) return;
      const match = matchLiveSession(sessions, file, taken);
      if (!match) return;
      taken.add(match.uploadSessionId);
      reporter.note(`${file.displayPath}: continuing upload session ${match.uploadSessionId} (${match.storedPartCount} of ${match.partCount} parts stored).`);
      states[index] = { ...newState(context, file), bundleId: match.bundleId, fileId: match.fileId, uploadSessionId: match.uploadSessionId };
    });
  }

  // Declare one bundle for the rest.
  const undeclared = files.filter((_, index) => states[index] === null);
  if (undeclared.length > 0) {
    const bundle = await context.api.mutation<BundleView>('bundles.declare', {
      jobId: context.jobId,
      files: undeclared.map((file) => ({
        filename: file.filename,
        sizeBytes: file.sizeBytes,
        role: file.role,
        lastModified: file.lastModified,
        sampleSha256: file.sampleSha256,
        ...(file.sha256 ? { sha256: file.sha256 } : {}),
      })),
    });
    let position = 0;
    files.forEach((file, index) => {
      if (states[index] !== null) return;
      const declared = bundle.files[position];
      position += 1;
      if (!declared) throw new CommandError('bundles.declare returned fewer files than were declared.', 'UNEXPECTED_RESPONSE');
      states[index] = { ...newState(context, file), bundleId: bundle.bundleId, fileId: declared.fileId };
    });
  }

  const ready = states as FileState[];
  for (const state of ready) await context.states?.save(state);
  return ready;
}

async function hashWithNote(reporter: ProgressReporter, file: LocalFile): Promise<string> {
  if (file.sizeBytes > 64 * 1024 * 1024) reporter.note(`Computing the SHA-256 of ${file.displayPath} before the upload (skip with --skip-sha256).`);
  return sha256OfFile(file.path);
}

/** Checks a receipt against the local file: size always, SHA-256 when it was computed. */
export function checkReceipt(file: LocalFile, receipt: Receipt): void {
  if (receipt.sizeBytes !== file.sizeBytes) {
    throw new CommandError(`The receipt of ${file.displayPath} says ${receipt.sizeBytes} bytes, the local file has ${file.sizeBytes}.`, 'RECEIPT_MISMATCH', {
      path: file.displayPath,
    });
  }
  if (file.sha256 !== undefined && receipt.sha256 !== file.sha256) {
    throw new CommandError(`The receipt of ${file.displayPath} has SHA-256 ${receipt.sha256}, the local file ${file.sha256}.`, 'RECEIPT_MISMATCH', {
      path: file.displayPath,
    });
  }
}
