/**
 * Runs the reference readers that the Stata reader's tests compare against: pandas (Debian package
 * python3-pandas, through dta_reference.py) and ReadStat (Debian package readstat). A missing
 * reader fails the test with the package to install; it never skips.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PYTHON = '/usr/bin/python3';
const REFERENCE_SCRIPT = path.join(import.meta.dirname, 'dta_reference.py');
const GENERATOR_SCRIPT = path.join(import.meta.dirname, 'dta_generate.py');

export type ReferenceCell = string | number | null | { missing: string };

/** What dta_reference.py prints for one file. */
export interface PandasReference {
  error?: string;
  formatVersion: number;
  byteOrder: 'big' | 'little';
  rowCount: number;
  columnCount: number;
  names: string[];
  formats: string[];
  /** pandas storage codes: b h l f d for byte int long float double, Q for strL, str for strN. */
  storage: string[];
  datasetLabel: string;
  variableLabels: string[];
  valueLabelNames: string[];
  valueLabels: Record<string, Record<string, string>>;
  rows: ReferenceCell[][];
  /** Date columns as pandas converts them, in the reader's text forms; %tC is absent. */
  dates: Record<string, (string | null)[] | { error: string }>;
}

function requirePandas(): void {
  try {
    execFileSync(PYTHON, ['-c', 'import pandas'], { stdio: 'pipe' });
  } catch {
    throw new Error('The reference reader pandas is not available to /usr/bin/python3; install the Debian package python3-pandas.');
  }
}

function requireReadstat(): void {
  for (const tool of ['/usr/bin/readstat', '/usr/bin/extract_metadata']) {
    if (!fs.existsSync(tool)) throw new Error(`The reference reader ${tool} is missing; install the Debian package readstat.`);
  }
}

/** Reads files with pandas; returns one reference per path. */
export function pandasReference(files: string[], rows: number): Record<string, PandasReference> {
  requirePandas();
  const output = execFileSync(PYTHON, [REFERENCE_SCRIPT, String(rows), ...files], { maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(output.toString('utf8')) as Record<string, PandasReference>;
}

export interface ReadstatSummary {
  columns: number;
  rows: number;
  formatVersion: number;
  byteOrder: string;
  tableLabel: string;
}

/** Runs `readstat FILE`, which prints the header facts one per line. */
export function readstatSummary(file: string): ReadstatSummary {
  requireReadstat();
  const text = execFileSync('/usr/bin/readstat', [file], { stdio: ['ignore', 'pipe', 'pipe'] }).toString('utf8');
  const field = (name: string): string => new RegExp(`^${name}: (.*)$`, 'm').exec(text)?.[1] ?? '';
  return {
    columns: Number(field('Columns')),
    rows: Number(field('Rows')),
    formatVersion: Number(field('Format version')),
    byteOrder: field('Byte order'),
    tableLabel: field('Table label'),
  };
}

/** Runs `readstat FILE -`, the data as CSV with empty fields for missing values. */
export function readstatRows(file: string): string[][] {
  requireReadstat();
  const text = execFileSync('/usr/bin/readstat', [file, '-'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString('utf8');
  return parseCsv(text).slice(1);
}

/** Parses ReadStat's CSV: comma-separated, strings in double quotes with "" for a quote. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        field += '"';
        index += 1;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      record.push(field);
      field = '';
    } else if (char === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += char;
  }
  return records;
}

export interface ReadstatVariable {
  name: string;
  label?: string;
  categories?: { code: number | string; label: string }[];
}

/** Runs ReadStat's extract_metadata, which lists variable labels and value labels as JSON. */
export function readstatMetadata(file: string): ReadstatVariable[] {
  requireReadstat();
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dta-meta-')), 'metadata.json');
  execFileSync('/usr/bin/extract_metadata', [file, out], { stdio: 'pipe' });
  const parsed = JSON.parse(fs.readFileSync(out, 'utf8')) as { variables: ReadstatVariable[] };
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  return parsed.variables;
}

/** Generates .dta files with pandas `to_stata` into `directory`; returns the written paths by name. */
export function generateWithPandas(directory: string): Record<string, string> {
  requirePandas();
  const output = execFileSync(PYTHON, [GENERATOR_SCRIPT, directory], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(output.toString('utf8')) as Record<string, string>;
}
