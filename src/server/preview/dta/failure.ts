import { InletError, type ErrorDetails } from '../../errors';

/**
 * Builds the error for a .dta file that cannot be read as one: damaged, truncated, mislabelled or
 * of a format version this reader does not support.
 */
export function malformed(message: string, details: ErrorDetails = {}): InletError {
  return new InletError('INPUT_PARSE_FAILED', `The Stata file could not be read: ${message}`, { format: 'dta', ...details });
}
