import { z } from 'zod';

import { createJob, getJob } from '@/server/jobs';

import { publicProcedure, router } from '../init';
import { jobId } from '../schemas';

export const jobsRouter = router({
  create: publicProcedure
    .input(z.object({ title: z.string().trim().max(200).optional() }).strict().optional())
    .mutation(({ ctx, input }) =>
      createJob(ctx.runtime.db, ctx.runtime.config, ctx.runtime.paths, ctx.principal, { title: input?.title || undefined }, new Date()),
    ),

  get: publicProcedure
    .input(z.object({ jobId }).strict())
    .query(({ ctx, input }) => getJob(ctx.runtime.db, ctx.principal, input.jobId)),
});
