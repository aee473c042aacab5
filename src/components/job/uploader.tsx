'use client';

import { useQueryClient } from '@tanstack/react-query';
import { useTranslations } from 'next-intl';
import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { useDropzone } from 'react-dropzone';

import { toApiErrorInfo, useTRPC, useTRPCClient, type ApiErrorInfo } from '@/trpc/client';

import { useErrorText } from '../error-text';
import { useFormatSize } from '../format';
import { ROLES, suggestRoles, type Role } from '../roles';
import { uploadFile, UploadError, type FinalizeFailure } from './upload-engine';
import { progressPercent, uploadReducer, type UploadItem } from './upload-state';

/** Files uploaded at the same time; each multipart file also sends several parts at once. */
const MAX_FILES_IN_FLIGHT = 2;

let nextItemNumber = 0;
function newItemId(): string {
  nextItemNumber += 1;
  return `item-${nextItemNumber}`;
}

function failureInfo(failure: FinalizeFailure, filename: string): ApiErrorInfo {
  return {
    code: failure.errorCode,
    details: { filename, ...(failure.details ?? {}), ...(failure.partNumbers ? { partNumbers: failure.partNumbers } : {}) },
  };
}

/**
 * Shows the drop zone and the list of files. The user chooses a role per file, then the files are
 * declared as one bundle, uploaded and finalized, each with a progress bar. Status changes are
 * announced to screen readers.
 */
export function Uploader({ jobId, hasPrimary }: { jobId: string; hasPrimary: boolean }) {
  const t = useTranslations('Uploader');
  const tRoles = useTranslations('Roles');
  const errorText = useErrorText();
  const formatSize = useFormatSize();
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();

  const [items, dispatch] = useReducer(uploadReducer, []);
  const [bundleError, setBundleError] = useState<ApiErrorInfo | null>(null);
  const [declaring, setDeclaring] = useState(false);
  const [announcement, setAnnouncement] = useState('');

  // Uploads stop when the page unmounts; the sessions stay valid on the server for a later retry.
  const abortRef = useRef<AbortController | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    abortRef.current = controller;
    return () => controller.abort();
  }, []);

  const onDrop = useCallback(
    (files: File[]) => {
      const primaryWaiting = items.some((item) => item.role === 'primary_dataset' && item.status !== 'failed' && item.status !== 'done');
      const roles = suggestRoles(
        files.map((file) => file.name),
        hasPrimary || primaryWaiting,
      );
      const added: UploadItem[] = files.map((file, index) => ({
        id: newItemId(),
        file,
        role: roles[index] ?? 'other',
        status: 'staged',
        uploadedBytes: 0,
        bundleId: null,
        fileId: null,
        error: null,
        retryable: false,
      }));
      dispatch({ type: 'add', items: added });
      setAnnouncement(t('announceAdded', { count: files.length }));
    },
    [items, hasPrimary, t],
  );

  const { getRootProps, getInputProps, isDragActive, open } = useDropzone({
    onDrop,
    multiple: true,
    noClick: true,
    noKeyboard: true,
  });

  const uploadOne = useCallback(
    async (item: UploadItem & { bundleId: string; fileId: string }) => {
      const signal = abortRef.current?.signal;
      if (!signal) return;
      const filename = item.file.name;
      setAnnouncement(t('announceStart', { filename }));
      try {
        const result = await uploadFile({
          client,
          jobId,
          bundleId: item.bundleId,
          fileId: item.fileId,
          file: item.file,
          signal,
          onProgress: (uploadedBytes) => dispatch({ type: 'progress', id: item.id, uploadedBytes }),
          onPhase: (status) => dispatch({ type: 'phase', id: item.id, status }),
        });
        if (result.success) {
          dispatch({ type: 'done', id: item.id });
          setAnnouncement(t('announceDone', { filename }));
          await Promise.all([
            queryClient.invalidateQueries(trpc.inputs.pathFilter()),
            queryClient.invalidateQueries(trpc.jobs.pathFilter()),
          ]);
          return;
        }
        const error = failureInfo(result, filename);
        dispatch({ type: 'failed', id: item.id, error, retryable: result.retryable });
        setAnnouncement(t('announceFailed', { filename, reason: errorText(error) }));
      } catch (caught) {
        if (signal.aborted) return;
        // Network, store and session errors are worth a retry, which re-sends the bytes in a new
        // upload session if the old one expired or ended.
        const error = caught instanceof UploadError ? caught.info : toApiErrorInfo(caught);
        dispatch({ type: 'failed', id: item.id, error, retryable: true });
        setAnnouncement(t('announceFailed', { filename, reason: errorText(error) }));
      }
    },
    [client, jobId, queryClient, trpc, t, errorText],
  );

  const uploadStaged = useCallback(async () => {
    const staged = items.filter((item) => item.status === 'staged');
    if (staged.length === 0) return;
    setBundleError(null);
    setDeclaring(true);
    setAnnouncement(t('announceDeclaring', { count: staged.length }));

    // 1. Declare all staged files as one bundle; a rejection stores nothing and uploads nothing.
    let declared: { bundleId: string; files: { fileId: string }[] };
    try {
      declared = await client.bundles.declare.mutate({
        jobId,
        files: staged.map((item) => ({
          filename: item.file.name,
          sizeBytes: item.file.size,
          role: item.role,
          lastModified: Math.max(0, Math.trunc(item.file.lastModified)),
        })),
      });
    } catch (caught) {
      const error = toApiErrorInfo(caught);
      const filename = typeof error.details.filename === 'string' ? error.details.filename : null;
      setBundleError(error);
      dispatch({ type: 'declareFailed', ids: staged.map((item) => item.id), error, filename });
      setAnnouncement(errorText(error));
      return;
    } finally {
      setDeclaring(false);
    }

    // 2. The server returns the files in the order they were declared.
    const queue = staged.flatMap((item, index) => {
      const fileId = declared.files[index]?.fileId;
      return fileId ? [{ ...item, bundleId: declared.bundleId, fileId }] : [];
    });
    dispatch({
      type: 'declared',
      bundleId: declared.bundleId,
      files: queue.map((item) => ({ id: item.id, fileId: item.fileId })),
    });

    // 3. Upload the files, MAX_FILES_IN_FLIGHT at a time.
    let nextIndex = 0;
    const runWorker = async (): Promise<void> => {
      while (nextIndex < queue.length) {
        const item = queue[nextIndex];
        nextIndex += 1;
        if (item) await uploadOne(item);
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_FILES_IN_FLIGHT, queue.length) }, runWorker));
  }, [items, client, jobId, t, errorText, uploadOne]);

  const retry = (item: UploadItem): void => {
    if (item.bundleId === null || item.fileId === null) return;
    void uploadOne({ ...item, bundleId: item.bundleId, fileId: item.fileId });
  };

  const stagedCount = items.filter((item) => item.status === 'staged').length;
  const doneCount = items.filter((item) => item.status === 'done').length;

  return (
    <section className="panel" aria-labelledby="uploader-heading">
      <h2 id="uploader-heading">{t('heading')}</h2>

      <div {...getRootProps({ className: isDragActive ? 'dropzone dropzone-active' : 'dropzone' })}>
        <input {...getInputProps({ 'aria-label': t('fileInputLabel') })} />
        <p>{isDragActive ? t('dropNow') : t('dropHint')}</p>
        <button type="button" className="button" onClick={open}>
          {t('chooseFiles')}
        </button>
        <p className="hint">{t('formatsHint')}</p>
      </div>

      {bundleError && (
        <p className="error" role="alert">
          {t('declareFailed', { reason: errorText(bundleError) })}
        </p>
      )}

      {items.length > 0 && (
        <ul className="upload-list" aria-label={t('listLabel')}>
          {items.map((item) => {
            const percent = progressPercent(item);
            return (
              <li key={item.id} className={`upload-item upload-item-${item.status}`}>
                <div className="upload-item-head">
                  <span className="filename">{item.file.name}</span>
                  <span className="muted">{formatSize(item.file.size)}</span>
                </div>
                <div className="upload-item-controls">
                  <label>
                    <span className="visually-hidden">{t('roleFor', { filename: item.file.name })}</span>
                    <select
                      value={item.role}
                      disabled={item.status !== 'staged'}
                      onChange={(event) => dispatch({ type: 'setRole', id: item.id, role: event.target.value as Role })}
                    >
                      {ROLES.map((role) => (
                        <option key={role} value={role}>
                          {tRoles(role)}
                        </option>
                      ))}
                    </select>
                  </label>
                  <progress max={100} value={percent} aria-label={t('progressFor', { filename: item.file.name })} />
                  <span className="status" data-status={item.status}>
                    {item.status === 'uploading' ? t('statusUploadingPercent', { percent }) : t(`status.${item.status}`)}
                  </span>
                  {item.status === 'staged' && (
                    <button
                      type="button"
                      className="button-link"
                      onClick={() => dispatch({ type: 'remove', id: item.id })}
                      aria-label={t('removeFile', { filename: item.file.name })}
                    >
                      {t('remove')}
                    </button>
                  )}
                  {item.status === 'failed' && item.retryable && item.fileId !== null && (
                    <button
                      type="button"
                      className="button-link"
                      onClick={() => retry(item)}
                      aria-label={t('retryFile', { filename: item.file.name })}
                    >
                      {t('retry')}
                    </button>
                  )}
                </div>
                {item.error && <p className="error">{errorText(item.error)}</p>}
              </li>
            );
          })}
        </ul>
      )}

      <div className="actions">
        <button type="button" className="button button-primary" disabled={stagedCount === 0 || declaring} onClick={() => void uploadStaged()}>
          {t('uploadButton', { count: stagedCount })}
        </button>
        {doneCount > 0 && (
          <button type="button" className="button" onClick={() => dispatch({ type: 'clearFinished' })}>
            {t('clearFinished')}
          </button>
        )}
      </div>

      <div className="visually-hidden" role="status" aria-live="polite" aria-atomic="true">
        {announcement}
      </div>
    </section>
  );
}
