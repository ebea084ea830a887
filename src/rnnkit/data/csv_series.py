"""Read one numeric column of a CSV file as a series, refusing bad input in one line.

The first row is a header when one of its cells is not a number while the cell below it is;
a file without a header names its columns "1", "2", ... The delimiter is sniffed among
comma, semicolon and tab. Without ``column`` the only numeric column is taken, or the last
of several (a date or label column usually comes first); a column counts as numeric when
most of its cells are. Missing files, unknown columns (the message lists the available
ones), non-numeric values, empty cells, NaN or infinite values are refused with the row
number as a text editor counts lines.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from rnnkit.errors import UsageError


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _mostly_numeric(data, j) -> bool:
    """More than half of column j's non-empty cells are numbers (so that one bad cell is
    reported with its row rather than hiding the column)."""
    cells = [r[j] for _, r in data if j < len(r) and r[j]]
    return 2 * sum(_number(c) is not None for c in cells) > len(cells) > 0


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank row."""
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") \
            from None
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text.splitlines(), dialect)
    try:
        return [(reader.line_num, [c.strip() for c in row]) for row in reader
                if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise UsageError(f"{path}: malformed CSV at line {reader.line_num}: {exc}") from None


def _split_header(rows):
    """(column names, data rows): the first row is a header when a cell of it is not a
    number while the cell below is (in a one-row file: when any cell is not a number)."""
    first = rows[0][1]
    if len(rows) == 1:
        header = any(_number(c) is None for c in first)
    else:
        below = rows[1][1]
        header = any(_number(c) is None and j < len(below) and _number(below[j]) is not None
                     for j, c in enumerate(first))
    if header:
        return first, rows[1:]
    return [str(j + 1) for j in range(len(first))], rows


def read_csv_column(path, column: str | None = None,
                    prefer: str | None = None) -> tuple[np.ndarray, str]:
    """The values of ``column`` as float64 (N,), and the column's name. Without ``column``:
    ``prefer`` if the file has it (e.g. the column a model was trained on), else the only or
    last numeric column."""
    path = Path(path)
    rows = _read_rows(path)
    if not rows:
        raise UsageError(f"{path}: the file is empty")
    names, data = _split_header(rows)
    if not data:
        raise UsageError(f"{path}: no data rows after the header")
    if column is None and prefer in names:
        column = prefer
    if column is None:
        numeric = [j for j, _ in enumerate(names) if _mostly_numeric(data, j)]
        if not numeric:
            raise UsageError(f"{path}: no numeric column (columns: {', '.join(names)})")
        j = numeric[-1]
    elif column in names:
        j = names.index(column)
    else:
        raise UsageError(f"{path}: no column {column!r}; available columns: "
                         f"{', '.join(repr(n) for n in names)}")
    name = names[j]
    values = []
    for line, row in data:
        cell = row[j] if j < len(row) else ""
        if not cell:
            raise UsageError(f"{path}, row {line}: empty cell in column {name!r} "
                             "(missing values are not supported; fill or drop them)")
        value = _number(cell)
        if value is None:
            raise UsageError(f"{path}, row {line}: {cell!r} in column {name!r} is not a number")
        if not math.isfinite(value):
            raise UsageError(f"{path}, row {line}: {cell} in column {name!r} is not a finite "
                             "number (missing values are not supported)")
        values.append(value)
    return np.array(values, dtype=np.float64), name
