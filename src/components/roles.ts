import { datasetFormatOf, type DatasetFormat, type Role, ROLES } from '@/lib/file-rules';

export { isRole, ROLES, type Role } from '@/lib/file-rules';

/** Returns the dataset format a filename's extension declares, or null for a file that is not a dataset. */
export function formatOfFilename(filename: string): DatasetFormat | null {
  return datasetFormatOf(filename);
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
