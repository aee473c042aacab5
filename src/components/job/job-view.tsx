'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useTranslations } from 'next-intl';

import { toApiErrorInfo, TRPCReactProvider, useTRPC } from '@/trpc/client';

import { CopyButton } from '../copy-button';
import { useErrorText } from '../error-text';
import { forgetJob, useStoredJob, type StoredJob } from '../job-tokens';
import { ManifestPanel } from './manifest-panel';
import { PreviewPanel } from './preview-panel';
import { TokenForm } from './token-form';
import { Uploader } from './uploader';

/** Errors after which the stored token is useless for this job, so the page offers to replace it. */
const TOKEN_ERROR_CODES = new Set(['AUTH_INVALID', 'AUTH_EXPIRED', 'AUTH_REQUIRED', 'JOB_NOT_FOUND', 'FORBIDDEN']);

function JobWorkspace({ job }: { job: StoredJob }) {
  const t = useTranslations('Job');
  const errorText = useErrorText();
  const trpc = useTRPC();
  const router = useRouter();

  const details = useQuery(trpc.jobs.get.queryOptions({ jobId: job.jobId }));
  const manifest = useQuery(trpc.inputs.manifest.queryOptions({ jobId: job.jobId }));

  const forget = (): void => {
    forgetJob(job.jobId);
    router.push('/');
  };

  if (details.isError) {
    const error = toApiErrorInfo(details.error);
    return (
      <section className="panel">
        <p className="error" role="alert">
          {errorText(error)}
        </p>
        {TOKEN_ERROR_CODES.has(error.code) && (
          <>
            <p>{t('replaceToken')}</p>
            <TokenForm jobId={job.jobId} />
            <button type="button" className="button" onClick={forget}>
              {t('forget')}
            </button>
          </>
        )}
      </section>
    );
  }

  const title = details.data?.title ?? job.title;
  const locked = details.data?.status === 'locked';
  const hasPrimary = manifest.data?.datasets.some((dataset) => dataset.role === 'primary_dataset') ?? false;

  return (
    <>
      <section className="job-header">
        <h1>{title ?? t('untitled')}</h1>
        <dl className="facts">
          <div>
            <dt>{t('jobId')}</dt>
            <dd>
              <code>{job.jobId}</code>
            </dd>
          </div>
          {details.data && (
            <div>
              <dt>{t('status')}</dt>
              <dd>{t(`statuses.${details.data.status}`)}</dd>
            </div>
          )}
          <div>
            <dt>{t('token')}</dt>
            <dd>
              <CopyButton value={job.token} label={t('copyToken')} />
            </dd>
          </div>
        </dl>
        <button type="button" className="button-link" onClick={forget}>
          {t('forget')}
        </button>
      </section>

      {locked ? (
        <p className="notice">{t('locked')}</p>
      ) : (
        manifest.data !== undefined && <Uploader jobId={job.jobId} hasPrimary={hasPrimary} />
      )}

      {manifest.isError ? (
        <p className="error" role="alert">
          {errorText(toApiErrorInfo(manifest.error))}
        </p>
      ) : manifest.isPending ? (
        <p className="muted" role="status">
          {t('loading')}
        </p>
      ) : (
        <>
          <ManifestPanel manifest={manifest.data} />
          <PreviewPanel jobId={job.jobId} manifest={manifest.data} />
        </>
      )}
    </>
  );
}

/** Reads the job token from this browser and shows the uploader, manifest and preview of the job. */
export function JobView({ jobId }: { jobId: string }) {
  const t = useTranslations('Job');
  const job = useStoredJob(jobId);

  if (job === undefined) {
    return (
      <p className="muted" role="status">
        {t('loading')}
      </p>
    );
  }

  if (job === null) {
    return (
      <section className="panel">
        <h1>{t('noTokenHeading')}</h1>
        <p>{t('noToken', { jobId })}</p>
        <TokenForm jobId={jobId} />
        <p>
          <Link href="/">{t('backHome')}</Link>
        </p>
      </section>
    );
  }

  return (
    <TRPCReactProvider token={job.token}>
      {/* Keyed by token: a pasted replacement token remounts the workspace and asks again. */}
      <JobWorkspace key={job.token} job={job} />
    </TRPCReactProvider>
  );
}
