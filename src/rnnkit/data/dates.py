"""The embedded default for ``rnnkit translate``: human-readable dates -> ISO 8601 dates.

    "tuesday, march 3 1998", "3/3/98", "03 Mar 1998", "March 3rd, 1998", ... -> "1998-03-03"

Dates are drawn uniformly from 1950-01-01 to 2049-12-31, so a two-digit year names one
year (50..99 -> 19yy, 00..49 -> 20yy). Slashes are month/day (US order), dots day.month,
a leading four-digit year is year/month/day: no source is ambiguous. Only the standard
library (``random`` with a fixed seed, ``datetime``) and the English names below are used,
so the data are the same on every machine, whatever its locale.
"""
from __future__ import annotations

import datetime
import random

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)


def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# Each format maps a date to text; the names in it are then cased by ``_case``.
FORMATS = (
    lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day} {d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",
    lambda d: f"{d.day:02d} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {ordinal(d.day)}, {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"the {ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{d.day}-{MONTHS[d.month - 1][:3]}-{d.year % 100:02d}",
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()]} {ordinal(d.day)} {MONTHS[d.month - 1]} {d.year}",
)


def _case(text: str, rng: random.Random) -> str:
    return rng.choice((str.lower, str.lower, lambda s: s, str.upper))(text)


def random_date(rng: random.Random) -> datetime.date:
    return FIRST + datetime.timedelta(days=rng.randrange((LAST - FIRST).days + 1))


def generate_dates(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (source, ISO date) pairs with distinct sources, the same for the same seed."""
    rng = random.Random(seed)
    pairs: dict[str, str] = {}
    while len(pairs) < n:
        d = random_date(rng)
        source = _case(rng.choice(FORMATS)(d), rng)
        pairs.setdefault(source, d.isoformat())
    return list(pairs.items())
