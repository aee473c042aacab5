/** Runs the Python reference reader that the fidelity tests compare the preview against. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import type { Cell } from '../../src/server/preview/types';

export const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(import.meta.dirname, 'read_table.py');

export interface ReferenceSpec {
  path: string;
  kind: 'csv' | 'xlsx' | 'xls';
  encoding?: string;
  delimiter?: string;
  headerRow: number | null;
  sheet?: string | null;
  rows: number;
}

export interface ReferenceTable {
  names: string[];
  rowCount: number;
  columnCount: number;
  rows: Cell[][];
  pandasRowCount?: number | null;
  sheets?: { name: string; state: string }[];
  selectedSheet?: string;
}

/**
 * Reads a table with the reference reader. Throws with the Debian package to install when Python or
 * one of its modules is missing, so that a test fails instead of skipping.
 */
export function readReference(spec: ReferenceSpec): ReferenceTable {
  if (!fs.existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: apt-get install python3 python3-pandas python3-openpyxl python3-xlrd`);
  const result = spawnSync(PYTHON, [SCRIPT, JSON.stringify({ sheet: null, ...spec })], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`reference reader failed on ${spec.path} (status ${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as ReferenceTable;
}
