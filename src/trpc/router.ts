import { publicProcedure, router } from './init';
import { bundlesRouter } from './routers/bundles';
import { inputsRouter } from './routers/inputs';
import { jobsRouter } from './routers/jobs';
import { uploadsRouter } from './routers/uploads';

export const appRouter = router({
  jobs: jobsRouter,
  bundles: bundlesRouter,
  uploads: uploadsRouter,
  inputs: inputsRouter,
  // A procedure that does no work, the baseline for measuring the cost of the others.
  system: router({
    ping: publicProcedure.query(() => ({ ok: true })),
    // The limits a client can check before it sends anything; none of them is secret.
    limits: publicProcedure.query(({ ctx }) => {
      const { config } = ctx.runtime;
      return {
        maxFileSizeBytes: config.maxFileSizeBytes,
        maxBundleFiles: config.maxBundleFiles,
        maxJobDatasets: config.maxJobDatasets,
        multipartThresholdBytes: config.multipartThresholdBytes,
        partSizeBytes: config.partSizeBytes,
      };
    }),
  }),
});

export type AppRouter = typeof appRouter;
