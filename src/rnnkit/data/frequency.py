"""Dates of a series: parse date cells, infer the calendar frequency and its seasonal period,
extend the dates past the end, and label them.

Dates are numpy ``datetime64`` arrays: unit ``D`` when no cell has a time of day, else ``s``.
Calendar steps (months, quarters, years) are counted in months and keep their anchor: dates
on the last day of their month stay month ends (2020-01-31, 2020-02-29, 2020-03-31, ...),
dates on a fixed day stay on it. Only the standard library and numpy are used.

Seasonal periods follow Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*,
3rd ed. (2021), section 2.1 (yearly 1, quarterly 4, monthly 12, weekly 52, daily 7,
hourly 24, half-hourly 48, minutely 60).
"""
from __future__ import annotations

import datetime
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from rnnkit.errors import UsageError

DAY = 86400  # seconds
DATE_FORMS = ("expected a date like 2020-01-31, 2020-01-31 13:00, 2020-01-31T13:00:00, "
              "1949-01, 1949, 1990Q1")

_DATE = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})"
                   r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.0+)?)?)?"
                   r"(Z|[+-]\d{2}:?\d{2})?")
_MONTH = re.compile(r"(\d{4})[-/](\d{1,2})")
_YEAR = re.compile(r"(\d{4})")
_QUARTER = re.compile(r"(\d{4})[- ]?[Qq]([1-4])")
_YEAR_MONTH_NAME = re.compile(r"(\d{4})[- ]([A-Za-z]{3,9})")  # 1991 Jul
_MONTH_NAME_YEAR = re.compile(r"([A-Za-z]{3,9})[- ]?(\d{4})")  # Jul 1991, July-1991
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")


@dataclass(frozen=True)
class Frequency:
    """How far apart consecutive dates are, and the seasonal period that goes with it.

    ``unit`` is "month" (calendar months: monthly step 1, quarterly 3, yearly 12),
    "business-day" (Monday to Friday), "day" (whole days: daily 1, weekly 7) or "second"
    (hourly 3600, half-hourly 1800, minutely 60); ``step`` counts units per step.
    ``month_end`` marks month-based dates that sit on the last day of their month.

    ``period`` is the steps in the usual seasonal cycle: a year for monthly (12), quarterly
    (4), half-yearly (2), every k months (12/k when k divides 12) and weekly (52) data; a week
    for daily (7) and business-daily (5) data; a day for hourly (24), half-hourly (48) and
    other steps of 5 minutes or more that divide a day; an hour for minutely data (60), a
    minute for secondly data (60); 1 (no season) otherwise, yearly data included.
    """
    name: str  # "monthly", "every 10 minutes", ...
    period: int  # seasonal period m: steps per seasonal cycle (1 = no season)
    unit: str
    step: int
    month_end: bool = False


class DateError(UsageError):
    """A date problem at position ``index`` (0-based) of the dates given; ``detail`` is the
    message without the position, for callers that name it their own way (a file's row)."""

    def __init__(self, detail: str, index: int):
        super().__init__(f"{detail} (date {index + 1})")
        self.detail, self.index = detail, index


# --- parsing -------------------------------------------------------------------------------
def _utc(dt: datetime.datetime, zone: str | None) -> datetime.datetime:
    """A naive datetime in UTC when the cell gave a zone ("Z", "+01:00"), else unchanged."""
    if not zone:
        return dt
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        dt = dt - sign * offset
    return dt


def _month_number(name: str) -> int:
    """1..12 for an English month name or its start of three letters or more ("Sep",
    "Sept", "September"); ValueError otherwise."""
    for i, month in enumerate(MONTHS):
        if month.startswith(name.lower()):
            return i + 1
    raise ValueError(name)


def parse_date(cell: str) -> tuple[datetime.datetime, bool] | None:
    """(naive datetime, whether the cell gave a time of day) for one cell in a form of
    :data:`DATE_FORMS`, or None. Year, year-month and quarter cells give the first day of
    the period (1990Q2 -> 1990-04-01); a zone offset is converted to UTC."""
    cell = cell.strip()
    try:
        if m := _DATE.fullmatch(cell):
            y, _, mo, d, hh, mm, ss, zone = m.groups()
            dt = datetime.datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0),
                                   int(ss or 0))
            return _utc(dt, zone), hh is not None
        if m := _QUARTER.fullmatch(cell):
            return datetime.datetime(int(m[1]), 3 * int(m[2]) - 2, 1), False
        if m := _MONTH.fullmatch(cell):
            return datetime.datetime(int(m[1]), int(m[2]), 1), False
        if m := _YEAR.fullmatch(cell):
            return datetime.datetime(int(m[1]), 1, 1), False
        if m := _YEAR_MONTH_NAME.fullmatch(cell):
            return datetime.datetime(int(m[1]), _month_number(m[2]), 1), False
        if m := _MONTH_NAME_YEAR.fullmatch(cell):
            return datetime.datetime(int(m[2]), _month_number(m[1]), 1), False
    except ValueError:  # month 13, February 30, year 0, ...
        return None
    return None


def parse_dates(cells: list[str]) -> np.ndarray:
    """Date cells -> datetime64 (N,), unit ``D`` when no cell has a time of day, else ``s``.

    Accepted: ISO dates and times (2020-01-31, 2020/01/31, 2020-01-31 13:00,
    2020-01-31T13:00:00, with an optional Z or +hh:mm zone, converted to UTC; fractions of a
    second only if zero), year-month (1949-01, 1949/01, 1991 Jul, Jul 1991, July-1991), years
    (1949) and quarters (1990Q1, 1990-Q1, 1990 Q1). A cell in another form raises
    :class:`DateError` with its position and content.
    """
    parsed = []
    for i, cell in enumerate(cells):
        p = parse_date(cell)
        if p is None:
            raise DateError(f"{cell!r} is not a date ({DATE_FORMS})", i)
        parsed.append(p)
    timed = any(t for _, t in parsed)
    return np.array([dt for dt, _ in parsed], dtype="datetime64[s]" if timed else
                    "datetime64[D]")


# --- helpers on datetime64 -------------------------------------------------------------------
def _seconds(dates) -> np.ndarray:
    """Any datetime64 (or ISO string) array -> datetime64[s] (N,)."""
    d = np.asarray(dates)
    if d.dtype.kind != "M":
        d = d.astype("datetime64")
    return d.astype("datetime64[s]").reshape(-1)


def _show(date) -> str:
    """2020-01-31 at midnight, else 2020-01-31 13:00 (with :ss when the seconds are not 0)."""
    s = str(np.datetime64(date, "s")).replace("T", " ")
    if s.endswith(" 00:00:00"):
        return s[:10]
    return s.removesuffix(":00")


def _fields(d: np.ndarray):
    """Calendar fields of datetime64[s] d (N,): months since 1970-01, day of the month,
    whether the day is its month's last, seconds since midnight; each (N,)."""
    days = d.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    first = months.astype("datetime64[D]")
    day = (days - first).astype(np.int64) + 1
    month_end = days == (months + 1).astype("datetime64[D]") - 1
    clock = (d - days).astype(np.int64)
    return months.astype(np.int64), day, month_end, clock


def _mode(values: np.ndarray) -> int:
    """The most common value; the smallest of equally common ones."""
    counts = Counter(values.tolist())
    return min(counts, key=lambda v: (-counts[v], v))


# --- naming ----------------------------------------------------------------------------------
def _plural(n: int, unit: str) -> str:
    return f"every {n} {unit}s"


def _month_frequency(step: int, month_end: bool) -> Frequency:
    named = {1: ("monthly", 12), 3: ("quarterly", 4), 6: ("half-yearly", 2), 12: ("yearly", 1)}
    if step in named:
        name, period = named[step]
    elif step % 12 == 0:
        name, period = _plural(step // 12, "year"), 1
    else:
        name, period = _plural(step, "month"), 12 // step if 12 % step == 0 else 1
    return Frequency(name, period, "month", step, month_end)


def _day_frequency(step: int) -> Frequency:
    if step == 1:
        return Frequency("daily", 7, "day", 1)
    if step == 7:
        return Frequency("weekly", 52, "day", 7)
    if step % 7 == 0:
        weeks = step // 7
        return Frequency(_plural(weeks, "week"), 52 // weeks if 52 % weeks == 0 else 1,
                         "day", step)
    return Frequency(_plural(step, "day"), 1, "day", step)


def _sub_daily_period(step: int) -> int:
    """Steps in the longest of a day, an hour, a minute that ``step`` seconds divide into at
    most 288 steps (hourly 24, half-hourly 48, 5-minutely 288, minutely 60); else 1."""
    for cycle in (DAY, 3600, 60):
        if cycle % step == 0 and cycle // step <= 288:
            return cycle // step
    return 1


def _second_frequency(step: int) -> Frequency:
    named = {1: "secondly", 60: "minutely", 900: "quarter-hourly", 1800: "half-hourly",
             3600: "hourly"}
    if step in named:
        name = named[step]
    elif step % 3600 == 0:
        name = _plural(step // 3600, "hour")
    elif step % 60 == 0:
        name = _plural(step // 60, "minute")
    else:
        name = _plural(step, "second")
    return Frequency(name, _sub_daily_period(step), "second", step)


def _step_phrase(f: Frequency) -> str:
    return f"a step of {f.name[6:]}" if f.name.startswith("every ") else f"a {f.name} step"


# --- inference -------------------------------------------------------------------------------
def _check_increasing(d: np.ndarray) -> None:
    for i in np.flatnonzero(np.diff(d) <= np.timedelta64(0, "s")) + 1:
        if d[i] == d[i - 1]:
            raise DateError(f"the date {_show(d[i])} appears twice", int(i))
        raise DateError(f"the dates are not in increasing order: {_show(d[i])} follows "
                        f"{_show(d[i - 1])}", int(i))


def _check_steps(d: np.ndarray, steps: np.ndarray, f: Frequency) -> Frequency:
    """Refuse the first step of d that is not ``f.step`` units; steps (N-1,) in f's unit."""
    for i in np.flatnonzero(steps != f.step) + 1:
        raise DateError(f"the dates are not evenly spaced: {_show(d[i])} follows "
                        f"{_show(d[i - 1])} where {_step_phrase(f)} was expected", int(i))
    return f


def _check_same(values: np.ndarray, what: str, d: np.ndarray, show=str) -> None:
    """Refuse the first element of values (N,) that differs from the most common one;
    ``what`` says where the others are, {usual} standing for that value as ``show`` writes it."""
    usual = _mode(values)
    for i in np.flatnonzero(values != usual):
        raise DateError(f"{_show(d[i])} is not {what.format(usual=show(usual))} like the other "
                        "dates", int(i))


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}" + (
        f":{seconds % 60:02d}" if seconds % 60 else "")


def _infer_months(d: np.ndarray) -> Frequency:
    """Dates a month or more apart: all on the same day of the month (or all month ends)
    and at the same time of day, a fixed number of calendar months apart."""
    months, day, month_end, clock = _fields(d)
    _check_same(clock, "at {usual}", d, _clock)
    anchored = bool(month_end.all())  # month ends, else one day of the month for all
    if not anchored and 2 * month_end.sum() > len(d) and (day != day[0]).any():
        _check_same(month_end, "the last day of its month", d)
    if not anchored:
        _check_same(day, "on day {usual} of its month", d)
    steps = np.diff(months)  # (N-1,)
    return _check_steps(d, steps, _month_frequency(_mode(steps), anchored))


def _is_business_daily(d: np.ndarray) -> bool:
    """Weekdays only, with at least one Friday -> Monday step: a business-day series."""
    days = d.astype("datetime64[D]")
    fridays = days[:-1][np.is_busday(days[:-1], weekmask="0000100")]
    return bool(np.is_busday(days).all()) and bool(np.isin(fridays + 3, days).any())


def _infer_business_days(d: np.ndarray) -> Frequency:
    _, _, _, clock = _fields(d)
    _check_same(clock, "at {usual}", d, _clock)
    days = d.astype("datetime64[D]")
    steps = np.busday_count(days[:-1], days[1:])  # (N-1,) business days between neighbours
    return _check_steps(d, steps, Frequency("business-daily", 5, "business-day", 1))


def infer_frequency(dates) -> Frequency:
    """The frequency of dates (N,) (datetime64, N >= 2), from their spacing:

    * steps of 28 days or more (by the median): calendar months, so month ends and quarters
      are recognised whatever the month lengths (yearly, half-yearly, quarterly, monthly);
    * weekdays only with Friday -> Monday steps: business-daily;
    * otherwise a fixed duration (weekly, daily, hourly, half-hourly, minutely, ...).

    The step is the most common one; the first date that breaks it, comes before its
    predecessor, repeats it or leaves the common day of the month or time of day raises
    :class:`DateError` naming the date and its position (missing values are not skipped).
    """
    d = _seconds(dates)
    if len(d) < 2:
        raise UsageError(f"at least 2 dates are needed to infer a frequency, got {len(d)}")
    _check_increasing(d)
    gaps = np.diff(d).astype(np.int64)  # (N-1,) seconds
    if np.median(gaps) >= 28 * DAY:
        return _infer_months(d)
    if _is_business_daily(d):
        return _infer_business_days(d)
    step = _mode(gaps)
    if step % DAY == 0:
        whole_days = np.where(gaps % DAY == 0, gaps // DAY, 0)  # (N-1,) 0: not whole days
        return _check_steps(d, whole_days, _day_frequency(step // DAY))
    return _check_steps(d, gaps, _second_frequency(step))


# --- the future, labels ----------------------------------------------------------------------
def _output_dtype(dates) -> np.dtype:
    """The input's datetime64 unit, or days when it is coarser (months, years)."""
    d = np.asarray(dates)
    if d.dtype.kind != "M":
        d = d.astype("datetime64")
    return np.result_type(d.dtype, np.dtype("datetime64[D]"))


def future_dates(dates, frequency: Frequency, horizon: int) -> np.ndarray:
    """The ``horizon`` dates after the last of dates (N,): month-based steps count calendar
    months and keep the anchor (month ends stay month ends; a fixed day past the end of a
    shorter month becomes that month's last day), business days skip weekends, the rest add
    ``step`` days or seconds. -> datetime64 (H,) in the input's unit (at least days)."""
    last = _seconds(dates)[-1]
    day = last.astype("datetime64[D]")
    clock = last - day  # time of day, kept
    h = np.arange(1, horizon + 1)  # (H,)
    if frequency.unit == "month":
        month = day.astype("datetime64[M]")
        months = month + frequency.step * h  # (H,) datetime64[M]
        ends = (months + 1).astype("datetime64[D]") - 1  # (H,) last day of each month
        if frequency.month_end:
            days = ends
        else:
            days = np.minimum(months.astype("datetime64[D]") + (day - month), ends)
        out = days + clock
    elif frequency.unit == "business-day":
        out = np.busday_offset(day, h, roll="forward") + clock
    elif frequency.unit == "day":
        out = last + np.timedelta64(frequency.step, "D") * h
    else:
        out = last + np.timedelta64(frequency.step, "s") * h
    return out.astype(_output_dtype(dates))


def format_dates(dates, frequency: Frequency | None = None) -> list[str]:
    """Labels for dates (N,) that :func:`parse_dates` reads back: "1949" for yearly dates on
    January 1, "1990Q2" for quarterly ones on quarter starts, "1949-01" for other month-based
    dates on the 1st, "2020-01-31" when all are at midnight, else "2020-01-31 13:00" (with
    seconds when one has them)."""
    d = _seconds(dates)
    months, day, _, clock = _fields(d)
    month = months % 12 + 1
    years = (months // 12 + 1970).tolist()
    on_first = len(d) > 0 and (day == 1).all() and (clock == 0).all()
    if frequency is not None and frequency.unit == "month" and on_first:
        if frequency.step % 12 == 0 and (month == 1).all():
            return [str(y) for y in years]
        if frequency.step % 3 == 0 and (month % 3 == 1).all():
            return [f"{y}Q{(m + 2) // 3}" for y, m in zip(years, month.tolist())]
        return [f"{y}-{m:02d}" for y, m in zip(years, month.tolist())]
    width = 10 if (clock == 0).all() else 16 if (clock % 60 == 0).all() else 19
    return [str(x).replace("T", " ")[:width] for x in d]
