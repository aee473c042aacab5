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


def render(kind, value):
    """Writes a pandas-converted date in the reader's text form (see dates.ts)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "%td":
        return value.strftime("%Y-%m-%d")
    if kind == "%tc":
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
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
                dates[result["names"][index]] = [render(kind, v) for v in converted.iloc[:rows, 0]]
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
