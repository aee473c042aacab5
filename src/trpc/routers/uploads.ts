import { z } from 'zod';

import { finalizeSession } from '@/server/finalize';
import { abortSession, createSession, listParts, listSessions, refreshUrls } from '@/server/sessions';

import { publicProcedure, router } from '../init';
import { bundleId, clientPart, fileId, jobId, sha256Hex, uploadSessionId } from '../schemas';

const partNumber = z.number().int().min(1).max(10_000);

export const uploadsRouter = router({
  createSession: publicProcedure
    .input(z.object({ jobId, bundleId, fileId }).strict())
    .mutation(({ ctx, input }) =>
      createSession(ctx.runtime, ctx.principal, input, ctx.runtime.config.publicUrl ?? ctx.requestOrigin, new Date()),
    ),

  refreshUrls: publicProcedure
    .input(
      z
        .object({
          uploadSessionId,
          partNumbers: z.array(partNumber).max(10_000).optional(),
          checksums: z.array(z.object({ partNumber, sha256: sha256Hex }).strict()).max(10_000).optional(),
        })
        .strict(),
    )
    .mutation(({ ctx, input }) => refreshUrls(ctx.runtime, ctx.principal, input, ctx.runtime.config.publicUrl ?? ctx.requestOrigin, new Date())),

  listParts: publicProcedure
    .input(z.object({ uploadSessionId }).strict())
    .query(({ ctx, input }) => listParts(ctx.runtime, ctx.principal, input)),

  listSessions: publicProcedure
    .input(z.object({ jobId }).strict())
    .query(({ ctx, input }) => listSessions(ctx.runtime, ctx.principal, input, new Date())),

  finalize: publicProcedure
    .input(z.object({ uploadSessionId, parts: z.array(clientPart).max(10_000) }).strict())
    .mutation(({ ctx, input }) => finalizeSession(ctx.runtime, ctx.principal, input)),

  abort: publicProcedure
    .input(z.object({ uploadSessionId }).strict())
    .mutation(({ ctx, input }) => abortSession(ctx.runtime, ctx.principal, input)),
});
