'use client';

import { isServer, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { useMemo, type ReactNode } from 'react';

import type { AppRouter } from './router';

export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 30_000,
        // A 4xx from the API (a bad token, a missing dataset) will not change on a retry.
        retry: (failureCount, error) => failureCount < 2 && !(error instanceof TRPCClientError && isClientErrorStatus(error)),
        refetchOnWindowFocus: false,
      },
    },
  });
}

function isClientErrorStatus(error: TRPCClientError<AppRouter>): boolean {
  const status = error.data?.httpStatus;
  return typeof status === 'number' && status >= 400 && status < 500;
}

let browserQueryClient: QueryClient | undefined;

/** Returns the browser tab's one query client, so cached manifests survive moving between pages. */
function getQueryClient(): QueryClient {
  if (isServer) return makeQueryClient();
  browserQueryClient ??= makeQueryClient();
  return browserQueryClient;
}

/**
 * Provides the tRPC hooks. `token` is the job token, sent as a bearer token on every call. The start
 * page passes none, because creating a job in open mode needs no token.
 */
export function TRPCReactProvider({ token, children }: { token?: string | undefined; children: ReactNode }) {
  const queryClient = getQueryClient();
  // httpLink, not httpBatchLink: a preview that waits for an exact row count must not hold back
  // the manifest query that would share its batch. No transformer: the API is plain JSON.
  const trpcClient = useMemo(
    () =>
      createTRPCClient<AppRouter>({
        links: [
          httpLink({
            url: '/api/trpc',
            headers: () => (token ? { authorization: `Bearer ${token}` } : {}),
          }),
        ],
      }),
    [token],
  );

  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}

/** An API error as the UI translates it: the code of the closed table and the values it names. */
export interface ApiErrorInfo {
  code: string;
  details: Record<string, unknown>;
}

/**
 * Extracts the error code and details from a failed tRPC call. Errors without a code (the network
 * dropped, the response was not JSON) come back as NETWORK_FAILED or UNKNOWN, codes of the UI only.
 */
export function toApiErrorInfo(error: unknown): ApiErrorInfo {
  if (error instanceof TRPCClientError) {
    const data = (error as TRPCClientError<AppRouter>).data;
    if (data?.errorCode) return { code: data.errorCode, details: data.details };
    return { code: 'NETWORK_FAILED', details: {} };
  }
  return { code: 'UNKNOWN', details: {} };
}
