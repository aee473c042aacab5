/**
 * Runs every shell example of docs/API.md in order against a real server. Each response is
 * checked against the one the document shows after the example: the HTTP status, every field
 * name of the example (for arrays, those of the first element), and the values of the fields
 * that decide what a script does next (errorCode, success, status and a few more). So the
 * document cannot drift from the server without this test failing.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { makeTempDir, startServer, type TestServer } from '../helpers/server';

const PROJECT_ROOT = path.resolve(import.meta.dirname, '../..');
const DOC = path.join(PROJECT_ROOT, 'docs/API.md');

/** Fields whose example value must equal the response's; other fields are only required to exist. */
const EXACT_FIELDS = new Set(['errorCode', 'success', 'status', 'strategy', 'retryable', 'httpStatus', 'schemaVersion', 'role', 'format', 'deleted']);

interface Example {
  /** 1-based line of the shell block in docs/API.md. */
  line: number;
  script: string;
  expected: { status: number; language: string; body: string } | null;
}

/** Splits the document into shell blocks, each with the "Response (HTTP n):" block after it, if any. */
function extractExamples(markdown: string): Example[] {
  const lines = markdown.split('\n');
  const examples: Example[] = [];
  let pendingStatus: number | null = null;
  for (let index = 0; index < lines.length; index += 1) {
    const text = lines[index]!;
    const status = /^Response \(HTTP (\d{3})\):$/.exec(text);
    if (status) {
      pendingStatus = Number(status[1]);
      continue;
    }
    const fence = /^```(\w*)$/.exec(text);
    if (!fence) continue;
    const language = fence[1] ?? '';
    const start = index + 1;
    let end = start;
    while (end < lines.length && lines[end] !== '```') end += 1;
    const body = lines.slice(start, end).join('\n');
    index = end;

    if (language === 'sh') {
      examples.push({ line: start, script: body, expected: null });
    } else if (pendingStatus !== null) {
      const last = examples[examples.length - 1];
      assert.ok(last, `docs/API.md line ${start}: a response block must follow a shell block`);
      assert.equal(last.expected, null, `docs/API.md line ${start}: a shell block has two response blocks`);
      last.expected = { status: pendingStatus, language, body };
      pendingStatus = null;
    }
  }
  return examples;
}

/** Asserts that every field of `example` exists in `actual`, and that the decisive ones are equal. */
function assertShape(actual: unknown, example: unknown, where: string): void {
  if (Array.isArray(example)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array, got ${JSON.stringify(actual)}`);
    if (example.length > 0) {
      assert.ok(actual.length > 0, `${where}: expected a non-empty array`);
      assertShape(actual[0], example[0], `${where}[0]`);
    }
    return;
  }
  if (example !== null && typeof example === 'object') {
    assert.equal(typeof actual, 'object', `${where}: expected an object, got ${JSON.stringify(actual)}`);
    assert.ok(actual !== null, `${where}: expected an object, got null`);
    assert.ok(!Array.isArray(actual), `${where}: expected an object, got an array`);
    const record = actual as Record<string, unknown>;
    for (const [key, value] of Object.entries(example)) {
      assert.ok(key in record, `${where}.${key} is missing from ${JSON.stringify(actual).slice(0, 500)}`);
      const actualValue = record[key];
      if (EXACT_FIELDS.has(key) && (value === null || typeof value !== 'object')) {
        assert.deepEqual(actualValue, value, `${where}.${key}`);
      } else {
        assertShape(actualValue, value, `${where}.${key}`);
      }
    }
  }
}

/** Variables that a response provides to the next examples, by procedure. */
function variablesFrom(procedure: string | undefined, data: Record<string, unknown>): Record<string, string> {
  const first = <T>(value: unknown): T | undefined => (Array.isArray(value) ? (value[0] as T) : undefined);
  switch (procedure) {
    case 'jobs.create':
      return { JOB: String(data.jobId), TOKEN: String(data.token) };
    case 'bundles.declare':
      return { BUNDLE: String(data.bundleId), FILE_ID: String(first<{ fileId: string }>(data.files)?.fileId) };
    case 'uploads.createSession':
      return { SESSION: String(data.uploadSessionId), URL: String(data.url ?? first<{ url: string }>(data.parts)?.url) };
    case 'uploads.refreshUrls':
      return { URL: String(first<{ url: string }>(data.parts)?.url) };
    case 'uploads.finalize':
      return data.success === true ? { DATASET: String(data.datasetKey) } : {};
    default:
      return {};
  }
}

// curl prints each call's status on stderr through this wrapper, so the examples run unchanged.
const PRELUDE = `set -euo pipefail
set -a
curl() { command curl -w '%{stderr}@@HTTP %{http_code}@@\\n' "$@"; }
`;

let server: TestServer;
let tenantKey: string;

before(async () => {
  // Small multipart settings so that the recipe's 30 KB file is uploaded in 4 parts.
  server = await startServer({ INLET_TEST_MODE: 'true', INLET_MULTIPART_THRESHOLD_BYTES: '16384', INLET_PART_SIZE_BYTES: '8192' });
  const created = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'admin', 'tenant', 'create', 'default', '--json'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, INLET_DATA_DIR: server.dataDir },
    encoding: 'utf8',
  });
  tenantKey = (JSON.parse(created) as { key: string }).key;
});

after(async () => {
  await server.stop();
});

describe('docs/API.md examples', () => {
  test('every example matches the server', () => {
    for (const tool of ['curl', 'jq', 'openssl', 'split']) {
      assert.equal(spawnSync('sh', ['-c', `command -v ${tool}`]).status, 0, `${tool} is needed to run the examples of docs/API.md`);
    }
    const examples = extractExamples(fs.readFileSync(DOC, 'utf8'));
    assert.ok(examples.length >= 30, `expected at least 30 examples, found ${examples.length}`);
    const procedures = new Set(examples.flatMap((example) => [...example.script.matchAll(/\/api\/trpc\/([a-zA-Z]+\.[a-zA-Z]+)/g)].map((match) => match[1])));
    for (const procedure of ['jobs.create', 'jobs.get', 'jobs.list', 'jobs.lock', 'jobs.unlock', 'jobs.delete', 'bundles.declare', 'bundles.get', 'uploads.createSession', 'uploads.refreshUrls', 'uploads.listParts', 'uploads.listSessions', 'uploads.finalize', 'uploads.abort', 'inputs.manifest', 'inputs.preview', 'inputs.setReadOptions', 'inputs.setRole', 'inputs.removeDataset', 'inputs.downloadUrl']) {
      assert.ok(procedures.has(procedure), `docs/API.md has no example of ${procedure}`);
    }

    const cwd = makeTempDir('inlet-api-doc-');
    const envFile = path.join(cwd, '.example-env');
    let variables: Record<string, string> = { BASE: server.baseUrl, TENANT_KEY: tenantKey };

    for (const example of examples) {
      const where = `docs/API.md line ${example.line}`;
      const run = spawnSync('bash', ['-c', `${PRELUDE}${example.script}\nenv -0 > ${JSON.stringify(envFile)}\n`], {
        cwd,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', ...variables },
        encoding: 'utf8',
      });
      const statuses = [...run.stderr.matchAll(/@@HTTP (\d{3})@@/g)].map((match) => Number(match[1]));
      const errors = run.stderr.replace(/@@HTTP \d{3}@@\n?/g, '');
      assert.equal(run.status, 0, `${where}: the example failed (exit ${run.status}): ${errors}\n${run.stdout}`);
      // A setup step (such as split) makes no request; an example with a response makes one.
      if (example.expected) assert.ok(statuses.length > 0, `${where}: the example made no HTTP request`);

      // Variables the example set carry over to the next ones.
      for (const entry of fs.readFileSync(envFile, 'utf8').split('\0')) {
        const equals = entry.indexOf('=');
        if (equals > 0 && /^[A-Z][A-Z0-9_]*$/.test(entry.slice(0, equals))) variables[entry.slice(0, equals)] = entry.slice(equals + 1);
      }

      const expected = example.expected;
      const last = statuses[statuses.length - 1];
      if (!expected || expected.status < 400) {
        assert.deepEqual(statuses.filter((status) => status >= 400), [], `${where}: a request failed: ${run.stdout}`);
      }
      if (!expected) continue;
      assert.equal(last, expected.status, `${where}: HTTP status; body: ${run.stdout}`);

      if (expected.language === 'json') {
        let actual: unknown;
        try {
          actual = JSON.parse(run.stdout);
        } catch {
          assert.fail(`${where}: the response is not JSON: ${run.stdout}`);
        }
        assertShape(actual, JSON.parse(expected.body), where);
        const data = (actual as { result?: { data?: Record<string, unknown> } }).result?.data;
        const procedures = [...example.script.matchAll(/\/api\/trpc\/([a-zA-Z]+\.[a-zA-Z]+)/g)].map((match) => match[1]);
        if (data) variables = { ...variables, ...variablesFrom(procedures[procedures.length - 1], data) };
      } else if (expected.language === 'xml') {
        const code = /<Code>(\w+)<\/Code>/.exec(expected.body)?.[1];
        assert.ok(code, `${where}: the XML example has no <Code>`);
        assert.match(run.stdout, new RegExp(`<Code>${code}</Code>`), `${where}: S3 error code`);
      } else if (expected.language === 'http') {
        for (const header of expected.body.split('\n').slice(1)) {
          const name = header.split(':')[0]!.trim().toLowerCase();
          const found = new RegExp(`^${name}: *(.*?)\\r?$`, 'im').exec(run.stdout);
          assert.ok(found, `${where}: header ${name} is missing from ${run.stdout}`);
          if (name === 'etag') variables.ETAG = found[1]!.replaceAll('"', '');
        }
      }
    }
  });
});
