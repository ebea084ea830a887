"""Dates: every accepted form, every frequency, the refusals, future dates and labels."""
import numpy as np
import pytest

from rnnkit.data.frequency import (
    DateError,
    Frequency,
    format_dates,
    future_dates,
    infer_frequency,
    parse_date,
    parse_dates,
)
from rnnkit.errors import UsageError


def days(*iso):
    return np.array(iso, dtype="datetime64[D]")


@pytest.mark.parametrize("cell, expected", [
    ("2020-01-31", "2020-01-31T00:00:00"),
    ("2020/01/31", "2020-01-31T00:00:00"),
    ("2020-1-5", "2020-01-05T00:00:00"),
    ("2020-01-31 13:00", "2020-01-31T13:00:00"),
    ("2020-01-31T13:00:00", "2020-01-31T13:00:00"),
    ("2020-01-31T13:00:07.000", "2020-01-31T13:00:07"),
    ("2020-01-31T13:00Z", "2020-01-31T13:00:00"),
    ("2020-01-31T13:00+02:00", "2020-01-31T11:00:00"),
    ("2020-01-01T01:30-0100", "2020-01-01T02:30:00"),
    ("1949-01", "1949-01-01T00:00:00"),
    ("1949/12", "1949-12-01T00:00:00"),
    ("1949", "1949-01-01T00:00:00"),
    ("1990Q1", "1990-01-01T00:00:00"),
    ("1990-Q2", "1990-04-01T00:00:00"),
    ("1990 Q3", "1990-07-01T00:00:00"),
    ("1990q4", "1990-10-01T00:00:00"),
    ("1991 Jul", "1991-07-01T00:00:00"),
    ("1991-jul", "1991-07-01T00:00:00"),
    ("Jul 1991", "1991-07-01T00:00:00"),
    ("September-1991", "1991-09-01T00:00:00"),
    ("Sept1991", "1991-09-01T00:00:00"),
    (" 2020-02-29 ", "2020-02-29T00:00:00"),
])
def test_every_date_form(cell, expected):
    dt, timed = parse_date(cell)
    assert dt.isoformat() == expected
    assert timed == (":" in cell)


@pytest.mark.parametrize("cell", ["", "12", "194901", "31/01/2020", "2020-13", "2020-02-30",
                                  "1990Q5", "2020-01-31 25:00", "0000", "Ju 2020",
                                  "Marchy 2020", "Foo 2020", "2020 Q", "Jan 20",
                                  "2020-01-31 13:00:07.5", "2020-01/31", "1.5"])
def test_non_dates_are_none(cell):
    assert parse_date(cell) is None


def test_parse_dates_unit_and_refusal():
    assert parse_dates(["1949-01", "1949-02"]).dtype == np.dtype("datetime64[D]")
    mixed = parse_dates(["2020-01-01", "2020-01-01 12:00"])
    assert mixed.dtype == np.dtype("datetime64[s]")
    assert mixed.tolist()[1].isoformat() == "2020-01-01T12:00:00"
    assert parse_dates([]).shape == (0,)
    with pytest.raises(DateError, match=r"^'2020-13-01' is not a date \(expected a date like "
                                        r"2020-01-31, .*\) \(date 3\)$") as info:
        parse_dates(["2020-11-01", "2020-12-01", "2020-13-01"])
    assert info.value.index == 2 and isinstance(info.value, UsageError)


@pytest.mark.parametrize("cells, name, period, unit, step", [
    (["1949", "1950", "1951"], "yearly", 1, "month", 12),
    (["1990Q1", "1990Q2", "1990Q3", "1990Q4", "1991Q1"], "quarterly", 4, "month", 3),
    (["1949-01", "1949-02", "1949-03"], "monthly", 12, "month", 1),
    (["2020-01-15", "2020-02-15", "2020-03-15"], "monthly", 12, "month", 1),
    (["2020-01", "2020-07", "2021-01"], "half-yearly", 2, "month", 6),
    (["2020-01", "2020-03", "2020-05"], "every 2 months", 6, "month", 2),
    (["1950", "1955", "1960"], "every 5 years", 1, "month", 60),
    (["2020-01-06", "2020-01-13", "2020-01-20"], "weekly", 52, "day", 7),
    (["2020-01-06", "2020-01-20", "2020-02-03"], "every 2 weeks", 26, "day", 14),
    (["2020-02-27", "2020-02-28", "2020-02-29", "2020-03-01"], "daily", 7, "day", 1),
    (["2020-01-01", "2020-01-03", "2020-01-05"], "every 2 days", 1, "day", 2),
    (["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"], "business-daily", 5,
     "business-day", 1),
    (["2020-01-01 09:00", "2020-01-02 09:00"], "daily", 7, "day", 1),
    (["2020-01-01 23:00", "2020-01-02 00:00", "2020-01-02 01:00"], "hourly", 24, "second",
     3600),
    (["2020-01-01 00:00", "2020-01-01 00:30"], "half-hourly", 48, "second", 1800),
    (["2020-01-01 00:00", "2020-01-01 00:15"], "quarter-hourly", 96, "second", 900),
    (["2020-01-01 00:00", "2020-01-01 00:10"], "every 10 minutes", 144, "second", 600),
    (["2020-01-01 00:00", "2020-01-01 00:01"], "minutely", 60, "second", 60),
    (["2020-01-01 00:00:00", "2020-01-01 00:00:01"], "secondly", 60, "second", 1),
    (["2020-01-01 00:00", "2020-01-01 06:00"], "every 6 hours", 4, "second", 6 * 3600),
])
def test_every_frequency(cells, name, period, unit, step):
    assert infer_frequency(parse_dates(cells)) == Frequency(name, period, unit, step)


@pytest.mark.parametrize("cells, name", [
    (["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30"], "monthly"),
    (["2019-01-31", "2019-02-28", "2019-03-31"], "monthly"),
    (["2020-03-31", "2020-06-30", "2020-09-30", "2020-12-31"], "quarterly"),
    (["2019-12-31", "2020-12-31"], "yearly"),
])
def test_month_ends_are_an_anchor(cells, name):
    f = infer_frequency(parse_dates(cells))
    assert f.name == name and f.month_end


def test_month_starts_and_fixed_days_are_not_month_ends():
    assert not infer_frequency(days("2020-01-01", "2020-02-01")).month_end
    # the 28th of February in a leap year is no month end, but every date is the 28th
    f = infer_frequency(days("2019-02-28", "2020-02-28", "2021-02-28"))
    assert f.name == "yearly" and not f.month_end


@pytest.mark.parametrize("cells, message", [
    (["2020-01-01", "2020-03-01", "2020-04-01"],
     ("the dates are not evenly spaced: 2020-03-01 follows 2020-01-01 where a monthly step "
     "was expected (date 2)")),
    (["2020-01-01", "2020-02-01", "2020-03-01", "2020-05-01", "2020-06-01"],
     ("the dates are not evenly spaced: 2020-05-01 follows 2020-03-01 where a monthly step "
     "was expected (date 4)")),
    (["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05"],
     ("the dates are not evenly spaced: 2020-01-04 follows 2020-01-02 where a daily step was "
     "expected (date 3)")),
    (["2020-01-01 00:00", "2020-01-01 00:10", "2020-01-01 00:30", "2020-01-01 00:40"],
     ("the dates are not evenly spaced: 2020-01-01 00:30 follows 2020-01-01 00:10 where a step "
     "of 10 minutes was expected (date 3)")),
    (["2020-12-17", "2020-12-18", "2020-12-21", "2020-12-22", "2020-12-23", "2020-12-24",
      "2020-12-28", "2020-12-29"],  # Thursday to Tuesday, without Christmas
     ("the dates are not evenly spaced: 2020-12-28 follows 2020-12-24 where a business-daily "
     "step was expected (date 7)")),
    (["2020-01-01", "2020-03-01", "2020-02-01"],
     "the dates are not in increasing order: 2020-02-01 follows 2020-03-01 (date 3)"),
    (["2020-01-01", "2020-02-01", "2020-02-01", "2020-03-01"],
     "the date 2020-02-01 appears twice (date 3)"),
    (["2020-01-01", "2020-02-01", "2020-03-02", "2020-04-01"],
     "2020-03-02 is not on day 1 of its month like the other dates (date 3)"),
    (["2020-01-31", "2020-02-29", "2020-03-30", "2020-04-30"],
     "2020-03-30 is not the last day of its month like the other dates (date 3)"),
    (["2020-01-01 00:00", "2020-02-01 00:00", "2020-03-01 13:30"],
     "2020-03-01 13:30 is not at 00:00 like the other dates (date 3)"),
])
def test_irregular_dates_are_refused_naming_the_place(cells, message):
    with pytest.raises(DateError) as info:
        infer_frequency(parse_dates(cells))
    assert str(info.value) == message
    assert info.value.index == int(message.rsplit(" ", 1)[1][:-1]) - 1


def test_too_few_dates():
    with pytest.raises(UsageError, match="at least 2 dates are needed"):
        infer_frequency(days("2020-01-01"))


@pytest.mark.parametrize("cells, horizon, expected", [
    (["2019-10", "2019-11"], 3, ["2019-12-01", "2020-01-01", "2020-02-01"]),
    (["2019-11-30", "2019-12-31"], 3, ["2020-01-31", "2020-02-29", "2020-03-31"]),
    (["2022-11-30", "2022-12-31"], 3, ["2023-01-31", "2023-02-28", "2023-03-31"]),
    (["2020-06-30", "2020-09-30"], 3, ["2020-12-31", "2021-03-31", "2021-06-30"]),
    (["1990Q3", "1990Q4"], 2, ["1991-01-01", "1991-04-01"]),
    (["1959", "1960"], 2, ["1961-01-01", "1962-01-01"]),
    (["2016-02-29", "2017-02-28"], 3, ["2018-02-28", "2019-02-28", "2020-02-29"]),
    (["2020-01-15", "2020-02-15"], 2, ["2020-03-15", "2020-04-15"]),
    (["2019-05-30", "2019-08-30", "2019-11-30"], 2, ["2020-02-29", "2020-05-30"]),  # clipped
    (["2020-02-27", "2020-02-28"], 3, ["2020-02-29", "2020-03-01", "2020-03-02"]),
    (["2020-12-24", "2020-12-31"], 2, ["2021-01-07", "2021-01-14"]),
    (["2020-12-30", "2020-12-31"], 3, ["2021-01-01", "2021-01-04", "2021-01-05"]),  # Thu, Fri
])
def test_future_dates_are_calendar_correct(cells, horizon, expected):
    dates = parse_dates(cells)
    if cells[0] == "2020-12-30":  # two weekdays alone look daily; say business-daily
        f = Frequency("business-daily", 5, "business-day", 1)
    else:
        f = infer_frequency(dates)
    out = future_dates(dates, f, horizon)
    assert out.dtype == np.dtype("datetime64[D]")
    assert out.tolist() == days(*expected).tolist()


def test_future_times_and_units():
    dates = parse_dates(["2020-12-31 22:00", "2020-12-31 23:00"])
    out = future_dates(dates, infer_frequency(dates), 2)
    assert out.dtype == np.dtype("datetime64[s]")
    assert [str(x) for x in out] == ["2021-01-01T00:00:00", "2021-01-01T01:00:00"]
    noon = parse_dates(["2020-01-31 12:00", "2020-02-29 12:00"])  # month ends at noon
    assert str(future_dates(noon, infer_frequency(noon), 1)[0]) == "2020-03-31T12:00:00"
    months = np.array(["1949-01", "1949-02"], dtype="datetime64[M]")  # coarser than days
    out = future_dates(months, infer_frequency(months), 1)
    assert out.dtype == np.dtype("datetime64[D]") and str(out[0]) == "1949-03-01"
    assert future_dates(months, infer_frequency(months), 0).shape == (0,)


@pytest.mark.parametrize("cells, labels", [
    (["1959", "1960"], ["1961", "1962"]),
    (["1990Q3", "1990Q4"], ["1991Q1", "1991Q2"]),
    (["1949-11", "1949-12"], ["1950-01", "1950-02"]),
    (["2020-02", "2020-05"], ["2020-08", "2020-11"]),  # quarters that start in February
    (["2020-01-31", "2020-02-29"], ["2020-03-31", "2020-04-30"]),
    (["2020-01-01", "2020-01-02"], ["2020-01-03", "2020-01-04"]),
    (["2020-01-01 23:00", "2020-01-02 00:00"], ["2020-01-02 01:00", "2020-01-02 02:00"]),
    (["2020-01-01 00:00:00", "2020-01-01 00:00:30"],
     ["2020-01-01 00:01:00", "2020-01-01 00:01:30"]),
])
def test_labels_read_back(cells, labels):
    dates = parse_dates(cells)
    f = infer_frequency(dates)
    future = future_dates(dates, f, 2)
    assert format_dates(future, f) == labels
    assert parse_dates(labels).tolist() == future.tolist()


def test_labels_without_a_frequency_are_iso():
    assert format_dates(parse_dates(["1959", "1960"])) == ["1959-01-01", "1960-01-01"]
    assert format_dates(parse_dates(["2020-01-01 12:00"])) == ["2020-01-01 12:00"]
    assert format_dates(np.array([], dtype="datetime64[D]")) == []
