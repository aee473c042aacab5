"""Reference reading of .dta files with pandas, for the Stata reader's fidelity tests.

Usage: dta_reference.py ROWS FILE...  Prints one JSON object per file, keyed by path: the header
facts, variable and value labels, the first ROWS rows as pandas reads them (raw numbers, missing
values as {"missing": ".a"}) and the date columns as pandas converts them, rewritten in the
reader's documented text forms. Runs with Debian's python3-pandas.
"""

import json
import math
import sys
import warnings

import pandas as pd
from pandas.io.stata import StataMissingValue, StataReader

DATE_PREFIXES = ("%tc", "%tC", "%td", "%tw", "%tm", "%tq", "%th", "%ty", "%d")


def cell(value):
    if isinstance(value, StataMissingValue):
        return {"missing": value.string}
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        return value
    number = float(value)
    if math.isnan(number):
        return {"missing": "."}
    return int(value) if float(number).is_integer() and not isinstance(value, float) else number


def date_kind(fmt):
    bare = fmt.replace("%-", "%")
    for prefix in DATE_PREFIXES:
        if bare.startswith(prefix):
            return "%td" if prefix == "%d" else prefix
    return None


# Codes of a datetime display format's details, from Stata's `help datetime display formats`.
DATE_CODES = ("DAYNAME", "Dayname", "Month", "month", "JJJ", "jjj", "Mon", "mon", "Day", "day", "CC", "cc", "YY", "yy",
              "NN", "nn", "DD", "dd", "Da", "da", "WW", "ww", "h", "q")
TIME_CODES = ("A.M.", "a.m.", ".sss", ".ss", ".s", "HH", "Hh", "hH", "hh", "MM", "mm", "SS", "ss", "AM", "am")
LITERAL_CODES = (".", ",", ":", "-", "_", "/", "\\", "+")


def clock_part(fmt):
    """The part of a %tc value that a format shows: "date", "time", "time-ms" or "datetime"."""
    details = fmt.replace("%-", "%")[3:]
    codes = sorted(DATE_CODES + TIME_CODES + LITERAL_CODES, key=len, reverse=True)
    found, at = [], 0
    while at < len(details):
        if details[at] == "!":
            at += 2
            continue
        code = next((c for c in codes if details.startswith(c, at)), None)
        if code is None:
            return "datetime"
        found.append(code)
        at += len(code)
    has_date = any(c in DATE_CODES for c in found)
    has_time = any(c in TIME_CODES for c in found)
    if has_date and not has_time:
        return "date"
    if has_time and not has_date:
        return "time-ms" if any(c in (".s", ".ss", ".sss") for c in found) else "time"
    return "datetime"


def render(kind, value, part="datetime"):
    """Writes a pandas-converted date in the reader's text form (see dates.ts)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "%td":
        return value.strftime("%Y-%m-%d")
    if kind == "%tc":
        milliseconds = f".{value.microsecond // 1000:03d}"
        if part == "date":
            return value.strftime("%Y-%m-%d")
        if part == "time":
            return value.strftime("%H:%M:%S")
        if part == "time-ms":
            return value.strftime("%H:%M:%S") + milliseconds
        return value.strftime("%Y-%m-%dT%H:%M:%S") + milliseconds
    if kind == "%tw":
        return f"{value.year}w{(value.dayofyear - 1) // 7 + 1}"
    if kind == "%tm":
        return f"{value.year}m{value.month}"
    if kind == "%tq":
        return f"{value.year}q{(value.month - 1) // 3 + 1}"
    if kind == "%th":
        return f"{value.year}h{(value.month - 1) // 6 + 1}"
    if kind == "%ty":
        return str(value.year)
    return None


def describe(path, rows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with StataReader(path) as reader:
            raw = reader.read(convert_dates=False, convert_categoricals=False, convert_missing=True)
            result = {
                "formatVersion": reader.format_version,
                "byteOrder": "big" if reader.byteorder == ">" else "little",
                "rowCount": int(reader.nobs),
                "columnCount": int(reader.nvar),
                "names": list(raw.columns),
                "formats": list(reader.fmtlist),
                "storage": [t if isinstance(t, str) else "str" for t in reader.typlist],
                "datasetLabel": reader.data_label,
                "variableLabels": list(reader.variable_labels().values()),
                "valueLabelNames": list(reader.lbllist),
                "valueLabels": {
                    name: {str(code): text for code, text in labels.items()}
                    for name, labels in reader.value_labels().items()
                },
            }
        result["rows"] = [[cell(v) for v in row] for row in raw.head(rows).itertuples(index=False)]

        dates = {}
        for index, fmt in enumerate(result["formats"]):
            kind = date_kind(fmt)
            if kind is None or kind == "%tC":
                continue
            try:
                converted = pd.read_stata(path, columns=[result["names"][index]], convert_dates=True)
                dates[result["names"][index]] = [render(kind, v, clock_part(fmt)) for v in converted.iloc[:rows, 0]]
            except Exception as error:  # pandas cannot convert some ranges; the test reports the error
                dates[result["names"][index]] = {"error": str(error)}
        result["dates"] = dates
    return result


def main():
    rows = int(sys.argv[1])
    out = {}
    for path in sys.argv[2:]:
        try:
            out[path] = describe(path, rows)
        except Exception as error:
            out[path] = {"error": f"{type(error).__name__}: {error}"}
    json.dump(out, sys.stdout, allow_nan=False)


main()
