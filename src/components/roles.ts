// Mirrors the role and extension rules of src/server/rules.ts, which imports Node modules and so
// cannot be bundled for the browser. The server stays the judge: it rejects a bad role at declare.

export const ROLES = ['primary_dataset', 'secondary_dataset', 'auxiliary_data', 'other'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Extensions a dataset role accepts (lower case, with the dot), as the server checks them at declare. */
const DATASET_EXTENSIONS = new Set(['.csv', '.tsv', '.txt', '.xlsx', '.xls', '.dta']);

export function isDatasetFilename(filename: string): boolean {
  const dot = filename.lastIndexOf('.');
  return dot > 0 && DATASET_EXTENSIONS.has(filename.slice(dot).toLowerCase());
}

/**
 * Suggests a role for each newly added file: the first dataset file becomes the primary when the job
 * has none (neither stored nor waiting to upload), later dataset files become secondary, and any
 * other file gets role `other`.
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
