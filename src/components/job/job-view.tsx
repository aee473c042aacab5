'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useTranslations } from 'next-intl';
import { useEffect, useState } from 'react';

import { toApiErrorInfo, TRPCReactProvider, useTRPC, type ApiErrorInfo } from '@/trpc/client';

import { CopyButton } from '../copy-button';
import { useErrorText } from '../error-text';
import { forgetJob, saveJob, useStoredJob, type StoredJob } from '../job-tokens';
import { ManifestPanel } from './manifest-panel';
import { PreviewPanel } from './preview-panel';
import { TokenForm } from './token-form';
import { useUploadManager } from './upload/use-upload-manager';
import { Uploader } from './uploader';

/** Errors after which the stored token is useless for this job, so the page offers to replace it. */
const TOKEN_ERROR_CODES = new Set(['AUTH_INVALID', 'AUTH_EXPIRED', 'AUTH_REQUIRED', 'JOB_NOT_FOUND', 'FORBIDDEN']);

/** The fragment that carries a job token in a shared link: `#token=<job token>`. */
const TOKEN_FRAGMENT = /^#token=([^&]+)$/;

/**
 * Builds a link that opens the job with its token. The token goes in the fragment, which the
 * browser never sends to a server, so it stays out of server logs and Referer headers.
 */
export function accessLink(jobId: string, token: string): string {
  return `${window.location.origin}/jobs/${encodeURIComponent(jobId)}#token=${encodeURIComponent(token)}`;
}

function JobWorkspace({ job }: { job: StoredJob }) {
  const t = useTranslations('Job');
  const errorText = useErrorText();
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [lockError, setLockError] = useState<ApiErrorInfo | null>(null);

  const details = useQuery(trpc.jobs.get.queryOptions({ jobId: job.jobId }));
  const manifest = useQuery(trpc.inputs.manifest.queryOptions({ jobId: job.jobId }));
  const { manager, snapshot } = useUploadManager(job.jobId);

  const refreshJob = async (): Promise<void> => {
    await Promise.all([
      queryClient.invalidateQueries(trpc.jobs.pathFilter()),
      queryClient.invalidateQueries(trpc.inputs.pathFilter()),
      queryClient.invalidateQueries(trpc.uploads.pathFilter()),
    ]);
  };
  const lock = useMutation(trpc.jobs.lock.mutationOptions({ onSuccess: refreshJob, onError: (error) => setLockError(toApiErrorInfo(error)) }));
  const unlock = useMutation(trpc.jobs.unlock.mutationOptions({ onSuccess: refreshJob, onError: (error) => setLockError(toApiErrorInfo(error)) }));

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
              <dd data-testid="job-status">{t(`statuses.${details.data.status}`)}</dd>
            </div>
          )}
          <div>
            <dt>{t('token')}</dt>
            <dd>
              <CopyButton value={job.token} label={t('copyToken')} />
            </dd>
          </div>
          <div>
            <dt>{t('accessLink')}</dt>
            <dd>
              <CopyButton value={typeof window === 'undefined' ? '' : accessLink(job.jobId, job.token)} label={t('copyAccessLink')} />
            </dd>
          </div>
        </dl>
        <p className="hint">{t('accessLinkHint')}</p>
        <div className="actions">
          {details.data &&
            (locked ? (
              <button type="button" className="button" disabled={unlock.isPending} onClick={() => unlock.mutate({ jobId: job.jobId })}>
                {t('unlock')}
              </button>
            ) : (
              <button type="button" className="button" disabled={lock.isPending} onClick={() => lock.mutate({ jobId: job.jobId })}>
                {t('lock')}
              </button>
            ))}
          <button type="button" className="button-link" onClick={forget}>
            {t('forget')}
          </button>
        </div>
        {lockError && (
          <p className="error" role="alert">
            {errorText(lockError)}
          </p>
        )}
      </section>

      {locked ? (
        <p className="notice">{t('locked')}</p>
      ) : (
        manifest.data !== undefined && (
          <Uploader jobId={job.jobId} jobHasPrimary={hasPrimary} manager={manager} snapshot={snapshot} />
        )
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
          <ManifestPanel jobId={job.jobId} manifest={manifest.data} locked={locked} manager={manager} />
          <PreviewPanel jobId={job.jobId} manifest={manifest.data} locked={locked} />
        </>
      )}
    </>
  );
}

/**
 * Takes a job token from the URL fragment (`#token=…`, from a shared access link), stores it, and
 * removes the fragment from the address bar and history.
 */
function useTokenFromFragment(jobId: string): void {
  useEffect(() => {
    const match = TOKEN_FRAGMENT.exec(window.location.hash);
    if (!match?.[1]) return;
    let token: string;
    try {
      token = decodeURIComponent(match[1]);
    } catch {
      return;
    }
    saveJob({ jobId, token, title: null, createdAt: null, tokenExpiresAt: null });
    window.history.replaceState(window.history.state, '', `${window.location.pathname}${window.location.search}`);
  }, [jobId]);
}

/** Reads the job token from this browser and shows the uploader, manifest and preview of the job. */
export function JobView({ jobId }: { jobId: string }) {
  const t = useTranslations('Job');
  useTokenFromFragment(jobId);
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
