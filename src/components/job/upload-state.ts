import type { ApiErrorInfo } from '@/trpc/client';

import type { Role } from '../roles';

/**
 * Status of one file in the uploader. A `staged` file waits for a role and the Upload button. Once
 * its bundle is declared, the file has a `fileId` and moves through `queued`, `uploading` and
 * `finalizing` to `done` or `failed`.
 */
export type ItemStatus = 'staged' | 'queued' | 'uploading' | 'finalizing' | 'done' | 'failed';

export interface UploadItem {
  id: string;
  file: File;
  role: Role;
  status: ItemStatus;
  /** Bytes the store has acknowledged or is receiving; never decreases, never above the file size. */
  uploadedBytes: number;
  bundleId: string | null;
  fileId: string | null;
  error: ApiErrorInfo | null;
  /** Whether sending the file again can help; false when finalize rejected the bytes themselves. */
  retryable: boolean;
}

export type UploadAction =
  | { type: 'add'; items: UploadItem[] }
  | { type: 'setRole'; id: string; role: Role }
  | { type: 'remove'; id: string }
  | { type: 'declareFailed'; ids: string[]; error: ApiErrorInfo; filename: string | null }
  | { type: 'declared'; bundleId: string; files: { id: string; fileId: string }[] }
  | { type: 'phase'; id: string; status: 'queued' | 'uploading' | 'finalizing' }
  | { type: 'progress'; id: string; uploadedBytes: number }
  | { type: 'done'; id: string }
  | { type: 'failed'; id: string; error: ApiErrorInfo; retryable: boolean }
  | { type: 'clearFinished' };

function update(items: UploadItem[], id: string, change: (item: UploadItem) => UploadItem): UploadItem[] {
  return items.map((item) => (item.id === id ? change(item) : item));
}

export function uploadReducer(items: UploadItem[], action: UploadAction): UploadItem[] {
  switch (action.type) {
    case 'add':
      return [...items, ...action.items];

    case 'setRole':
      // A bundle contains one primary at most, so choosing a new one demotes the other staged primary.
      return items.map((item) => {
        if (item.id === action.id) return { ...item, role: action.role, error: null };
        if (action.role === 'primary_dataset' && item.status === 'staged' && item.role === 'primary_dataset') {
          return { ...item, role: 'secondary_dataset' };
        }
        return item;
      });

    case 'remove':
      return items.filter((item) => item.id !== action.id);

    case 'declareFailed':
      // The whole declaration was rejected, so every file stays staged. The error is shown on the
      // file it names, or on each file when it names none.
      return items.map((item) =>
        action.ids.includes(item.id)
          ? { ...item, error: action.filename === null || action.filename === item.file.name.normalize('NFC') ? action.error : null }
          : item,
      );

    case 'declared':
      return items.map((item) => {
        const declared = action.files.find((file) => file.id === item.id);
        return declared ? { ...item, status: 'queued', bundleId: action.bundleId, fileId: declared.fileId, error: null } : item;
      });

    case 'phase':
      return update(items, action.id, (item) => ({ ...item, status: action.status, error: null }));

    case 'progress':
      return update(items, action.id, (item) => ({
        ...item,
        uploadedBytes: Math.min(item.file.size, Math.max(item.uploadedBytes, action.uploadedBytes)),
      }));

    case 'done':
      return update(items, action.id, (item) => ({ ...item, status: 'done', uploadedBytes: item.file.size, error: null }));

    case 'failed':
      return update(items, action.id, (item) => ({ ...item, status: 'failed', error: action.error, retryable: action.retryable }));

    case 'clearFinished':
      return items.filter((item) => item.status !== 'done');
  }
}

/** Upload progress in whole percent, 0–100; an empty file counts as 100 % once it is done. */
export function progressPercent(item: UploadItem): number {
  if (item.file.size === 0) return item.status === 'done' ? 100 : 0;
  return Math.min(100, Math.floor((item.uploadedBytes / item.file.size) * 100));
}
