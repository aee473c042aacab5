'use client';

import { useFormatter, useTranslations } from 'next-intl';
import { useCallback } from 'react';

import type { ApiErrorInfo } from '@/trpc/client';

import { useFormatSize, useFormatTime } from './format';
import { isRole } from './roles';

function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function integer(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/**
 * Returns a function that turns an API or upload error into a sentence in the UI's language. The
 * message is chosen by error code and filled from the error's details. Every argument that any
 * message uses is passed each time, so a missing detail renders as an empty value, not as an error.
 */
export function useErrorText(): (error: ApiErrorInfo) => string {
  const t = useTranslations('Errors');
  const tRoles = useTranslations('Roles');
  const tFormats = useTranslations('Formats');
  const format = useFormatter();
  const formatSize = useFormatSize();
  const formatTime = useFormatTime();

  return useCallback(
    ({ code, details }: ApiErrorInfo) => {
      const roleLabel = (value: unknown): string => (typeof value === 'string' && isRole(value) ? tRoles(value) : text(value));
      const formatLabel = (value: unknown): string => (typeof value === 'string' && tFormats.has(value) ? tFormats(value) : text(value));
      // Schema errors name the field in their first issue's path.
      const issues = Array.isArray(details.issues) ? (details.issues as { path?: unknown }[]) : [];
      const field = text(details.field) || text(issues[0]?.path);
      const partList = Array.isArray(details.partNumbers) ? details.partNumbers : Array.isArray(details.missing) ? details.missing : [];
      const args = {
        filename: text(details.filename),
        role: roleLabel(details.role),
        existingRole: roleLabel(details.existingRole),
        extension: text(details.extension),
        format: formatLabel(details.format),
        datasetKey: text(details.datasetKey),
        sheetName: text(details.sheetName),
        s3Code: text(details.s3Code),
        field,
        hasField: field === '' ? 'no' : 'yes',
        value: text(details.value),
        hasValue: text(details.value) === '' ? 'no' : 'yes',
        count: integer(details.count),
        limit: integer(details.limit),
        maxParts: integer(details.maxParts),
        partNumber: integer(details.partNumber),
        partCount: integer(details.partCount),
        status: integer(details.status),
        size: formatSize(integer(details.sizeBytes)),
        limitSize: formatSize(integer(details.limit)),
        freeSize: formatSize(integer(details.freeBytes)),
        partNumbers: format.list(partList.map((part) => text(part))),
        expiresAt: typeof details.expiresAt === 'string' ? formatTime(details.expiresAt) : '',
      };

      // The preview reports a dataset it has no reader for as INPUT_PARSE_FAILED with its format.
      if (code === 'INPUT_PARSE_FAILED' && typeof details.format === 'string') {
        return details.format === 'other' ? t('previewNotForOther') : t('previewNotAvailable', { format: args.format });
      }
      return t.has(code) ? t(code, args) : t('UNKNOWN', args);
    },
    [t, tRoles, tFormats, format, formatSize, formatTime],
  );
}
