import type { Io } from './common';

/**
 * Loads the admin commands only when they run. They open the server's SQLite database through a
 * native module, which the client commands must not need; the standalone bundle replaces the
 * `./admin` module with a stub that explains where to run them.
 */
export async function runAdminCommand(args: string[], io: Io): Promise<number> {
  const { runAdmin } = await import('./admin');
  return runAdmin(args, io);
}
