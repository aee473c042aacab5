import { datasetFormatOf, extensionOf, filenameProblem, MAX_FILENAME_BYTES, type DatasetFormat, type FilenameProblem, type Role } from '@/lib/file-rules';

import { InletError } from './errors';

export { extensionOf, isRole, ROLES, type DatasetFormat, type Role } from '@/lib/file-rules';

export const DATASET_ROLES: readonly Role[] = ['primary_dataset', 'secondary_dataset', 'auxiliary_data'];

export type FileFormat = DatasetFormat | 'other';

const PROBLEM_TEXT: Record<FilenameProblem, string> = {
  empty: 'it is empty',
  malformed: 'it contains an unpaired UTF-16 surrogate, which is not valid Unicode text',
  tooLong: `it is longer than ${MAX_FILENAME_BYTES} UTF-8 bytes`,
  blank: 'it is blank',
  control: 'it contains a control character',
  bidi: 'it contains a bidirectional override character',
  path: 'it contains a path separator; send the base name only',
  dotSegment: 'it is a relative path segment',
};

/**
 * Normalises a client's filename to NFC and checks that it is a safe display name. Returns the
 * normalised name or raises INPUT_FILENAME_UNSAFE with the rule that failed in `details.reason`.
 */
export function normalizeFilename(raw: string): string {
  const name = raw.normalize('NFC');
  const problem = filenameProblem(name);
  if (problem !== null) {
    throw new InletError('INPUT_FILENAME_UNSAFE', `Filename ${JSON.stringify(raw)} is not allowed: ${PROBLEM_TEXT[problem]}.`, {
      filename: raw,
      reason: problem,
    });
  }
  return name;
}

/**
 * Checks a file's role against its name and returns the format it will be stored as: dataset roles
 * need a dataset extension, role `other` takes any file.
 */
export function formatForRole(filename: string, role: Role): FileFormat {
  if (role === 'other') return 'other';

  const extension = extensionOf(filename);
  const format = datasetFormatOf(filename);
  if (!format) {
    throw new InletError(
      'INPUT_UNSUPPORTED_FORMAT',
      `File ${JSON.stringify(filename)} cannot have role ${role}: a dataset must be .csv, .tsv, .txt, .xlsx, .xls or .dta (any case); declare other files with role "other".`,
      { filename, role, extension },
    );
  }
  return format;
}

/**
 * Checks the primary rule for one declaration: a bundle holds at most one primary, and a job's
 * first bundle (`isFirstBundle`) must hold exactly one.
 */
export function checkPrimaryRule(roles: readonly Role[], isFirstBundle: boolean): void {
  const primaryCount = roles.filter((role) => role === 'primary_dataset').length;
  if (primaryCount > 1) {
    throw new InletError(
      'INPUT_PRIMARY_DATASET_MULTIPLE',
      `A bundle may hold one primary_dataset, this one declares ${primaryCount}; give the others role secondary_dataset.`,
      { count: primaryCount },
    );
  }
  if (primaryCount === 0 && isFirstBundle) {
    throw new InletError(
      'INPUT_PRIMARY_DATASET_MISSING',
      "A job's first bundle must declare exactly one file with role primary_dataset.",
      { count: 0 },
    );
  }
}

/** Content types stored in the manifest, by extension; the client's declared type is only display. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
  '.txt': 'text/plain',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  '.xls': 'application/vnd.ms-excel',
  '.dta': 'application/x-stata-dta',
  '.pdf': 'application/pdf',
  '.json': 'application/json',
  '.do': 'text/plain',
  '.md': 'text/markdown',
};

export function contentTypeFor(extension: string): string {
  return CONTENT_TYPES[extension] ?? 'application/octet-stream';
}
