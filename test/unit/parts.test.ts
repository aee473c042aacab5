import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { InletError } from '../../src/server/errors';
import { partSizeOf, planUpload } from '../../src/server/parts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const DEFAULTS = { multipartThresholdBytes: 64 * MIB, partSizeBytes: 8 * MIB, maxParts: 10_000 };

describe('upload planning', () => {
  test('zero-byte file is one direct part', () => {
    assert.deepEqual(planUpload(0, DEFAULTS), { strategy: 'direct', partSizeBytes: 0, partCount: 1 });
  });

  test('below the threshold is direct', () => {
    assert.deepEqual(planUpload(64 * MIB - 1, DEFAULTS), { strategy: 'direct', partSizeBytes: 64 * MIB - 1, partCount: 1 });
  });

  test('at the threshold is multipart', () => {
    assert.deepEqual(planUpload(64 * MIB, DEFAULTS), { strategy: 'multipart', partSizeBytes: 8 * MIB, partCount: 8 });
  });

  test('exact multiple has no empty part', () => {
    const plan = planUpload(80 * MIB, DEFAULTS);
    assert.equal(plan.partCount, 10);
    assert.equal(partSizeOf(plan, 80 * MIB, 10), 8 * MIB);
  });

  test('last part may be smaller', () => {
    const plan = planUpload(80 * MIB + 1, DEFAULTS);
    assert.equal(plan.partCount, 11);
    assert.equal(partSizeOf(plan, 80 * MIB + 1, 11), 1);
    assert.equal(partSizeOf(plan, 80 * MIB + 1, 1), 8 * MIB);
  });

  test('part size rises to fit max parts', () => {
    const size = 100 * GIB;
    const plan = planUpload(size, DEFAULTS);
    assert.ok(plan.partCount <= 10_000, `${plan.partCount} parts`);
    assert.equal(plan.partSizeBytes % MIB, 0);
    assert.ok(plan.partSizeBytes * plan.partCount >= size);
    assert.ok(plan.partSizeBytes * (plan.partCount - 1) < size);
  });

  test('few allowed parts raise the size', () => {
    const plan = planUpload(1 * GIB, { ...DEFAULTS, maxParts: 3 });
    assert.equal(plan.partCount, 3);
    assert.equal(plan.partSizeBytes, 342 * MIB);
  });

  test('single-part multipart file is allowed', () => {
    assert.deepEqual(planUpload(100, { multipartThresholdBytes: 1, partSizeBytes: 5 * MIB, maxParts: 10_000 }), {
      strategy: 'multipart',
      partSizeBytes: 5 * MIB,
      partCount: 1,
    });
  });

  test('parts above 5 GiB are refused', () => {
    assert.throws(
      () => planUpload(60 * GIB, { ...DEFAULTS, maxParts: 10 }),
      (error: unknown) => error instanceof InletError && error.code === 'UPLOAD_MULTIPART_LIMIT_EXCEEDED',
    );
  });
});
