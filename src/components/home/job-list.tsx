'use client';

import Link from 'next/link';
import { useTranslations } from 'next-intl';

import { useFormatTime } from '../format';
import { forgetJob, useStoredJobs } from '../job-tokens';

/** Lists the jobs whose tokens this browser stores. Open mode has no job list on the server. */
export function JobList() {
  const t = useTranslations('Home');
  const formatTime = useFormatTime();
  const jobs = useStoredJobs();

  return (
    <section className="panel" aria-labelledby="jobs-heading">
      <h2 id="jobs-heading">{t('jobsHeading')}</h2>
      {jobs === undefined ? null : jobs.length === 0 ? (
        <p className="muted">{t('noJobs')}</p>
      ) : (
        <ul className="job-list">
          {jobs.map((job) => (
            <li key={job.jobId}>
              <Link href={`/jobs/${job.jobId}`}>{job.title ?? t('untitled')}</Link>
              <code className="muted">{job.jobId}</code>
              {job.createdAt !== null && <span className="muted">{t('createdAt', { time: formatTime(job.createdAt) })}</span>}
              <button
                type="button"
                className="button-link"
                onClick={() => forgetJob(job.jobId)}
                aria-label={t('forgetJob', { job: job.title ?? job.jobId })}
              >
                {t('forget')}
              </button>
            </li>
          ))}
        </ul>
      )}
      <p className="hint">{t('tokensHint')}</p>
    </section>
  );
}
