'use client';

import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, useSyncExternalStore } from 'react';

import { useTRPC, useTRPCClient } from '@/trpc/client';

import { UploadManager, type UploadSnapshot } from './manager';

/**
 * Creates the job page's upload manager and subscribes to it. A finished upload refreshes the
 * manifest, job and unfinished-upload queries. While uploads run, the browser asks for confirmation before the tab closes.
 */
export function useUploadManager(jobId: string): { manager: UploadManager; snapshot: UploadSnapshot } {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();

  const [manager] = useState(
    () =>
      new UploadManager(client, jobId, {
        finalized: () => {
          void queryClient.invalidateQueries(trpc.inputs.pathFilter());
          void queryClient.invalidateQueries(trpc.jobs.pathFilter());
          void queryClient.invalidateQueries(trpc.uploads.listSessions.pathFilter());
        },
      }),
  );

  useEffect(() => {
    const disconnect = manager.connect();
    return () => {
      disconnect();
      manager.dispose();
    };
  }, [manager]);

  const snapshot = useSyncExternalStore(manager.subscribe, manager.getSnapshot, manager.getSnapshot);

  useEffect(() => {
    if (!snapshot.active) return;
    const onBeforeUnload = (event: BeforeUnloadEvent): void => {
      event.preventDefault();
      // Older browsers show the dialog only when returnValue is set.
      event.returnValue = true;
    };
    window.addEventListener('beforeunload', onBeforeUnload);
    return () => window.removeEventListener('beforeunload', onBeforeUnload);
  }, [snapshot.active]);

  return { manager, snapshot };
}
