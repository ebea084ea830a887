"""Reading the examples of ``rnnkit classify``: series from .ts, CSV/TSV and NPZ files, texts
from CSV/TSV, each with its label; every problem becomes a one-line UsageError naming the
file and line.

Series come back right-padded as x (N, T, C) float64 with NaN for missing values and 0
after each series' length, lengths (N,); texts as strings. Labels are strings.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rnnkit.data.tsfile import TsData, TsFileError, parse_ts, read_ts
from rnnkit.errors import UsageError
from rnnkit.validation import MAX_MAGNITUDE, too_large

MISSING = ("", "?", "nan", "NaN", "NA")


@dataclass
class Layout:
    """Where labels and texts are in a CSV/TSV (ignored for .ts and .npz)."""
    label_column: str | None = None  # None: "label" if there is one, else the last column
    text: bool | None = None  # None: decide from the file
    text_column: str | None = None  # None: "text" if there is one, else the one other column
    labels_optional: bool = False  # predict: a file without the label column is fine


@dataclass
class Examples:
    """Labelled (or unlabelled) examples as read: series (x, lengths) or texts."""
    source: str
    mode: str  # "series" or "text"
    labels: list[str] | None
    where: list[str]  # names each example in error messages: "file:line"
    x: np.ndarray | None = None  # (N, T, C) float64, NaN = missing, 0 after lengths
    lengths: np.ndarray | None = None  # (N,) int64
    texts: list[str] | None = None
    label_column: str | None = None
    text_column: str | None = None

    def __len__(self) -> int:
        return len(self.where)

    def subset(self, idx) -> "Examples":
        pick = lambda seq: None if seq is None else [seq[i] for i in idx]  # noqa: E731
        series = self.mode == "series"
        return replace(self, labels=pick(self.labels), where=pick(self.where),
                       texts=pick(self.texts), x=self.x[idx] if series else None,
                       lengths=self.lengths[idx] if series else None)


def read_examples(path: Path, layout: Layout) -> Examples:
    """Examples from a .ts, .csv, .tsv or .npz file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".ts":
        if layout.text:
            raise UsageError(f"{path}: texts are read from a .csv or .tsv file, not .ts")
        try:
            return _from_ts(read_ts(path), str(path))
        except TsFileError as exc:
            raise UsageError(str(exc)) from None
    if suffix == ".npz":
        if layout.text:
            raise UsageError(f"{path}: texts are read from a .csv or .tsv file, not .npz")
        return _read_npz(path)
    if suffix in (".csv", ".tsv"):
        return _read_table(path, "\t" if suffix == ".tsv" else ",", layout)
    raise UsageError(f"{path}: unknown file type {suffix or '(none)'!r}; "
                     "expected .ts, .csv, .tsv or .npz")


def read_ts_examples(lines, source: str) -> Examples:
    """Examples from the lines of a .ts file (e.g. a bundled one)."""
    try:
        return _from_ts(parse_ts(lines, source), source)
    except TsFileError as exc:
        raise UsageError(str(exc)) from None


def _from_ts(data: TsData, source: str) -> Examples:
    if data.header["targetlabel"]:
        raise UsageError(f"{source} is a regression problem (@targetLabel true); "
                         "classify needs class labels")
    return Examples(source, "series", data.labels, [f"{source}:{n}" for n in data.lines],
                    x=data.x, lengths=data.lengths)


# --- NPZ -----------------------------------------------------------------------------------
def _read_npz(path: Path) -> Examples:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # zipfile, pickle and format errors alike
        raise UsageError(f"{path} is not a readable .npz file: {exc}") from None
    key = "X" if "X" in arrays else "x" if "x" in arrays else None
    if key is None:
        raise UsageError(f"{path} has no array X (found: {', '.join(arrays) or 'none'})")
    X = arrays[key]
    if X.dtype.kind not in "fiu" or X.ndim not in (2, 3) or 0 in X.shape:
        raise UsageError(f"{path}: X must be numbers of shape (N, T) or (N, T, C) with no "
                         f"empty axis (at least one example, step and channel), got dtype "
                         f"{X.dtype} and shape {X.shape}")
    x = X.astype(np.float64).reshape(X.shape[0], X.shape[1], -1)  # (N, T, C)
    if np.isinf(x).any():
        raise UsageError(f"{path}: X holds infinite values")
    if too_large(x).any():
        raise UsageError(f"{path}: X holds values beyond +-{MAX_MAGNITUDE:g}, too large to "
                         "compute with")
    N, T = x.shape[:2]
    lengths = np.full(N, T, dtype=np.int64)
    if "lengths" in arrays:
        lens = arrays["lengths"]
        if lens.shape != (N,) or lens.dtype.kind not in "iu" or lens.min() < 1 or lens.max() > T:
            raise UsageError(f"{path}: lengths must be {N} integers in 1..{T}")
        lengths = lens.astype(np.int64)
        x[np.arange(T)[None, :] >= lengths[:, None]] = 0.0  # padding
    labels = None
    if "y" in arrays:
        y = arrays["y"]
        if y.shape != (N,):
            raise UsageError(f"{path}: y must have shape ({N},) like X's first axis, "
                             f"got {y.shape}")
        if y.dtype.kind not in "fiubUS" or y.ndim != 1:
            raise UsageError(f"{path}: y must hold numbers or strings, got dtype {y.dtype}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise UsageError(f"{path}: y holds NaN or infinite values; class labels expected")
        if y.dtype.kind == "f" and not np.all(y == np.round(y)):
            raise UsageError(f"{path}: y holds fractional numbers; class labels expected")
        labels = [str(int(v)) if y.dtype.kind in "fiub" else str(v) for v in y.tolist()]
    return Examples(str(path), "series", labels, [f"{path}: X[{i}]" for i in range(N)],
                    x=x, lengths=lengths)


# --- CSV / TSV -----------------------------------------------------------------------------
def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _rows(path: Path, delimiter: str):
    """(column names, rows padded to their number, line numbers); a first row of numbers
    only is data, and the columns are then named 0, 1, 2, ..."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        rows, lines = [], []
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append([cell.strip() for cell in row])
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None
    except csv.Error as exc:
        raise UsageError(f"{path} is not a readable table: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not rows:
        raise UsageError(f"{path} is empty")
    if all(_is_number(c) for c in rows[0] if c not in MISSING):
        columns = [str(i) for i in range(max(len(r) for r in rows))]
    else:
        columns, rows, lines = rows[0], rows[1:], lines[1:]
        if len(set(columns)) != len(columns):
            raise UsageError(f"{path}: the header names a column twice")
        if not rows:
            raise UsageError(f"{path} has a header but no rows")
    for row, line in zip(rows, lines):
        if len(row) > len(columns):
            raise UsageError(f"{path}:{line}: {len(row)} cells, but {len(columns)} columns")
        row.extend([""] * (len(columns) - len(row)))
    return columns, rows, lines


def _find(columns, name, path, option):
    if name not in columns:
        shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
        raise UsageError(f"{path} has no column {name!r} ({option}; columns: {shown})")
    return columns.index(name)


def _read_table(path: Path, delimiter: str, layout: Layout) -> Examples:
    columns, rows, lines = _rows(path, delimiter)
    label = layout.label_column or ("label" if "label" in columns else columns[-1])
    if layout.labels_optional and label not in columns:
        label_idx = None
    else:
        label_idx = _find(columns, label, path, "--label-column")
    others = [i for i in range(len(columns)) if i != label_idx]
    if not others:
        raise UsageError(f"{path} has only the label column")
    text_idx = _text_column(columns, rows, others, layout, path)
    where = [f"{path}:{line}" for line in lines]
    labels = None
    if label_idx is not None:
        labels = [row[label_idx] for row in rows]
        for lab, w in zip(labels, where):
            if not lab:
                raise UsageError(f"{w}: no label in column {label!r}")
    if text_idx is not None:
        return Examples(str(path), "text", labels, where, texts=[r[text_idx] for r in rows],
                        label_column=label, text_column=columns[text_idx])
    x = np.empty((len(rows), len(others), 1))  # (N, T, 1)
    for i, row in enumerate(rows):
        for t, j in enumerate(others):
            cell = row[j]
            if cell in MISSING:
                x[i, t, 0] = np.nan
            elif _is_number(cell) and abs(float(cell)) <= MAX_MAGNITUDE:
                x[i, t, 0] = float(cell)
            elif _is_number(cell):
                raise UsageError(f"{where[i]}: column {columns[j]!r} holds {cell[:40]}, not a "
                                 f"finite number within +-{MAX_MAGNITUDE:g}")
            else:
                hint = "" if layout.text is False else " (for texts give --text-column)"
                raise UsageError(f"{where[i]}: column {columns[j]!r} holds {cell[:40]!r}, "
                                 f"not a number{hint}")
    lengths = np.full(len(rows), len(others), dtype=np.int64)
    return Examples(str(path), "series", labels, where, x=x, lengths=lengths,
                    label_column=label)


def _text_column(columns, rows, others, layout, path):
    """Index of the text column, or None for series."""
    if layout.text_column is not None:
        return _find(columns, layout.text_column, path, "--text-column")
    named = [i for i in others if columns[i].lower() == "text"]
    candidate = named[0] if named else others[0] if len(others) == 1 else None
    if layout.text:
        if candidate is None:
            raise UsageError(f"{path}: which column holds the text? give --text-column "
                             f"(columns: {', '.join(columns[:12])})")
        return candidate
    if layout.text is None and candidate is not None and \
            any(not _is_number(r[candidate]) for r in rows if r[candidate] not in MISSING):
        return candidate
    return None
