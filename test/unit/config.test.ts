import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';

import { ConfigError, loadConfig } from '../../src/server/config';

function keyOfError(env: Record<string, string>): string | null {
  try {
    loadConfig(env);
    return null;
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.key;
  }
}

describe('configuration', () => {
  test('defaults match the documented table', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.hostname, '127.0.0.1');
    assert.equal(config.dataDir, path.resolve('./data'));
    assert.equal(config.openMode, true);
    assert.equal(config.urlTtlSeconds, 900);
    assert.equal(config.sessionTtlSeconds, 86_400);
    assert.equal(config.jobTokenTtlSeconds, 2_592_000);
    assert.equal(config.multipartThresholdBytes, 67_108_864);
    assert.equal(config.partSizeBytes, 8_388_608);
    assert.equal(config.maxParts, 10_000);
    assert.equal(config.maxFileSizeBytes, 53_687_091_200);
    assert.equal(config.maxBundleFiles, 64);
    assert.equal(config.maxJobDatasets, 256);
    assert.equal(config.maxSessionsPerJob, 64);
    assert.equal(config.finalizeLeaseSeconds, 60);
    assert.equal(config.sweepIntervalSeconds, 300);
    assert.equal(config.testMode, false);
  });

  const invalid: [string, Record<string, string>][] = [
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['INLET_URL_TTL_SECONDS', { INLET_URL_TTL_SECONDS: '901' }],
    ['INLET_URL_TTL_SECONDS', { INLET_URL_TTL_SECONDS: '0' }],
    ['INLET_SESSION_TTL_SECONDS', { INLET_SESSION_TTL_SECONDS: '60', INLET_URL_TTL_SECONDS: '120' }],
    ['INLET_PART_SIZE_BYTES', { INLET_PART_SIZE_BYTES: '1024' }],
    ['INLET_MAX_PARTS', { INLET_MAX_PARTS: '10001' }],
    ['INLET_OPEN_MODE', { INLET_OPEN_MODE: 'maybe' }],
    ['INLET_LOG_LEVEL', { INLET_LOG_LEVEL: 'loud' }],
    ['INLET_PUBLIC_URL', { INLET_PUBLIC_URL: 'not a url' }],
    ['INLET_PUBLIC_URL', { INLET_PUBLIC_URL: 'ftp://example.test' }],
    ['INLET_MULTIPART_THRESHOLD_BYTES', { INLET_MULTIPART_THRESHOLD_BYTES: '1.5' }],
    ['INLET_MAX_FILE_SIZE_BYTES', { INLET_MAX_FILE_SIZE_BYTES: '-1' }],
  ];
  for (const [key, env] of invalid) {
    test(`invalid ${key} names the key (${JSON.stringify(Object.values(env)[0])})`, () => {
      assert.equal(keyOfError(env), key);
    });
  }

  test('small parts only in test mode', () => {
    assert.equal(keyOfError({ INLET_PART_SIZE_BYTES: '256' }), 'INLET_PART_SIZE_BYTES');
    assert.equal(loadConfig({ INLET_PART_SIZE_BYTES: '256', INLET_TEST_MODE: 'true' }).partSizeBytes, 256);
  });

  test('idle timeout set only in test mode', () => {
    assert.equal(loadConfig({ INLET_TEST_SOCKET_IDLE_TIMEOUT_MS: '500' }).socketIdleTimeoutMs, 60_000);
    assert.equal(loadConfig({ INLET_TEST_SOCKET_IDLE_TIMEOUT_MS: '500', INLET_TEST_MODE: 'true' }).socketIdleTimeoutMs, 500);
    assert.equal(keyOfError({ INLET_TEST_SOCKET_IDLE_TIMEOUT_MS: '50', INLET_TEST_MODE: 'true' }), 'INLET_TEST_SOCKET_IDLE_TIMEOUT_MS');
  });

  test('hash memory set only in test mode', () => {
    assert.equal(loadConfig({ INLET_TEST_HASH_RETAIN_BYTES: '0' }).hashRetainBytes, 64 * 1024 * 1024);
    assert.equal(loadConfig({ INLET_TEST_HASH_RETAIN_BYTES: '0', INLET_TEST_MODE: 'true' }).hashRetainBytes, 0);
    assert.equal(keyOfError({ INLET_TEST_HASH_RETAIN_BYTES: String(65 * 1024 * 1024), INLET_TEST_MODE: 'true' }), 'INLET_TEST_HASH_RETAIN_BYTES');
  });

  test('public URL loses its trailing slash', () => {
    assert.equal(loadConfig({ INLET_PUBLIC_URL: 'https://inlet.example.test/base/' }).publicUrl, 'https://inlet.example.test/base');
  });
});
