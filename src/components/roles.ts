// Mirrors the role and extension rules of src/server/rules.ts, which imports Node modules and so
// cannot be bundled for the browser. The server stays the judge: it rejects a bad role at declare.

export const ROLES = ['primary_dataset', 'secondary_dataset', 'auxiliary_data', 'other'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Dataset formats by extension (lower case, with the dot), as the server checks them at declare. */
const FORMAT_BY_EXTENSION: Record<string, 'csv' | 'excel' | 'dta'> = {
  '.csv': 'csv',
  '.tsv': 'csv',
  '.txt': 'csv',
  '.xlsx': 'excel',
  '.xls': 'excel',
  '.dta': 'dta',
};

/** Returns the dataset format a filename's extension declares, or null for a file that is not a dataset. */
export function formatOfFilename(filename: string): 'csv' | 'excel' | 'dta' | null {
  const dot = filename.lastIndexOf('.');
  if (dot <= 0) return null;
  return FORMAT_BY_EXTENSION[filename.slice(dot).toLowerCase()] ?? null;
}

export function isDatasetFilename(filename: string): boolean {
  return formatOfFilename(filename) !== null;
}

/** Roles a file may take: any role for a dataset file, only `other` for any other file. */
export function rolesFor(filename: string): readonly Role[] {
  return isDatasetFilename(filename) ? ROLES : ['other'];
}

/**
 * Suggests a role for each newly added file: the first dataset file becomes the primary when the job
 * has none (neither stored nor on its way), later dataset files become secondary, and any other file
 * gets role `other`.
 */
export function suggestRoles(filenames: readonly string[], hasPrimary: boolean): Role[] {
  let primaryTaken = hasPrimary;
  return filenames.map((filename) => {
    if (!isDatasetFilename(filename)) return 'other';
    if (primaryTaken) return 'secondary_dataset';
    primaryTaken = true;
    return 'primary_dataset';
  });
}
