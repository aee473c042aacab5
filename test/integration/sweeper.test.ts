import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { Api, createJob, uploadFile } from '../helpers/api';
import { startServer } from '../helpers/server';

const PROJECT_ROOT = path.resolve(import.meta.dirname, '../..');

function plant(file: string, ageMs: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'left behind');
  const time = new Date(Date.now() - ageMs);
  fs.utimesSync(file, time, time);
}

test('gc removes old stray files only', async () => {
  const server = await startServer();
  const api = new Api(server.baseUrl);
  const job = await createJob(api);
  const { result } = await uploadFile(api, job, { filename: 'kept.csv', bytes: Buffer.from('a\n1\n'), role: 'primary_dataset' });
  await server.stop();

  const workspace = path.join(server.dataDir, 'workspaces/default', job.jobId);
  const twoHours = 2 * 60 * 60 * 1000;
  const oldTemp = path.join(workspace, 'inputs/.manifest.json.0123abcd.tmp');
  const youngTemp = path.join(workspace, 'inputs/.manifest.json.4567ef01.tmp');
  const oldStaged = path.join(workspace, 'inputs/.ups_00000000000000000000.staged');
  const deadSession = path.join(server.dataDir, 'objects/default', job.jobId, 'ups_11111111111111111111');
  plant(oldTemp, twoHours);
  plant(youngTemp, 0);
  plant(oldStaged, twoHours);
  plant(path.join(deadSession, 'data'), twoHours);
  const time = new Date(Date.now() - twoHours);
  fs.utimesSync(deadSession, time, time);

  const output = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'admin', 'gc', '--json'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, INLET_DATA_DIR: server.dataDir },
    encoding: 'utf8',
  });
  assert.match(output, /expiredSessions/);

  assert.equal(fs.existsSync(oldTemp), false, 'old temporary file removed');
  assert.equal(fs.existsSync(oldStaged), false, 'old staged file of an ended session removed');
  assert.equal(fs.existsSync(deadSession), false, 'folder of an ended session removed');
  assert.equal(fs.existsSync(youngTemp), true, 'young temporary file kept');
  assert.equal(fs.existsSync(path.join(workspace, `inputs/${result.datasetKey}.csv`)), true, 'dataset kept');
  assert.equal(fs.existsSync(path.join(workspace, 'inputs/manifest.json')), true, 'manifest kept');
});
