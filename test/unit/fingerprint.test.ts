import assert from 'node:assert/strict';
import { test } from 'node:test';

import { datasetKeyFor, jobFingerprint } from '../../src/server/fingerprint';
import { sha256Hex } from '../../src/server/ids';

test('fingerprint matches the published test vector', () => {
  const bytes = Buffer.from('a,b\n1,2\n', 'utf8');
  const sha256 = sha256Hex(bytes);

  assert.equal(bytes.length, 8);
  assert.equal(sha256, '492d5ea496056f1a6a6592241032fab764c321596317930b4fa0e1e8bc3b7470');
  assert.equal(datasetKeyFor(sha256), 'ds_492d5ea496056f1a');
  assert.equal(
    jobFingerprint([{ role: 'primary_dataset', sha256, sizeBytes: 8 }]),
    'sha256:cb89cb79edcdbf65297b51cf47458a27bdb73774373c3cb62cc857af9a32bf47',
  );
});

test('fingerprint ignores dataset order', () => {
  const a = { role: 'secondary_dataset', sha256: 'b'.repeat(64), sizeBytes: 2 };
  const b = { role: 'primary_dataset', sha256: 'a'.repeat(64), sizeBytes: 1 };
  const c = { role: 'secondary_dataset', sha256: 'a'.repeat(64), sizeBytes: 3 };

  assert.equal(jobFingerprint([a, b, c]), jobFingerprint([c, b, a]));
});

test('fingerprint serialises sorted entries without whitespace', () => {
  const entries = [
    { role: 'secondary_dataset', sha256: 'f'.repeat(64), sizeBytes: 10 },
    { role: 'primary_dataset', sha256: '0'.repeat(64), sizeBytes: 20 },
  ];
  const expectedJson =
    `[{"role":"primary_dataset","sha256":"${'0'.repeat(64)}","size_bytes":20},` +
    `{"role":"secondary_dataset","sha256":"${'f'.repeat(64)}","size_bytes":10}]`;

  assert.equal(jobFingerprint(entries), `sha256:${sha256Hex(expectedJson)}`);
});

test('fingerprint of an empty job hashes an empty list', () => {
  assert.equal(jobFingerprint([]), `sha256:${sha256Hex('[]')}`);
});

test('fingerprint changes with role and size', () => {
  const base = { role: 'primary_dataset', sha256: 'a'.repeat(64), sizeBytes: 1 };

  assert.notEqual(jobFingerprint([base]), jobFingerprint([{ ...base, role: 'secondary_dataset' }]));
  assert.notEqual(jobFingerprint([base]), jobFingerprint([{ ...base, sizeBytes: 2 }]));
});
