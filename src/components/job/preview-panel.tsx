'use client';

import { useQuery } from '@tanstack/react-query';
import { useFormatter, useTranslations } from 'next-intl';
import { useId, useState } from 'react';

import { toApiErrorInfo, useTRPC, type RouterOutputs } from '@/trpc/client';

import { useErrorText } from '../error-text';
import { isRole } from '../roles';
import { DELIMITERS, ReadOptionsForm } from './read-options';

type Manifest = RouterOutputs['inputs']['manifest'];
type Preview = RouterOutputs['inputs']['preview'];
type Cell = Preview['rows'][number][number];

/** Sample rows requested; the API accepts 1–200. */
const PREVIEW_ROWS = 20;
/** Interval between preview requests while the row count is still an estimate. */
const ESTIMATE_REFRESH_MS = 3000;

const DELIMITER_NAMES: Record<string, string> = Object.fromEntries(DELIMITERS.map((delimiter) => [delimiter.value, delimiter.name]));

/** Renders one data cell as stored, without locale formatting of numbers or dates. */
function PreviewCell({ cell }: { cell: Cell }) {
  const t = useTranslations('Preview');
  if (cell === null) {
    return (
      <td className="cell-null">
        <span className="visually-hidden">{t('nullCell')}</span>
      </td>
    );
  }
  if (typeof cell === 'object' && 'missing' in cell) {
    // A Stata value label may name a missing code (.a = "refused"); show it as labelled values are shown.
    const label = 'label' in cell && typeof cell.label === 'string' ? cell.label : undefined;
    return (
      <td className="cell-missing" title={label === undefined ? t('missingValue') : t('valueLabelTitle', { value: cell.missing, label })}>
        <span className="visually-hidden">{t('missingValue')} </span>
        {label !== undefined && <span className="cell-label">{label}</span>} <span className="cell-value">{cell.missing}</span>
      </td>
    );
  }
  if (typeof cell === 'object') {
    return (
      <td className="cell-labelled" title={t('valueLabelTitle', { value: String(cell.value), label: cell.label })}>
        <span className="cell-label">{cell.label}</span> <span className="cell-value">{String(cell.value)}</span>
      </td>
    );
  }
  return <td>{String(cell)}</td>;
}

function PreviewBody({ jobId, preview, locked }: { jobId: string; preview: Preview; locked: boolean }) {
  const t = useTranslations('Preview');
  const tTypes = useTranslations('ColumnTypes');
  const tFormats = useTranslations('Formats');
  const tWarnings = useTranslations('PreviewWarnings');
  const format = useFormatter();
  const delimiterName = preview.delimiter === undefined ? undefined : DELIMITER_NAMES[preview.delimiter];

  return (
    <>
      <dl className="facts">
        <div>
          <dt>{t('rows')}</dt>
          <dd data-testid="preview-row-count">
            {format.number(preview.rowCount)}{' '}
            <span className={preview.rowCountExact ? 'badge badge-exact' : 'badge badge-estimated'}>
              {preview.rowCountExact ? t('exact') : t('estimated')}
            </span>
          </dd>
        </div>
        <div>
          <dt>{t('columns')}</dt>
          <dd data-testid="preview-column-count">{format.number(preview.columnCount)}</dd>
        </div>
        <div>
          <dt>{t('format')}</dt>
          <dd>
            {tFormats.has(preview.format) ? tFormats(preview.format) : preview.format}
            {preview.formatVersion !== undefined && ` (${t('formatVersion', { version: preview.formatVersion })})`}
          </dd>
        </div>
        {preview.encoding !== undefined && (
          <div>
            <dt>{t('encoding')}</dt>
            <dd>{preview.encoding}</dd>
          </div>
        )}
        {preview.delimiter !== undefined && (
          <div>
            <dt>{t('delimiter')}</dt>
            <dd>
              <code>{preview.delimiter === '\t' ? '\\t' : preview.delimiter}</code>{' '}
              {delimiterName !== undefined && t(`delimiterNames.${delimiterName}`)}
            </dd>
          </div>
        )}
        <div>
          <dt>{t('headerRow')}</dt>
          <dd data-testid="preview-header-row">{preview.headerRow === null ? t('noHeaderRow') : t('headerRowNumber', { row: preview.headerRow })}</dd>
        </div>
        {preview.selectedSheet !== undefined && (
          <div>
            <dt>{t('sheet')}</dt>
            <dd data-testid="preview-sheet">{preview.selectedSheet}</dd>
          </div>
        )}
        {preview.datasetLabel !== undefined && (
          <div>
            <dt>{t('datasetLabel')}</dt>
            <dd>{preview.datasetLabel}</dd>
          </div>
        )}
      </dl>
      {/* Keyed by dataset and current choices, so the form starts from what the reader returned. */}
      <ReadOptionsForm key={`${preview.datasetKey}:${preview.selectedSheet ?? ''}:${preview.headerRow ?? 'none'}`} jobId={jobId} preview={preview} locked={locked} />

      {preview.warnings.length > 0 && (
        <ul className="warnings" aria-label={t('warnings')}>
          {/* A known code shows its translated text, with the server's English details beneath it. */}
          {preview.warnings.map((warning, index) => (
            <li key={index}>
              {tWarnings.has(warning.code) ? (
                <>
                  {tWarnings(warning.code)} <span className="muted" lang="en">{warning.message}</span>
                </>
              ) : (
                <>
                  <code>{warning.code}</code> {warning.message}
                </>
              )}
            </li>
          ))}
        </ul>
      )}

      <p className="muted">
        {t('shown', {
          rows: preview.rows.length,
          rowCount: preview.rowCount,
          columns: preview.columns.length,
          columnCount: preview.columnCount,
        })}
      </p>
      {/* Focusable, so that keyboard users can scroll a wide table. */}
      <div className="table-scroll preview-scroll" tabIndex={0} role="region" aria-label={t('caption')}>
        <table className="preview-table">
          <caption className="visually-hidden">{t('caption')}</caption>
          <thead>
            <tr>
              {preview.columns.map((column, index) => (
                <th key={index} scope="col">
                  <span className="column-name">{column.name}</span>
                  <span className="column-type">
                    {tTypes.has(column.type) ? tTypes(column.type) : column.type}
                    {column.format !== undefined && <code className="column-format">{column.format}</code>}
                  </span>
                  {column.label !== undefined && <span className="column-label">{column.label}</span>}
                  {column.valueLabels !== undefined && Object.keys(column.valueLabels).length > 0 && (
                    <span className="column-value-labels" title={Object.entries(column.valueLabels).map(([value, label]) => `${value} = ${label}`).join('\n')}>
                      {t('valueLabelCount', { count: Object.keys(column.valueLabels).length })}
                    </span>
                  )}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {preview.rows.map((row, rowIndex) => (
              <tr key={rowIndex}>
                {row.map((cell, columnIndex) => (
                  <PreviewCell key={columnIndex} cell={cell} />
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

/** Shows the preview of one dataset, the primary by default, with a selector for the others. */
export function PreviewPanel({ jobId, manifest, locked }: { jobId: string; manifest: Manifest; locked: boolean }) {
  const t = useTranslations('Preview');
  const tRoles = useTranslations('Roles');
  const errorText = useErrorText();
  const trpc = useTRPC();
  const selectId = useId();

  // null selects the primary, including a new primary that replaces the current one.
  const [chosenKey, setChosenKey] = useState<string | null>(null);
  const primaryKey = manifest.datasets.find((dataset) => dataset.role === 'primary_dataset')?.datasetKey;
  const chosenExists = manifest.datasets.some((dataset) => dataset.datasetKey === chosenKey);
  const datasetKey = (chosenExists ? chosenKey : null) ?? primaryKey;

  const preview = useQuery({
    ...trpc.inputs.preview.queryOptions({ jobId, datasetKey, rows: PREVIEW_ROWS }),
    enabled: datasetKey !== undefined,
    refetchInterval: (query) => (query.state.data?.rowCountExact === false ? ESTIMATE_REFRESH_MS : false),
  });

  return (
    <section className="panel" aria-labelledby="preview-heading">
      <h2 id="preview-heading">{t('heading')}</h2>

      {manifest.datasets.length > 0 && (
        <div className="field-row">
          <label htmlFor={selectId}>{t('dataset')}</label>
          <select id={selectId} value={datasetKey ?? ''} onChange={(event) => setChosenKey(event.target.value)}>
            {datasetKey === undefined && <option value="">{t('chooseDataset')}</option>}
            {manifest.datasets.map((dataset) => (
              <option key={dataset.datasetKey} value={dataset.datasetKey}>
                {dataset.originalName} ({isRole(dataset.role) ? tRoles(dataset.role) : dataset.role})
              </option>
            ))}
          </select>
        </div>
      )}

      {datasetKey === undefined ? (
        <p className="muted">{manifest.datasets.length === 0 ? t('noDatasets') : t('noPrimary')}</p>
      ) : preview.isPending ? (
        <p className="muted" role="status">
          {t('loading')}
        </p>
      ) : preview.isError ? (
        <p className="notice" role="status">
          {errorText(toApiErrorInfo(preview.error))}
        </p>
      ) : (
        <PreviewBody jobId={jobId} preview={preview.data} locked={locked} />
      )}
    </section>
  );
}
