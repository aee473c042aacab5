/**
 * The `inlet` command: uploads files into a job with the same guarantees as the web page, reads
 * the manifest and previews, verifies local files against the job, and (on the server host) runs
 * the admin commands.
 */
import { runAdminCommand } from './admin-entry';
import { runJob } from './commands/job';
import { runManifest } from './commands/manifest';
import { runPreview } from './commands/preview';
import { runUpload } from './commands/upload';
import { runVerify } from './commands/verify';
import { describeError, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, InterruptedError, type Io, UsageError } from './common';

export const VERSION = '0.1.0';

const HELP = `Usage: inlet COMMAND [options]

Commands:
  upload FILE[:ROLE]...   upload files into a job; resumes after an interruption
  manifest                print or save the job's manifest
  preview                 show a dataset's first rows as a table
  verify [FILE...]        check local files and the job fingerprint against the server
  job create              create a job and print its id and job token
  admin ...               tenant keys, job tokens and cleanup, on the server host
                          (admin tenant create ID | admin token create JOB_ID | admin gc)

Run "inlet COMMAND --help" for a command's options. The server URL, the job id and the job token
come from --url, --job and --token, or from INLET_URL, INLET_JOB and INLET_TOKEN.

Exit status: 0 success, 1 failure (including a verify mismatch), 2 usage error, 130 interrupted.`;

const COMMANDS: Record<string, (args: string[], io: Io) => Promise<number>> = {
  upload: runUpload,
  manifest: runManifest,
  preview: runPreview,
  verify: runVerify,
  job: runJob,
  admin: runAdminCommand,
};

export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    (command === undefined ? io.stderr : io.stdout).write(`${HELP}\n`);
    return command === undefined ? EXIT_USAGE : 0;
  }
  if (command === '--version') {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    io.stderr.write(`inlet: unknown command ${JSON.stringify(command)}.\n\n${HELP}\n`);
    return EXIT_USAGE;
  }

  const json = rest.includes('--json');
  try {
    return await run(rest, io);
  } catch (error) {
    if (io.signal.aborted || error instanceof InterruptedError) {
      io.stderr.write('\nInterrupted. Parts already stored stay on the server; run the same command again to resume.\n');
      if (json) io.stdout.write(`${JSON.stringify({ error: { code: 'INTERRUPTED', message: 'Interrupted.' } })}\n`);
      return EXIT_INTERRUPTED;
    }
    const described = describeError(error);
    if (error instanceof UsageError) {
      io.stderr.write(`inlet ${command}: ${described.message}\nRun "inlet ${command} --help" for usage.\n`);
      if (json) io.stdout.write(`${JSON.stringify({ error: { code: 'USAGE', message: described.message } })}\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`inlet ${command}: ${described.message}\n`);
    if (json) io.stdout.write(`${JSON.stringify({ error: described }, null, 2)}\n`);
    return EXIT_FAILURE;
  }
}

/** Runs the command for this process: Ctrl-C aborts the work in progress, a second one exits at once. */
export function runProcess(): void {
  const controller = new AbortController();
  process.on('SIGINT', () => {
    if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
    controller.abort(new InterruptedError());
  });
  const io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal };
  main(process.argv.slice(2), io).then(
    (code) => exitAfterOutput(code),
    (error: unknown) => {
      process.stderr.write(`inlet: ${describeError(error).message}\n`);
      exitAfterOutput(EXIT_FAILURE);
    },
  );
}

/** Exits once stdout has taken everything written, without waiting for idle keep-alive sockets. */
function exitAfterOutput(code: number): void {
  process.stdout.write('', () => process.exit(code));
}
