/**
 * The closed table of error codes and the HTTP status each one leaves with. The UI translates by
 * code; `message` is English for logs and scripts; `details` holds the values a message needs.
 */
export const ERROR_STATUS = {
  INPUT_INVALID: 400,
  INPUT_FILENAME_UNSAFE: 400,
  INPUT_UNSUPPORTED_FORMAT: 400,
  INPUT_ROLE_INVALID: 400,
  INPUT_PRIMARY_DATASET_MISSING: 400,
  INPUT_PRIMARY_DATASET_MULTIPLE: 400,
  UPLOAD_PARTS_INVALID: 400,
  AUTH_REQUIRED: 401,
  AUTH_INVALID: 401,
  AUTH_EXPIRED: 401,
  FORBIDDEN: 403,
  JOB_NOT_FOUND: 404,
  BUNDLE_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  UPLOAD_SESSION_NOT_FOUND: 404,
  DATASET_NOT_FOUND: 404,
  INPUT_EXCEL_SHEET_NOT_FOUND: 404,
  JOB_LOCKED: 409,
  UPLOAD_SESSION_EXPIRED: 409,
  UPLOAD_SESSION_ENDED: 409,
  UPLOAD_FILE_SIZE_LIMIT_EXCEEDED: 413,
  BUNDLE_FILES_LIMIT_EXCEEDED: 413,
  UPLOAD_SESSIONS_LIMIT_EXCEEDED: 413,
  UPLOAD_MULTIPART_LIMIT_EXCEEDED: 413,
  STORAGE_FULL: 413,
  INPUT_EMPTY_FILE: 422,
  INPUT_PARSE_FAILED: 422,
  INPUT_ENCRYPTED: 422,
  INTERNAL: 500,
  OBJECT_STORE_FAILED: 502,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Codes that finalize returns in-band (HTTP 200, `success: false`) instead of raising. */
export type FinalizeFailureCode =
  | 'UPLOAD_INCOMPLETE'
  | 'CHECKSUM_MISMATCH'
  | 'FINALIZE_IN_PROGRESS'
  | 'DATASET_ROLE_CONFLICT'
  | 'INPUT_FORMAT_MISMATCH'
  | 'INPUT_ENCRYPTED';

export type ErrorDetails = Record<string, string | number | boolean | null | readonly (string | number)[]>;

export class InletError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = 'InletError';
    this.status = ERROR_STATUS[code];
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, value);
}
