import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkFile } from '../../src/components/job/upload/file-checks';

test('browser check rejects oversized file', async () => {
  const file = new File(['a,b\n1,2\n'], 'data.csv');
  assert.deepEqual(await checkFile(file, 'primary_dataset', 4), {
    code: 'UPLOAD_FILE_SIZE_LIMIT_EXCEEDED',
    details: { filename: 'data.csv', sizeBytes: 8, limit: 4 },
  });
  assert.equal(await checkFile(file, 'primary_dataset', 8), null);
  assert.equal(await checkFile(file, 'primary_dataset', null), null);
});

test('browser check matches server format rules', async () => {
  const notAWorkbook = new File(['plain text'], 'data.xlsx');
  assert.equal((await checkFile(notAWorkbook, 'primary_dataset', null))?.code, 'INPUT_FORMAT_MISMATCH');
  const pdfAsDataset = new File(['%PDF'], 'codebook.pdf');
  assert.equal((await checkFile(pdfAsDataset, 'primary_dataset', null))?.code, 'INPUT_UNSUPPORTED_FORMAT');
  assert.equal(await checkFile(pdfAsDataset, 'other', null), null);
  const unsafe = new File(['x'], 'a\u202Eb.csv');
  assert.equal((await checkFile(unsafe, 'primary_dataset', null))?.code, 'INPUT_FILENAME_UNSAFE');
});
