/**
 * Admin commands on the server host. They work on INLET_DATA_DIR directly (the same configuration
 * as the server), so run them where the server's data dir is:
 *
 *   inlet admin tenant create <tenantId>   create a tenant key (printed once)
 *   inlet admin token create <jobId>       issue a new job token for a job
 *   inlet admin gc                         run the sweeper once
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseTenantHeader } from '../server/auth';
import { ConfigError, loadConfig } from '../server/config';
import { loadEnvFile } from '../server/env-file';
import { openDatabase } from '../server/db/client';
import { migrateUnderLock } from '../server/db/migrate';
import { InletError } from '../server/errors';
import { createJobToken, createTenantKey } from '../server/jobs';
import { createLogger } from '../server/logger';
import type { Runtime } from '../server/runtime';
import { createObjectStore } from '../server/storage/create-store';
import { loadSigningSecret } from '../server/storage/signing';
import { sweepOnce } from '../server/sweeper';
import { DataPaths } from '../server/workspace';
import { ADMIN_HELP } from './admin-entry';
import { CommandError, type Io, parse, UsageError } from './common';

function projectRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(directory, 'package.json'))) directory = path.dirname(directory);
  return directory;
}

async function openRuntime(json: boolean): Promise<Runtime> {
  // The same configuration as the server: the environment first, then the project's .env file.
  loadEnvFile(projectRoot());
  const config = loadConfig();
  const paths = new DataPaths(config.dataDir);
  fs.mkdirSync(config.dataDir, { recursive: true });
  const root = projectRoot();
  const db = openDatabase(paths.databaseFile);
  await migrateUnderLock(db, config.dataDir, path.join(root, 'drizzle'));
  const signingSecret = loadSigningSecret(config.dataDir);
  const logger = createLogger(json ? 'silent' : 'warn', false);
  return { projectRoot: root, config, db, logger, paths, signingSecret, store: createObjectStore(config, paths, signingSecret, db) };
}

function print(io: Io, json: boolean, value: Record<string, unknown>, text: string): void {
  io.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

export async function runAdmin(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } }, true);
  if (values.help) {
    io.stdout.write(`${ADMIN_HELP}\n`);
    return 0;
  }
  const json = values.json;
  const [group, action, value, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`Unexpected argument ${JSON.stringify(extra[0])}.\n${ADMIN_HELP}`);

  try {
    if (group === 'tenant' && action === 'create' && value) {
      const tenantId = parseTenantHeader(value);
      if (tenantId === null) throw new UsageError('A tenant id is required.');
      const runtime = await openRuntime(json);
      const created = createTenantKey(runtime.db, tenantId, new Date());
      print(io, json, created, `Tenant key for ${created.tenantId} (shown once; store it safely):\n${created.key}`);
      return 0;
    }
    if (group === 'token' && action === 'create' && value) {
      const runtime = await openRuntime(json);
      const created = createJobToken(runtime.db, runtime.config, value, new Date());
      print(io, json, created, `Job token for ${created.jobId}, valid until ${created.tokenExpiresAt} (shown once):\n${created.token}`);
      return 0;
    }
    if (group === 'gc' && action === undefined) {
      const runtime = await openRuntime(json);
      const swept = await sweepOnce(runtime);
      print(io, json, { expiredSessions: swept }, `Expired ${swept} upload session(s) and deleted their parts.`);
      return 0;
    }
  } catch (error) {
    if (error instanceof InletError) throw new CommandError(error.message, error.code, error.details);
    if (error instanceof ConfigError) throw new CommandError(error.message, 'CONFIG_INVALID');
    throw error;
  }

  throw new UsageError(`Unknown admin command ${JSON.stringify(positionals.join(' '))}.\n${ADMIN_HELP}`);
}
