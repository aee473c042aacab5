import { z } from 'zod';

import { declareBundle, getBundles } from '@/server/bundles';

import { publicProcedure, router } from '../init';
import { declaredFile, jobId } from '../schemas';

export const bundlesRouter = router({
  declare: publicProcedure
    .input(z.object({ jobId, files: z.array(declaredFile).min(1, 'must declare at least one file').max(10_000) }).strict())
    .mutation(({ ctx, input }) => declareBundle(ctx.runtime.db, ctx.runtime.config, ctx.principal, input, new Date())),

  get: publicProcedure
    .input(z.object({ jobId }).strict())
    .query(({ ctx, input }) => getBundles(ctx.runtime.db, ctx.principal, input.jobId)),
});
