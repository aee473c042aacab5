import type { Io } from './common';

export const ADMIN_HELP = `Usage:
  inlet admin tenant create TENANT_ID [--json]   create a tenant key (printed once)
  inlet admin token create JOB_ID [--json]       issue a new job token for a job
  inlet admin gc [--json]                        expire old upload sessions and delete their parts

The admin commands work on the server's data directory directly: run them on the server host,
from a checkout ("npx inlet admin ..." or "npm run admin -- ..."), with the server's environment
(INLET_DATA_DIR and the other INLET_* settings). The standalone dist/inlet.mjs does not include them.`;

/**
 * Loads the admin commands only when they run, because they open the server's SQLite database
 * through a native module that the client commands must not need. The standalone bundle replaces
 * the `./admin` module with a stub that explains where to run them.
 */
export async function runAdminCommand(args: string[], io: Io): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(`${ADMIN_HELP}\n`);
    return 0;
  }
  const { runAdmin } = await import('./admin');
  return runAdmin(args, io);
}
