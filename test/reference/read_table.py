"""Reference reader for the preview fidelity tests.

Reads one table with established Python readers and prints what the preview must match, as JSON:
the normalised column names, the row count below the header, the table width and the first rows.

  CSV/TSV: the standard library csv module (RFC 4180 records) after decoding with the given
           encoding, cross-checked with pandas.read_csv where the header is the first row.
  .xlsx:   openpyxl in read-only mode with the stored dimension reset (the stored one can be wrong).
  .xls:    xlrd.

Usage: read_table.py '{"path": ..., "kind": "csv"|"xlsx"|"xls", "encoding": ..., "delimiter": ...,
                       "headerRow": 1-based or null, "sheet": name or null, "rows": 20}'
A missing module exits with status 3 and names the Debian package that provides it.
"""

import csv
import datetime
import io
import json
import re
import sys

PACKAGES = {"pandas": "python3-pandas", "openpyxl": "python3-openpyxl", "openpyxl.styles.numbers": "python3-openpyxl", "xlrd": "python3-xlrd"}


def require(module):
    try:
        return __import__(module)
    except ImportError:
        print(f"reference reader needs the Python module {module}: apt-get install {PACKAGES[module]}", file=sys.stderr)
        sys.exit(3)


def normalise_names(raw):
    """Header rules of the preview: collapse whitespace, blank -> col_<n>, repeats get _2, _3..."""
    base = []
    for index, name in enumerate(raw):
        cleaned = re.sub(r"\s+", " ", "" if name is None else str(name)).strip()
        base.append(cleaned if cleaned else f"col_{index + 1}")
    used, names = set(), []
    for name in base:
        candidate, suffix = name, 2
        while candidate in used:
            candidate, suffix = f"{name}_{suffix}", suffix + 1
        used.add(candidate)
        names.append(candidate)
    return names


def empty(value):
    return value is None or (isinstance(value, str) and value.strip() == "")


def header_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def read_csv(spec):
    with open(spec["path"], "rb") as handle:
        data = handle.read()
    encoding = {"utf-8": "utf-8-sig", "utf-16le": "utf-16"}.get(spec["encoding"], spec["encoding"])
    text = data.decode(encoding)
    # csv yields [] for an empty line; those are not rows.
    records = [record for record in csv.reader(io.StringIO(text, newline=""), delimiter=spec["delimiter"]) if record != []]
    header_row = spec["headerRow"]
    header = records[header_row - 1] if header_row else []
    body = records[header_row:] if header_row else records
    width = max([len(header)] + [len(record) for record in body])
    rows = [[(record[i] if i < len(record) and record[i] != "" else None) for i in range(width)] for record in body[: spec["rows"]]]

    pandas_rows = None
    if header_row == 1:
        pandas = require("pandas")
        frame = pandas.read_csv(io.StringIO(text), sep=spec["delimiter"], dtype=str, keep_default_na=False, skip_blank_lines=True)
        pandas_rows = len(frame.index)
    return {
        "names": normalise_names(header + [None] * (width - len(header))),
        "rowCount": len(body),
        "columnCount": width,
        "rows": rows,
        "pandasRowCount": pandas_rows,
    }


def shows_time(number_format):
    """Whether an Excel number format displays a time of day (h or s outside quotes and brackets)."""
    bare = re.sub(r'"[^"]*"|\[[^\]]*\]', "", number_format or "")
    return re.search(r"[hHsS]", bare) is not None


def cell_json(value, number_format=None):
    if isinstance(value, datetime.datetime):
        # A date-time under a format that shows a time stays a date-time even at midnight; without
        # a format (xlrd gives none), midnight means a date.
        if number_format is not None and shows_time(number_format):
            return value.replace(microsecond=0).isoformat()
        if value.hour == value.minute == value.second == 0 and value.microsecond == 0:
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, datetime.timedelta):
        seconds = round(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if isinstance(value, str) and value == "":
        return None
    return value


def table_from_grid(grid, spec):
    """grid: {row_number: [values...]} of non-empty rows, values 0-based by column."""
    header_row = spec["headerRow"]
    numbers = sorted(grid)
    table_rows = [n for n in numbers if header_row is None or n >= header_row]
    used = [i for n in table_rows for i, value in enumerate(grid[n]) if not empty(value)]
    if not used:
        return {"names": [], "rowCount": 0, "columnCount": 0, "rows": [], "sheets": spec.get("sheets")}
    first, last = min(used), max(used)
    header = grid.get(header_row, []) if header_row else []
    raw_names = [header_text(header[i]) if i < len(header) else "" for i in range(first, last + 1)] if header_row else [""] * (last - first + 1)
    body = [n for n in table_rows if header_row is None or n > header_row]
    formats = spec.get("formats", {})
    rows = [
        [cell_json(grid[n][i], formats.get((n, i))) if i < len(grid[n]) else None for i in range(first, last + 1)]
        for n in body[: spec["rows"]]
    ]
    return {"names": normalise_names(raw_names), "rowCount": len(body), "columnCount": last - first + 1, "rows": rows}


def read_xlsx(spec):
    openpyxl = require("openpyxl")
    workbook = openpyxl.load_workbook(spec["path"], read_only=True, data_only=True)
    sheets = [{"name": ws.title, "state": ws.sheet_state} for ws in workbook.worksheets]
    name = spec["sheet"] or next((s["name"] for s in sheets if s["state"] == "visible"), sheets[0]["name"])
    worksheet = workbook[name]
    worksheet.reset_dimensions()
    numbers = require("openpyxl.styles.numbers") and __import__("openpyxl.styles.numbers", fromlist=["is_timedelta_format"])
    grid, formats = {}, {}
    for row in worksheet.iter_rows():
        cells = list(row)
        values = [getattr(cell, "value", None) for cell in cells]
        if all(empty(value) for value in values):
            continue
        number = next(cell.row for cell in cells if hasattr(cell, "row") and cell.row)
        for index, cell in enumerate(cells):
            number_format = getattr(cell, "number_format", None)
            formats[(number, index)] = number_format
            # openpyxl's read-only mode returns a date for an elapsed-time format such as [hh]:mm:ss.
            if isinstance(values[index], datetime.datetime) and number_format and numbers.is_timedelta_format(number_format):
                values[index] = values[index] - workbook.epoch
        grid[number] = values
    spec["formats"] = formats
    result = table_from_grid(grid, spec)
    result.update(sheets=sheets, selectedSheet=name)
    return result


def read_xls(spec):
    xlrd = require("xlrd")
    workbook = xlrd.open_workbook(spec["path"])
    sheets = [{"name": s.name, "state": ["visible", "hidden", "veryHidden"][s.visibility]} for s in workbook.sheets()]
    name = spec["sheet"] or next((s["name"] for s in sheets if s["state"] == "visible"), sheets[0]["name"])
    sheet = workbook.sheet_by_name(name)
    grid = {}
    for index in range(sheet.nrows):
        values = []
        for cell in sheet.row(index):
            if cell.ctype == xlrd.XL_CELL_DATE:
                parts = xlrd.xldate_as_tuple(cell.value, workbook.datemode)
                if parts[:3] == (0, 0, 0):
                    values.append(datetime.time(*parts[3:]))
                else:
                    values.append(datetime.datetime(*parts))
            elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                values.append(bool(cell.value))
            elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                values.append(None)
            elif cell.ctype == xlrd.XL_CELL_ERROR:
                values.append(xlrd.error_text_from_code.get(cell.value))
            else:
                values.append(cell.value)
        if not all(empty(value) for value in values):
            grid[index + 1] = values
    result = table_from_grid(grid, spec)
    result.update(sheets=sheets, selectedSheet=name)
    return result


def main():
    spec = json.loads(sys.argv[1])
    reader = {"csv": read_csv, "xlsx": read_xlsx, "xls": read_xls}[spec["kind"]]
    print(json.dumps(reader(spec)))


if __name__ == "__main__":
    main()
