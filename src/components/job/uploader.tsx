'use client';

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslations } from 'next-intl';
import { useCallback, useMemo, useRef } from 'react';
import { useDropzone } from 'react-dropzone';

import { useTRPC } from '@/trpc/client';

import { useErrorText } from '../error-text';
import { useFormatDuration, useFormatSize } from '../format';
import type { Announcement, UploadManager, UploadSnapshot } from './upload/manager';
import { UnfinishedUploads } from './upload/unfinished-uploads';
import { percentOf, UploadItemRow } from './upload/upload-item-row';
import { UploadSettingsPanel } from './upload/upload-settings';

/** Files the drop zone skips in a dropped folder: the system's own bookkeeping files. */
const SYSTEM_FILENAMES = new Set(['.DS_Store', 'Thumbs.db', 'desktop.ini']);

/** Reads the live region's entries out in the UI's language. */
function LiveRegion({ announcements }: { announcements: Announcement[] }) {
  const t = useTranslations('Uploader');
  const errorText = useErrorText();
  return (
    <div className="visually-hidden" role="log" aria-live="polite" aria-relevant="additions" data-testid="upload-announcements">
      {announcements.map((entry) => {
        const values = { ...entry.values };
        if (entry.key === 'announceFailed') values.reason = errorText({ code: String(entry.values.code), details: { filename: entry.values.filename } });
        return <p key={entry.id}>{t(entry.key, values)}</p>;
      })}
    </div>
  );
}

/**
 * Renders the drop zone and the list of uploads. Dropped or picked files start uploading at once
 * with a suggested role. The list shows progress per file and overall, with pause, resume, cancel
 * and retry.
 */
export function Uploader({
  jobId,
  jobHasPrimary,
  manager,
  snapshot,
}: {
  jobId: string;
  jobHasPrimary: boolean;
  manager: UploadManager;
  snapshot: UploadSnapshot;
}) {
  const t = useTranslations('Uploader');
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const formatSize = useFormatSize();
  const formatDuration = useFormatDuration();
  const folderInputRef = useRef<HTMLInputElement>(null);

  const unfinished = useQuery(trpc.uploads.listSessions.queryOptions({ jobId }));
  const resumable = useMemo(() => unfinished.data?.sessions ?? [], [unfinished.data]);
  const claimed = manager.claimedSessionIds();
  const shownUnfinished = resumable.filter((session) => !claimed.has(session.uploadSessionId));
  const refreshUnfinished = useCallback(() => void queryClient.invalidateQueries(trpc.uploads.listSessions.pathFilter()), [queryClient, trpc]);

  const addFiles = useCallback(
    (files: File[]) => {
      const accepted = files.filter((file) => !SYSTEM_FILENAMES.has(file.name));
      void manager.addFiles(accepted, { jobHasPrimary, resumable }).then(refreshUnfinished);
    },
    [manager, jobHasPrimary, resumable, refreshUnfinished],
  );

  const { getRootProps, getInputProps, isDragActive, open } = useDropzone({
    onDrop: addFiles,
    multiple: true,
    noClick: true,
    noKeyboard: true,
  });

  const { items } = snapshot;
  const nameCounts = new Map<string, number>();
  for (const item of items) nameCounts.set(item.filename, (nameCounts.get(item.filename) ?? 0) + 1);

  const overallPercent = percentOf(snapshot.uploadedBytes, snapshot.totalBytes, snapshot.totalBytes === 0);
  const canPause = items.some((item) => item.status === 'queued' || item.status === 'uploading');
  const canResume = items.some((item) => item.status === 'paused' || (item.status === 'failed' && item.retryable));
  const canCancel = items.some((item) => ['queued', 'uploading', 'paused', 'failed'].includes(item.status));
  const canClear = items.some((item) => ['done', 'cancelled', 'rejected'].includes(item.status));

  return (
    <section className="panel" aria-labelledby="uploader-heading">
      <h2 id="uploader-heading">{t('heading')}</h2>

      <div {...getRootProps({ className: isDragActive ? 'dropzone dropzone-active' : 'dropzone', role: 'region', 'aria-label': t('dropZoneLabel') })}>
        <input {...getInputProps({ 'aria-label': t('fileInputLabel') })} />
        <p>{isDragActive ? t('dropNow') : t('dropHint')}</p>
        <div className="dropzone-buttons">
          <button type="button" className="button button-primary" onClick={open}>
            {t('chooseFiles')}
          </button>
          <button type="button" className="button" onClick={() => folderInputRef.current?.click()}>
            {t('chooseFolder')}
          </button>
        </div>
        <input
          ref={folderInputRef}
          type="file"
          hidden
          multiple
          aria-hidden="true"
          tabIndex={-1}
          data-testid="folder-input"
          {...{ webkitdirectory: '' }}
          onChange={(event) => {
            addFiles(Array.from(event.target.files ?? []));
            event.target.value = '';
          }}
        />
        <p className="hint">{t('formatsHint')}</p>
      </div>

      {!snapshot.online && (
        <p className="notice" role="status">
          {t('offline')}
        </p>
      )}

      <UnfinishedUploads sessions={shownUnfinished} manager={manager} onChanged={refreshUnfinished} />

      {items.length > 0 && (
        <>
          <div className="overall" data-testid="overall-progress">
            <progress max={100} value={overallPercent} aria-label={t('overallProgress')} />
            <span>
              {t('overall', { uploaded: formatSize(snapshot.uploadedBytes), total: formatSize(snapshot.totalBytes), percent: overallPercent })}
            </span>
            {snapshot.bytesPerSecond !== null && (
              <span className="muted">
                {t('speed', { speed: formatSize(snapshot.bytesPerSecond) })}
                {snapshot.secondsLeft !== null && ` · ${t('timeLeft', { duration: formatDuration(snapshot.secondsLeft) })}`}
              </span>
            )}
          </div>
          <div className="actions">
            <button type="button" className="button" disabled={!canPause} onClick={() => manager.pauseAll()}>
              {t('pauseAll')}
            </button>
            <button type="button" className="button" disabled={!canResume} onClick={() => manager.resumeAll()}>
              {t('resumeAll')}
            </button>
            <button type="button" className="button" disabled={!canCancel} onClick={() => void manager.cancelAll().then(refreshUnfinished)}>
              {t('cancelAll')}
            </button>
            <button type="button" className="button" disabled={!canClear} onClick={() => manager.clearFinished()}>
              {t('clearFinished')}
            </button>
          </div>
          <ul className="upload-list" aria-label={t('listLabel')}>
            {items.map((item) => (
              <UploadItemRow key={item.id} item={item} manager={manager} duplicateName={(nameCounts.get(item.filename) ?? 0) > 1} />
            ))}
          </ul>
        </>
      )}

      <UploadSettingsPanel settings={snapshot.settings} manager={manager} />
      <LiveRegion announcements={snapshot.announcements} />
    </section>
  );
}
