'use client';

import { useTranslations } from 'next-intl';
import { useEffect, useState } from 'react';

import { useErrorText } from '../../error-text';
import { useFormatDuration, useFormatSize, useFormatTime } from '../../format';
import { rolesFor, type Role } from '../../roles';
import type { UploadItem, UploadManager } from './manager';

/** Whole percent of a file that is stored or on its way, 0–100; an empty file is 100 % once done. */
export function percentOf(uploadedBytes: number, sizeBytes: number, done: boolean): number {
  if (sizeBytes === 0) return done ? 100 : 0;
  return Math.min(100, Math.floor((uploadedBytes / sizeBytes) * 100));
}

/** Seconds until `atMs`, counted down once a second while it is shown. */
function useSecondsUntil(atMs: number | null): number | null {
  const [nowMs, setNowMs] = useState(() => Date.now());
  useEffect(() => {
    if (atMs === null) return;
    const timer = setInterval(() => setNowMs(Date.now()), 250);
    return () => clearInterval(timer);
  }, [atMs]);
  return atMs === null ? null : Math.max(0, Math.ceil((atMs - nowMs) / 1000));
}

/** Renders one file of the upload list with its role, progress, speed, retry state and controls. */
export function UploadItemRow({ item, manager, duplicateName }: { item: UploadItem; manager: UploadManager; duplicateName: boolean }) {
  const t = useTranslations('Uploader');
  const tRoles = useTranslations('Roles');
  const errorText = useErrorText();
  const formatSize = useFormatSize();
  const formatDuration = useFormatDuration();
  const formatTime = useFormatTime();
  const retryInSeconds = useSecondsUntil(item.retry?.atMs ?? null);

  const percent = percentOf(item.uploadedBytes, item.sizeBytes, item.status === 'done');
  const filename = item.filename;
  const canChangeRole = item.status !== 'cancelled' && item.status !== 'finalizing' && item.status !== 'checking';

  let statusText: string = t(`status.${item.status}`);
  if (item.status === 'uploading') statusText = t('statusUploadingPercent', { percent });
  if (item.status === 'paused' && item.pauseReason === 'offline') statusText = t('statusOffline');

  return (
    <li className={`upload-item upload-item-${item.status}`} data-testid="upload-item">
      <div className="upload-item-head">
        <span className="filename">{filename}</span>
        <span className="muted">{formatSize(item.sizeBytes)}</span>
        {duplicateName && (
          // Files with the same name are told apart by folder, size and modification time.
          <span className="muted duplicate-note">
            {t('duplicateName', {
              folder: item.relativePath ?? '',
              hasFolder: item.relativePath !== null ? 'yes' : 'no',
              modified: formatTime(new Date(item.lastModified).toISOString()),
            })}
          </span>
        )}
      </div>
      <div className="upload-item-controls">
        <label>
          <span className="visually-hidden">{t('roleFor', { filename })}</span>
          <select value={item.role} disabled={!canChangeRole} onChange={(event) => void manager.changeRole(item.id, event.target.value as Role)}>
            {rolesFor(filename).map((role) => (
              <option key={role} value={role}>
                {tRoles(role)}
              </option>
            ))}
          </select>
        </label>
        <progress max={100} value={percent} aria-label={t('progressFor', { filename })} />
        <span className="status" data-status={item.status}>
          {statusText}
        </span>
        {item.status === 'uploading' && item.bytesPerSecond !== null && (
          <span className="muted speed">
            {t('speed', { speed: formatSize(item.bytesPerSecond) })}
            {item.secondsLeft !== null && ` · ${t('timeLeft', { duration: formatDuration(item.secondsLeft) })}`}
          </span>
        )}

        {(item.status === 'queued' || item.status === 'uploading') && (
          <button type="button" className="button-link" onClick={() => manager.pause(item.id)} aria-label={t('pauseFile', { filename })}>
            {t('pause')}
          </button>
        )}
        {item.status === 'paused' && (
          <button type="button" className="button-link" onClick={() => manager.resume(item.id)} aria-label={t('resumeFile', { filename })}>
            {t('resume')}
          </button>
        )}
        {item.status === 'failed' && item.retryable && (
          <button type="button" className="button-link" onClick={() => manager.resume(item.id)} aria-label={t('retryFile', { filename })}>
            {t('retry')}
          </button>
        )}
        {item.status === 'rejected' && (
          <button type="button" className="button-link" onClick={() => void manager.retryRejected(item.id)} aria-label={t('checkAgainFile', { filename })}>
            {t('checkAgain')}
          </button>
        )}
        {['queued', 'uploading', 'paused', 'failed'].includes(item.status) && (
          <button type="button" className="button-link" onClick={() => void manager.cancel(item.id)} aria-label={t('cancelFile', { filename })}>
            {t('cancel')}
          </button>
        )}
      </div>

      {item.resumedBytes > 0 && item.status !== 'done' && (
        <p className="hint">{t('resumedFrom', { stored: formatSize(item.resumedBytes), parts: item.storedPartCount, partCount: item.partCount })}</p>
      )}
      {item.retry !== null && item.status === 'uploading' && (
        <p className="notice retry-notice">
          {t('retrying', {
            seconds: retryInSeconds ?? 0,
            attempt: item.retry.attempt,
            reason: errorText(item.retry.error),
          })}{' '}
          <button type="button" className="button-link" onClick={() => manager.retryNow(item.id)} aria-label={t('retryNowFile', { filename })}>
            {t('retryNow')}
          </button>
        </p>
      )}
      {item.error && <p className="error">{errorText({ ...item.error, details: { filename, ...item.error.details } })}</p>}
      {item.followUpError && <p className="error">{t('followUpFailed', { reason: errorText(item.followUpError) })}</p>}
      {item.status === 'done' && item.replacesDatasetKey !== null && <p className="hint">{t('replaced')}</p>}
    </li>
  );
}
