'use client';

import { useTranslations } from 'next-intl';
import { useRef, useState } from 'react';

import type { ApiErrorInfo } from '@/trpc/client';

import { useErrorText } from '../../error-text';
import { useFormatSize, useFormatTime } from '../../format';
import { isRole } from '../../roles';
import type { UploadManager } from './manager';
import type { ResumableSession } from './resume';

/**
 * Lists uploads that a closed or reloaded page left unfinished. Choosing the same file again (same
 * name, size, modification time and first and last MiB) sends only the parts the server lacks.
 */
export function UnfinishedUploads({ sessions, manager, onChanged }: { sessions: ResumableSession[]; manager: UploadManager; onChanged: () => void }) {
  const t = useTranslations('Uploader');
  const tRoles = useTranslations('Roles');
  const errorText = useErrorText();
  const formatSize = useFormatSize();
  const formatTime = useFormatTime();
  const inputRef = useRef<HTMLInputElement>(null);
  const [target, setTarget] = useState<ResumableSession | null>(null);
  const [problems, setProblems] = useState<Record<string, { reasons: string[]; filename: string } | ApiErrorInfo>>({});

  if (sessions.length === 0) return null;

  const choose = (session: ResumableSession): void => {
    setTarget(session);
    inputRef.current?.click();
  };

  const onPicked = async (files: FileList | null): Promise<void> => {
    const file = files?.[0];
    if (inputRef.current) inputRef.current.value = '';
    if (!file || target === null) return;
    const reasons = await manager.resumeWith(target, file);
    setProblems((previous) => ({ ...previous, [target.uploadSessionId]: { reasons, filename: file.name } }));
    if (reasons.length === 0) onChanged();
  };

  const discard = async (session: ResumableSession): Promise<void> => {
    const error = await manager.discardSession(session.uploadSessionId);
    if (error !== null) setProblems((previous) => ({ ...previous, [session.uploadSessionId]: error }));
    onChanged();
  };

  return (
    <section className="unfinished" aria-labelledby="unfinished-heading">
      <h3 id="unfinished-heading">{t('unfinishedHeading')}</h3>
      <p className="hint">{t('unfinishedHint')}</p>
      <input ref={inputRef} type="file" hidden aria-hidden="true" tabIndex={-1} onChange={(event) => void onPicked(event.target.files)} />
      <ul className="upload-list">
        {sessions.map((session) => {
          const problem = problems[session.uploadSessionId];
          const storedBytes = Math.min(session.sizeBytes, session.storedPartCount * session.partSize);
          return (
            <li key={session.uploadSessionId} className="upload-item" data-testid="unfinished-upload">
              <div className="upload-item-head">
                <span className="filename">{session.file.filename}</span>
                <span className="muted">{formatSize(session.sizeBytes)}</span>
                <span className="muted">{isRole(session.file.role) ? tRoles(session.file.role) : session.file.role}</span>
              </div>
              <p className="muted">
                {t('unfinishedProgress', {
                  stored: formatSize(storedBytes),
                  parts: session.storedPartCount,
                  partCount: session.partCount,
                  expiresAt: formatTime(session.sessionExpiresAt),
                })}
              </p>
              <div className="upload-item-controls">
                <button type="button" className="button" onClick={() => choose(session)} aria-label={t('resumeChooseFile', { filename: session.file.filename })}>
                  {t('resumeChoose')}
                </button>
                <button type="button" className="button-link" onClick={() => void discard(session)} aria-label={t('discardFile', { filename: session.file.filename })}>
                  {t('discard')}
                </button>
              </div>
              {problem !== undefined && 'reasons' in problem && problem.reasons.length > 0 && (
                <p className="error" role="alert">
                  {t('resumeMismatch', {
                    filename: problem.filename,
                    expected: session.file.filename,
                    differences: problem.reasons.map((reason) => t(`mismatch.${reason}`)).join(t('listSeparator')),
                  })}
                </p>
              )}
              {problem !== undefined && 'code' in problem && (
                <p className="error" role="alert">
                  {errorText(problem)}
                </p>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
