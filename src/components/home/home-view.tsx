'use client';

import { TRPCReactProvider } from '@/trpc/client';

import { CreateJobForm } from './create-job-form';
import { JobList } from './job-list';

export function HomeView() {
  return (
    <TRPCReactProvider>
      <CreateJobForm />
      <JobList />
    </TRPCReactProvider>
  );
}
