import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { computeJobFingerprint } from '../../src/cli/fingerprint';
import { Api, createJob, putBytes, sha256Hex, type CreatedJob } from '../helpers/api';
import { FIXTURES, progressEvents, runCli, spawnCli, type CliResult } from '../helpers/cli';
import { makeTempDir, startServer, type TestServer } from '../helpers/server';

// Test mode allows small parts: files of 64 KiB and more go multipart in parts of 32 KiB.
const PART_SIZE = 32 * 1024;
const TEST_ENV = {
  INLET_TEST_MODE: 'true',
  INLET_MULTIPART_THRESHOLD_BYTES: String(64 * 1024),
  INLET_PART_SIZE_BYTES: String(PART_SIZE),
};

const CASTLE = path.join(FIXTURES, 'dta118_castle.dta');
const DIAMONDS = path.join(FIXTURES, 'diamonds.csv');
const SHEETS = path.join(FIXTURES, 'any_sheets.xlsx');
const CODEBOOK = path.join(FIXTURES, 'SOURCES.md');
const SCOTLAND = path.join(FIXTURES, 'scotland_population.csv');

let server: TestServer;
let api: Api;

before(async () => {
  server = await startServer(TEST_ENV);
  api = new Api(server.baseUrl);
});

after(async () => {
  await server.stop();
});

function envFor(job: CreatedJob): Record<string, string> {
  return { INLET_URL: server.baseUrl, INLET_JOB: job.jobId, INLET_TOKEN: job.token };
}

function fileSha256(file: string): string {
  return sha256Hex(fs.readFileSync(file));
}

function partCountOf(file: string): number {
  return Math.ceil(fs.statSync(file).size / PART_SIZE);
}

interface Listing {
  status: string;
  partCount: number;
  parts: { partNumber: number; sha256: string }[];
}

async function listParts(job: CreatedJob, uploadSessionId: string): Promise<Listing> {
  return api.ok<Listing>('query', 'uploads.listParts', { uploadSessionId }, { token: job.token });
}

/**
 * Starts a rate-limited upload of `file` and sends SIGINT once `stopAfter` parts are stored, as
 * its JSON progress events report them. Returns the run's result and its upload session id.
 */
async function interruptUpload(job: CreatedJob, file: string, cwd: string, stopAfter: number): Promise<{ result: CliResult; uploadSessionId: string }> {
  const run = spawnCli(['upload', `${file}:primary`, '--parallel', '2', '--limit-rate', '64K', '--progress', 'json'], { env: envFor(job), cwd });
  let stored = 0;
  let uploadSessionId = '';
  run.onStderrLine((line) => {
    if (!line.startsWith('{')) return;
    const event = JSON.parse(line) as { event: string; uploadSessionId?: string };
    if (event.event === 'file.started') uploadSessionId = event.uploadSessionId ?? '';
    if (event.event !== 'part.stored') return;
    stored += 1;
    if (stored === stopAfter) run.child.kill('SIGINT');
  });
  const result = await run.result;
  return { result, uploadSessionId };
}

describe('inlet upload', () => {
  test('uploads fixtures and verifies receipt', async () => {
    const job = await createJob(api);
    const cwd = makeTempDir('inlet-cli-');
    const receiptFile = path.join(cwd, 'receipt.json');

    const result = await runCli(
      ['upload', `${DIAMONDS}:primary`, `${CASTLE}:secondary`, `${SHEETS}:auxiliary`, `${CODEBOOK}:other`, '--receipt', receiptFile, '--progress', 'none', '--json'],
      { env: envFor(job), cwd },
    );
    assert.equal(result.code, 0, result.stderr);

    const document = JSON.parse(fs.readFileSync(receiptFile, 'utf8')) as { jobId: string; fingerprint: string; files: { path: string; role: string; receipt: { sha256: string; datasetKey: string; sizeBytes: number } }[] };
    assert.deepEqual(JSON.parse(result.stdout), document);
    assert.equal(document.jobId, job.jobId);
    assert.deepEqual(document.files.map((entry) => entry.role), ['primary_dataset', 'secondary_dataset', 'auxiliary_data', 'other']);
    for (const [index, file] of [DIAMONDS, CASTLE, SHEETS, CODEBOOK].entries()) {
      const receipt = document.files[index]!.receipt;
      assert.equal(receipt.sha256, fileSha256(file), `sha256 of ${file}`);
      assert.equal(receipt.sizeBytes, fs.statSync(file).size, `size of ${file}`);
      assert.equal(receipt.datasetKey, `ds_${fileSha256(file).slice(0, 16)}`);
    }

    const manifest = await api.ok<{ fingerprint: string; datasets: { sha256: string }[] }>('query', 'inputs.manifest', { jobId: job.jobId }, { token: job.token });
    assert.equal(manifest.datasets.length, 4);
    assert.equal(document.fingerprint, manifest.fingerprint);
    assert.equal(fs.existsSync(path.join(cwd, '.inlet-upload')), false, 'the state directory is removed after success');

    const verified = await runCli(['verify', DIAMONDS, `${CASTLE}:secondary`, '--receipt', receiptFile, '--json'], { env: envFor(job), cwd });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const report = JSON.parse(verified.stdout) as { ok: boolean; fingerprint: { computed: string; server: string }; checks: { ok: boolean }[] };
    assert.equal(report.ok, true);
    assert.equal(report.fingerprint.computed, manifest.fingerprint);
    assert.equal(report.fingerprint.server, manifest.fingerprint);
    // 2 fingerprints, 4 dataset keys, 2 files, 4 receipts with their 4 local files.
    assert.equal(report.checks.length, 16);
  });

  test('interrupted upload resumes missing parts', async () => {
    const job = await createJob(api);
    const cwd = makeTempDir('inlet-cli-');
    const partCount = partCountOf(CASTLE);
    assert.ok(partCount >= 10, `the fixture needs many parts, has ${partCount}`);

    const first = await interruptUpload(job, CASTLE, cwd, 3);
    assert.equal(first.result.code, 130, first.result.stderr);
    assert.match(first.result.stderr, /Interrupted\. .*run the same command again to resume/);
    assert.equal(fs.readdirSync(path.join(cwd, '.inlet-upload')).length, 1, 'one state file is kept');

    const before = await listParts(job, first.uploadSessionId);
    assert.equal(before.status, 'issued');
    const storedBefore = before.parts.map((part) => part.partNumber);
    assert.ok(storedBefore.length >= 3, `at least 3 parts stored, got ${storedBefore.length}`);
    assert.ok(storedBefore.length < partCount, `the upload stopped before the end, ${storedBefore.length} of ${partCount}`);

    const second = await runCli(['upload', `${CASTLE}:primary`, '--progress', 'json', '--json'], { env: envFor(job), cwd });
    assert.equal(second.code, 0, second.stderr);
    const events = progressEvents(second.stderr);
    const started = events.find((event) => event.event === 'file.started');
    assert.equal(started?.uploadSessionId, first.uploadSessionId, 'the same upload session continues');
    assert.equal(started?.storedParts, storedBefore.length);
    const sent = events.filter((event) => event.event === 'part.stored').map((event) => event.partNumber as number);
    assert.deepEqual(sent.filter((partNumber) => storedBefore.includes(partNumber)), [], 'no stored part is sent again');
    assert.deepEqual([...sent, ...storedBefore].sort((a, b) => a - b), Array.from({ length: partCount }, (_, index) => index + 1));

    // The server stored every part exactly once over both runs.
    await server.waitForLog((entry) => entry.event === 'session.finalized' && entry.uploadSessionId === first.uploadSessionId);
    const puts = server.logs.filter((entry) => entry.event === 'object.part_stored' && entry.uploadSessionId === first.uploadSessionId);
    assert.equal(puts.length, partCount);

    const document = JSON.parse(second.stdout) as { files: { receipt: { sha256: string; uploadSessionId: string } }[] };
    assert.equal(document.files[0]!.receipt.sha256, fileSha256(CASTLE));
    assert.equal(document.files[0]!.receipt.uploadSessionId, first.uploadSessionId);
    assert.equal(fs.existsSync(path.join(cwd, '.inlet-upload')), false);
  });

  test('resume without state finds session', async () => {
    const job = await createJob(api);
    const cwd = makeTempDir('inlet-cli-');
    const first = await interruptUpload(job, CASTLE, cwd, 2);
    assert.equal(first.result.code, 130, first.result.stderr);
    const storedBefore = (await listParts(job, first.uploadSessionId)).parts.length;

    // Another directory has no state file: the live session is found through uploads.listSessions.
    const elsewhere = makeTempDir('inlet-cli-');
    const second = await runCli(['upload', `${CASTLE}:primary`, '--progress', 'json', '--json'], { env: envFor(job), cwd: elsewhere });
    assert.equal(second.code, 0, second.stderr);
    const started = progressEvents(second.stderr).find((event) => event.event === 'file.started');
    assert.equal(started?.uploadSessionId, first.uploadSessionId);
    assert.equal(started?.storedParts, storedBefore);
  });

  test('changed stored part is sent again', async () => {
    const job = await createJob(api);
    const cwd = makeTempDir('inlet-cli-');
    const first = await interruptUpload(job, CASTLE, cwd, 3);
    assert.equal(first.result.code, 130, first.result.stderr);
    const before = await listParts(job, first.uploadSessionId);
    const damaged = before.parts[0]!.partNumber;

    // Another client replaces a stored part with other bytes of the same size.
    const refreshed = await api.ok<{ parts: { url: string }[] }>('mutation', 'uploads.refreshUrls', { uploadSessionId: first.uploadSessionId, partNumbers: [damaged] }, { token: job.token });
    const response = await putBytes(refreshed.parts[0]!.url, Buffer.alloc(PART_SIZE, 0x41));
    assert.equal(response.status, 200);

    const second = await runCli(['upload', `${CASTLE}:primary`, '--progress', 'json', '--json'], { env: envFor(job), cwd });
    assert.equal(second.code, 0, second.stderr);
    const events = progressEvents(second.stderr);
    const sent = events.filter((event) => event.event === 'part.stored').map((event) => event.partNumber);
    assert.ok(sent.includes(damaged), `part ${damaged} is sent again`);
    assert.ok(events.some((event) => event.event === 'note' && String(event.message).includes(`part ${damaged} differs`)));
    const document = JSON.parse(second.stdout) as { files: { receipt: { sha256: string } }[] };
    assert.equal(document.files[0]!.receipt.sha256, fileSha256(CASTLE));
  });

  test('finalize failure exits with its code', async () => {
    const job = await createJob(api);
    const cwd = makeTempDir('inlet-cli-');
    // Workbook bytes under a Stata name: finalize returns INPUT_FORMAT_MISMATCH, which no retry fixes.
    const disguised = path.join(cwd, 'survey.dta');
    fs.copyFileSync(SHEETS, disguised);

    const result = await runCli(['upload', `${disguised}:primary`, '--progress', 'none', '--json'], { env: envFor(job), cwd });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Finalizing survey\.dta failed with INPUT_FORMAT_MISMATCH/);
    const body = JSON.parse(result.stdout) as { error: { code: string; details: { retryable: boolean } } };
    assert.equal(body.error.code, 'INPUT_FORMAT_MISMATCH');
    assert.equal(body.error.details.retryable, false);
  });

  test('already finalized files are skipped', async () => {
    const job = await createJob(api);
    const cwd = makeTempDir('inlet-cli-');
    // The second file fails, so the run keeps its state and the first file's receipt.
    const broken = path.join(cwd, 'broken.dta');
    fs.copyFileSync(SHEETS, broken);
    const first = await runCli(['upload', `${CASTLE}:primary`, `${broken}:secondary`, '--progress', 'none'], { env: envFor(job), cwd });
    assert.equal(first.code, 1);

    const second = await runCli(['upload', `${CASTLE}:primary`, '--progress', 'lines', '--json'], { env: envFor(job), cwd });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /was finalized by an earlier run/);
    const bundles = await api.ok<{ bundles: unknown[] }>('query', 'bundles.get', { jobId: job.jobId }, { token: job.token });
    assert.equal(bundles.bundles.length, 1, 'no second bundle was declared');
  });
});

describe('inlet read commands', () => {
  let job: CreatedJob;
  let cwd: string;

  before(async () => {
    job = await createJob(api);
    cwd = makeTempDir('inlet-cli-');
    const upload = await runCli(['upload', `${CASTLE}:primary`, `${SCOTLAND}:secondary`, '--progress', 'none'], { env: envFor(job), cwd });
    assert.equal(upload.code, 0, upload.stderr);
  });

  test('manifest prints api json', async () => {
    const result = await runCli(['manifest', '--json'], { env: envFor(job), cwd });
    assert.equal(result.code, 0, result.stderr);
    const expected = await api.ok('query', 'inputs.manifest', { jobId: job.jobId }, { token: job.token });
    assert.deepEqual(JSON.parse(result.stdout), expected);
  });

  test('manifest saves on-disk form', async () => {
    const output = path.join(cwd, 'manifest.json');
    const result = await runCli(['manifest', '--on-disk', '--output', output], { env: envFor(job), cwd });
    assert.equal(result.code, 0, result.stderr);
    const saved = JSON.parse(fs.readFileSync(output, 'utf8')) as { schema_version: number; datasets: { dataset_key: string }[] };
    assert.equal(saved.schema_version, 2);
    assert.equal(saved.datasets.length, 2);

    // verify reads the saved file without the server.
    const verified = await runCli(['verify', '--manifest', output, CASTLE, '--json'], { cwd });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  test('manifest text lists datasets', async () => {
    const result = await runCli(['manifest'], { env: envFor(job), cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Fingerprint: sha256:[0-9a-f]{64}/);
    assert.match(result.stdout, /dta118_castle\.dta/);
    assert.match(result.stdout, /scotland_population\.csv/);
  });

  test('preview shows primary table', async () => {
    const result = await runCli(['preview', '--rows', '3', '--width', '200'], { env: envFor(job), cwd });
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    assert.match(lines[0]!, /^ds_804633c161827b6c, dta, format version 118, encoding utf-8; 550 rows, 185 columns$/);
    assert.match(result.stdout, /^state\s+year\s+sid/m);
    assert.match(result.stdout, /^Alabama\s+2000\s+1\b/m);
    assert.match(result.stdout, /3 of 550 rows shown; \d+ more column\(s\) not shown/);
  });

  test('preview json honours options', async () => {
    const manifest = await api.ok<{ datasets: { datasetKey: string; format: string }[] }>('query', 'inputs.manifest', { jobId: job.jobId }, { token: job.token });
    const table = manifest.datasets.find((dataset) => dataset.format === 'csv')!;
    const result = await runCli(['preview', '--dataset', table.datasetKey, '--rows', '2', '--header-row', 'none', '--delimiter', ';', '--json'], { env: envFor(job), cwd });
    assert.equal(result.code, 0, result.stderr);
    const preview = JSON.parse(result.stdout) as { datasetKey: string; headerRow: number | null; delimiter: string; rows: unknown[] };
    assert.equal(preview.datasetKey, table.datasetKey);
    assert.equal(preview.headerRow, null);
    assert.equal(preview.delimiter, ';');
    assert.equal(preview.rows.length, 2);
  });

  test('verify reports a mismatch', async () => {
    const other = path.join(cwd, 'other.csv');
    fs.writeFileSync(other, 'a,b\n1,2\n');
    const result = await runCli(['verify', CASTLE, other, '--json'], { env: envFor(job), cwd });
    assert.equal(result.code, 1);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: { check: string; subject: string; ok: boolean }[] };
    assert.equal(report.ok, false);
    const failed = report.checks.filter((check) => !check.ok);
    assert.deepEqual(failed.map((check) => check.subject), [other]);
  });

  test('verify rejects a tampered receipt', async () => {
    const receipt = path.join(cwd, 'tampered.json');
    const sha256 = fileSha256(CASTLE);
    const wrong = sha256.replace(/^./, sha256.startsWith('0') ? '1' : '0');
    const document = { jobId: job.jobId, url: server.baseUrl, fingerprint: '', files: [{ path: CASTLE, filename: 'dta118_castle.dta', role: 'primary_dataset', receipt: { datasetKey: `ds_${sha256.slice(0, 16)}`, sha256: wrong, sizeBytes: fs.statSync(CASTLE).size } }] };
    fs.writeFileSync(receipt, JSON.stringify(document));
    const result = await runCli(['verify', '--receipt', receipt], { env: envFor(job), cwd });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /MISMATCH {2}receipt: /);
    assert.match(result.stdout, /MISMATCH {2}receipt file: /);
  });
});

describe('verify fingerprint', () => {
  test('matches the published test vector', () => {
    // One primary dataset of the 8 bytes "a,b\n1,2\n".
    const sha256 = '492d5ea496056f1a6a6592241032fab764c321596317930b4fa0e1e8bc3b7470';
    assert.equal(sha256Hex('a,b\n1,2\n'), sha256);
    assert.equal(computeJobFingerprint([{ role: 'primary_dataset', sha256, sizeBytes: 8 }]), 'sha256:cb89cb79edcdbf65297b51cf47458a27bdb73774373c3cb62cc857af9a32bf47');
  });

  test('ignores dataset order', () => {
    const a = { role: 'secondary_dataset', sha256: 'b'.repeat(64), sizeBytes: 2 };
    const b = { role: 'primary_dataset', sha256: 'a'.repeat(64), sizeBytes: 1 };
    const c = { role: 'secondary_dataset', sha256: 'a'.repeat(64), sizeBytes: 3 };
    assert.equal(computeJobFingerprint([a, b, c]), computeJobFingerprint([c, b, a]));
  });

  test('empty job hashes an empty list', () => {
    assert.equal(computeJobFingerprint([]), `sha256:${sha256Hex('[]')}`);
  });
});

describe('inlet errors', () => {
  const usageCases: { name: string; args: string[]; env?: Record<string, string>; message: RegExp }[] = [
    { name: 'file without role', args: ['upload', 'data.csv'], message: /data\.csv has no role; write data\.csv:primary/ },
    { name: 'bad role', args: ['upload', 'data.csv', '--role', 'main'], message: /--role "main" is invalid/ },
    { name: 'bad parallel', args: ['upload', 'data.csv:primary', '--parallel', '0'], message: /--parallel "0" is invalid; use a whole number from 1 to 32/ },
    { name: 'unknown option', args: ['manifest', '--colour'], message: /Unknown option '--colour'/ },
    { name: 'missing url', args: ['manifest'], env: {}, message: /The server URL is missing; pass --url URL or set INLET_URL/ },
    { name: 'bad job id', args: ['manifest', '--job', 'job-1'], message: /--job "job-1" is not a job id/ },
    { name: 'unknown command', args: ['download'], message: /unknown command "download"/ },
  ];

  for (const testCase of usageCases) {
    test(`usage error: ${testCase.name}`, async () => {
      const env = testCase.env ?? { INLET_URL: server.baseUrl, INLET_TOKEN: 'inlet_job_x', INLET_JOB: 'job_0123456789abcdef0123' };
      const result = await runCli(testCase.args, { env });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, testCase.message);
    });
  }

  test('bad token names the code', async () => {
    const job = await createJob(api);
    const result = await runCli(['manifest', '--json'], { env: { ...envFor(job), INLET_TOKEN: 'inlet_job_not-a-real-token' } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /inputs\.manifest failed with AUTH_INVALID \(HTTP 401\)/);
    assert.equal((JSON.parse(result.stdout) as { error: { code: string } }).error.code, 'AUTH_INVALID');
  });

  test('unreachable server is a failure', async () => {
    const job = await createJob(api);
    // Port 9 (discard) on the loopback address has nothing listening here; one attempt only.
    const result = await runCli(['upload', `${SHEETS}:primary`, '--retries', '0', '--url', 'http://127.0.0.1:9', '--progress', 'none'], { env: envFor(job) });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /could not reach http:\/\/127\.0\.0\.1:9/);
  });

  test('every command has help', async () => {
    for (const command of ['upload', 'manifest', 'preview', 'verify', 'job', 'admin']) {
      const result = await runCli([command, '--help']);
      assert.equal(result.code, 0, `${command} --help: ${result.stderr}`);
      assert.match(result.stdout, /Usage:/, `${command} --help prints usage`);
    }
  });

  test('admin creates a tenant key', async () => {
    // The admin commands run from the checkout through the package.json bin entry.
    const { execFileSync } = await import('node:child_process');
    const output = execFileSync(process.execPath, ['src/cli/bin.mjs', 'admin', 'tenant', 'create', 'cli-test', '--json'], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: { ...process.env, INLET_DATA_DIR: server.dataDir },
      encoding: 'utf8',
    });
    const created = JSON.parse(output) as { tenantId: string; key: string };
    assert.equal(created.tenantId, 'cli-test');
    const jobs = await api.ok<{ jobs: unknown[] }>('query', 'jobs.list', undefined, { token: created.key });
    assert.deepEqual(jobs.jobs, []);
  });
});
