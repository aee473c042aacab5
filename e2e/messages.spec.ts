import { expect, test } from '@playwright/test';

import { ERROR_STATUS, type FinalizeFailureCode } from '../src/server/errors';
import en from '../src/messages/en.json' with { type: 'json' };
import zhCN from '../src/messages/zh-CN.json' with { type: 'json' };

const FINALIZE_FAILURE_CODES: FinalizeFailureCode[] = [
  'UPLOAD_INCOMPLETE',
  'CHECKSUM_MISMATCH',
  'FINALIZE_IN_PROGRESS',
  'DATASET_ROLE_CONFLICT',
  'INPUT_FORMAT_MISMATCH',
  'INPUT_ENCRYPTED',
];

function keyPaths(messages: object, prefix = ''): string[] {
  return Object.entries(messages).flatMap(([key, value]) =>
    typeof value === 'object' && value !== null ? keyPaths(value as object, `${prefix}${key}.`) : [`${prefix}${key}`],
  );
}

test('message files have the same keys', () => {
  expect(keyPaths(zhCN).sort()).toEqual(keyPaths(en).sort());
});

test('every error code has a message', () => {
  const codes = [...Object.keys(ERROR_STATUS), ...FINALIZE_FAILURE_CODES];
  for (const messages of [en, zhCN]) {
    const missing = codes.filter((code) => !Object.hasOwn(messages.Errors, code));
    expect(missing).toEqual([]);
  }
});
