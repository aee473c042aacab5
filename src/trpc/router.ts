import { router } from './init';
import { bundlesRouter } from './routers/bundles';
import { inputsRouter } from './routers/inputs';
import { jobsRouter } from './routers/jobs';
import { uploadsRouter } from './routers/uploads';

export const appRouter = router({
  jobs: jobsRouter,
  bundles: bundlesRouter,
  uploads: uploadsRouter,
  inputs: inputsRouter,
});

export type AppRouter = typeof appRouter;
