import { z } from 'zod';

import { createJob, deleteJob, getJob, listJobs, lockJob, unlockJob } from '@/server/jobs';

import { publicProcedure, router } from '../init';
import { jobId } from '../schemas';

const jobInput = z.object({ jobId }).strict();

export const jobsRouter = router({
  create: publicProcedure
    .input(z.object({ title: z.string().trim().max(200).optional() }).strict().optional())
    .mutation(({ ctx, input }) =>
      createJob(ctx.runtime.db, ctx.runtime.config, ctx.runtime.store, ctx.principal, { title: input?.title || undefined }, new Date()),
    ),

  get: publicProcedure.input(jobInput).query(({ ctx, input }) => getJob(ctx.runtime.db, ctx.principal, input.jobId)),

  list: publicProcedure.input(z.object({}).strict().optional()).query(({ ctx }) => listJobs(ctx.runtime.db, ctx.principal)),

  lock: publicProcedure.input(jobInput).mutation(({ ctx, input }) => lockJob(ctx.runtime, ctx.principal, input, new Date())),

  unlock: publicProcedure.input(jobInput).mutation(({ ctx, input }) => unlockJob(ctx.runtime, ctx.principal, input, new Date())),

  delete: publicProcedure.input(jobInput).mutation(({ ctx, input }) => deleteJob(ctx.runtime, ctx.principal, input)),
});
