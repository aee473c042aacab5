'use client';

import { useTranslations } from 'next-intl';

import type { RouterOutputs } from '@/trpc/client';

import { CopyButton } from '../copy-button';
import { useFormatExactBytes, useFormatSize, useFormatTime } from '../format';
import { isRole } from '../roles';

type Manifest = RouterOutputs['inputs']['manifest'];

/** Hex digits of a SHA-256 shown in the table; the copy button copies all 64. */
const SHA256_SHOWN_DIGITS = 12;

/** Shows the job's manifest: one row per dataset, and the job fingerprint. */
export function ManifestPanel({ manifest }: { manifest: Manifest }) {
  const t = useTranslations('Manifest');
  const tRoles = useTranslations('Roles');
  const tFormats = useTranslations('Formats');
  const formatSize = useFormatSize();
  const formatExactBytes = useFormatExactBytes();
  const formatTime = useFormatTime();

  return (
    <section className="panel" aria-labelledby="manifest-heading">
      <h2 id="manifest-heading">{t('heading')}</h2>

      <div className="fingerprint">
        <span className="label">{t('fingerprint')}</span>
        <code>{manifest.fingerprint}</code>
        <CopyButton value={manifest.fingerprint} label={t('copyFingerprint')} />
      </div>

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
              </tr>
            </thead>
            <tbody>
              {manifest.datasets.map((dataset) => (
                <tr key={dataset.datasetKey}>
                  <td>
                    <span className={`role-badge role-${dataset.role}`}>{isRole(dataset.role) ? tRoles(dataset.role) : dataset.role}</span>
                  </td>
                  <th scope="row" className="filename">
                    {dataset.originalName}
                  </th>
                  <td>
                    {formatSize(dataset.sizeBytes)}
                    <span className="muted exact-bytes">{formatExactBytes(dataset.sizeBytes)}</span>
                  </td>
                  <td>{tFormats.has(dataset.format) ? tFormats(dataset.format) : dataset.format}</td>
                  <td className="nowrap">
                    <code title={dataset.sha256}>{dataset.sha256.slice(0, SHA256_SHOWN_DIGITS)}…</code>{' '}
                    <CopyButton value={dataset.sha256} label={t('copySha256', { filename: dataset.originalName })} />
                  </td>
                  <td>
                    <time dateTime={dataset.uploadedAt}>{formatTime(dataset.uploadedAt)}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
