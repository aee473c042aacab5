/**
 * Preview of datasets kept in S3 (a real Ceph RADOS Gateway on 127.0.0.1) without a local mirror.
 * Every format gives the same result as with the embedded store, nothing is written under the data
 * dir, a large CSV is previewed from a bounded number of bytes, and its exact row count matches.
 * Bytes fetched come from the server's `preview.read` log line, which sums the GETs the S3 store
 * sent for the preview.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Api, createJob, uploadFile, type CreatedJob } from '../helpers/api';
import { s3Env, s3TestServer, type S3TestServer } from '../helpers/s3';
import { startServer, type TestServer } from '../helpers/server';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/real');

/** One fixture per reader: CSV, .xlsx, legacy .xls (sent to its child process on stdin) and .dta. */
const FIXTURE_FILES = ['penguins_raw.csv', 'datasets.xlsx', 'datasets.xls', 'dta118_castle.dta'];
/** Every real dataset fixture, each compared sheet by sheet between the two stores. */
const ALL_FIXTURE_FILES = fs
  .readdirSync(FIXTURES)
  .filter((name) => /\.(csv|tsv|xlsx|xls|dta)$/u.test(name))
  .sort();

/** Size of the generated CSV; the exact count reads it in 8 MiB ranged GETs. */
const LARGE_CSV_BYTES = 64 * 1024 * 1024;
/**
 * Bytes a preview of the large CSV may fetch before it returns: the 64 KiB encoding sample (one
 * 256 KiB block) and the sample records (one 256 KiB read), with room for one more read.
 */
const SAMPLE_FETCH_MAX_BYTES = 2 * 1024 * 1024;

interface Preview {
  datasetKey: string;
  rowCount: number;
  rowCountExact: boolean;
  [field: string]: unknown;
}

interface UploadedDataset {
  job: CreatedJob;
  datasetKey: string;
}

let s3: S3TestServer;
let local: TestServer;
let remote: TestServer;
let mirrored: TestServer;

before(async () => {
  s3 = await s3TestServer();
  [local, remote, mirrored] = await Promise.all([startServer(), startServer(s3Env(s3)), startServer({ ...s3Env(s3), INLET_WORKSPACE_MIRROR: 'local' })]);
});

after(async () => {
  await Promise.all([local?.stop(), remote?.stop(), mirrored?.stop()]);
  await s3?.stop();
});

async function upload(server: TestServer, filename: string, bytes: Buffer): Promise<UploadedDataset> {
  const api = new Api(server.baseUrl);
  const job = await createJob(api);
  const { result } = await uploadFile(api, job, { filename, bytes, role: 'primary_dataset' });
  assert.equal(result.success, true, JSON.stringify(result));
  return { job, datasetKey: (result as { datasetKey: string }).datasetKey };
}

function preview(server: TestServer, dataset: UploadedDataset, options: Record<string, unknown> = {}): Promise<Preview> {
  return new Api(server.baseUrl).ok<Preview>('query', 'inputs.preview', { jobId: dataset.job.jobId, rows: 200, columns: 200, ...options }, { token: dataset.job.token });
}

/** Calls preview until it returns the exact count; each call waits a few seconds for the count. */
async function exactPreview(server: TestServer, dataset: UploadedDataset): Promise<Preview> {
  for (let attempt = 0; attempt < 12; attempt += 1) {
    const result = await preview(server, dataset);
    if (result.rowCountExact) return result;
  }
  throw new Error(`The exact count of ${dataset.datasetKey} did not finish after 12 previews.`);
}

/** Returns the `preview.read` log lines of one dataset, in the order the server wrote them. */
function readLogs(server: TestServer, datasetKey: string): Record<string, unknown>[] {
  return server.logs.filter((entry) => entry.event === 'preview.read' && entry.datasetKey === datasetKey);
}

/** Lists every path under `directory`, relative to it. */
function listFiles(directory: string): string[] {
  return (fs.readdirSync(directory, { recursive: true }) as string[]).sort();
}

/** Builds a CSV of about `sizeBytes` bytes and returns it with the number of data rows it contains. */
function largeCsv(sizeBytes: number): { bytes: Buffer; dataRows: number } {
  const lines = ['id,region,value,note'];
  let length = lines[0]!.length + 1;
  let dataRows = 0;
  while (length < sizeBytes) {
    dataRows += 1;
    const line = `${dataRows},region ${dataRows % 17},${(dataRows * 0.37).toFixed(2)},"note ${dataRows % 101}"`;
    lines.push(line);
    length += line.length + 1;
  }
  return { bytes: Buffer.from(`${lines.join('\n')}\n`), dataRows };
}

describe('preview from s3 without mirror', () => {
  for (const file of FIXTURE_FILES) {
    test(`${file} matches embedded store`, async () => {
      const bytes = fs.readFileSync(path.join(FIXTURES, file));
      const [fromLocal, fromS3] = await Promise.all([upload(local, file, bytes), upload(remote, file, bytes)]);

      const expected = await exactPreview(local, fromLocal);
      const actual = await exactPreview(remote, fromS3);
      assert.deepEqual(actual, expected);
      const logged = readLogs(remote, fromS3.datasetKey);
      assert.ok(logged.length > 0, 'the S3 server logged no preview.read line');
      assert.ok(Number(logged[0]!.storeRequests) > 0, `no GETs counted: ${JSON.stringify(logged[0])}`);
    });
  }

  test('every real fixture matches embedded store', async () => {
    assert.ok(ALL_FIXTURE_FILES.length >= 30, `only ${ALL_FIXTURE_FILES.length} fixtures found`);
    for (const file of ALL_FIXTURE_FILES) {
      const bytes = fs.readFileSync(path.join(FIXTURES, file));
      const [fromLocal, fromS3] = await Promise.all([upload(local, file, bytes), upload(remote, file, bytes)]);
      // A file the reader rejects must be rejected the same way from S3.
      const outcome = (server: TestServer, dataset: UploadedDataset): Promise<Preview | string> =>
        exactPreview(server, dataset).catch((error: unknown) => String(error));
      const expected = await outcome(local, fromLocal);
      assert.deepEqual(await outcome(remote, fromS3), expected, file);

      const sheets = (typeof expected === 'string' ? [] : (expected.sheets ?? [])) as { name: string }[];
      for (const { name } of sheets.slice(1)) {
        const [localSheet, s3Sheet] = await Promise.all([
          preview(local, fromLocal, { sheetName: name }).catch((error: unknown) => String(error)),
          preview(remote, fromS3, { sheetName: name }).catch((error: unknown) => String(error)),
        ]);
        assert.deepEqual(s3Sheet, localSheet, `${file}, sheet ${name}`);
      }
    }
  });

  test('preview writes nothing locally', async () => {
    const before = listFiles(remote.dataDir);
    const written: string[] = [];
    const watcher = fs.watch(remote.dataDir, { recursive: true }, (_event, filename) => {
      if (filename !== null) written.push(filename);
    });
    try {
      for (const file of FIXTURE_FILES) {
        const dataset = await upload(remote, file, fs.readFileSync(path.join(FIXTURES, file)));
        await exactPreview(remote, dataset);
      }
    } finally {
      watcher.close();
    }

    // Only the SQLite database changes. No workspace, object or temporary file appears.
    const isDatabase = (name: string): boolean => /^inlet\.db(-wal|-shm|-journal)?$/u.test(path.basename(name)) && !name.includes(path.sep);
    assert.deepEqual(written.filter((name) => !isDatabase(name)), []);
    assert.deepEqual(listFiles(remote.dataDir), before);
    assert.equal(fs.existsSync(path.join(remote.dataDir, 'tmp')), false);
  });

  describe('large csv', () => {
    const { bytes, dataRows } = largeCsv(LARGE_CSV_BYTES);
    let fromLocal: UploadedDataset;
    let fromS3: UploadedDataset;

    before(async () => {
      [fromLocal, fromS3] = await Promise.all([upload(local, 'large.csv', bytes), upload(remote, 'large.csv', bytes)]);
    });

    test('quick preview fetches a bounded sample', async () => {
      const quick = await preview(remote, fromS3, { rows: 20, waitForCount: false });
      assert.equal(quick.rowCountExact, false);
      assert.ok(quick.rowCount > 0);

      const [logged] = readLogs(remote, fromS3.datasetKey);
      assert.ok(logged, 'the S3 server logged no preview.read line');
      assert.equal(logged.rowCountExact, false);
      const fetchedBytes = Number(logged.storeBytes);
      assert.ok(fetchedBytes > 0, `no bytes counted: ${JSON.stringify(logged)}`);
      assert.ok(fetchedBytes <= SAMPLE_FETCH_MAX_BYTES, `the preview fetched ${fetchedBytes} of ${bytes.length} bytes`);
    });

    test('exact count equals embedded store', async () => {
      const [expected, actual] = await Promise.all([exactPreview(local, fromLocal), exactPreview(remote, fromS3)]);
      assert.equal(expected.rowCount, dataRows);
      assert.equal(actual.rowCount, expected.rowCount);
      assert.deepEqual(actual, expected);
    });
  });
});

describe('preview from s3 with mirror', () => {
  test('mirror file is read locally', async () => {
    const file = 'datasets.xlsx';
    const bytes = fs.readFileSync(path.join(FIXTURES, file));
    const [fromLocal, fromMirror] = await Promise.all([upload(local, file, bytes), upload(mirrored, file, bytes)]);

    assert.deepEqual(await exactPreview(mirrored, fromMirror), await exactPreview(local, fromLocal));
    const [logged] = readLogs(mirrored, fromMirror.datasetKey);
    assert.ok(logged, 'the mirrored server logged no preview.read line');
    // Only sources reading the bucket count GETs, so a preview read from the mirror logs none.
    assert.equal(logged.storeRequests, undefined);
  });
});
