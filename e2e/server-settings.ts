/**
 * Settings of the server the end-to-end tests start (see playwright.config.ts). Files at or above
 * 1 MiB upload in parts of 512 KiB, so a 2.7 MB fixture takes the multipart path. Parts below the
 * 5 MiB production minimum are allowed only with INLET_TEST_MODE.
 */
export const MULTIPART_THRESHOLD_BYTES = 1024 * 1024;
export const PART_SIZE_BYTES = 512 * 1024;
