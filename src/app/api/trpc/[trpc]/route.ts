import { fetchRequestHandler } from '@trpc/server/adapters/fetch';

import { createContext } from '@/trpc/init';
import { appRouter } from '@/trpc/router';

export const dynamic = 'force-dynamic';

/** Calls in one batched request; a larger batch is refused before any of them runs. */
const MAX_BATCH_SIZE = 50;

function handler(req: Request): Promise<Response> {
  return fetchRequestHandler({
    endpoint: '/api/trpc',
    req,
    router: appRouter,
    maxBatchSize: MAX_BATCH_SIZE,
    createContext: () => createContext({ req }),
  });
}

/** Other methods get the API's JSON error shape instead of an empty 405 from Next. */
function methodNotAllowed(req: Request): Response {
  return Response.json(
    {
      error: {
        message: `Method ${req.method} is not allowed; call queries with GET and mutations with POST.`,
        code: -32005,
        data: { code: 'METHOD_NOT_SUPPORTED', httpStatus: 405, errorCode: 'INPUT_INVALID', details: { method: req.method } },
      },
    },
    { status: 405, headers: { allow: 'GET, POST' } },
  );
}

export { handler as GET, handler as POST, methodNotAllowed as PUT, methodNotAllowed as PATCH, methodNotAllowed as DELETE };
