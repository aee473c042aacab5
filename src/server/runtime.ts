import type { Config } from './config';
import type { Db } from './db/client';
import type { Logger } from './logger';
import type { ObjectStore } from './storage/object-store';
import type { DataPaths } from './workspace';

/** The process-wide services the server entry builds once at start-up. */
export interface Runtime {
  /** Folder holding package.json, drizzle/ and the built app. */
  projectRoot: string;
  config: Config;
  db: Db;
  logger: Logger;
  paths: DataPaths;
  store: ObjectStore;
  signingSecret: Buffer;
}

// The server entry and Next's bundled route handlers run in one process but load separate copies of
// this module, so the runtime is shared through a global symbol rather than a module variable.
const RUNTIME_KEY = Symbol.for('inlet.runtime');

type GlobalWithRuntime = typeof globalThis & { [RUNTIME_KEY]?: Runtime };

export function setRuntime(runtime: Runtime): void {
  (globalThis as GlobalWithRuntime)[RUNTIME_KEY] = runtime;
}

export function getRuntime(): Runtime {
  const runtime = (globalThis as GlobalWithRuntime)[RUNTIME_KEY];
  if (!runtime) {
    throw new Error('Inlet runtime is not initialised: start the app with its server entry (npm start), not next start.');
  }
  return runtime;
}
