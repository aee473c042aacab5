'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslations } from 'next-intl';
import { useId, useState, type FormEvent } from 'react';

import { toApiErrorInfo, useTRPC, type ApiErrorInfo, type RouterInputs, type RouterOutputs } from '@/trpc/client';

import { useErrorText } from '../error-text';

type Preview = RouterOutputs['inputs']['preview'];
type ReadOptionsInput = RouterInputs['inputs']['setReadOptions'];

/** Encodings offered for CSV files: Unicode, the Chinese, Japanese and Korean legacy sets, and Western European. */
const ENCODINGS = ['utf-8', 'utf-16le', 'utf-16be', 'gb18030', 'gbk', 'big5', 'shift_jis', 'euc-kr', 'windows-1252', 'iso-8859-1'];
export const DELIMITERS = [
  { value: ',', name: 'comma' },
  { value: ';', name: 'semicolon' },
  { value: '\t', name: 'tab' },
  { value: '|', name: 'pipe' },
] as const;

/**
 * The reader's choices for one dataset, each changeable: the sheet and header row of a workbook, the
 * encoding, delimiter and header row of a CSV file. A change is saved with inputs.setReadOptions,
 * so every later preview (also after a reload) uses it.
 */
export function ReadOptionsForm({ jobId, preview, locked }: { jobId: string; preview: Preview; locked: boolean }) {
  const t = useTranslations('Preview');
  const errorText = useErrorText();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const ids = { sheet: useId(), encoding: useId(), delimiter: useId(), header: useId(), noHeader: useId() };
  const [error, setError] = useState<ApiErrorInfo | null>(null);
  const [headerDraft, setHeaderDraft] = useState(String(preview.headerRow ?? preview.suggestedHeaderRow ?? 1));

  const save = useMutation(
    trpc.inputs.setReadOptions.mutationOptions({
      onSuccess: async () => {
        setError(null);
        await Promise.all([
          queryClient.invalidateQueries(trpc.inputs.preview.pathFilter()),
          queryClient.invalidateQueries(trpc.inputs.manifest.pathFilter()),
        ]);
      },
      onError: (caught) => setError(toApiErrorInfo(caught)),
    }),
  );
  const apply = (options: Omit<ReadOptionsInput, 'jobId' | 'datasetKey'>): void => save.mutate({ jobId, datasetKey: preview.datasetKey, ...options });

  const isCsv = preview.format === 'csv';
  const isExcel = preview.format === 'excel';
  if (!isCsv && !isExcel) return null;
  const disabled = locked || save.isPending;

  // NOTE: the sheet picker follows the preview contract (sheets with their state, selectedSheet) but
  // has not run against a server yet, because the server has no Excel reader so far.
  const sheets = preview.sheets ?? (preview.sheetNames ?? []).map((name) => ({ name, state: 'visible' as const }));
  const encodings = preview.encoding !== undefined && !ENCODINGS.includes(preview.encoding.toLowerCase()) ? [preview.encoding, ...ENCODINGS] : ENCODINGS;

  const submitHeaderRow = (event: FormEvent<HTMLFormElement>): void => {
    event.preventDefault();
    const row = Number.parseInt(headerDraft, 10);
    if (Number.isInteger(row) && row >= 1) apply({ headerRow: row });
  };

  return (
    <div className="read-options" aria-busy={save.isPending}>
      <h3>{t('readOptions')}</h3>
      <div className="read-options-grid">
        {isExcel && sheets.length > 0 && (
          <div className="field-row">
            <label htmlFor={ids.sheet}>{t('sheet')}</label>
            <select id={ids.sheet} value={preview.selectedSheet ?? ''} disabled={disabled} onChange={(event) => apply({ sheetName: event.target.value })}>
              {sheets.map((sheet) => (
                <option key={sheet.name} value={sheet.name}>
                  {sheet.state === 'visible' ? sheet.name : t('sheetHidden', { name: sheet.name, state: sheet.state })}
                </option>
              ))}
            </select>
          </div>
        )}
        {isCsv && (
          <>
            <div className="field-row">
              <label htmlFor={ids.encoding}>{t('encoding')}</label>
              <select id={ids.encoding} value={preview.encoding?.toLowerCase() ?? 'utf-8'} disabled={disabled} onChange={(event) => apply({ encoding: event.target.value })}>
                {encodings.map((encoding) => (
                  <option key={encoding} value={encoding.toLowerCase()}>
                    {encoding}
                  </option>
                ))}
              </select>
            </div>
            <div className="field-row">
              <label htmlFor={ids.delimiter}>{t('delimiter')}</label>
              <select
                id={ids.delimiter}
                value={preview.delimiter ?? ','}
                disabled={disabled}
                onChange={(event) => apply({ delimiter: event.target.value as ReadOptionsInput['delimiter'] })}
              >
                {DELIMITERS.map((delimiter) => (
                  <option key={delimiter.name} value={delimiter.value}>
                    {t(`delimiterNames.${delimiter.name}`)}
                  </option>
                ))}
              </select>
            </div>
          </>
        )}
        <form className="field-row" onSubmit={submitHeaderRow}>
          <label htmlFor={ids.header}>{t('headerRow')}</label>
          <input
            id={ids.header}
            type="number"
            min={1}
            className="narrow"
            value={headerDraft}
            disabled={disabled || preview.headerRow === null}
            onChange={(event) => setHeaderDraft(event.target.value)}
          />
          <button type="submit" className="button" disabled={disabled || preview.headerRow === null}>
            {t('applyHeaderRow')}
          </button>
          <label className="checkbox">
            <input
              id={ids.noHeader}
              type="checkbox"
              checked={preview.headerRow === null}
              disabled={disabled}
              onChange={(event) => apply({ headerRow: event.target.checked ? null : Number.parseInt(headerDraft, 10) || (preview.suggestedHeaderRow ?? 1) })}
            />
            {t('noHeaderRowOption')}
          </label>
          {preview.suggestedHeaderRow !== null && preview.suggestedHeaderRow !== preview.headerRow && (
            <button
              type="button"
              className="button-link"
              disabled={disabled}
              onClick={() => {
                setHeaderDraft(String(preview.suggestedHeaderRow));
                apply({ headerRow: preview.suggestedHeaderRow });
              }}
            >
              {t('useSuggestedHeaderRow', { row: preview.suggestedHeaderRow })}
            </button>
          )}
        </form>
      </div>
      {save.isPending && (
        <p className="muted" role="status">
          {t('saving')}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {errorText(error)}
        </p>
      )}
    </div>
  );
}
