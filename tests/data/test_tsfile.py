"""The .ts reader: the bundled UCR file, multivariate unequal-length cases with missing
values, and one-line errors naming the line for malformed files."""
import re
from importlib import resources

import numpy as np
import pytest

from rnnkit.data.tsfile import TsFileError, parse_ts, read_ts

MULTI = """% a toy multivariate problem
@problemName Toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true Up down

@data
1,2,3:4,5,6:Up
0.5,?,2.5,-1e2:7,8,9,10:down
# a comment between cases
9:8:Up
"""


def header(**tags):
    base = {"problemName": "T", "timeStamps": "false", "missing": "false",
            "univariate": "true", "equalLength": "true", "classLabel": "true a b"}
    base.update(tags)
    return [f"@{k} {v}" for k, v in base.items() if v is not None] + ["@data"]


def test_bundled_file_matches_its_text():
    path = resources.files("rnnkit.data").joinpath("ItalyPowerDemand_TRAIN.ts")
    data = read_ts(path)
    rows = [line for line in path.read_text().splitlines()
            if line and not line.startswith(("#", "@"))]
    assert data.x.shape == (len(rows), 24, 1)
    assert (data.lengths == 24).all()
    expected = np.array([[float(v) for v in r.split(":")[0].split(",")] for r in rows])
    np.testing.assert_array_equal(data.x[:, :, 0], expected)
    assert data.labels == [r.split(":")[1] for r in rows]
    assert data.header["problemname"] == "ItalyPowerDemand"
    assert data.header["class_values"] == ["1", "2"] and data.header["serieslength"] == 24
    first_line = path.read_text().splitlines().index("@data") + 2
    assert data.lines[0] == first_line


def test_multivariate_unequal_length_with_missing_values():
    data = parse_ts(MULTI.splitlines())
    assert data.x.shape == (3, 4, 2)
    assert data.lengths.tolist() == [3, 4, 1]
    assert data.labels == ["Up", "down", "Up"]  # labels keep their case
    np.testing.assert_array_equal(data.x[0, :3], [[1, 4], [2, 5], [3, 6]])
    assert (data.x[0, 3] == 0).all() and (data.x[2, 1:] == 0).all()  # padding
    assert np.isnan(data.x[1, 1, 0]) and np.isnan(data.x).sum() == 1
    assert data.x[1, 3, 0] == -100.0
    assert data.lines.tolist() == [11, 12, 14]


def test_no_labels_and_crlf_lines():
    text = "\r\n".join(header(classLabel="false") + ["1,2,3", "4,5,6"])
    data = parse_ts(text.splitlines())
    assert data.labels is None and data.x.shape == (2, 3, 1)


def test_read_ts_from_a_file(tmp_path):
    path = tmp_path / "toy.ts"
    path.write_text(MULTI)
    assert read_ts(path).x.shape == (3, 4, 2)
    path.write_bytes(b"@data\n\xff\xfe1,2:a\n")
    with pytest.raises(TsFileError, match="not UTF-8"):
        read_ts(path)


def case(lines, message, bad=None):
    """A malformed file, the expected message and the offending line (default the last)."""
    bad = lines[-1] if bad is None else bad
    return lines, message, None if bad is False else lines.index(bad) + 1


@pytest.mark.parametrize("lines, message, line", [
    case(header(univariate="maybe") + ["1,2:a"], "@univariate needs true or false",
         "@univariate maybe"),
    case(header(seriesLength="twelve") + ["1,2:a"], "@seriesLength needs one positive",
         "@seriesLength twelve"),
    case(header()[:-1] + ["1,2:a"], "expected a @tag or a # comment before @data"),
    case(header()[:-1], "no @data line", False),
    case(header(), "no cases after @data", False),
    case(header(classLabel="true"), "@classLabel true must list the class labels",
         "@classLabel true"),
    case(header(timeStamps="true") + ["(0,1),(1,2):a"], "@timeStamps true is not supported",
         False),
    case(header(univariate="false", dimensions="2") + ["1,2:3,4:a", "1,2:a"],
         r"1 channels, expected 2 \(@dimensions 2\)"),
    case(header(univariate="false") + ["1,2:3,4:a", "1,2:3,4:5,6:b"],
         r"3 channels, expected 2 \(the first case\)"),
    case(header(univariate="true", dimensions="3"),
         "@univariate true contradicts @dimensions 3", False),
    case(header() + ["1,2:a", "1,2:c"], r"label 'c' is not declared in @classLabel \(a b\)"),
    case(header() + ["1,2:a", "1,x2:b"], r"channel 1: value 2 is 'x2', not a number or '\?'"),
    case(header() + ["1,2:a", "1,2,3:b"], "3 values per channel, expected 2"),
    case(header(seriesLength="3") + ["1,2:a"], "2 values per channel, expected 3"),
    case(header(univariate="false", equalLength="false") + ["1,2:3:a"],
         r"the channels of one case differ in length \(2, 1\)"),
    case(header() + ["1,2"], "no label after the last ':'"),
    case(header() + ["1,2: "], "empty label"),
    case(header() + ["1,inf:a"], "channel 1: value 2 is infinite"),
    case(header() + ["1,,2:a"], "channel 1: value 2 is '', not a number"),
])
def test_malformed_files_name_the_line(lines, message, line):
    prefix = "bad.ts: " if line is None else f"bad.ts:{line}: "
    with pytest.raises(TsFileError, match="^" + re.escape(prefix) + ".*" + message):
        parse_ts(lines, source="bad.ts")
