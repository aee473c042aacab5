import type { TRPCClient } from '@trpc/client';

import { toApiErrorInfo, type ApiErrorInfo } from '@/trpc/client';
import type { AppRouter } from '@/trpc/router';

import { isRole, suggestRoles, type Role } from '../../roles';
import { checkFile } from './file-checks';
import { FileUpload, type PauseReason, type Receipt, type RetryWait, type UploadStatus } from './file-upload';
import { sampleSha256 } from './hashing';
import { fileMismatchReasons, type ResumableSession } from './resume';

/**
 * Schedules the uploads of one job page: checks and declares new files, runs `filesInFlight` of
 * them at a time, pauses everything while the browser is offline, and publishes immutable
 * snapshots (for useSyncExternalStore) with progress, speed and time left.
 */

export interface UploadSettings {
  /** Parts of one file sent at the same time. */
  partsInFlight: number;
  /** Files uploaded at the same time. */
  filesInFlight: number;
}

export const DEFAULT_UPLOAD_SETTINGS: UploadSettings = { partsInFlight: 4, filesInFlight: 2 };
export const SETTING_LIMITS = { partsInFlight: { min: 1, max: 16 }, filesInFlight: { min: 1, max: 8 } } as const;

export interface UploadItem {
  id: string;
  filename: string;
  relativePath: string | null;
  sizeBytes: number;
  lastModified: number;
  role: Role;
  status: UploadStatus;
  pauseReason: PauseReason | null;
  uploadedBytes: number;
  resumedBytes: number;
  storedPartCount: number;
  partCount: number;
  bytesPerSecond: number | null;
  secondsLeft: number | null;
  retry: RetryWait | null;
  error: ApiErrorInfo | null;
  followUpError: ApiErrorInfo | null;
  retryable: boolean;
  datasetKey: string | null;
  replacesDatasetKey: string | null;
}

export interface UploadSnapshot {
  items: UploadItem[];
  /** Totals over files that are uploading, waiting or done in this page, not rejected or cancelled ones. */
  totalBytes: number;
  uploadedBytes: number;
  bytesPerSecond: number | null;
  secondsLeft: number | null;
  /** Whether any upload would stop if the page closed now. */
  active: boolean;
  online: boolean;
  settings: UploadSettings;
  announcements: Announcement[];
}

/** A message for the live region: a key of the Uploader messages and its values. */
export interface Announcement {
  id: number;
  key: string;
  values: Record<string, string | number>;
}

export interface UploadManagerHooks {
  finalized: (receipt: Receipt) => void;
}

/** Announcements kept for the live region; older ones have been read out already. */
const KEPT_ANNOUNCEMENTS = 5;

/** Shortest gap between two snapshots, so progress events do not re-render the page for every chunk. */
const SNAPSHOT_INTERVAL_MS = 150;
/** Window over which the speed is measured. */
const SPEED_WINDOW_MS = 5000;
/** Shortest measurement before a speed or time left is shown. */
const SPEED_MIN_SPAN_MS = 1000;
/** Progress is announced when it crosses a multiple of this many percent. */
const ANNOUNCE_STEP_PERCENT = 25;
const SETTINGS_STORAGE_KEY = 'inlet.uploadSettings';

class SpeedMeter {
  private samples: { atMs: number; bytes: number }[] = [];

  /** Records the bytes sent so far and returns the bytes per second over the recent window. */
  sample(bytes: number, atMs: number): number | null {
    this.samples.push({ atMs, bytes });
    while (this.samples.length > 2 && (this.samples[0]?.atMs ?? atMs) < atMs - SPEED_WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    if (first === undefined || atMs - first.atMs < SPEED_MIN_SPAN_MS) return null;
    return ((bytes - first.bytes) * 1000) / (atMs - first.atMs);
  }

  reset(): void {
    this.samples = [];
  }
}

function clampSetting(value: unknown, limits: { min: number; max: number }, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) ? Math.min(limits.max, Math.max(limits.min, value)) : fallback;
}

export function loadSettings(): UploadSettings {
  try {
    const raw = JSON.parse(window.localStorage.getItem(SETTINGS_STORAGE_KEY) ?? '{}') as Partial<UploadSettings>;
    return {
      partsInFlight: clampSetting(raw.partsInFlight, SETTING_LIMITS.partsInFlight, DEFAULT_UPLOAD_SETTINGS.partsInFlight),
      filesInFlight: clampSetting(raw.filesInFlight, SETTING_LIMITS.filesInFlight, DEFAULT_UPLOAD_SETTINGS.filesInFlight),
    };
  } catch {
    return { ...DEFAULT_UPLOAD_SETTINGS };
  }
}

/** Returns the folder path of a dropped file without the leading "./" or "/", or null outside a folder. */
function folderPathOf(file: File): string | null {
  const withPaths = file as File & { relativePath?: unknown };
  // react-dropzone sets relativePath on dropped files; a folder picked in the dialog has webkitRelativePath.
  const raw = typeof withPaths.relativePath === 'string' && withPaths.relativePath !== '' ? withPaths.relativePath : file.webkitRelativePath;
  if (typeof raw !== 'string') return null;
  const trimmed = raw.replace(/^\.?\//, '');
  return trimmed.includes('/') ? trimmed : null;
}

let nextUploadNumber = 0;

export class UploadManager {
  private readonly uploads: FileUpload[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly meters = new Map<string, SpeedMeter>();
  private readonly overallMeter = new SpeedMeter();
  private readonly announcedStep = new Map<string, number>();
  private snapshot: UploadSnapshot;
  private emitTimer: ReturnType<typeof setTimeout> | null = null;
  private settings: UploadSettings;
  private online = true;
  private disposed = false;
  private announcements: Announcement[] = [];
  private nextAnnouncementId = 1;
  private limits: Promise<number | null> | null = null;

  constructor(
    private readonly client: TRPCClient<AppRouter>,
    private readonly jobId: string,
    private readonly hooks: UploadManagerHooks,
  ) {
    this.settings = typeof window === 'undefined' ? { ...DEFAULT_UPLOAD_SETTINGS } : loadSettings();
    this.online = typeof navigator === 'undefined' ? true : navigator.onLine;
    this.snapshot = this.buildSnapshot();
  }

  /**
   * Returns the server's largest accepted file size, asked once per page. When the query fails the
   * check is left to bundles.declare, which rejects an oversized file on its own.
   */
  private maxFileSizeBytes(): Promise<number | null> {
    this.limits ??= this.client.system.limits.query().then(
      (limits) => limits.maxFileSizeBytes,
      () => null,
    );
    return this.limits;
  }

  /** Starts listening for the browser going offline and online. Returns the function that stops it. */
  connect(): () => void {
    this.disposed = false;
    const onOffline = (): void => this.setOnline(false);
    const onOnline = (): void => this.setOnline(true);
    window.addEventListener('offline', onOffline);
    window.addEventListener('online', onOnline);
    return () => {
      window.removeEventListener('offline', onOffline);
      window.removeEventListener('online', onOnline);
    };
  }

  /** Stops every run; the sessions stay on the server, so a later page can resume them. */
  dispose(): void {
    this.disposed = true;
    for (const upload of this.uploads) upload.pause('user');
    if (this.emitTimer !== null) clearTimeout(this.emitTimer);
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): UploadSnapshot => this.snapshot;

  /** Whether a file on its way to the job will become its primary dataset. */
  hasPrimaryOnTheWay(): boolean {
    return this.uploads.some((upload) => upload.role === 'primary_dataset' && ['checking', 'queued', 'uploading', 'paused', 'finalizing'].includes(upload.status));
  }

  /** Session ids this page is uploading, so the list of unfinished uploads can leave them out. */
  claimedSessionIds(): Set<string> {
    return new Set(this.uploads.filter((upload) => upload.status !== 'cancelled').flatMap((upload) => (upload.uploadSessionId ? [upload.uploadSessionId] : [])));
  }

  /**
   * Adds dropped or picked files and starts their uploads. A file that matches an unfinished
   * session (same name, size, modification time and sample digest) resumes that session. The other
   * files are checked, then declared together as one bundle.
   */
  async addFiles(
    files: readonly File[],
    options: { jobHasPrimary: boolean; resumable: readonly ResumableSession[]; replaces?: { datasetKey: string; role: Role } },
  ): Promise<void> {
    if (files.length === 0) return;
    const roles = options.replaces
      ? files.map(() => options.replaces?.role ?? 'other')
      : suggestRoles(
          files.map((file) => file.name),
          options.jobHasPrimary || this.hasPrimaryOnTheWay(),
        );
    const added = files.map((file, index) => this.createUpload(file, roles[index] ?? 'other', folderPathOf(file), options.replaces?.datasetKey ?? null));
    this.announce({ key: 'announceAdded', values: { count: files.length } });

    // 1. Check each file and take its sample digest; a bad file is rejected on its own.
    const claimed = this.claimedSessionIds();
    const toDeclare: FileUpload[] = [];
    await Promise.all(
      added.map(async (upload) => {
        const problem = await checkFile(upload.file, upload.role, await this.maxFileSizeBytes());
        if (problem !== null) {
          upload.reject(problem);
          return;
        }
        try {
          upload.sampleSha256 = await sampleSha256(upload.file);
        } catch {
          upload.reject({ code: 'FILE_UNREADABLE', details: { filename: upload.file.name } });
          return;
        }
        const match = options.replaces
          ? undefined
          : options.resumable.find(
              (session) => !claimed.has(session.uploadSessionId) && fileMismatchReasons(session, upload.file, upload.sampleSha256).length === 0,
            );
        if (match !== undefined) {
          claimed.add(match.uploadSessionId);
          this.adopt(upload, match);
        } else {
          toDeclare.push(upload);
        }
      }),
    );

    // 2. Declare the rest as one bundle, in the order they were added.
    const ordered = added.filter((upload) => toDeclare.includes(upload));
    await this.declare(ordered);
    for (const upload of added) {
      if (upload.status === 'rejected' && upload.error !== null) {
        this.announce({ key: 'announceFailed', values: { filename: upload.file.name, code: upload.error.code } });
      }
    }
    this.pump();
  }

  /**
   * Resumes one unfinished session with a file the user picked for it. Returns the reasons the
   * file does not match, empty when it matched and the upload resumed.
   */
  async resumeWith(session: ResumableSession, file: File): Promise<string[]> {
    let sample: string | null = null;
    try {
      sample = await sampleSha256(file);
    } catch {
      return ['unreadable'];
    }
    const reasons = fileMismatchReasons(session, file, sample);
    if (reasons.length > 0) return reasons;
    const role = isRole(session.file.role) ? session.file.role : 'other';
    const upload = this.createUpload(file, role, folderPathOf(file), null);
    upload.sampleSha256 = sample;
    this.adopt(upload, session);
    this.pump();
    return [];
  }

  /** Ends an unfinished session that no page is uploading; its stored parts are deleted. */
  async discardSession(uploadSessionId: string): Promise<ApiErrorInfo | null> {
    try {
      await this.client.uploads.abort.mutate({ uploadSessionId });
      return null;
    } catch (error) {
      return toApiErrorInfo(error);
    }
  }

  private createUpload(file: File, role: Role, relativePath: string | null, replacesDatasetKey: string | null): FileUpload {
    nextUploadNumber += 1;
    const upload = new FileUpload(
      {
        client: this.client,
        jobId: this.jobId,
        partsInFlight: () => this.settings.partsInFlight,
        changed: () => this.scheduleEmit(),
        runEnded: () => this.runEnded(upload),
        finalized: (_upload, receipt) => {
          this.announce({ key: 'announceDone', values: { filename: file.name } });
          this.hooks.finalized(receipt);
        },
      },
      `upload-${nextUploadNumber}`,
      file,
      role,
      relativePath,
      replacesDatasetKey,
    );
    this.uploads.push(upload);
    this.scheduleEmit();
    return upload;
  }

  private adopt(upload: FileUpload, session: ResumableSession): void {
    const role = isRole(session.file.role) ? session.file.role : 'other';
    upload.role = role;
    upload.adopt(session.bundleId, session.fileId, role);
    upload.status = 'queued';
    this.announce({ key: 'announceResuming', values: { filename: upload.file.name } });
  }

  /**
   * Declares files as one bundle. When the server rejects the bundle because of one file, that file
   * is rejected with the server's error and the others are declared again, so one bad file never
   * holds back the rest.
   */
  private async declare(uploads: FileUpload[]): Promise<void> {
    let remaining = uploads;
    while (remaining.length > 0) {
      try {
        const declared = await this.client.bundles.declare.mutate({
          jobId: this.jobId,
          files: remaining.map((upload) => ({
            filename: upload.file.name,
            sizeBytes: upload.file.size,
            role: upload.role,
            lastModified: Math.max(0, Math.trunc(upload.file.lastModified)),
            ...(upload.sampleSha256 !== null ? { sampleSha256: upload.sampleSha256 } : {}),
            ...(upload.relativePath !== null ? { relativePath: upload.relativePath } : {}),
          })),
        });
        // The server returns the files in the order they were declared.
        remaining.forEach((upload, index) => {
          const fileId = declared.files[index]?.fileId;
          if (fileId === undefined) upload.reject({ code: 'FILE_NOT_FOUND', details: { filename: upload.file.name } });
          else upload.declared(declared.bundleId, fileId);
        });
        return;
      } catch (caught) {
        const error = toApiErrorInfo(caught);
        const filename = typeof error.details.filename === 'string' ? error.details.filename.normalize('NFC') : null;
        const culprits = filename === null ? [] : remaining.filter((upload) => upload.file.name.normalize('NFC') === filename);
        if (culprits.length === 0 || culprits.length === remaining.length) {
          for (const upload of remaining) upload.reject(error);
          return;
        }
        for (const upload of culprits) upload.reject(error);
        remaining = remaining.filter((upload) => !culprits.includes(upload));
      }
    }
  }

  /** Starts queued uploads while fewer than `filesInFlight` run. */
  private pump(): void {
    if (this.disposed || !this.online) return;
    let running = this.uploads.filter((upload) => upload.isRunning).length;
    for (const upload of this.uploads) {
      if (running >= this.settings.filesInFlight) break;
      if (upload.status !== 'queued') continue;
      running += 1;
      this.announce({ key: 'announceStart', values: { filename: upload.file.name } });
      void upload.run();
    }
    this.scheduleEmit();
  }

  private runEnded(upload: FileUpload): void {
    if (upload.status === 'failed' && upload.error !== null) {
      this.announce({ key: 'announceFailed', values: { filename: upload.file.name, code: upload.error.code } });
    }
    queueMicrotask(() => this.pump());
  }

  private setOnline(online: boolean): void {
    if (this.online === online) return;
    this.online = online;
    if (online) {
      for (const upload of this.uploads) if (upload.status === 'paused' && upload.pauseReason === 'offline') upload.resume();
      this.announce({ key: 'announceOnline', values: {} });
      this.pump();
    } else {
      for (const upload of this.uploads) upload.pause('offline');
      this.announce({ key: 'announceOffline', values: {} });
    }
    this.scheduleEmit();
  }

  private find(id: string): FileUpload | undefined {
    return this.uploads.find((upload) => upload.id === id);
  }

  pause(id: string): void {
    this.find(id)?.pause('user');
  }

  resume(id: string): void {
    this.find(id)?.resume();
    this.pump();
  }

  retryNow(id: string): void {
    this.find(id)?.retryNow();
  }

  async cancel(id: string): Promise<void> {
    await this.find(id)?.cancel();
  }

  async changeRole(id: string, role: Role): Promise<void> {
    await this.find(id)?.changeRole(role);
  }

  /** Checks and declares a rejected file again, with the role the user chose since. */
  async retryRejected(id: string): Promise<void> {
    const upload = this.find(id);
    if (upload === undefined || upload.status !== 'rejected') return;
    upload.status = 'checking';
    upload.error = null;
    this.scheduleEmit();
    const problem = await checkFile(upload.file, upload.role, await this.maxFileSizeBytes());
    if (problem !== null) {
      upload.reject(problem);
      return;
    }
    upload.sampleSha256 ??= await sampleSha256(upload.file).catch(() => null);
    await this.declare([upload]);
    this.pump();
  }

  /** Drops finished, cancelled and rejected files from the list. */
  clearFinished(): void {
    for (let index = this.uploads.length - 1; index >= 0; index -= 1) {
      const status = this.uploads[index]?.status;
      if (status === 'done' || status === 'cancelled' || status === 'rejected') this.uploads.splice(index, 1);
    }
    this.scheduleEmit();
  }

  pauseAll(): void {
    for (const upload of this.uploads) upload.pause('user');
  }

  resumeAll(): void {
    for (const upload of this.uploads) if (upload.status === 'paused' || (upload.status === 'failed' && upload.retryable)) upload.resume();
    this.pump();
  }

  async cancelAll(): Promise<void> {
    await Promise.all(this.uploads.map((upload) => upload.cancel()));
  }

  setSettings(settings: UploadSettings): void {
    this.settings = {
      partsInFlight: clampSetting(settings.partsInFlight, SETTING_LIMITS.partsInFlight, this.settings.partsInFlight),
      filesInFlight: clampSetting(settings.filesInFlight, SETTING_LIMITS.filesInFlight, this.settings.filesInFlight),
    };
    try {
      window.localStorage.setItem(SETTINGS_STORAGE_KEY, JSON.stringify(this.settings));
    } catch {
      // Storage can be full or disabled; the setting then lasts until the page closes.
    }
    this.pump();
  }

  private announce(announcement: Omit<Announcement, 'id'>): void {
    this.announcements = [...this.announcements.slice(-(KEPT_ANNOUNCEMENTS - 1)), { ...announcement, id: this.nextAnnouncementId }];
    this.nextAnnouncementId += 1;
    this.scheduleEmit();
  }

  private scheduleEmit(): void {
    if (this.emitTimer !== null) return;
    this.emitTimer = setTimeout(() => {
      this.emitTimer = null;
      this.snapshot = this.buildSnapshot();
      this.announceProgress();
      for (const listener of this.listeners) listener();
    }, SNAPSHOT_INTERVAL_MS);
  }

  private announceProgress(): void {
    for (const item of this.snapshot.items) {
      if (item.status !== 'uploading' || item.sizeBytes === 0) continue;
      const percent = Math.floor((item.uploadedBytes / item.sizeBytes) * 100);
      const step = Math.floor(percent / ANNOUNCE_STEP_PERCENT) * ANNOUNCE_STEP_PERCENT;
      const previous = this.announcedStep.get(item.id) ?? 0;
      if (step > previous && step < 100) {
        this.announcedStep.set(item.id, step);
        this.announce({ key: 'announceProgress', values: { filename: item.filename, percent: step } });
      }
    }
  }

  private buildSnapshot(): UploadSnapshot {
    const nowMs = Date.now();
    let totalBytes = 0;
    let uploadedBytes = 0;
    let transferredBytes = 0;
    let anyRunning = false;

    const items = this.uploads.map((upload): UploadItem => {
      const counted = upload.status !== 'rejected' && upload.status !== 'cancelled' && upload.status !== 'checking';
      const uploaded = upload.uploadedBytes;
      if (counted) {
        totalBytes += upload.file.size;
        uploadedBytes += uploaded;
      }
      transferredBytes += upload.transferredBytes;

      let meter = this.meters.get(upload.id);
      if (meter === undefined) {
        meter = new SpeedMeter();
        this.meters.set(upload.id, meter);
      }
      let bytesPerSecond: number | null = null;
      if (upload.status === 'uploading') {
        anyRunning = true;
        bytesPerSecond = meter.sample(upload.transferredBytes, nowMs);
      } else {
        meter.reset();
      }
      const remaining = upload.file.size - uploaded;
      return {
        id: upload.id,
        filename: upload.file.name,
        relativePath: upload.relativePath,
        sizeBytes: upload.file.size,
        lastModified: upload.file.lastModified,
        role: upload.role,
        status: upload.status,
        pauseReason: upload.pauseReason,
        uploadedBytes: uploaded,
        resumedBytes: upload.resumedBytes,
        storedPartCount: upload.storedPartCount,
        partCount: upload.totalPartCount,
        bytesPerSecond,
        secondsLeft: bytesPerSecond !== null && bytesPerSecond > 0 ? Math.ceil(remaining / bytesPerSecond) : null,
        retry: upload.nextRetry,
        error: upload.error,
        followUpError: upload.followUpError,
        retryable: upload.retryable,
        datasetKey: upload.datasetKey,
        replacesDatasetKey: upload.replacesDatasetKey,
      };
    });

    // NOTE: the totals cover every file added in this page, so adding files during an upload lowers
    // the overall percentage; each file's own percentage only drops when one of its parts is re-sent.
    let bytesPerSecond: number | null = null;
    if (anyRunning) bytesPerSecond = this.overallMeter.sample(transferredBytes, nowMs);
    else this.overallMeter.reset();
    const active = this.uploads.some((upload) => ['checking', 'queued', 'uploading', 'finalizing'].includes(upload.status) || (upload.status === 'paused' && upload.uploadSessionId !== null));
    return {
      items,
      totalBytes,
      uploadedBytes: Math.min(uploadedBytes, totalBytes),
      bytesPerSecond,
      secondsLeft: bytesPerSecond !== null && bytesPerSecond > 0 ? Math.ceil((totalBytes - uploadedBytes) / bytesPerSecond) : null,
      active,
      online: this.online,
      settings: this.settings,
      announcements: this.announcements,
    };
  }
}
