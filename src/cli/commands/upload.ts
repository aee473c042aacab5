import path from 'node:path';

import type { JobView, Receipt, SessionView } from '../api';
import { CONNECTION_HELP, CONNECTION_OPTIONS, type Io, UsageError, connectToJob, integerOption, parse, writeJson } from '../common';
import { parseByteCount } from '../format';
import { RateLimiter } from '../http-put';
import { createReporter, type ProgressMode } from '../progress';
import { StateStore } from '../state';
import { checkReceipt, type FileSpec, inspectFile, prepareStates, ROLE_ALIASES } from '../upload/files';
import { transferAndFinalize } from '../upload/transfer';
import { writeFileAtomic } from './output';

export const UPLOAD_HELP = `Usage: inlet upload [options] FILE[:ROLE]...

Uploads files into a job and prints the receipt of each. Parts go up several at a time, each
with its SHA-256 for the store to verify; failed parts are retried with backoff. After Ctrl-C or a
lost connection, run the same command again: it sends only the parts the server is missing.

ROLE is primary, secondary, auxiliary or other (or the full names primary_dataset,
secondary_dataset, auxiliary_data). A job's first upload needs exactly one primary dataset.

Options:
  --role ROLE          role of every FILE given without :ROLE
  --parallel N         parts sent at the same time (default 4, 1-32)
  --retries N          retries per part and per API call after a failure (default 8)
  --limit-rate RATE    cap the upload speed, in bytes per second with optional K, M or G
                       (binary units), e.g. 20M
  --receipt FILE       also write the receipts as JSON to FILE
  --state-dir DIR      where resume state is kept (default .inlet-upload in the current
                       directory; env INLET_STATE_DIR); removed once every file is finalized
  --fresh              ignore earlier runs and start new upload sessions
  --skip-sha256        do not hash each whole file before the upload (saves one read of the
                       file; the server still computes the SHA-256, and parts are still checked)
  --progress MODE      auto (a bar on a terminal, plain lines otherwise), bar, lines, json or none

${CONNECTION_HELP}

Example:
  export INLET_URL=https://inlet.example.org INLET_JOB=job_0123456789abcdef0123
  export INLET_TOKEN=...   # the job token
  inlet upload survey.dta:primary codebook.pdf:other --receipt receipt.json`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  role: { type: 'string' },
  parallel: { type: 'string' },
  retries: { type: 'string' },
  'limit-rate': { type: 'string' },
  receipt: { type: 'string' },
  'state-dir': { type: 'string' },
  fresh: { type: 'boolean', default: false },
  'skip-sha256': { type: 'boolean', default: false },
  progress: { type: 'string' },
} as const;

const PROGRESS_MODES = ['auto', 'bar', 'lines', 'json', 'none'];

/** Reads `path:role` (the role after the last colon, when it names a role) or a bare path. */
export function parseFileSpec(argument: string, defaultRole: string | undefined): FileSpec {
  const colon = argument.lastIndexOf(':');
  if (colon > 0) {
    const role = ROLE_ALIASES[argument.slice(colon + 1)];
    if (role) return { path: argument.slice(0, colon), role };
  }
  if (defaultRole === undefined) {
    throw new UsageError(`${argument} has no role; write ${argument}:primary (or :secondary, :auxiliary, :other), or pass --role ROLE.`);
  }
  return { path: argument, role: defaultRole };
}

export interface UploadDocument {
  jobId: string;
  url: string;
  /** The job fingerprint after the last finalize, from jobs.get. */
  fingerprint: string;
  files: { path: string; filename: string; role: string; receipt: Receipt }[];
}

export async function runUpload(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, true);
  if (values.help) {
    io.stdout.write(`${UPLOAD_HELP}\n`);
    return 0;
  }

  let defaultRole: string | undefined;
  if (values.role !== undefined) {
    defaultRole = ROLE_ALIASES[values.role];
    if (!defaultRole) throw new UsageError(`--role ${JSON.stringify(values.role)} is invalid; use primary, secondary, auxiliary or other.`);
  }
  if (positionals.length === 0) throw new UsageError('No file to upload; name at least one FILE[:ROLE].');
  const specs = positionals.map((argument) => parseFileSpec(argument, defaultRole));
  const parallel = integerOption('parallel', values.parallel, 4, 1, 32);
  const retries = integerOption('retries', values.retries, 8, 0, 100);
  const progressMode = values.progress ?? 'auto';
  if (!PROGRESS_MODES.includes(progressMode)) throw new UsageError(`--progress ${JSON.stringify(progressMode)} is invalid; use ${PROGRESS_MODES.join(', ')}.`);
  let limiter: RateLimiter | undefined;
  if (values['limit-rate'] !== undefined) {
    const rate = parseByteCount(values['limit-rate']);
    if (rate === null) throw new UsageError(`--limit-rate ${JSON.stringify(values['limit-rate'])} is invalid; use bytes per second such as 500K or 20M.`);
    limiter = new RateLimiter(rate);
  }

  const reporter = createReporter(progressMode as ProgressMode | 'auto', io.stderr);
  const { api, baseUrl, jobId } = connectToJob(values, io, (info) =>
    reporter.retrying({ what: info.procedure, attempt: info.attempt, delayMs: info.delayMs, reason: info.error.message }),
    retries + 1,
  );
  const stateDir = values['state-dir'] ?? io.env.INLET_STATE_DIR ?? '.inlet-upload';
  const states = new StateStore(path.resolve(stateDir));

  const seen = new Set<string>();
  for (const spec of specs) {
    const absolute = path.resolve(spec.path);
    if (seen.has(absolute)) throw new UsageError(`${spec.path} is named twice; name each file once.`);
    seen.add(absolute);
  }

  try {
    const files = [];
    for (const spec of specs) files.push(await inspectFile(spec));
    const context = { api, baseUrl, jobId, states, reporter, hashWholeFile: !values['skip-sha256'], fresh: values.fresh };
    const prepared = await prepareStates(context, files);

    const document: UploadDocument = { jobId, url: baseUrl, fingerprint: '', files: [] };
    for (const [index, file] of files.entries()) {
      let state = prepared[index]!;
      let receipt = state.receipt;
      if (!receipt) {
        const session = await api.mutation<SessionView>('uploads.createSession', { jobId, bundleId: state.bundleId, fileId: state.fileId });
        if (session.uploadSessionId !== state.uploadSessionId) {
          state = { ...state, uploadSessionId: session.uploadSessionId };
          await states.save(state);
        }
        receipt = await transferAndFinalize({ api, session, file, parallel, attempts: retries + 1, reporter, signal: io.signal, limiter });
        checkReceipt(file, receipt);
        await states.save({ ...state, receipt });
      } else {
        reporter.note(`${file.displayPath} was finalized by an earlier run as ${receipt.datasetKey}.`);
      }
      document.files.push({ path: file.displayPath, filename: file.filename, role: file.role, receipt });
    }
    reporter.stop();

    const job = await api.query<JobView>('jobs.get', { jobId });
    document.fingerprint = job.fingerprint;
    if (values.receipt !== undefined) await writeFileAtomic(values.receipt, `${JSON.stringify(document, null, 2)}\n`);
    for (const file of files) await states.remove(jobId, file.path);

    if (values.json) {
      writeJson(io, document);
    } else {
      for (const entry of document.files) {
        io.stdout.write(`${entry.path}\t${entry.role}\t${entry.receipt.datasetKey}\tsha256:${entry.receipt.sha256}\t${entry.receipt.sizeBytes} bytes\n`);
      }
      io.stdout.write(`Job ${jobId} fingerprint: ${document.fingerprint}\n`);
    }
    return 0;
  } finally {
    reporter.stop();
  }
}
