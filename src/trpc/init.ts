import { initTRPC, TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import { ZodError } from 'zod';

import { authenticate, type Principal } from '@/server/auth';
import { type ErrorCode, InletError, isErrorCode } from '@/server/errors';
import { getRuntime, type Runtime } from '@/server/runtime';

export interface Context {
  runtime: Runtime;
  headers: Headers;
  /** Origin of the request, the base of signed URLs unless INLET_PUBLIC_URL is set. */
  requestOrigin: string;
}

const HOST_PATTERN = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * Returns the origin the client used, from its Host header. Next rebuilds `req.url` from its own
 * configured hostname, which can differ from the address the client reached (127.0.0.1 vs localhost).
 * Behind a TLS proxy, set INLET_PUBLIC_URL instead.
 */
function requestOrigin(req: Request): string {
  const host = req.headers.get('host');
  return host !== null && HOST_PATTERN.test(host) ? `http://${host}` : new URL(req.url).origin;
}

export function createContext({ req }: { req: Request }): Context {
  return { runtime: getRuntime(), headers: req.headers, requestOrigin: requestOrigin(req) };
}

const TRPC_CODE_BY_STATUS: Record<number, TRPC_ERROR_CODE_KEY> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  422: 'UNPROCESSABLE_CONTENT',
  500: 'INTERNAL_SERVER_ERROR',
  502: 'BAD_GATEWAY',
};

interface ErrorData {
  errorCode: ErrorCode;
  details: Record<string, unknown>;
}

/** Maps any error that reaches the formatter to a code of the closed table and its details. */
function describeError(error: TRPCError): ErrorData & { message: string } {
  const cause = error.cause;
  if (cause instanceof InletError) {
    return { errorCode: cause.code, details: cause.details, message: cause.message };
  }
  if (cause instanceof ZodError) {
    const issues = cause.issues.slice(0, 20).map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
    const first = issues[0];
    const message = first ? `Invalid input at ${first.path || '(root)'}: ${first.message}` : 'Invalid input.';
    return { errorCode: 'INPUT_INVALID', details: { issues }, message };
  }
  if (error.code === 'PARSE_ERROR' || error.code === 'BAD_REQUEST') {
    return { errorCode: 'INPUT_INVALID', details: {}, message: `Invalid request: ${error.message}` };
  }
  if (error.code === 'NOT_FOUND' || error.code === 'METHOD_NOT_SUPPORTED') {
    // tRPC's own routing errors: an unknown procedure, or a query sent as POST.
    return { errorCode: 'INPUT_INVALID', details: {}, message: error.message };
  }
  if (error.code === 'UNSUPPORTED_MEDIA_TYPE') {
    return { errorCode: 'INPUT_INVALID', details: {}, message: 'Send mutations with "content-type: application/json".' };
  }
  if (error.code === 'PAYLOAD_TOO_LARGE') {
    return { errorCode: 'INPUT_INVALID', details: {}, message: 'The request body is too large.' };
  }
  return { errorCode: 'INTERNAL', details: {}, message: 'Internal server error; the request was logged.' };
}

const t = initTRPC.context<Context>().create({
  errorFormatter({ shape, error }) {
    const described = describeError(error);
    return {
      code: shape.code,
      message: described.message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        errorCode: described.errorCode,
        details: described.details,
      },
    };
  },
});

/**
 * Turns a domain InletError into a TRPCError with the status of the closed table, and logs errors
 * that are not part of the contract.
 */
const mapDomainErrors = t.middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (result.ok) return result;

  const cause = result.error.cause;
  if (cause instanceof InletError && isErrorCode(cause.code)) {
    throw new TRPCError({ code: TRPC_CODE_BY_STATUS[cause.status] ?? 'INTERNAL_SERVER_ERROR', message: cause.message, cause });
  }
  if (result.error.code === 'INTERNAL_SERVER_ERROR') {
    ctx.runtime.logger.error({ event: 'procedure.failed', path, err: cause ?? result.error }, 'procedure failed');
  }
  return result;
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

export const publicProcedure = t.procedure.use(mapDomainErrors).use(async ({ ctx, next }) => {
  const principal: Principal = authenticate(
    ctx.runtime.db,
    ctx.headers.get('authorization'),
    ctx.headers.get('x-tenant-id'),
    new Date(),
  );
  return next({ ctx: { ...ctx, principal } });
});
