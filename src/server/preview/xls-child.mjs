// Reads a legacy .xls workbook with SheetJS in a process of its own, so that a hostile or damaged
// file can only exhaust this process's heap and time limits, never the server's. The parent passes
// the file path, or "-" to send the file's `sizeBytes` bytes on stdin, and a JSON request as
// arguments, and reads one JSON object from stdout:
//   { ok: true, sheets, date1904, selectedSheet, rows: [[rowNumber, cells]], extents: [[rowNumber, first, last]], merges }
//   { ok: false, code, message, details }
// A cell is null, a string, a boolean, or [number, numberFormat] so the parent can turn date serials
// into dates. Rows come with cells only when the parent's collector may keep them; every other
// non-empty row comes as its extent (0-based first and last used column).
import fs from 'node:fs';

import * as XLSX from '@e965/xlsx';

const [filePath, requestText] = process.argv.slice(2);

function reply(message) {
  process.stdout.write(JSON.stringify(message));
}

function failure(code, message, details = {}) {
  return { ok: false, code, message, details };
}

function sheetState(hidden) {
  if (hidden === 1) return 'hidden';
  if (hidden === 2) return 'veryHidden';
  return 'visible';
}

function cellValue(cell) {
  if (!cell || cell.v === undefined || cell.v === null) return null;
  switch (cell.t) {
    case 'n':
      return [cell.v, cell.z ?? 'General'];
    case 'b':
      return cell.v === true;
    case 'e':
      return cell.w ?? null;
    case 's':
      return String(cell.v);
    default:
      return cell.w ?? String(cell.v);
  }
}

function isEmpty(value) {
  return value === null || (typeof value === 'string' && value.trim() === '');
}

/** Reads stdin into one Buffer of `sizeBytes`; returns the Buffer and the number of bytes that arrived. */
async function readStdin(sizeBytes) {
  const bytes = Buffer.allocUnsafe(sizeBytes);
  let received = 0;
  for await (const chunk of process.stdin) {
    if (received + chunk.length <= sizeBytes) chunk.copy(bytes, received);
    received += chunk.length;
  }
  return { bytes, received };
}

function read(request, bytes) {
  // First pass: the sheet list with states, without keeping cells.
  const book = XLSX.read(bytes, { type: 'buffer', dense: true, sheetRows: 1 });
  const states = new Map((book.Workbook?.Sheets ?? []).map((sheet) => [sheet.name, sheetState(sheet.Hidden)]));
  const sheets = book.SheetNames.filter((name) => {
    const type = book.Sheets[name]?.['!type'];
    return type === undefined || type === 'sheet';
  }).map((name) => ({ name, state: states.get(name) ?? 'visible' }));
  const date1904 = book.Workbook?.WBProps?.date1904 === true;

  let selected;
  if (request.sheetName !== undefined) {
    selected = sheets.find((sheet) => sheet.name === request.sheetName);
    if (!selected) {
      const available = sheets.map((sheet) => sheet.name);
      return failure(
        'INPUT_EXCEL_SHEET_NOT_FOUND',
        `Sheet ${JSON.stringify(request.sheetName)} is not a worksheet of this workbook; choose one of: ${available.map((name) => JSON.stringify(name)).join(', ')}.`,
        { sheetName: request.sheetName, available },
      );
    }
  } else {
    selected = sheets.find((sheet) => sheet.state === 'visible') ?? sheets[0];
  }
  if (!selected) return failure('INPUT_PARSE_FAILED', 'The workbook could not be read: it has no worksheets.', { reason: 'no worksheets' });

  const workbook = XLSX.read(bytes, { type: 'buffer', dense: true, cellNF: true, cellDates: false, sheets: [selected.name] });
  const sheet = workbook.Sheets[selected.name];
  const data = sheet?.['!data'] ?? [];
  const merges = (sheet?.['!merges'] ?? []).map((range) => ({ top: range.s.r + 1, left: range.s.c, bottom: range.e.r + 1, right: range.e.c }));

  const rows = [];
  const extents = [];
  let nonEmpty = 0;
  let afterHeader = 0;
  const header = request.headerRow;
  for (let index = 0; index < data.length; index += 1) {
    const source = data[index];
    if (!source) continue;
    const cells = Array.from({ length: source.length }, (_, column) => cellValue(source[column]));
    let first = -1;
    let last = -1;
    cells.forEach((value, column) => {
      if (isEmpty(value)) return;
      if (first === -1) first = column;
      last = column;
    });
    if (first === -1) continue;

    const rowNumber = index + 1;
    const keep =
      nonEmpty < request.keepFirst ||
      (typeof header === 'number' && rowNumber >= header - request.headerBlockRows && rowNumber <= header) ||
      (typeof header === 'number' && rowNumber > header && afterHeader < request.rowLimit);
    if (keep) rows.push([rowNumber, cells]);
    else extents.push([rowNumber, first, last]);
    nonEmpty += 1;
    if (typeof header === 'number' && rowNumber > header) afterHeader += 1;
  }

  return { ok: true, sheets, date1904, selectedSheet: selected.name, rows, extents, merges };
}

try {
  const request = JSON.parse(requestText);
  if (filePath === '-') {
    const { bytes, received } = await readStdin(request.sizeBytes);
    reply(
      received === request.sizeBytes
        ? read(request, bytes)
        : failure('INTERNAL', `The .xls reader received ${received} bytes on stdin instead of the ${request.sizeBytes} bytes the server declared.`, {
            sizeBytes: request.sizeBytes,
            receivedBytes: received,
          }),
    );
  } else {
    reply(read(request, fs.readFileSync(filePath)));
  }
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  if (/password|encrypt/iu.test(message)) {
    reply(failure('INPUT_ENCRYPTED', 'The workbook is password-protected; save it without a password and upload it again.'));
  } else {
    // SheetJS fails on a damaged or cut-off file with whatever JavaScript error the parse hits
    // (often a TypeError), so that text goes to the details only.
    reply(
      failure(
        'INPUT_PARSE_FAILED',
        'The .xls workbook is damaged or truncated, so it could not be read. Open and save it again in a spreadsheet program, then upload the new file.',
        { reason: message },
      ),
    );
  }
}
