import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import { loadSigningSecret, signedQuery, verifySignedQuery } from '../../src/server/storage/signing';

const SECRET = Buffer.alloc(32, 7);
const OBJECT_PATH = '/api/objects/uploads/ups_0123456789abcdef0123/1';
const NOW_MS = Date.parse('2026-12-04T12:00:00Z');
const EXPIRES = NOW_MS / 1000 + 600;

function query(params: Record<string, string | number | undefined> = {}): URLSearchParams {
  return new URLSearchParams(signedQuery(SECRET, 'PUT', OBJECT_PATH, { expires: EXPIRES, size: 1000, ...params }));
}

describe('signed URLs', () => {
  test('valid signature verifies', () => {
    const result = verifySignedQuery(SECRET, 'PUT', OBJECT_PATH, query(), NOW_MS);
    assert.deepEqual(result, { ok: true, params: { expires: EXPIRES, size: 1000, contentType: undefined, checksum: undefined } });
  });

  test('bound content type and checksum verify', () => {
    const signed = query({ contentType: 'text/csv', checksum: 'A'.repeat(43) + '=' });
    const result = verifySignedQuery(SECRET, 'PUT', OBJECT_PATH, signed, NOW_MS);
    assert.equal(result.ok, true);
    assert.equal(result.ok && result.params.contentType, 'text/csv');
  });

  test('expired URL is refused', () => {
    assert.deepEqual(verifySignedQuery(SECRET, 'PUT', OBJECT_PATH, query(), EXPIRES * 1000), { ok: false, reason: 'expired' });
  });

  const tampering: [string, (params: URLSearchParams) => void][] = [
    ['size changed', (params) => params.set('size', '1001')],
    ['expiry extended', (params) => params.set('expires', String(EXPIRES + 1))],
    ['checksum added', (params) => params.set('checksum', 'A'.repeat(43) + '=')],
    ['content type added', (params) => params.set('contentType', 'text/plain')],
    ['signature flipped', (params) => params.set('signature', params.get('signature')!.replace(/^./, (c) => (c === '0' ? '1' : '0')))],
  ];
  for (const [name, tamper] of tampering) {
    test(`${name} is a mismatch`, () => {
      const params = query();
      tamper(params);
      assert.deepEqual(verifySignedQuery(SECRET, 'PUT', OBJECT_PATH, params, NOW_MS), { ok: false, reason: 'mismatch' });
    });
  }

  test('other method or path is a mismatch', () => {
    assert.equal(verifySignedQuery(SECRET, 'GET', OBJECT_PATH, query(), NOW_MS).ok, false);
    assert.equal(verifySignedQuery(SECRET, 'PUT', OBJECT_PATH.replace(/1$/, '2'), query(), NOW_MS).ok, false);
  });

  test('other secret is a mismatch', () => {
    assert.deepEqual(verifySignedQuery(Buffer.alloc(32, 8), 'PUT', OBJECT_PATH, query(), NOW_MS), { ok: false, reason: 'mismatch' });
  });

  test('missing and malformed parameters', () => {
    const missing = query();
    missing.delete('signature');
    assert.deepEqual(verifySignedQuery(SECRET, 'PUT', OBJECT_PATH, missing, NOW_MS), { ok: false, reason: 'missing' });
    const malformed = query();
    malformed.set('size', '-1');
    assert.deepEqual(verifySignedQuery(SECRET, 'PUT', OBJECT_PATH, malformed, NOW_MS), { ok: false, reason: 'malformed' });
  });

  test('secret is created once and shared', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'inlet-secret-'));
    const first = loadSigningSecret(dataDir);
    const second = loadSigningSecret(dataDir);
    assert.equal(first.length, 32);
    assert.deepEqual(second, first);
    assert.equal(fs.statSync(path.join(dataDir, 'signing.key')).mode & 0o777, 0o600);
  });
});
