import { z } from 'zod';

import { requireJob } from '@/server/auth';
import { buildManifest } from '@/server/manifest';
import { previewDataset } from '@/server/preview';

import { publicProcedure, router } from '../init';
import { datasetKey, jobId } from '../schemas';

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
          sheetName: z.string().min(1).max(255).optional(),
          headerRow: z.number().int().min(1).max(1_048_576).nullable().optional(),
          encoding: z.string().min(1).max(40).optional(),
          delimiter: z.enum([',', ';', '\t', '|']).optional(),
          waitForCount: z.boolean().default(true),
        })
        .strict(),
    )
    .query(({ ctx, input }) => previewDataset(ctx.runtime, ctx.principal, input)),
});
