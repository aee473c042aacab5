import { MAX_PART_SIZE_BYTES } from './config';
import { InletError } from './errors';

export interface UploadPlan {
  strategy: 'direct' | 'multipart';
  partSizeBytes: number;
  partCount: number;
}

export interface PlanLimits {
  multipartThresholdBytes: number;
  partSizeBytes: number;
  maxParts: number;
}

/**
 * Chooses the strategy and part layout for a file: direct below the multipart threshold (one part
 * of the whole size, zero bytes included), multipart at or above it. The configured part size is
 * raised, in whole MiB, until the file fits in `maxParts` parts; the last part may be smaller, and a
 * size that is an exact multiple of the part size has no empty trailing part.
 */
export function planUpload(sizeBytes: number, limits: PlanLimits): UploadPlan {
  if (sizeBytes < limits.multipartThresholdBytes) {
    return { strategy: 'direct', partSizeBytes: sizeBytes, partCount: 1 };
  }

  const mib = 1024 * 1024;
  let partSizeBytes = limits.partSizeBytes;
  if (Math.ceil(sizeBytes / partSizeBytes) > limits.maxParts) {
    partSizeBytes = Math.ceil(sizeBytes / limits.maxParts / mib) * mib;
  }
  if (partSizeBytes > MAX_PART_SIZE_BYTES) {
    throw new InletError(
      'UPLOAD_MULTIPART_LIMIT_EXCEEDED',
      `A file of ${sizeBytes} bytes needs parts above ${MAX_PART_SIZE_BYTES} bytes to fit in ${limits.maxParts} parts.`,
      { sizeBytes, maxParts: limits.maxParts, maxPartSizeBytes: MAX_PART_SIZE_BYTES },
    );
  }
  return { strategy: 'multipart', partSizeBytes, partCount: Math.max(1, Math.ceil(sizeBytes / partSizeBytes)) };
}

/** Size in bytes of part `partNumber` (1-based) of a plan for a file of `sizeBytes`. */
export function partSizeOf(plan: Pick<UploadPlan, 'partSizeBytes' | 'partCount'>, sizeBytes: number, partNumber: number): number {
  if (partNumber < plan.partCount) return plan.partSizeBytes;
  return sizeBytes - plan.partSizeBytes * (plan.partCount - 1);
}
