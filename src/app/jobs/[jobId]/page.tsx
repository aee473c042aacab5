import type { Metadata } from 'next';
import { getTranslations } from 'next-intl/server';

import { JobView } from '@/components/job/job-view';

export async function generateMetadata({ params }: { params: Promise<{ jobId: string }> }): Promise<Metadata> {
  const { jobId } = await params;
  const t = await getTranslations('Job');
  return { title: t('pageTitle', { jobId }) };
}

/** Renders the job page. The token is read in the browser, so the server renders only the frame. */
export default async function JobPage({ params }: { params: Promise<{ jobId: string }> }) {
  const { jobId } = await params;
  return <JobView jobId={jobId} />;
}
