import type { PreviewResult } from '../api';
import { CONNECTION_HELP, CONNECTION_OPTIONS, type Io, connectToJob, integerOption, parse, UsageError, writeJson } from '../common';
import { renderTable } from '../table';

export const PREVIEW_HELP = `Usage: inlet preview [options]

Shows the first rows of a dataset as a table: the primary dataset unless --dataset names another.
The reader's choices (sheet, header row, encoding, delimiter) are printed above the table; pass
the options below to override them for this preview.

Options:
  --dataset KEY        dataset key such as ds_0123456789abcdef (see "inlet manifest")
  --rows N             rows to show, 1-200 (default 20)
  --columns N          columns to fetch, 1-200 (default 50)
  --sheet NAME         Excel worksheet
  --header-row N|none  1-based row number of the header, or none for a table without one
  --encoding NAME      CSV text encoding, e.g. utf-8, windows-1252, gb18030
  --delimiter CHAR     CSV delimiter: , ; | or tab
  --width N            table width in columns (default: the terminal's, or unlimited when
                       stdout is not a terminal)

${CONNECTION_HELP}`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  dataset: { type: 'string' },
  rows: { type: 'string' },
  columns: { type: 'string' },
  sheet: { type: 'string' },
  'header-row': { type: 'string' },
  encoding: { type: 'string' },
  delimiter: { type: 'string' },
  width: { type: 'string' },
} as const;

type Cell = PreviewResult['rows'][number][number];

/** Shows a cell as text: a labelled value as "label (value)", a Stata missing code as itself. */
export function formatCell(cell: Cell): string {
  if (cell === null) return '';
  if (typeof cell === 'object') {
    if ('missing' in cell) return cell.label ? `${cell.label} (${cell.missing})` : cell.missing;
    return `${cell.label} (${cell.value})`;
  }
  return String(cell);
}

function delimiterOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === 'tab' || value === '\\t' || value === '\t') return '\t';
  if ([',', ';', '|'].includes(value)) return value;
  throw new UsageError(`--delimiter ${JSON.stringify(value)} is invalid; use , ; | or tab.`);
}

function headerRowOption(value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return null;
  return integerOption('header-row', value, 1, 1, 1_048_576);
}

export async function runPreview(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, false);
  if (values.help) {
    io.stdout.write(`${PREVIEW_HELP}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[0])}; name a dataset with --dataset KEY.`);
  if (values.dataset !== undefined && !/^ds_[0-9a-f]{16}$/.test(values.dataset)) {
    throw new UsageError(`--dataset ${JSON.stringify(values.dataset)} is not a dataset key; it looks like ds_0123456789abcdef.`);
  }
  const input = {
    jobId: '',
    ...(values.dataset !== undefined ? { datasetKey: values.dataset } : {}),
    rows: integerOption('rows', values.rows, 20, 1, 200),
    columns: integerOption('columns', values.columns, 50, 1, 200),
    ...(values.sheet !== undefined ? { sheetName: values.sheet } : {}),
    ...(values['header-row'] !== undefined ? { headerRow: headerRowOption(values['header-row']) } : {}),
    ...(values.encoding !== undefined ? { encoding: values.encoding } : {}),
    ...(values.delimiter !== undefined ? { delimiter: delimiterOption(values.delimiter) } : {}),
  };
  const terminalWidth = 'columns' in io.stdout && typeof io.stdout.columns === 'number' ? io.stdout.columns : Number.MAX_SAFE_INTEGER;
  const width = integerOption('width', values.width, terminalWidth, 20, Number.MAX_SAFE_INTEGER);

  const { api, jobId } = connectToJob(values, io);
  const preview = await api.query<PreviewResult>('inputs.preview', { ...input, jobId });
  if (values.json) {
    writeJson(io, preview);
    return 0;
  }

  const facts = [`${preview.datasetKey}`, preview.format];
  if (preview.formatVersion !== undefined) facts.push(`format version ${preview.formatVersion}`);
  if (preview.selectedSheet !== undefined) facts.push(`sheet ${JSON.stringify(preview.selectedSheet)}`);
  if (preview.format === 'csv' || preview.format === 'excel') facts.push(preview.headerRow === null ? 'no header row' : `header row ${preview.headerRow}`);
  if (preview.encoding !== undefined) facts.push(`encoding ${preview.encoding}`);
  if (preview.delimiter !== undefined) facts.push(`delimiter ${JSON.stringify(preview.delimiter)}`);
  const count = `${preview.rowCountExact ? '' : 'about '}${preview.rowCount} rows, ${preview.columnCount} columns`;
  io.stdout.write(`${facts.join(', ')}; ${count}\n`);
  if (preview.datasetLabel) io.stdout.write(`Label: ${preview.datasetLabel}\n`);
  if (preview.sheetNames && preview.sheetNames.length > 1) io.stdout.write(`Sheets: ${preview.sheetNames.join(', ')}\n`);
  for (const warning of preview.warnings) io.stdout.write(`Warning ${warning.code}: ${warning.message}\n`);

  const headers = preview.columns.map((column) => column.name);
  const rows = preview.rows.map((row) => row.map(formatCell));
  const numeric = new Set(preview.columns.flatMap((column, index) => (column.type === 'integer' || column.type === 'number' ? [index] : [])));
  const { text, hiddenColumns } = renderTable(headers, rows, { maxColumnWidth: 32, maxWidth: width, alignRight: numeric });
  io.stdout.write(`\n${text}\n`);

  const notShown = hiddenColumns + (preview.columnCount - preview.columns.length);
  const footer = [`${preview.rows.length} of ${preview.rowCount} rows shown`];
  if (notShown > 0) footer.push(`${notShown} more column(s) not shown (use --width, --columns or --json)`);
  io.stdout.write(`\n${footer.join('; ')}.\n`);
  return 0;
}
