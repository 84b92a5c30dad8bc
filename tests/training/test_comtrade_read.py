"""Our COMTRADE reader (the HMI's record viewer reads with it) against the independent PyPI
``comtrade`` reader, and its messages for files it cannot read."""

from __future__ import annotations

import datetime as dt

import comtrade
import numpy as np
import pytest

from app.training.comtrade import (
    AnalogChannel,
    ComtradeError,
    StatusChannel,
    read_comtrade,
    write_comtrade,
)
from app.training.records import fault_records_for

FAULT_TIME = dt.datetime(2024, 3, 5, 6, 30, 15, 250000, tzinfo=dt.UTC)


def test_a_drill_record_reads_as_the_independent_reader_reads_it(station, engine, tmp_path):
    rec = fault_records_for(engine, station, ("F1_R", "LG"), fault_time=FAULT_TIME,
                            out_dir=tmp_path)
    ours = read_comtrade(rec.cfg)
    theirs = comtrade.Comtrade(ignore_warnings=True)
    theirs.load(str(rec.cfg), str(rec.dat))
    assert [a.name for a in ours.analogs] == theirs.analog_channel_ids
    assert [s.name for s in ours.statuses] == theirs.status_channel_ids
    assert [a.unit for a in ours.analogs] == [c.uu for c in theirs.cfg.analog_channels]
    assert ours.start == FAULT_TIME - dt.timedelta(milliseconds=100)
    assert ours.trigger == FAULT_TIME and ours.trigger_s == pytest.approx(0.1)
    assert ours.sample_rate_hz == pytest.approx(4000.0)
    np.testing.assert_allclose(ours.time_s, theirs.time, atol=1e-6)
    for k, a in enumerate(ours.analogs):
        np.testing.assert_allclose(a.values, theirs.analog[k], rtol=1e-6, atol=1e-9)
    for k, s in enumerate(ours.statuses):
        np.testing.assert_array_equal(s.values, np.asarray(theirs.status[k], dtype=np.uint8))


@pytest.mark.parametrize("fmt", ["ASCII", "BINARY"])
def test_round_trip_in_both_formats_with_secondary_values(tmp_path, fmt):
    t0 = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    n = 200
    i = 1000.0 * np.sin(np.arange(n) * 2 * np.pi / 20)
    trip = (np.arange(n) >= 120).astype(np.uint8)
    cfg, _ = write_comtrade(tmp_path / "r", station_name="S", rec_dev_id="D",
                            sample_rate_hz=1000, start=t0, trigger=t0 + dt.timedelta(
                                milliseconds=50),
                            analogs=[AnalogChannel("I A", "A", "B1", "A", i, 1600, 1)],
                            statuses=[StatusChannel("TRIP", "", "B1", trip)], fmt=fmt)
    r = read_comtrade(cfg)
    assert r.data_format == fmt and r.trigger_s == pytest.approx(0.05)
    np.testing.assert_allclose(r.analogs[0].values, i, atol=1000 / 32767)
    np.testing.assert_array_equal(r.statuses[0].values, trip)
    # A recorder that writes secondary values: the reader gives primary ones.
    text = cfg.read_text().replace(",1600,1,P", ",1600,1,S")
    cfg.write_text(text)
    np.testing.assert_allclose(read_comtrade(cfg).analogs[0].values, i * 1600,
                               atol=1600 * 1000 / 32767)


def _record(tmp_path):
    t0 = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    return write_comtrade(tmp_path / "r", station_name="S", rec_dev_id="D",
                          sample_rate_hz=1000, start=t0, trigger=t0,
                          analogs=[AnalogChannel("I", "A", "B", "A", np.ones(10))],
                          statuses=[StatusChannel("T", "", "B", np.zeros(10))])


def _field(line: str, k: int, value: str) -> str:
    fields = line.split(",")
    fields[k] = value
    return ",".join(fields)


@pytest.mark.parametrize(("edit", "expect"), [
    (lambda ls: ls[:1], "line 2: channel counts missing"),
    (lambda ls: [ls[0], "2,1A,2D", *ls[2:]], "line 2: field 1 (TT): 2 channels is not 1 "
                                              "analog + 2 digital"),
    (lambda ls: [*ls[:2], _field(ls[2], 5, "x"), *ls[3:]],
     "line 3: field 6 (a, the multiplier): 'x' is not a number"),
    (lambda ls: [*ls[:7], "32/13/2025,03:04:05.000000", *ls[8:]],
     "line 8: the first sample's time"),
    (lambda ls: [*ls[:9], "HEX", *ls[10:]], "line 10: field 1 (ft): 'HEX' is not ASCII"),
])
def test_a_bad_cfg_names_its_line_and_field(tmp_path, edit, expect):
    cfg, _ = _record(tmp_path)
    lines = cfg.read_text().splitlines()
    cfg.write_text("\r\n".join(edit(lines)) + "\r\n")
    with pytest.raises(ComtradeError) as exc:
        read_comtrade(cfg)
    assert str(cfg) in str(exc.value) and expect in str(exc.value)


def test_a_truncated_dat_and_a_missing_one_are_named(tmp_path):
    cfg, dat = _record(tmp_path)
    dat.write_bytes(dat.read_bytes()[:-3])
    with pytest.raises(ComtradeError, match=r"r\.dat: .* not a whole number of .*samples"):
        read_comtrade(cfg)
    dat.unlink()
    with pytest.raises(ComtradeError, match=r"r\.dat: cannot read"):
        read_comtrade(cfg)
