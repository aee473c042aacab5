import { z } from 'zod';

import { requireJob } from '@/server/auth';
import { downloadUrl, removeDataset, setReadOptions, setRole } from '@/server/datasets';
import { buildManifest } from '@/server/manifest';
import { previewDataset } from '@/server/preview';

import { publicProcedure, router } from '../init';
import { datasetKey, jobId } from '../schemas';

const sheetName = z.string().min(1).max(255);
const headerRow = z.number().int().min(1).max(1_048_576).nullable();
const encoding = z.string().min(1).max(40);
const delimiter = z.enum([',', ';', '\t', '|']);

export const inputsRouter = router({
  manifest: publicProcedure.input(z.object({ jobId }).strict()).query(({ ctx, input }) => {
    const job = requireJob(ctx.runtime.db, ctx.principal, input.jobId);
    return buildManifest(ctx.runtime.db, job.id);
  }),

  preview: publicProcedure
    .input(
      z
        .object({
          jobId,
          datasetKey: datasetKey.optional(),
          rows: z.number().int().min(1).max(200).default(20),
          columns: z.number().int().min(1).max(200).default(50),
          sheetName: sheetName.optional(),
          headerRow: headerRow.optional(),
          encoding: encoding.optional(),
          delimiter: delimiter.optional(),
          waitForCount: z.boolean().default(true),
        })
        .strict(),
    )
    .query(({ ctx, input }) => previewDataset(ctx.runtime, ctx.principal, input)),

  setReadOptions: publicProcedure
    .input(
      z
        .object({
          jobId,
          datasetKey,
          sheetName: sheetName.optional(),
          headerRow: headerRow.optional(),
          encoding: encoding.optional(),
          delimiter: delimiter.optional(),
        })
        .strict(),
    )
    .mutation(({ ctx, input }) => setReadOptions(ctx.runtime, ctx.principal, input)),

  setRole: publicProcedure
    .input(z.object({ jobId, datasetKey, role: z.string().max(64) }).strict())
    .mutation(({ ctx, input }) => setRole(ctx.runtime, ctx.principal, input, new Date())),

  removeDataset: publicProcedure
    .input(z.object({ jobId, datasetKey }).strict())
    .mutation(({ ctx, input }) => removeDataset(ctx.runtime, ctx.principal, input, new Date())),

  downloadUrl: publicProcedure
    .input(z.object({ jobId, datasetKey: datasetKey.optional() }).strict())
    .query(({ ctx, input }) => downloadUrl(ctx.runtime, ctx.principal, input, ctx.runtime.config.publicUrl ?? ctx.requestOrigin, new Date())),
});
