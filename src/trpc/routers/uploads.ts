import { z } from 'zod';

import { finalizeSession } from '@/server/finalize';
import { createSession } from '@/server/sessions';

import { publicProcedure, router } from '../init';
import { bundleId, clientPart, fileId, jobId, uploadSessionId } from '../schemas';

export const uploadsRouter = router({
  createSession: publicProcedure
    .input(z.object({ jobId, bundleId, fileId }).strict())
    .mutation(({ ctx, input }) =>
      createSession(ctx.runtime, ctx.principal, input, ctx.runtime.config.publicUrl ?? ctx.requestOrigin, new Date()),
    ),

  finalize: publicProcedure
    .input(z.object({ uploadSessionId, parts: z.array(clientPart).max(10_000) }).strict())
    .mutation(({ ctx, input }) => finalizeSession(ctx.runtime, ctx.principal, input)),
});
