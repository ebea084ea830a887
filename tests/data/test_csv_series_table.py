"""read_series_table: wide and long CSV files, the date-column rule, and one-line refusals."""
import numpy as np
import pytest

from rnnkit.data.csv_series import read_csv_column, read_series_table
from rnnkit.data.frequency import Frequency
from rnnkit.errors import UsageError

MONTHLY = Frequency("monthly", 12, "month", 1)
YEARLY = Frequency("yearly", 1, "month", 12)


def write(tmp_path, text, name="s.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path, message, **kwargs):
    """The reader raises a one-line UsageError that names the file and contains message."""
    with pytest.raises(UsageError) as info:
        read_series_table(path, **kwargs)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path)), text
    assert message in text, text
    return text


def iso(dates):
    return [str(d)[:10] for d in dates]


# --- the wide format -------------------------------------------------------------------------
def test_one_dated_column_is_a_single_series(tmp_path):
    path = write(tmp_path, "month,passengers\n1949-01,112\n1949-02,118\n1949-03,132\n")
    t = read_series_table(path)
    assert (t.layout, t.names, t.source, t.frequency) == ("single", ["passengers"], str(path),
                                                          MONTHLY)
    assert t.values[0].dtype == np.float64 and t.values[0].tolist() == [112, 118, 132]
    assert t.dates[0].dtype == np.dtype("datetime64[D]")
    assert iso(t.dates[0]) == ["1949-01-01", "1949-02-01", "1949-03-01"]


def test_month_names_and_quarters(tmp_path):
    t = read_series_table(write(tmp_path, "Month,Scripts\n1991 Jul,1\n1991 Aug,1\n"))
    assert t.frequency == MONTHLY and iso(t.dates[0]) == ["1991-07-01", "1991-08-01"]
    t = read_series_table(write(tmp_path, ",Quarter,a\n0,1970 Q1,1\n1,1970 Q2,2\n"))
    assert t.names == ["a"] and t.frequency.name == "quarterly"


def test_several_value_columns_are_several_series(tmp_path):
    text = "\ufeffdate;north;south;note\r\n" + "".join(
        f"2020-{m:02d}-{d};{m};{-m * 1.5};ok\r\n" for m, d in ((1, 31), (2, 29), (3, 31)))
    t = read_series_table(write(tmp_path, text))  # BOM, semicolons, CRLF, a text column
    assert (t.layout, t.names) == ("wide", ["north", "south"])
    assert [v.tolist() for v in t.values] == [[1, 2, 3], [-1.5, -3, -4.5]]
    assert t.frequency == Frequency("monthly", 12, "month", 1, month_end=True)
    assert len(t.dates) == 2 and iso(t.dates[1]) == ["2020-01-31", "2020-02-29", "2020-03-31"]
    t.dates[0][0] = np.datetime64("1999-01-01")
    assert str(t.dates[1][0]) == "2020-01-31"  # each series has its own array


def test_chosen_columns_in_their_order(tmp_path):
    path = write(tmp_path, "ds\ta\tb\tc\n2020-01-01\t1\t2\t3\n2020-01-02\t4\t5\t6\n")
    t = read_series_table(path, columns=["c", "a"])
    assert t.names == ["c", "a"] and [v.tolist() for v in t.values] == [[3, 6], [1, 4]]
    assert t.frequency.name == "daily"
    t = read_series_table(path, value_column="b")
    assert (t.layout, t.names) == ("single", ["b"])
    refused(path, "no column 'd'; available columns: 'ds', 'a', 'b', 'c'", columns=["a", "d"])
    refused(path, "no columns given", columns=[])


def test_without_dates(tmp_path):
    t = read_series_table(write(tmp_path, "a,b\n1,2\n3,4\n"))
    assert t.dates is None and t.frequency is None and t.names == ["a", "b"]
    t = read_series_table(write(tmp_path, "0.5\n1.5\n2.5\n"))  # no header: column "1"
    assert (t.names, t.layout, t.values[0].tolist()) == (["1"], "single", [0.5, 1.5, 2.5])


@pytest.mark.parametrize("text, dated, names", [
    ("year,sunspots\n1700,5\n1701,11\n1702,16\n", True, ["sunspots"]),
    ("Year,x\n1950,5\n1955,11\n1960,16\n", True, ["x"]),  # named: gaps allowed
    ("t,x\n1949,5\n1950,11\n1951,16\n", True, ["x"]),  # integers 1000-3000 in steps of 1
    ("1949,5\n1950,11\n1951,16\n", True, ["2"]),  # no header at all
    ("t,x\n1950,5\n1955,11\n1960,16\n", False, ["t", "x"]),  # steps of 5: numbers
    ("t,x\n999,5\n1000,11\n1001,16\n", False, ["t", "x"]),  # 999 is no year here
    ("sales,x\n1523,5\n1876,11\n1402,16\n", False, ["sales", "x"]),  # values that look so
    ("period,x\n1,5\n2,11\n3,16\n", False, ["x"]),  # a time index named like dates
    ("timestamp,x\n" + "".join(f"{i},{i % 7}\n" for i in range(1500)), False, ["x"]),  # 1000..
])
def test_the_year_column_rule(tmp_path, text, dated, names):
    t = read_series_table(write(tmp_path, text))
    assert t.names == names and (t.dates is not None) == dated
    if dated:
        assert t.frequency.unit == "month" and t.frequency.step % 12 == 0


def test_a_row_counter_is_not_a_series(tmp_path):
    t = read_series_table(write(tmp_path, ",month,a,b\n0,1949-01,1,2\n1,1949-02,3,4\n"))
    assert t.names == ["a", "b"] and t.frequency == MONTHLY  # pandas' unnamed index
    t = read_series_table(write(tmp_path, "n,a\n1,7\n2,8\n3,9\n"))
    assert t.names == ["a"]
    t = read_series_table(write(tmp_path, "n\n1\n2\n3\n"))  # the only column is the series
    assert t.names == ["n"]


def test_time_column_given(tmp_path):
    path = write(tmp_path, "x,when\n5,2020-01-01 10:00\n6,2020-01-01 11:00\n")
    t = read_series_table(path, time_column="when")
    assert t.names == ["x"] and t.frequency.name == "hourly"
    assert t.dates[0].dtype == np.dtype("datetime64[s]")
    refused(path, "row 2: '5' in column 'x' is not a date", time_column="x")


@pytest.mark.parametrize("text, message", [
    ("month,a\n1949-01,1\n1949-02,\n", "row 3: empty cell in column 'a'"),
    ("month,a\n1949-01,1\n1949-02,x\n1949-03,3\n", "row 3: 'x' in column 'a' is not a number"),
    ("month,a\n1949-01,1\n1949-02,nan\n1949-03,3\n", "row 3: nan in column 'a' is not a finite"),
    ("month,a\n1949-01,1\n1949-02,inf\n1949-03,3\n", "row 3: inf in column 'a' is not a finite"),
    ("month,a,b\n1949-01,1,2\n1949-02,3\n", "row 3: 2 cells where the first row has 3"),
    ("month,a\n1949-01,1\n1949-02,3,4\n", "row 3: 3 cells where the first row has 2"),
    ("month,a\n1949-01,1\n1949-13,3\n",
     "row 3: '1949-13' in column 'month' is not a date (expected a date like"),
    ("month,a\n1949-01,1\n,3\n", "row 3: empty cell in column 'month'"),
    ("year,a\n1949,1\n19x0,3\n", "row 3: '19x0' in column 'year' is not a date"),
    ("month,a\n1949-01,1\n1949-02,2\n1949-04,3\n",
     ("row 4: the dates are not evenly spaced: 1949-04-01 follows 1949-02-01 where a monthly "
     "step was expected (column 'month')")),
    ("date,a\n2020-01-02,1\n2020-01-01,2\n2020-01-03,3\n",
     ("row 3: the dates are not in increasing order: 2020-01-01 follows 2020-01-02 "
     "(column 'date')")),
    ("date,a\n2020-01-01,1\n2020-01-01,2\n", "row 3: the date 2020-01-01 appears twice"),
    ("month,note\n1949-01,x\n1949-02,y\n", "no numeric column (columns: month, note)"),
    ("", "the file is empty"),
    ("month,a\n", "no data rows after the header"),
])
def test_bad_wide_files_are_refused_with_row_and_column(tmp_path, text, message):
    refused(write(tmp_path, text), message)


def test_extra_empty_cells_are_fine(tmp_path):
    t = read_series_table(write(tmp_path, "month,a\n1949-01,1,\n1949-02,2,\n"))
    assert t.values[0].tolist() == [1, 2]


def test_missing_file(tmp_path):
    refused(tmp_path / "gone.csv", "no such file")


# --- the long format -------------------------------------------------------------------------
LONG = """unique_id,ds,y,promo
B,2020-02-29,4,0
A,2020-02-29,2,1
A,2020-01-31,3,0
B,2020-01-31,1,0
A,2020-03-31,5,1
"""


def test_long_rows_are_grouped_and_sorted(tmp_path):
    t = read_series_table(write(tmp_path, LONG))
    assert (t.layout, t.names) == ("long", ["B", "A"])  # order of first appearance
    assert [v.tolist() for v in t.values] == [[1, 4], [3, 2, 5]]  # sorted by time
    assert [iso(d) for d in t.dates] == [["2020-01-31", "2020-02-29"],
                                         ["2020-01-31", "2020-02-29", "2020-03-31"]]
    assert t.frequency == Frequency("monthly", 12, "month", 1, month_end=True)


def test_long_columns_by_name_or_given(tmp_path):
    text = "Series,Year,Value\nx,1990,1\nx,1991,2\ny,1990,3\ny,1991,4\n"  # any case
    t = read_series_table(write(tmp_path, text))
    assert t.names == ["x", "y"] and t.frequency == YEARLY
    text = "store,when,qty,id\ns1,1990Q1,1,9\ns1,1990Q2,2,9\ns2,1990Q2,4,9\ns2,1990Q1,3,9\n"
    t = read_series_table(write(tmp_path, text), id_column="store", time_column="when",
                          value_column="qty")
    assert t.names == ["s1", "s2"] and [v.tolist() for v in t.values] == [[1, 2], [3, 4]]
    assert t.frequency.name == "quarterly"
    refused(tmp_path / "s.csv", "no column 'shop'", id_column="shop")
    refused(tmp_path / "s.csv", "give either columns", columns=["qty"], id_column="store")


def test_long_without_dates(tmp_path):
    t = read_series_table(write(tmp_path, "id,time,value\na,3,30\na,1,10\na,2,20\nb,1,5\nb,2,6\n"))
    assert t.dates is None and t.frequency is None  # a numeric time index
    assert [v.tolist() for v in t.values] == [[10, 20, 30], [5, 6]]
    text = "id,t,value\n" + "".join(f"{k},{i / 10},{i}\n" for k in "ab" for i in range(4))
    t = read_series_table(write(tmp_path, text), time_column="t")  # steps of 0.1 in floats
    assert [v.tolist() for v in t.values] == [[0, 1, 2, 3]] * 2
    t = read_series_table(write(tmp_path, "id,value\na,3\nb,1\na,2\nb,0\n"))  # no time: as read
    assert t.names == ["a", "b"] and [v.tolist() for v in t.values] == [[3, 2], [1, 0]]
    assert t.dates is None


@pytest.mark.parametrize("text, message", [
    ("id,date,value\na,2020-01,1\na,2020-01,2\na,2020-02,3\n",
     "series 'a' has two rows for 2020-01-01 (rows 2 and 3)"),
    ("id,date,value\na,2020-01,1\na,2020-02,3\nb,2020-01,2\nb,2020-04,4\n",
     "series 'b' is quarterly but series 'a' is monthly; all series must share one frequency"),
    ("id,date,value\na,2020-01-31,1\na,2020-02-29,3\nb,2020-01-01,2\nb,2020-02-01,4\n",
     "series 'b' is monthly but series 'a' is monthly on month ends"),
    ("id,date,value\na,2020-01,1\na,2020-02,3\na,2020-04,4\n",
     ("row 4: the dates are not evenly spaced: 2020-04-01 follows 2020-02-01 where a monthly "
     "step was expected (series 'a', column 'date')")),
    ("id,time,value\na,1,1\na,2,3\na,4,4\n",
     "row 4: series 'a': the times are not evenly spaced: 4 follows 2 where a step of 1"),
    ("id,time,value\na,1,1\na,2,3\nb,1,4\nb,3,4\n",
     "series 'b' is spaced by 2 but series 'a' is spaced by 1"),
    ("id,date,value\na,2020-01,1\na,2020-02,3\nb,2020-03,2\n",
     "row 4: series 'b' has only one row"),
    ("id,date,value\na,2020-01,1\n,2020-02,3\n", "row 3: empty cell in column 'id'"),
    ("id,date,value\na,2020-01,1\na,2020-02,\n", "row 3: empty cell in column 'value'"),
    ("id,date,value\na,2020-01,1\na,2020-02,x\n", "row 3: 'x' in column 'value' is not a number"),
    ("id,date,value\na,2020-01,1\na,2020-13,2\na,2020-03,3\n",
     "row 3: '2020-13' in column 'date' is not a date"),
    ("id,time,value\na,1,1\na,two,2\na,3,3\n", "row 3: 'two' in column 'time' is not a number"),
    ("id,date,amount\na,2020-01,1\na,2020-02,2\n",
     ("the long format (id column 'id') needs a value column: none is named sales, target, "
     "value, y; available columns: 'id', 'date', 'amount'")),
    ("id,date,value\na,2020-01,1\na,2020-02\n", "row 3: 2 cells where the first row has 3"),
])
def test_bad_long_files_are_refused(tmp_path, text, message):
    refused(write(tmp_path, text), message)


def test_a_wide_file_with_a_label_column_named_like_an_id_stays_wide(tmp_path):
    t = read_series_table(write(tmp_path, "name,a,b\nx,1,2\ny,3,4\n"))
    assert t.layout == "wide" and t.names == ["a", "b"]
    t = read_series_table(write(tmp_path, "amount,id\n1,x\n2,x\n"), value_column="amount",
                          id_column="id")
    assert t.layout == "long" and t.names == ["x"] and t.values[0].tolist() == [1, 2]


def test_read_csv_column_is_unchanged(tmp_path):
    path = write(tmp_path, "month,a,b\n1949-01,1,2\n1949-02,3,\n")
    x, name = read_csv_column(path, "a")
    assert name == "a" and x.tolist() == [1, 3]
    with pytest.raises(UsageError, match=r"row 3: empty cell in column 'b' \(missing values"):
        read_csv_column(path)
    with pytest.raises(UsageError, match="no column 'c'; available columns: 'month', 'a', 'b'"):
        read_csv_column(path, "c")
