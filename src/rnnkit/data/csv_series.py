"""Read series from a CSV file, refusing bad input in one line: one numeric column
(:func:`read_csv_column`), or every series of a wide or long table with its dates
(:func:`read_series_table`).

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.frequency import (
    DATE_FORMS,
    DateError,
    Frequency,
    format_dates,
    infer_frequency,
    parse_date,
    parse_dates,
)
from rnnkit.errors import UsageError
from rnnkit.validation import MAX_MAGNITUDE


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
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
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


def _split_header(rows, dates: bool = False):
    """(column names, data rows): the first row is a header when a cell of it is not a
    number while the cell below is (in a one-row file: when any cell is not a number); with
    ``dates``, dates count as numbers do ("month" above "1949-01" is a header)."""
    def typed(cell):
        return _number(cell) is not None or (dates and parse_date(cell) is not None)

    first = rows[0][1]
    if len(rows) == 1:
        header = not all(typed(c) for c in first)
    else:
        below = rows[1][1]
        header = any(not typed(c) and j < len(below) and typed(below[j])
                     for j, c in enumerate(first))
    if header:
        return first, rows[1:]
    return [str(j + 1) for j in range(len(first))], rows


def _cell(path: Path, line: int, row: list[str], j: int, name: str) -> str:
    """The cell of column j in a row; an empty one is refused."""
    cell = row[j] if j < len(row) else ""
    if not cell:
        raise UsageError(f"{path}, row {line}: empty cell in column {name!r} "
                         "(missing values are not supported; fill or drop them)")
    return cell


def _to_number(path: Path, line: int, cell: str, name: str) -> float:
    """A finite number, or a one-line refusal naming the row and column."""
    value = _number(cell)
    if value is None:
        raise UsageError(f"{path}, row {line}: {cell!r} in column {name!r} is not a number")
    if not math.isfinite(value):
        raise UsageError(f"{path}, row {line}: {cell} in column {name!r} is not a finite "
                         "number (missing values are not supported)")
    if abs(value) > MAX_MAGNITUDE:
        raise UsageError(f"{path}, row {line}: {value:g} in column {name!r} is too large "
                         f"(values beyond +-{MAX_MAGNITUDE:g} cannot be computed with)")
    return value


def _column_values(path: Path, data, j: int, name: str) -> np.ndarray:
    """Column j of every data row as float64 (N,)."""
    return np.array([_to_number(path, line, _cell(path, line, row, j, name), name)
                     for line, row in data], dtype=np.float64)


def _column_index(path: Path, names: list[str], column: str) -> int:
    if column not in names:
        raise UsageError(f"{path}: no column {column!r}; available columns: "
                         f"{', '.join(repr(n) for n in names)}")
    return names.index(column)


def read_csv_column(path, column: str | None = None,
                    prefer: str | None = None) -> tuple[np.ndarray, str]:
    """The values of ``column`` as float64 (N,), and the column's name. Without ``column``:
    ``prefer`` if the file has it (e.g. the column a model was trained on), else the only or
    last numeric column."""
    path = Path(path)
    names, data = _table(path)
    if column is None and prefer in names:
        column = prefer
    if column is None:
        numeric = [j for j, _ in enumerate(names) if _mostly_numeric(data, j)]
        if not numeric:
            raise UsageError(f"{path}: no numeric column (columns: {', '.join(names)})")
        j = numeric[-1]
    else:
        j = _column_index(path, names, column)
    return _column_values(path, data, j, names[j]), names[j]


def _table(path: Path, dates: bool = False):
    """(column names, data rows) of a CSV file with at least one data row."""
    rows = _read_rows(path)
    if not rows:
        raise UsageError(f"{path}: the file is empty")
    names, data = _split_header(rows, dates)
    if not data:
        raise UsageError(f"{path}: no data rows after the header")
    return names, data


# --- several series: wide and long tables ---------------------------------------------------
ID_NAMES = frozenset({"id", "unique_id", "series", "series_id", "item_id", "name"})
TIME_NAMES = frozenset({"time", "date", "ds", "timestamp", "period", "year", "month"})
VALUE_NAMES = frozenset({"value", "y", "target", "sales"})
DATE_NAMES = TIME_NAMES | {"datetime", "day", "week", "quarter", "hour"}  # never values


@dataclass
class SeriesTable:
    """Series read from one file. ``values[i]`` (N_i,) float64 is series ``names[i]``;
    ``dates[i]`` (N_i,) datetime64 its dates, or ``dates`` is None when the file has none;
    ``frequency`` is the dates' common frequency (None without dates, or with one date only:
    a wide file of one row); ``layout`` is
    "single" (one value column), "wide" (several) or "long" (id, time, value rows)."""
    names: list[str]
    values: list[np.ndarray]
    dates: list[np.ndarray] | None
    frequency: Frequency | None
    source: str
    layout: str


def _find(names: list[str], wanted: frozenset, skip=()) -> str | None:
    """The first column whose lower-cased name is in ``wanted``."""
    return next((n for n in names if n.lower() in wanted and n not in skip), None)


def _check_ragged(path: Path, names: list[str], data) -> None:
    """Refuse a row with fewer cells than the first row, or with more that are not empty."""
    for line, row in data:
        if len(row) < len(names) or any(row[len(names):]):
            raise UsageError(f"{path}, row {line}: {len(row)} cells where the first row has "
                             f"{len(names)}")


def read_series_table(path, *, columns: list[str] | None = None, id_column: str | None = None,
                      time_column: str | None = None,
                      value_column: str | None = None) -> SeriesTable:
    """Every series of a CSV file, in the wide or the long format.

    Long (one row per id, time, value): used when ``id_column`` is given, or when the header
    has an id column (named one of ID_NAMES, any case) and a value or time column (VALUE_NAMES,
    TIME_NAMES); the roles not given are found by these names, the time column is optional.
    Series come in the order their id first appears, each sorted by time; a repeated time,
    a series of one row, or series of different frequencies are refused.

    Wide (one column per series): the value columns are ``columns``, or ``value_column``
    alone, or else every numeric column except the date column, columns named like dates
    (DATE_NAMES) and a first column that counts rows (0, 1, 2, ... or 1, 2, 3, ...). The date
    column is ``time_column``, or else the first column that is named like a date and holds
    one (unless it holds numbers other than four-digit years: a time index 0, 1, 2, ...),
    or whose cells are mostly dates that are not plain numbers (1949-01, 1990Q1, 2020-01-31),
    or whose cells are all years 1000..3000 rising by 1 (a year column by any name; a value
    column 1523, 1876, ... is not one).

    Dates are parsed by :func:`parse_dates` and their frequency inferred by
    :func:`infer_frequency`; bad input raises a one-line UsageError naming the file, the row
    (as a text editor counts lines) and the column.
    """
    path = Path(path)
    if columns is not None and (id_column or value_column):
        raise UsageError(f"{path}: give either columns (wide format) or id_column and "
                         "value_column (long format), not both")
    names, data = _table(path, dates=True)
    _check_ragged(path, names, data)
    id_name = id_column if id_column is not None else (
        None if columns is not None else _find(names, ID_NAMES))
    if id_name is not None:
        value_name = value_column or _find(names, VALUE_NAMES, (id_name,))
        time_name = time_column or _find(names, TIME_NAMES, (id_name, value_name))
        if id_column is not None or value_name or time_name:
            return _read_long(path, names, data, id_name, time_name, value_name)
    if value_column is not None:
        columns = [value_column]
    return _read_wide(path, names, data, columns, time_column)


# --- the wide format -------------------------------------------------------------------------
def _holds_dates(name: str, cells: list[str]) -> bool:
    """The date-column rule of the wide format. A column holds dates when
      * its name is one of DATE_NAMES (year, date, time, ds, month, ...), a cell of it is a
        date and every number in it is a four-digit year (0, 1, 2, ... or 12.5 are a time
        index instead), or
      * more than half its cells are dates that are not plain numbers (1949-01, 1990Q1,
        2020-01-31 13:00), or
      * all its cells are years 1000..3000 rising in steps of 1 (a year column by any name).
    A column of values (112, 118, ...; 1523, 1876, ...) is none of these. The bad cells of a
    date column are then refused with their row rather than the column being skipped."""
    dates = [c for c in cells if parse_date(c) is not None]
    numbers = [c for c in cells if _number(c) is not None]
    years = [int(c) for c in numbers if parse_date(c) is not None]  # four-digit integers
    if name.lower() in DATE_NAMES:
        return bool(dates) and len(numbers) == len(years)
    if 2 * (len(dates) - len(years)) > len(cells):
        return True
    return (len(years) == len(cells) and 1000 <= years[0] and years[-1] <= 3000
            and years == list(range(years[0], years[0] + len(years))))


def _counts_rows(data, j: int) -> bool:
    """Column j holds 0, 1, 2, ... or 1, 2, 3, ...: a row index, as pandas writes it."""
    cells = [row[j] for _, row in data]
    start = cells[0] if cells[0] in ("0", "1") else None
    return start is not None and cells == [str(int(start) + i) for i in range(len(cells))]


def _value_columns(names: list[str], data, date_j: int | None) -> list[int]:
    """The numeric columns that are series: not the dates, not named like dates, not a first
    column that counts rows while other numeric columns follow."""
    numeric = [j for j, n in enumerate(names) if j != date_j and n.lower() not in DATE_NAMES
               and _mostly_numeric(data, j)]
    if len(numeric) > 1 and numeric[0] == 0 and _counts_rows(data, 0):
        numeric = numeric[1:]
    return numeric


def _column_dates(path: Path, data, j: int, name: str) -> np.ndarray:
    """Column j parsed as dates, datetime64 (N,); a cell that is not a date is refused."""
    cells = [_cell(path, line, row, j, name) for line, row in data]
    for (line, _), cell in zip(data, cells):
        if parse_date(cell) is None:
            raise UsageError(f"{path}, row {line}: {cell!r} in column {name!r} is not a date "
                             f"({DATE_FORMS})")
    return parse_dates(cells)


def _frequency(path: Path, dates: np.ndarray, lines: list[int], where: str) -> Frequency:
    """infer_frequency, its refusal naming the file row of the date at fault."""
    try:
        return infer_frequency(dates)
    except DateError as exc:
        raise UsageError(f"{path}, row {lines[exc.index]}: {exc.detail} ({where})") from None


def _read_wide(path: Path, names: list[str], data, columns, time_column) -> SeriesTable:
    if time_column is not None:
        date_j = _column_index(path, names, time_column)
    else:
        date_j = next((j for j, n in enumerate(names)
                       if _holds_dates(n, [row[j] for _, row in data])), None)
    d, frequency = None, None
    if date_j is not None:
        d = _column_dates(path, data, date_j, names[date_j])
        if len(d) > 1:
            frequency = _frequency(path, d, [line for line, _ in data],
                                   f"column {names[date_j]!r}")
    if columns is not None:
        if not columns:
            raise UsageError(f"{path}: no columns given")
        value_js = [_column_index(path, names, c) for c in columns]
    else:
        value_js = _value_columns(names, data, date_j)
    if not value_js:
        raise UsageError(f"{path}: no numeric column (columns: {', '.join(names)})")
    values = [_column_values(path, data, j, names[j]) for j in value_js]
    dates = None if d is None else [d.copy() for _ in value_js]
    return SeriesTable([names[j] for j in value_js], values, dates, frequency, str(path),
                       "single" if len(value_js) == 1 else "wide")


# --- the long format -------------------------------------------------------------------------
def _long_times(path: Path, data, j: int, name: str) -> np.ndarray:
    """The time column: datetime64 (N,) when every cell is a date (four-digit numbers are
    years), else float64 (N,) when every cell is a number (a time index)."""
    cells = [_cell(path, line, row, j, name) for line, row in data]
    if all(parse_date(c) is not None for c in cells):
        return parse_dates(cells)
    if 2 * sum(_number(c) is not None for c in cells) <= len(cells):
        return _column_dates(path, data, j, name)  # refuses the first cell that is no date
    return np.array([_to_number(path, line, c, name) for (line, _), c in zip(data, cells)])


def _check_index_steps(path: Path, t: np.ndarray, lines: list[int], key: str) -> float:
    """Numeric times t (N,), sorted: the step all differences share, else a refusal."""
    steps = np.diff(t)  # (N-1,)
    values, counts = np.unique(steps, return_counts=True)
    step = values[np.argmax(counts)]
    for i in np.flatnonzero(~np.isclose(steps, step, rtol=1e-9, atol=0)) + 1:  # 0.1 + 0.2
        raise UsageError(f"{path}, row {lines[i]}: series {key!r}: the times are not evenly "
                         f"spaced: {t[i]:g} follows {t[i - 1]:g} where a step of {step:g} was "
                         "expected")
    return float(step)


def _describe(step) -> str:
    if isinstance(step, Frequency):
        return step.name + (" on month ends" if step.month_end else "")
    return f"spaced by {step:g}"


def _same_step(a, b) -> bool:
    """Two frequencies, or two numeric time steps up to rounding, or both None."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def _one_series(path: Path, key: str, rows: list[int], lines: np.ndarray, values: np.ndarray,
                times: np.ndarray | None, time_name: str | None):
    """(values (N,), times (N,) or None, frequency or numeric step or None) of one id, its
    rows sorted by time; a repeated time or a series of one row is refused."""
    if len(rows) < 2:
        raise UsageError(f"{path}, row {lines[rows[0]]}: series {key!r} has only one row")
    idx = np.asarray(rows)  # (N,) positions in the data rows
    if times is None:
        return values[idx], None, None
    idx = idx[np.argsort(times[idx], kind="stable")]
    t, at = times[idx], lines[idx].tolist()  # sorted times and their file rows
    for i in np.flatnonzero(t[1:] == t[:-1]):
        shown = format_dates(t[i:i + 1])[0] if t.dtype.kind == "M" else f"{t[i]:g}"
        raise UsageError(f"{path}: series {key!r} has two rows for {shown} (rows {at[i]} and "
                         f"{at[i + 1]})")
    if t.dtype.kind == "M":
        step = _frequency(path, t, at, f"series {key!r}, column {time_name!r}")
    else:
        step = _check_index_steps(path, t, at, key)
    return values[idx], (t if t.dtype.kind == "M" else None), step


def _read_long(path: Path, names: list[str], data, id_name: str, time_name: str | None,
               value_name: str | None) -> SeriesTable:
    id_j = _column_index(path, names, id_name)
    if value_name is None:
        raise UsageError(f"{path}: the long format (id column {id_name!r}) needs a value "
                         f"column: none is named {', '.join(sorted(VALUE_NAMES))}; available "
                         f"columns: {', '.join(repr(n) for n in names)}")
    value_j = _column_index(path, names, value_name)
    lines = np.array([line for line, _ in data])  # (N,) file rows
    groups: dict[str, list[int]] = {}  # id -> positions, in order of first appearance
    for i, (line, row) in enumerate(data):
        groups.setdefault(_cell(path, line, row, id_j, id_name), []).append(i)
    values = _column_values(path, data, value_j, value_name)  # (N,)
    times = None
    if time_name is not None:
        times = _long_times(path, data, _column_index(path, names, time_name), time_name)
    series, first = [], None
    for key, rows in groups.items():
        x, t, step = _one_series(path, key, rows, lines, values, times, time_name)
        if first is None:
            first = (key, step)
        elif not _same_step(step, first[1]):
            raise UsageError(f"{path}: series {key!r} is {_describe(step)} but series "
                             f"{first[0]!r} is {_describe(first[1])}; all series must share "
                             "one frequency")
        series.append((key, x, t))
    dated = times is not None and times.dtype.kind == "M"
    return SeriesTable([k for k, _, _ in series], [x for _, x, _ in series],
                       [t for _, _, t in series] if dated else None,
                       first[1] if dated else None, str(path), "long")
