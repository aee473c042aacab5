'use client';

import { useTranslations } from 'next-intl';
import { useId, useState, type FormEvent } from 'react';

import { saveJob } from '../job-tokens';

/** Stores a pasted job token for `jobId`, for a job created in another browser or by a script. */
export function TokenForm({ jobId }: { jobId: string }) {
  const t = useTranslations('Job');
  const inputId = useId();
  const [token, setToken] = useState('');

  const submit = (event: FormEvent<HTMLFormElement>): void => {
    event.preventDefault();
    const trimmed = token.trim();
    if (trimmed === '') return;
    saveJob({ jobId, token: trimmed, title: null, createdAt: null, tokenExpiresAt: null });
  };

  return (
    <form className="token-form" onSubmit={submit}>
      <div className="field-row">
        <label htmlFor={inputId}>{t('tokenLabel')}</label>
        <input
          id={inputId}
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={(event) => setToken(event.target.value)}
        />
      </div>
      <button type="submit" className="button button-primary" disabled={token.trim() === ''}>
        {t('saveToken')}
      </button>
    </form>
  );
}
