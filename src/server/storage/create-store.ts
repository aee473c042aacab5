import type { Config } from '../config';
import type { CrashPoint } from '../crash';
import type { Db } from '../db/client';
import type { Logger } from '../logger';
import type { DataPaths } from '../workspace';
import { LocalObjectStore } from './local-store';
import type { ObjectStore } from './object-store';
import { S3ObjectStore } from './s3-store';

/** Builds the object store that INLET_OBJECT_STORE names; there is no fallback from one to the other. */
export function createObjectStore(
  config: Config,
  paths: DataPaths,
  signingSecret: Buffer,
  db: Db,
  crashPoint: (point: CrashPoint) => void = () => {},
  logger?: Logger,
): ObjectStore {
  if (config.objectStore === 'local') return new LocalObjectStore(paths, signingSecret, db, logger);
  if (config.s3 === null) throw new Error('INLET_OBJECT_STORE is s3 but the INLET_S3_* settings were not read.');
  return new S3ObjectStore({ config: config.s3, db, paths, mirrorWorkspaces: config.workspaceMirror === 'local', crashPoint });
}
