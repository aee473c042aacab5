'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslations } from 'next-intl';
import { useRef, useState } from 'react';

import { toApiErrorInfo, useTRPC, useTRPCClient, type ApiErrorInfo, type RouterOutputs } from '@/trpc/client';

import { CopyButton } from '../copy-button';
import { useErrorText } from '../error-text';
import { useFormatExactBytes, useFormatSize, useFormatTime } from '../format';
import { isRole, rolesFor, type Role } from '../roles';
import type { UploadManager } from './upload/manager';

type Manifest = RouterOutputs['inputs']['manifest'];
type Dataset = Manifest['datasets'][number];

/** Hex digits of a SHA-256 shown in the table; the copy button copies all 64. */
const SHA256_SHOWN_DIGITS = 12;

/** Starts a download of a signed URL; the store answers with Content-Disposition: attachment. */
function startDownload(url: string): void {
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.rel = 'noopener';
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}

function DatasetRow({
  jobId,
  dataset,
  locked,
  onReplace,
  onError,
}: {
  jobId: string;
  dataset: Dataset;
  locked: boolean;
  onReplace: (dataset: Dataset) => void;
  onError: (error: ApiErrorInfo | null) => void;
}) {
  const t = useTranslations('Manifest');
  const tRoles = useTranslations('Roles');
  const tFormats = useTranslations('Formats');
  const formatSize = useFormatSize();
  const formatExactBytes = useFormatExactBytes();
  const formatTime = useFormatTime();
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const [confirmingRemoval, setConfirmingRemoval] = useState(false);

  const refresh = async (): Promise<void> => {
    onError(null);
    await Promise.all([queryClient.invalidateQueries(trpc.inputs.pathFilter()), queryClient.invalidateQueries(trpc.jobs.pathFilter())]);
  };
  const setRole = useMutation(trpc.inputs.setRole.mutationOptions({ onSuccess: refresh, onError: (error) => onError(toApiErrorInfo(error)) }));
  const remove = useMutation(trpc.inputs.removeDataset.mutationOptions({ onSuccess: refresh, onError: (error) => onError(toApiErrorInfo(error)) }));

  const download = async (): Promise<void> => {
    try {
      const { url } = await client.inputs.downloadUrl.query({ jobId, datasetKey: dataset.datasetKey });
      startDownload(url);
    } catch (error) {
      onError(toApiErrorInfo(error));
    }
  };

  const name = dataset.originalName;
  return (
    <tr data-dataset-key={dataset.datasetKey}>
      <td>
        <label>
          <span className="visually-hidden">{t('roleOf', { filename: name })}</span>
          <select
            value={dataset.role}
            disabled={locked || setRole.isPending}
            onChange={(event) => setRole.mutate({ jobId, datasetKey: dataset.datasetKey, role: event.target.value as Role })}
          >
            {rolesFor(name).map((role) => (
              <option key={role} value={role}>
                {tRoles(role)}
              </option>
            ))}
            {!isRole(dataset.role) && <option value={dataset.role}>{dataset.role}</option>}
          </select>
        </label>
      </td>
      <th scope="row" className="filename">
        {name}
      </th>
      <td>
        {formatSize(dataset.sizeBytes)}
        <span className="muted exact-bytes">{formatExactBytes(dataset.sizeBytes)}</span>
      </td>
      <td>{tFormats.has(dataset.format) ? tFormats(dataset.format) : dataset.format}</td>
      <td className="nowrap">
        <code title={dataset.sha256}>{dataset.sha256.slice(0, SHA256_SHOWN_DIGITS)}…</code>{' '}
        <CopyButton value={dataset.sha256} label={t('copySha256', { filename: name })} />
      </td>
      <td>
        <time dateTime={dataset.uploadedAt}>{formatTime(dataset.uploadedAt)}</time>
      </td>
      <td className="row-actions">
        <button type="button" className="button-link" onClick={() => void download()} aria-label={t('downloadFile', { filename: name })}>
          {t('download')}
        </button>
        {!locked && (
          <button type="button" className="button-link" onClick={() => onReplace(dataset)} aria-label={t('replaceFile', { filename: name })}>
            {t('replace')}
          </button>
        )}
        {!locked &&
          (confirmingRemoval ? (
            <>
              <button
                type="button"
                className="button-link danger"
                disabled={remove.isPending}
                onClick={() => remove.mutate({ jobId, datasetKey: dataset.datasetKey })}
                aria-label={t('confirmRemoveFile', { filename: name })}
              >
                {t('confirmRemove')}
              </button>
              <button type="button" className="button-link" onClick={() => setConfirmingRemoval(false)} aria-label={t('keepFile', { filename: name })}>
                {t('keep')}
              </button>
            </>
          ) : (
            <button type="button" className="button-link" onClick={() => setConfirmingRemoval(true)} aria-label={t('removeFile', { filename: name })}>
              {t('remove')}
            </button>
          ))}
      </td>
    </tr>
  );
}

/**
 * Shows the job's manifest: the job fingerprint, and per dataset its role (changeable), name, size,
 * format, SHA-256 and upload time, with download, replace and remove.
 */
export function ManifestPanel({ jobId, manifest, locked, manager }: { jobId: string; manifest: Manifest; locked: boolean; manager: UploadManager }) {
  const t = useTranslations('Manifest');
  const errorText = useErrorText();
  const client = useTRPCClient();
  const replaceInputRef = useRef<HTMLInputElement>(null);
  const [replacing, setReplacing] = useState<Dataset | null>(null);
  const [error, setError] = useState<ApiErrorInfo | null>(null);

  const hasPrimary = manifest.datasets.some((dataset) => dataset.role === 'primary_dataset');

  const chooseReplacement = (dataset: Dataset): void => {
    setReplacing(dataset);
    replaceInputRef.current?.click();
  };

  const onReplacementPicked = (files: FileList | null): void => {
    const file = files?.[0];
    if (replaceInputRef.current) replaceInputRef.current.value = '';
    if (!file || replacing === null) return;
    const role = isRole(replacing.role) ? replacing.role : 'other';
    void manager.addFiles([file], { jobHasPrimary: hasPrimary, resumable: [], replaces: { datasetKey: replacing.datasetKey, role } });
    setReplacing(null);
  };

  const downloadManifest = async (): Promise<void> => {
    try {
      const { url } = await client.inputs.downloadUrl.query({ jobId });
      startDownload(url);
    } catch (caught) {
      setError(toApiErrorInfo(caught));
    }
  };

  return (
    <section className="panel" aria-labelledby="manifest-heading">
      <h2 id="manifest-heading">{t('heading')}</h2>

      <div className="fingerprint">
        <span className="label">{t('fingerprint')}</span>
        <code data-testid="job-fingerprint">{manifest.fingerprint}</code>
        <CopyButton value={manifest.fingerprint} label={t('copyFingerprint')} />
        <button type="button" className="button-link" onClick={() => void downloadManifest()}>
          {t('downloadManifest')}
        </button>
      </div>
      <input ref={replaceInputRef} type="file" hidden aria-hidden="true" tabIndex={-1} data-testid="replace-input" onChange={(event) => onReplacementPicked(event.target.files)} />

      {error && (
        <p className="error" role="alert">
          {errorText(error)}
        </p>
      )}

      {manifest.datasets.length === 0 ? (
        <p className="muted">{t('empty')}</p>
      ) : (
        <div className="table-scroll" tabIndex={0} role="region" aria-label={t('caption')}>
          <table className="manifest-table">
            <caption className="visually-hidden">{t('caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('role')}</th>
                <th scope="col">{t('originalName')}</th>
                <th scope="col">{t('size')}</th>
                <th scope="col">{t('format')}</th>
                <th scope="col">{t('sha256')}</th>
                <th scope="col">{t('uploadedAt')}</th>
                <th scope="col">{t('actions')}</th>
              </tr>
            </thead>
            <tbody>
              {manifest.datasets.map((dataset) => (
                <DatasetRow key={dataset.datasetKey} jobId={jobId} dataset={dataset} locked={locked} onReplace={chooseReplacement} onError={setError} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
