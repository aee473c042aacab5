'use client';

import { useMutation } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useTranslations } from 'next-intl';
import { useId, useState, type FormEvent } from 'react';

import { toApiErrorInfo, useTRPC } from '@/trpc/client';

import { useErrorText } from '../error-text';
import { saveJob } from '../job-tokens';

/** Creates a job, keeps its token in this browser and opens the job page. */
export function CreateJobForm() {
  const t = useTranslations('Home');
  const errorText = useErrorText();
  const trpc = useTRPC();
  const router = useRouter();
  const titleId = useId();
  const [title, setTitle] = useState('');

  const createJob = useMutation(
    trpc.jobs.create.mutationOptions({
      onSuccess: (job, input) => {
        saveJob({
          jobId: job.jobId,
          token: job.token,
          title: input?.title ?? null,
          createdAt: job.createdAt,
          tokenExpiresAt: job.tokenExpiresAt,
        });
        router.push(`/jobs/${job.jobId}`);
      },
    }),
  );

  const submit = (event: FormEvent<HTMLFormElement>): void => {
    event.preventDefault();
    const trimmed = title.trim();
    createJob.mutate(trimmed === '' ? {} : { title: trimmed });
  };

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="create-heading">
      <h2 id="create-heading">{t('createHeading')}</h2>
      <div className="field-row">
        <label htmlFor={titleId}>{t('titleLabel')}</label>
        <input id={titleId} type="text" value={title} maxLength={200} onChange={(event) => setTitle(event.target.value)} />
      </div>
      <p className="hint">{t('titleHint')}</p>
      <button type="submit" className="button button-primary" disabled={createJob.isPending || createJob.isSuccess}>
        {createJob.isPending || createJob.isSuccess ? t('creating') : t('createButton')}
      </button>
      {createJob.isError && (
        <p className="error" role="alert">
          {errorText(toApiErrorInfo(createJob.error))}
        </p>
      )}
    </form>
  );
}
