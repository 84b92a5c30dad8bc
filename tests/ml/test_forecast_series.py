"""The CSV loader: column choice, spacing inference, and one line per bad file."""

from __future__ import annotations

import datetime as dt
import gzip

import numpy as np
import pytest

from ml.forecast.series import SeriesFileError, load_csv

T0 = dt.datetime(2020, 3, 2, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))


def _rows(n: int, minutes: int = 30, tz: bool = True) -> list[str]:
    out = []
    for i in range(n):
        t = T0 + dt.timedelta(minutes=minutes * i)
        out.append(f"{(t if tz else t.replace(tzinfo=None)).isoformat()},{100 + i}")
    return out


def _write(path, lines: list[str], header: str = "timestamp,load_mw"):  # noqa: ANN001, ANN202
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


@pytest.mark.parametrize("minutes", [15, 30, 60])
def test_spacing_is_inferred(tmp_path, minutes):
    s = load_csv(_write(tmp_path / "s.csv", _rows(200, minutes)))
    assert s.period_minutes == minutes and len(s) == 200
    assert s.values[0] == 100 and s.values[-1] == 299 and s.value_name == "load_mw"
    assert s.steps_per_day == 24 * 60 // minutes
    assert s.time_at(0) == T0 and s.time_at(0).utcoffset() == dt.timedelta(hours=5, minutes=30)


def test_local_midnights_follow_the_timestamps_own_offset(tmp_path):
    s = load_csv(_write(tmp_path / "s.csv", _rows(48 * 3)))  # T0 is 00:00 IST
    assert s.local_midnights().tolist() == [0, 48, 96]
    # The same instants written in UTC: midnight UTC is 05:30 IST, 11 half-hours in.
    utc = [f"{(T0 + dt.timedelta(minutes=30 * i)).astimezone(dt.UTC).isoformat()},{i}"
           for i in range(48 * 2)]
    s = load_csv(_write(tmp_path / "u.csv", utc))
    assert s.local_midnights().tolist() == [11, 59]


def test_naive_timestamps_are_ist(tmp_path):
    s = load_csv(_write(tmp_path / "s.csv", _rows(10, tz=False)))
    assert s.utc_offset_s[0] == 19800 and s.t_utc_s[0] == int(T0.timestamp())


def test_columns_chosen_by_name_and_content_or_given(tmp_path):
    lines = [f"site-a,{r.split(',')[1]},{r.split(',')[0]},{i * 2}"
             for i, r in enumerate(_rows(20))]
    p = _write(tmp_path / "s.csv", lines, header="site,p_mw,when,q_mvar")
    s = load_csv(p)  # no time-like name: the column holding ISO times; first numeric after
    assert s.value_name == "p_mw" and s.values[1] == 101
    s = load_csv(p, time_col="when", value_col="q_mvar")
    assert s.value_name == "q_mvar" and s.values[1] == 2
    with pytest.raises(SeriesFileError, match=r"s\.csv: line 1: no value column 'kw'"):
        load_csv(p, value_col="kw")


def test_gzip_and_byte_order_mark(tmp_path):
    p = tmp_path / "s.csv.gz"
    p.write_bytes(gzip.compress(("\ufefftime,v\n" + "\n".join(_rows(10)) + "\n").encode()))
    assert len(load_csv(p)) == 10


@pytest.mark.parametrize(("edit", "message"), [
    (lambda r: r[:5] + r[6:], r"line 7: gap of 1 missing sample\(s\) after line 6"),
    (lambda r: r[:5] + [r[4]] + r[5:], r"line 7: duplicate time \(same as line 6\)"),
    (lambda r: r[:6] + [r[2]] + r[6:], r"line 8: time goes backwards \(earlier than line 7\)"),
    (lambda r: r[:5] + ["2020-03-02T02:40:00+05:30,1"] + r[6:], r"line 7: .*off the 30-min grid"),
    (lambda r: r[:5] + ["not-a-time,1"] + r[6:], r"line 7: column 'timestamp': 'not-a-time' "
                                                 r"is not an ISO 8601 time"),
    (lambda r: r[:5] + [r[5].split(",")[0] + ",abc"] + r[6:],
     r"line 7: column 'load_mw': 'abc' is not a finite number"),
    (lambda r: r[:5] + [r[5].split(",")[0] + ",nan"] + r[6:], r"line 7: .*not a finite number"),
    (lambda r: r[:5] + [r[5].split(",")[0] + ","] + r[6:], r"line 7: column 'load_mw': empty"),
    (lambda r: r[:5] + [r[5].split(",")[0]] + r[6:], r"line 7: 1 field\(s\)"),
    (lambda r: r[:5] + ["2020-03-02T02:30:00,1"] + r[6:], r"line 7: .*has no UTC offset"),
])
def test_bad_file_is_one_line_naming_file_and_line(tmp_path, edit, message):
    p = _write(tmp_path / "bad.csv", edit(_rows(20)))
    with pytest.raises(SeriesFileError, match=message) as err:
        load_csv(p)
    text = str(err.value)
    assert text.startswith(f"{p}: line ") and "\n" not in text


@pytest.mark.parametrize(("content", "message"), [
    ("", r"line 1: empty file"),
    ("timestamp,v\n", r"line 2: no data rows after the header"),
    ("a,b\nx,1\ny,2\n", r"line 1: no time column"),
    ("timestamp,v\n2020-03-02T00:00:00+05:30,1\n", r"fewer than two samples"),
    ("timestamp,v\n2020-03-02T00:00:00+05:30,1\n2020-03-02T00:10:00+05:30,2\n",
     r"spacing of 10 min is not one of 15, 30, 60 min"),
])
def test_unusable_files(tmp_path, content, message):
    p = tmp_path / "f.csv"
    p.write_text(content)
    with pytest.raises(SeriesFileError, match=message):
        load_csv(p)


def test_missing_file(tmp_path):
    with pytest.raises(SeriesFileError, match=r"nope\.csv: cannot open"):
        load_csv(tmp_path / "nope.csv")


def test_series_arrays_are_read_only(tmp_path):
    s = load_csv(_write(tmp_path / "s.csv", _rows(10)))
    with pytest.raises(ValueError):
        s.values[0] = 1.0
    assert np.all(np.diff(s.t_utc_s) == 1800)
