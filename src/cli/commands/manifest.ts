import type { Manifest } from '../api';
import { CommandError, CONNECTION_HELP, CONNECTION_OPTIONS, type Io, connectToJob, parse, UsageError, writeJson } from '../common';
import { formatBytes } from '../format';
import { renderTable } from '../table';
import { writeFileAtomic } from './output';

export const MANIFEST_HELP = `Usage: inlet manifest [options]

Prints the job's manifest: its fingerprint and every dataset with role, format, size and SHA-256.

Options:
  --output FILE    save the manifest as JSON to FILE instead of printing it
  --on-disk        use inputs/manifest.json exactly as the server stores it (snake_case fields,
                   as Stata-side tooling reads it) instead of the API's camelCase form

${CONNECTION_HELP}`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  output: { type: 'string' },
  'on-disk': { type: 'boolean', default: false },
} as const;

/** Downloads inputs/manifest.json through a signed URL, byte for byte. */
async function fetchOnDiskManifest(api: ReturnType<typeof connectToJob>['api'], jobId: string, signal: AbortSignal): Promise<string> {
  const { url } = await api.query<{ url: string }>('inputs.downloadUrl', { jobId });
  const response = await fetch(url, { signal });
  const text = await response.text();
  if (!response.ok) throw new CommandError(`Downloading manifest.json failed with HTTP ${response.status}: ${text.slice(0, 200)}`, 'DOWNLOAD_FAILED');
  return text;
}

export async function runManifest(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, false);
  if (values.help) {
    io.stdout.write(`${MANIFEST_HELP}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[0])}.`);
  const { api, jobId } = connectToJob(values, io);

  if (values['on-disk']) {
    const text = await fetchOnDiskManifest(api, jobId, io.signal);
    if (values.output !== undefined) await writeFileAtomic(values.output, text);
    else io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    return 0;
  }

  const manifest = await api.query<Manifest>('inputs.manifest', { jobId });
  if (values.output !== undefined) {
    await writeFileAtomic(values.output, `${JSON.stringify(manifest, null, 2)}\n`);
    if (!values.json) io.stderr.write(`Saved the manifest of ${jobId} (${manifest.datasets.length} datasets) to ${values.output}.\n`);
    return 0;
  }
  if (values.json) {
    writeJson(io, manifest);
    return 0;
  }

  io.stdout.write(`Job ${jobId}\nFingerprint: ${manifest.fingerprint}\n`);
  if (manifest.datasets.length === 0) {
    io.stdout.write('No datasets yet.\n');
    return 0;
  }
  const rows = manifest.datasets.map((dataset) => [
    dataset.datasetKey,
    dataset.role,
    dataset.format,
    formatBytes(dataset.sizeBytes),
    dataset.originalName,
    dataset.uploadedAt,
    dataset.sha256,
  ]);
  const { text } = renderTable(['dataset', 'role', 'format', 'size', 'name', 'uploaded', 'sha256'], rows, {
    maxColumnWidth: 64,
    maxWidth: Number.MAX_SAFE_INTEGER,
    alignRight: new Set([3]),
  });
  io.stdout.write(`\n${text}\n`);
  return 0;
}
