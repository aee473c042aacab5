import path from 'node:path';

import { InletError } from './errors';

export const ROLES = ['primary_dataset', 'secondary_dataset', 'auxiliary_data', 'other'] as const;
export type Role = (typeof ROLES)[number];

export const DATASET_ROLES: readonly Role[] = ['primary_dataset', 'secondary_dataset', 'auxiliary_data'];

export type DatasetFormat = 'csv' | 'excel' | 'dta';
export type FileFormat = DatasetFormat | 'other';

/** Extensions (lower case, with the dot) a dataset role accepts, and the format each one means. */
export const DATASET_EXTENSIONS: Readonly<Record<string, DatasetFormat>> = {
  '.csv': 'csv',
  '.tsv': 'csv',
  '.txt': 'csv',
  '.xlsx': 'excel',
  '.xls': 'excel',
  '.dta': 'dta',
};

const MAX_FILENAME_BYTES = 255;

// C0 and C1 control characters and DEL.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/u;
// Bidirectional embeddings, overrides and isolates, which can make a name display as another name.
const BIDI_OVERRIDES = /[\u202a-\u202e\u2066-\u2069]/u;

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/**
 * Normalises a client's filename to NFC and checks that it is a safe display name: 1–255 UTF-8
 * bytes, not blank, one path segment, no control or bidirectional-override characters. Returns the
 * normalised name or raises INPUT_FILENAME_UNSAFE naming the rule that failed.
 */
export function normalizeFilename(raw: string): string {
  const name = raw.normalize('NFC');
  const reject = (reason: string): never => {
    throw new InletError('INPUT_FILENAME_UNSAFE', `Filename ${JSON.stringify(raw)} is not allowed: ${reason}.`, {
      filename: raw,
      reason,
    });
  };

  const byteLength = Buffer.byteLength(name, 'utf8');
  if (byteLength === 0) reject('it is empty');
  if (byteLength > MAX_FILENAME_BYTES) reject(`it is ${byteLength} UTF-8 bytes long, the maximum is ${MAX_FILENAME_BYTES}`);
  if (name.trim() === '') reject('it is blank');
  if (CONTROL_CHARACTERS.test(name)) reject('it contains a control character');
  if (BIDI_OVERRIDES.test(name)) reject('it contains a bidirectional override character');
  if (name.includes('/') || name.includes('\\')) reject('it contains a path separator; send the base name only');
  if (name === '.' || name === '..') reject('it is a relative path segment');
  return name;
}

/** Returns the lower-cased extension of a filename, with its dot, or '' when it has none. */
export function extensionOf(filename: string): string {
  const ext = path.extname(filename);
  return ext === filename ? '' : ext.toLowerCase();
}

/**
 * Checks a file's role against its name and returns the format it will be stored as: dataset roles
 * need a dataset extension, role `other` takes any file.
 */
export function formatForRole(filename: string, role: Role): FileFormat {
  if (role === 'other') return 'other';

  const extension = extensionOf(filename);
  const format = DATASET_EXTENSIONS[extension];
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
