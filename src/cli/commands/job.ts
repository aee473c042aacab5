import { CONNECTION_OPTIONS, type Io, UsageError, connect, parse, writeJson } from '../common';

export const JOB_HELP = `Usage: inlet job create [--title TEXT] [options]

Creates a job and prints its id and job token; the token is shown only once. On a server in
open mode no token is needed; otherwise pass a tenant key with --token or INLET_TOKEN.

Options:
  --title TEXT     a title shown on the job page
  --url URL        server origin (env INLET_URL)
  --token KEY      tenant key, when the server is not in open mode (env INLET_TOKEN)
  --tenant ID      tenant id sent as X-Tenant-Id (env INLET_TENANT)
  --json           print the response as JSON
  -h, --help       show this help

The output ends with lines to paste into a shell:
  export INLET_JOB=job_...
  export INLET_TOKEN=inlet_job_...`;

interface CreatedJob {
  jobId: string;
  tenantId: string;
  token: string;
  tokenExpiresAt: string;
  createdAt: string;
}

export async function runJob(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { ...CONNECTION_OPTIONS, title: { type: 'string' } }, true);
  if (values.help) {
    io.stdout.write(`${JOB_HELP}\n`);
    return 0;
  }
  if (positionals.join(' ') !== 'create') {
    throw new UsageError(`Unknown job command ${JSON.stringify(positionals.join(' '))}; the only one is "inlet job create".`);
  }

  const api = connect(values, io);
  const created = await api.mutation<CreatedJob>('jobs.create', values.title === undefined ? {} : { title: values.title });
  if (values.json) {
    writeJson(io, created);
    return 0;
  }
  // The notice goes to stderr, so that `eval "$(inlet job create)"` reads only the export lines.
  io.stderr.write(`Created job ${created.jobId} in tenant ${created.tenantId}; the job token is valid until ${created.tokenExpiresAt} and is shown only this once.\n`);
  io.stdout.write(`export INLET_URL=${api.baseUrl}\nexport INLET_JOB=${created.jobId}\nexport INLET_TOKEN=${created.token}\n`);
  return 0;
}
