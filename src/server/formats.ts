import fs from 'node:fs/promises';

import { formatProblem, SNIFF_BYTES } from '@/lib/file-rules';

import type { FileFormat } from './rules';

export type FormatCheck = { ok: true } | { ok: false; code: 'INPUT_FORMAT_MISMATCH' | 'INPUT_ENCRYPTED'; message: string };

export async function readHead(filePath: string, byteCount = SNIFF_BYTES): Promise<Buffer> {
  const handle = await fs.open(filePath, 'r');
  try {
    const buffer = Buffer.alloc(byteCount);
    const { bytesRead } = await handle.read(buffer, 0, byteCount, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export { oleInXlsxProblem } from '@/lib/file-rules';

/** Confirms a stored file's format from its head; role `other` takes any bytes. */
export function checkFormat(format: FileFormat, extension: string, head: Buffer): FormatCheck {
  if (format === 'other') return { ok: true };
  const problem = formatProblem(format, extension, head);
  return problem === null ? { ok: true } : { ok: false, ...problem };
}
