"""Reader for the ``.ts`` format of the UCR/UEA time-series classification archives, as
sktime's ``load_from_tsfile`` and aeon's ``load_from_tsfile`` read it.

A .ts file holds comments (lines starting with ``#`` or ``%``), a header of ``@tag value`` lines, ``@data``, then one case
per line: channels separated by ``:``, values by ``,``, ``?`` for a missing value, and the
class label after the last ``:``::

    @problemName Toy
    @timeStamps false
    @missing true
    @univariate false
    @dimensions 2
    @equalLength false
    @classLabel true up down
    @data
    1,2,3:4,5,6:up
    1,?,3,4:4,5,6,7:down

Tags are case-insensitive, labels are kept as written. Cases may differ in length only when
``@equalLength false``; the channels of one case always have the same length. Files with
``@timeStamps true`` (values written as ``(time,value)``) are refused.

References: H. A. Dau et al., "The UCR time series archive", IEEE/CAA J. Autom. Sinica 6(6),
2019; A. Bagnall et al., "The UEA multivariate time series classification archive", 2018,
arXiv:1811.00075; sktime's format specification (docs/source/api_reference/data_format.rst).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.errors import TsFileError
from rnnkit.validation import MAX_MAGNITUDE, too_large

BOOLEAN_TAGS = ("timestamps", "missing", "univariate", "equallength", "targetlabel")
INTEGER_TAGS = ("dimensions", "serieslength")
COMMENT = ("#", "%")  # '%' as in ARFF, used by some archive files




@dataclass
class TsData:
    """The cases of a .ts file, right-padded.

    x: (N, T, C) float64, T = the longest case; NaN where the file has ``?``, 0 after each
    case's length. lengths: (N,) int64. labels: N strings, or None without class labels.
    lines: (N,) the 1-based line number of each case. header: the tags read (lower-case
    names) with defaults for the missing ones.
    """
    x: np.ndarray
    lengths: np.ndarray
    labels: list[str] | None
    lines: np.ndarray
    header: dict = field(default_factory=dict)


def read_ts(path) -> TsData:
    """Read a .ts file; raises :class:`TsFileError` naming the line of the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TsFileError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None
    except OSError as exc:
        raise TsFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return parse_ts(text.splitlines(), source=str(path))


def parse_ts(lines, source: str = "<ts>") -> TsData:
    """Parse the lines of a .ts file (``source`` names it in error messages)."""
    lines = list(lines)
    header, first = _parse_header(lines, source)
    cases, labels, numbers = [], [], []
    for number in range(first, len(lines) + 1):
        line = lines[number - 1].strip()
        if not line or line.startswith(COMMENT):
            continue
        channels, label = _parse_case(line, header, f"{source}:{number}")
        cases.append(channels)
        labels.append(label)
        numbers.append(number)
        _check_case(channels, label, header, f"{source}:{number}", first_case=cases[0])
    if not cases:
        raise TsFileError(f"{source}: no cases after @data")
    lengths = np.array([len(c[0]) for c in cases], dtype=np.int64)  # (N,)
    C = len(cases[0])
    x = np.zeros((len(cases), int(lengths.max()), C))  # (N, T, C), zero-padded
    for i, channels in enumerate(cases):
        x[i, : lengths[i]] = np.stack(channels, axis=1)  # (T_i, C)
    has_labels = header["classlabel"] or header["targetlabel"]
    return TsData(x, lengths, labels if has_labels else None, np.array(numbers), header)


def _parse_header(lines, source):
    """The header tags and the 1-based number of the first line after ``@data``."""
    header = {"problemname": None, "timestamps": False, "missing": False, "univariate": True,
              "dimensions": None, "equallength": True, "serieslength": None,
              "classlabel": False, "class_values": [], "targetlabel": False}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith(COMMENT):
            continue
        where = f"{source}:{number}"
        if not line.startswith("@"):
            raise TsFileError(f"{where}: expected a @tag or a # comment before @data, "
                              f"got {_short(line)!r}")
        tag, *values = line.split()
        key = tag[1:].lower()
        if key == "data":
            if values:
                raise TsFileError(f"{where}: @data takes no value")
            _check_header(header, source)
            return header, number + 1
        if key in BOOLEAN_TAGS:
            header[key] = _boolean(values, tag, where)
        elif key in INTEGER_TAGS:
            if len(values) != 1 or not (values[0].isascii() and values[0].isdigit()) \
                    or int(values[0]) < 1:
                raise TsFileError(f"{where}: {tag} needs one positive integer, "
                                  f"got {' '.join(values)!r}")
            header[key] = int(values[0])
        elif key == "classlabel":
            header["classlabel"] = _boolean(values[:1], tag, where)
            header["class_values"] = values[1:]
            if header["classlabel"] and not values[1:]:
                raise TsFileError(f"{where}: @classLabel true must list the class labels")
            if len(set(values[1:])) != len(values[1:]):
                raise TsFileError(f"{where}: @classLabel lists a label twice")
        elif key == "problemname":
            header[key] = " ".join(values)
        # other tags (e.g. a future extension) carry no information the reader needs
    raise TsFileError(f"{source}: no @data line (a .ts file has a header, @data, then cases)")


def _boolean(values, tag, where) -> bool:
    if len(values) != 1 or values[0].lower() not in ("true", "false"):
        raise TsFileError(f"{where}: {tag} needs true or false, got {' '.join(values)!r}")
    return values[0].lower() == "true"


def _check_header(header, source):
    if header["timestamps"]:
        raise TsFileError(f"{source}: @timeStamps true is not supported "
                          "(values written as (time,value)); give the values only")
    dims = header["dimensions"]
    if header["univariate"] and dims not in (None, 1):
        raise TsFileError(f"{source}: @univariate true contradicts @dimensions {dims}")
    if header["univariate"]:
        header["dimensions"] = 1
    if header["classlabel"] and header["targetlabel"]:
        raise TsFileError(f"{source}: both @classLabel true and @targetLabel true")


def _parse_case(line, header, where):
    """(list of C arrays (T,), label or None) from one data line."""
    parts = line.split(":")
    label = None
    if header["classlabel"] or header["targetlabel"]:
        if len(parts) < 2:
            raise TsFileError(f"{where}: no label after the last ':'")
        label = parts.pop().strip()
        if not label:
            raise TsFileError(f"{where}: empty label after the last ':'")
    channels = []
    for c, part in enumerate(parts, start=1):
        values = [v.strip() for v in part.split(",")]
        if values == [""]:
            raise TsFileError(f"{where}: channel {c} has no values")
        channels.append(_numbers(values, f"{where}: channel {c}"))
    return channels, label


def _numbers(values, where) -> np.ndarray:
    """Floats from strings, NaN for ``?``; an error names the first value that is not one."""
    try:
        out = np.array(values, dtype=np.float64)  # (T,)
    except ValueError:
        out = np.empty(len(values))
        for t, v in enumerate(values):
            if v == "?":
                out[t] = np.nan
                continue
            try:
                out[t] = float(v)
            except ValueError:
                raise TsFileError(f"{where}: value {t + 1} is {_short(v)!r}, "
                                  "not a number or '?'") from None
    if np.isinf(out).any():
        raise TsFileError(f"{where}: value {int(np.argmax(np.isinf(out))) + 1} is infinite")
    big = too_large(out)
    if big.any():
        t = int(np.argmax(big))
        raise TsFileError(f"{where}: value {t + 1} is {out[t]:g}, too large (values beyond "
                          f"+-{MAX_MAGNITUDE:g} cannot be computed with)")
    return out


def _check_case(channels, label, header, where, first_case):
    dims = header["dimensions"] or len(first_case)
    if len(channels) != dims:
        declared = f"@dimensions {dims}" if header["dimensions"] else "the first case"
        raise TsFileError(f"{where}: {len(channels)} channels, expected {dims} ({declared})")
    sizes = {len(c) for c in channels}
    if len(sizes) > 1:
        raise TsFileError(f"{where}: the channels of one case differ in length "
                          f"({', '.join(str(len(c)) for c in channels)})")
    if header["equallength"]:
        expected = header["serieslength"] or len(first_case[0])
        if len(channels[0]) != expected:
            declared = "@seriesLength" if header["serieslength"] else "the first case"
            raise TsFileError(f"{where}: {len(channels[0])} values per channel, expected "
                              f"{expected} ({declared}; use @equalLength false for "
                              "cases of different lengths)")
    if header["classlabel"] and label not in header["class_values"]:
        raise TsFileError(f"{where}: label {_short(label)!r} is not declared in @classLabel "
                          f"({' '.join(header['class_values'])})")


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."
