/**
 * Admin commands on the server host. They work on INLET_DATA_DIR directly (the same configuration
 * as the server), so run them where the server's data dir is.
 *
 *   inlet-admin tenant create <tenantId>   create a tenant key (printed once)
 *   inlet-admin token create <jobId>       issue a new job token for a job
 *   inlet-admin gc                         run the sweeper once
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseTenantHeader } from '../server/auth';
import { ConfigError, loadConfig } from '../server/config';
import { openDatabase } from '../server/db/client';
import { migrateUnderLock } from '../server/db/migrate';
import { InletError } from '../server/errors';
import { createJobToken, createTenantKey } from '../server/jobs';
import { createLogger } from '../server/logger';
import type { Runtime } from '../server/runtime';
import { LocalObjectStore } from '../server/storage/local-store';
import { loadSigningSecret } from '../server/storage/signing';
import { sweepOnce } from '../server/sweeper';
import { DataPaths } from '../server/workspace';

const USAGE = `Usage:
  inlet-admin tenant create <tenantId> [--json]   create a tenant key (printed once)
  inlet-admin token create <jobId> [--json]       issue a new job token for a job
  inlet-admin gc [--json]                         expire old upload sessions and delete their parts`;

function projectRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(directory, 'package.json'))) directory = path.dirname(directory);
  return directory;
}

async function openRuntime(): Promise<Runtime> {
  const config = loadConfig();
  const paths = new DataPaths(config.dataDir);
  fs.mkdirSync(config.dataDir, { recursive: true });
  const root = projectRoot();
  const db = openDatabase(paths.databaseFile);
  await migrateUnderLock(db, config.dataDir, path.join(root, 'drizzle'));
  const signingSecret = loadSigningSecret(config.dataDir);
  const logger = createLogger(process.argv.includes('--json') ? 'silent' : 'warn', false);
  return { projectRoot: root, config, db, logger, paths, signingSecret, store: new LocalObjectStore(paths, signingSecret) };
}

function print(json: boolean, value: Record<string, unknown>, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((arg) => arg !== '--json');
  const [group, action, value] = args;

  if (group === 'tenant' && action === 'create' && value) {
    const tenantId = parseTenantHeader(value);
    if (tenantId === null) throw new InletError('INPUT_INVALID', 'A tenant id is required.', {});
    const runtime = await openRuntime();
    const created = createTenantKey(runtime.db, tenantId, new Date());
    print(json, created, `Tenant key for ${created.tenantId} (shown once; store it safely):\n${created.key}`);
    return 0;
  }
  if (group === 'token' && action === 'create' && value) {
    const runtime = await openRuntime();
    const created = createJobToken(runtime.db, runtime.config, value, new Date());
    print(json, created, `Job token for ${created.jobId}, valid until ${created.tokenExpiresAt} (shown once):\n${created.token}`);
    return 0;
  }
  if (group === 'gc' && action === undefined) {
    const runtime = await openRuntime();
    const swept = await sweepOnce(runtime);
    print(json, { expiredSessions: swept }, `Expired ${swept} upload session(s) and deleted their parts.`);
    return 0;
  }

  process.stderr.write(`${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof InletError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
