import fs from 'node:fs/promises';

import type { JobView, Manifest } from '../api';
import { CommandError, CONNECTION_HELP, CONNECTION_OPTIONS, type Io, connectToJob, parse, UsageError, writeJson } from '../common';
import { computeJobFingerprint } from '../fingerprint';
import { sha256OfFile } from '../hashing';
import { ROLE_ALIASES } from '../upload/files';
import type { UploadDocument } from './upload';

export const VERIFY_HELP = `Usage: inlet verify [FILE[:ROLE]...] [--receipt FILE] [options]

Checks a job against the server and against local files, and exits with status 1 on any mismatch:
  - the job fingerprint, recomputed here from the manifest's datasets (role, sha256, size_bytes,
    sorted by role then sha256, as compact JSON with sorted keys, then SHA-256), equals the
    manifest's and the job's fingerprint on the server;
  - each dataset's key is "ds_" and the first 16 hex digits of its SHA-256;
  - each FILE's SHA-256 and size match a dataset in the manifest (and its role, if given);
  - with --receipt, each receipt's dataset is still in the manifest with the same SHA-256, and
    each local file the receipt names still has that SHA-256.

Options:
  --receipt FILE    a receipt written by "inlet upload --receipt FILE"
  --manifest FILE   check a saved manifest (from "inlet manifest --output" or --on-disk) instead
                    of asking the server; no server fingerprint is compared then

${CONNECTION_HELP}`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  receipt: { type: 'string' },
  manifest: { type: 'string' },
} as const;

export interface Check {
  check: string;
  subject: string;
  ok: boolean;
  message: string;
}

interface Dataset {
  datasetKey: string;
  role: string;
  sha256: string;
  sizeBytes: number;
  originalName: string;
}

/** Reads a manifest in the API's camelCase form or in the on-disk snake_case form. */
export function normaliseManifest(value: unknown): { fingerprint: string | null; datasets: Dataset[] } {
  const object = value as Record<string, unknown>;
  const list = object.datasets;
  if (!Array.isArray(list)) throw new CommandError('The manifest has no "datasets" list; pass a file saved by "inlet manifest".', 'MANIFEST_INVALID');
  const datasets = list.map((entry: Record<string, unknown>) => ({
    datasetKey: String(entry.datasetKey ?? entry.dataset_key ?? ''),
    role: String(entry.role ?? ''),
    sha256: String(entry.sha256 ?? ''),
    sizeBytes: Number(entry.sizeBytes ?? entry.size_bytes ?? Number.NaN),
    originalName: String(entry.originalName ?? entry.original_name ?? ''),
  }));
  return { fingerprint: typeof object.fingerprint === 'string' ? object.fingerprint : null, datasets };
}

function parseVerifySpec(argument: string): { path: string; role?: string | undefined } {
  const colon = argument.lastIndexOf(':');
  const role = colon > 0 ? ROLE_ALIASES[argument.slice(colon + 1)] : undefined;
  return role ? { path: argument.slice(0, colon), role } : { path: argument };
}

async function localSha256(file: string): Promise<{ sha256: string; sizeBytes: number } | null> {
  try {
    const stat = await fs.stat(file);
    return { sha256: await sha256OfFile(file), sizeBytes: stat.size };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export async function runVerify(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, true);
  if (values.help) {
    io.stdout.write(`${VERIFY_HELP}\n`);
    return 0;
  }
  const specs = positionals.map(parseVerifySpec);
  const checks: Check[] = [];
  const add = (check: string, subject: string, ok: boolean, message: string): void => {
    checks.push({ check, subject, ok, message });
  };

  // 1. The manifest, from the server or from a saved file.
  let manifest: { fingerprint: string | null; datasets: Dataset[] };
  let serverFingerprint: string | null = null;
  let jobId: string | null = null;
  if (values.manifest !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await fs.readFile(values.manifest, 'utf8'));
    } catch (error) {
      if (error instanceof SyntaxError) throw new CommandError(`${values.manifest} is not valid JSON: ${error.message}`, 'MANIFEST_INVALID');
      throw error;
    }
    manifest = normaliseManifest(parsed);
  } else {
    const connection = connectToJob(values, io);
    jobId = connection.jobId;
    manifest = normaliseManifest(await connection.api.query<Manifest>('inputs.manifest', { jobId }));
    serverFingerprint = (await connection.api.query<JobView>('jobs.get', { jobId })).fingerprint;
  }

  // 2. The fingerprint, recomputed from the datasets.
  const computed = computeJobFingerprint(manifest.datasets);
  if (manifest.fingerprint !== null) {
    add('fingerprint', 'manifest', computed === manifest.fingerprint, `computed ${computed}, manifest has ${manifest.fingerprint}`);
  }
  if (serverFingerprint !== null) {
    add('fingerprint', `job ${jobId}`, computed === serverFingerprint, `computed ${computed}, the job has ${serverFingerprint}`);
  }
  for (const dataset of manifest.datasets) {
    const expectedKey = `ds_${dataset.sha256.slice(0, 16)}`;
    const wellFormed = /^[0-9a-f]{64}$/.test(dataset.sha256) && Number.isSafeInteger(dataset.sizeBytes) && dataset.datasetKey === expectedKey;
    add('dataset key', dataset.datasetKey, wellFormed, wellFormed ? `${dataset.originalName}, ${dataset.role}` : `expected key ${expectedKey} for sha256 ${dataset.sha256}`);
  }

  // 3. Local files against the manifest.
  for (const spec of specs) {
    const local = await localSha256(spec.path);
    if (!local) throw new CommandError(`File ${spec.path} was not found.`, 'FILE_NOT_FOUND', { path: spec.path });
    const match = manifest.datasets.find((dataset) => dataset.sha256 === local.sha256 && dataset.sizeBytes === local.sizeBytes && (spec.role === undefined || dataset.role === spec.role));
    const message = match
      ? `sha256 ${local.sha256} is dataset ${match.datasetKey} (${match.role})`
      : `sha256 ${local.sha256} (${local.sizeBytes} bytes${spec.role ? `, ${spec.role}` : ''}) is not in the manifest`;
    add('file', spec.path, match !== undefined, message);
  }

  // 4. A receipt against the manifest and the files it names.
  if (values.receipt !== undefined) {
    const document = JSON.parse(await fs.readFile(values.receipt, 'utf8')) as UploadDocument;
    if (!Array.isArray(document.files)) throw new CommandError(`${values.receipt} is not a receipt written by "inlet upload --receipt".`, 'RECEIPT_INVALID');
    if (jobId !== null && document.jobId !== jobId) {
      throw new UsageError(`The receipt is for job ${document.jobId}, but --job is ${jobId}.`);
    }
    for (const entry of document.files) {
      const { receipt } = entry;
      const dataset = manifest.datasets.find((candidate) => candidate.datasetKey === receipt.datasetKey);
      add(
        'receipt',
        `${entry.path} → ${receipt.datasetKey}`,
        dataset !== undefined && dataset.sha256 === receipt.sha256 && dataset.sizeBytes === receipt.sizeBytes,
        dataset ? `manifest has sha256 ${dataset.sha256}, receipt ${receipt.sha256}` : 'the dataset is no longer in the manifest (removed or replaced)',
      );
      const local = await localSha256(entry.path);
      if (local) {
        add('receipt file', entry.path, local.sha256 === receipt.sha256, `local sha256 ${local.sha256}, receipt ${receipt.sha256}`);
      }
    }
  }

  const ok = checks.every((check) => check.ok);
  if (values.json) {
    writeJson(io, { ok, jobId, fingerprint: { computed, manifest: manifest.fingerprint, server: serverFingerprint }, checks });
  } else {
    for (const check of checks) io.stdout.write(`${check.ok ? 'ok      ' : 'MISMATCH'}  ${check.check}: ${check.subject}: ${check.message}\n`);
    const failed = checks.filter((check) => !check.ok).length;
    io.stdout.write(ok ? `All ${checks.length} checks passed.\n` : `${failed} of ${checks.length} checks failed.\n`);
  }
  if (!ok) io.stderr.write('inlet verify: the job does not match; see the MISMATCH lines above.\n');
  return ok ? 0 : 1;
}
