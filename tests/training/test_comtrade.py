"""COMTRADE records read back with the independent PyPI ``comtrade`` reader."""

from __future__ import annotations

import datetime as dt
import math

import comtrade  # the independent reader (PyPI "comtrade", in the dev extra)
import numpy as np
import pytest

from app.training.comtrade import rms_whole_cycles
from app.training.records import fault_records_for
from app.twin.faults import fault_study

FAULT_TIME = dt.datetime(2024, 3, 5, 6, 30, 15, 250000, tzinfo=dt.UTC)
FS = 4000


def _read(rec):
    c = comtrade.Comtrade(ignore_warnings=True)
    c.load(str(rec.cfg), str(rec.dat))
    return c


def test_record_header_channels_rate_and_timestamps(station, engine, tmp_path):
    rec = fault_records_for(engine, station, ("F1_R", "3ph"), fault_time=FAULT_TIME,
                            out_dir=tmp_path)
    c = _read(rec)
    assert c.station_name == "GridTwin 400/220 kV Substation" and c.rec_dev_id == "F1_21"
    assert c.rev_year == "2013" and c.frequency == 50.0 and c.cfg.ft == "BINARY"
    assert c.cfg.sample_rates == [[4000.0, c.total_samples]]
    assert c.analog_channel_ids == ["F1 IA", "F1 IB", "F1 IC", "F1 IN", "F1 VA", "F1 VB",
                                    "F1 VC", "B220_M1 VA", "B220_M1 VB", "B220_M1 VC"]
    assert [ch.uu for ch in c.cfg.analog_channels] == ["A"] * 4 + ["kV"] * 6
    assert [(ch.primary, ch.secondary) for ch in c.cfg.analog_channels[:1]] == [(1600, 1)]
    assert c.status_channel_ids == ["F1_21 PICKUP", "F1_21 TRIP", "F1_Q0 52a A",
                                    "F1_Q0 52a B", "F1_Q0 52a C"]
    # Start 100 ms before the trigger (the fault), both UTC; the station's IST as local code.
    assert c.trigger_timestamp == FAULT_TIME.replace(tzinfo=None)
    assert c.start_timestamp == (FAULT_TIME - dt.timedelta(milliseconds=100)).replace(
        tzinfo=None)
    assert (c.cfg._time_code, c.cfg._local_code) == ("0", "5h30")
    # The record ends the post-trip time after the breaker opened (410 ms).
    assert c.time[-1] == pytest.approx(0.1 + 0.410 + 0.2, abs=1 / FS)
    # Pre-fault: nominal voltage on the bay VT, the feeder's load current.
    k0 = int(0.1 * FS)
    v_rms = rms_whole_cycles(np.asarray(c.analog[4]), FS, k0, 4)
    assert v_rms == pytest.approx(220 / math.sqrt(3), rel=0.03)
    i_load = rms_whole_cycles(np.asarray(c.analog[0]), FS, k0, 4)
    assert 150 < i_load < 300                     # 85 MW at 220 kV, pf 0.95: 235 A


@pytest.mark.parametrize(("bus", "ftype"), [("F1_R", "3ph"), ("F1_R", "LG"), ("F3_R", "LL"),
                                            ("F4_R", "LLG"), ("F2_R", "LG")])
def test_steady_fault_current_in_the_record_is_the_fault_studys(station, engine, tmp_path,
                                                                bus, ftype):
    """A remote-end fault on a radial feeder lasts to zone 2 (350 ms): the last five whole
    cycles before the trip, the DC offset long gone, carry the fault study's current."""
    rec = fault_records_for(engine, station, (bus, ftype), fault_time=FAULT_TIME,
                            out_dir=tmp_path)
    c = _read(rec)
    ref = fault_study(engine, [bus], [ftype])[0]
    trip = rec.sequence.first("trip")
    assert trip.element == "Z2"
    k = int(round((0.1 + trip.time_s) * FS))
    for phase, want_ka in ref.phase_currents_ka.items():
        got = rms_whole_cycles(np.asarray(c.analog["ABC".index(phase)]), FS, k, 5) / 1000
        assert got == pytest.approx(want_ka, rel=0.02), phase
    assert rms_whole_cycles(np.asarray(c.analog[0]), FS, k, 5) / 1000 == pytest.approx(
        ref.breaker_currents_ka[rec.sequence.breaker_elements[rec.breaker]], rel=0.005) \
        if ftype != "LL" else True


def test_trip_channel_rises_at_the_operate_time_and_current_stops_at_a_zero(station, engine,
                                                                            tmp_path):
    rec = fault_records_for(engine, station, ("F1_R", "LG"), fault_time=FAULT_TIME,
                            out_dir=tmp_path)
    c = _read(rec)
    t = np.asarray(c.time) - c.trigger_time
    names = c.status_channel_ids
    trip_ch = np.asarray(c.status[names.index("F1_21 TRIP")])
    trip = rec.sequence.first("trip", "F1_21")
    first = t[np.argmax(trip_ch > 0)]
    assert first == pytest.approx(trip.time_s, abs=0.5 / FS)
    assert not trip_ch[t < trip.time_s - 0.5 / FS].any()
    pick = np.asarray(c.status[names.index("F1_21 PICKUP")])
    assert t[np.argmax(pick > 0)] == pytest.approx(0.010, abs=0.5 / FS)
    # The pole opens at 410 ms: its 52a drops then, its current at the next zero (< 10 ms).
    opened = rec.sequence.first("breaker_open", breaker="F1_Q0").time_s
    pole = np.asarray(c.status[names.index("F1_Q0 52a A")])
    assert t[np.argmax(pole == 0)] == pytest.approx(opened, abs=0.5 / FS)
    ia = np.asarray(c.analog[0])
    after = ia[t >= opened + 0.0105]
    assert np.all(np.abs(after) < 1.0)
    window = ia[(t >= opened) & (t < opened + 0.0105)]
    assert np.abs(window).max() > 100                     # it ran on to the zero


def test_dc_offset_follows_the_fault_loops_x_over_r(station, engine, tmp_path):
    """A 400 kV bus fault with the line breaker stuck keeps L1 feeding for 260 ms: the first
    cycles carry the offset i_ss(t) + (i(0) - i_ss(0)) e^(-t/tau), tau = X/(wR) of the
    Thevenin impedance at the bus (X/R ~ 14: tau ~ 44 ms)."""
    rec = fault_records_for(engine, station, ("B400_M1", "3ph"), fault_time=FAULT_TIME,
                            out_dir=tmp_path, stuck={"L1_Q0"})
    seq = rec.sequence
    z1 = seq.stages[0].phasors.z1_ohm
    assert seq.tau_s == pytest.approx(z1.imag / (2 * math.pi * 50 * z1.real))
    assert 0.035 < seq.tau_s < 0.05
    c = _read(rec)
    t = np.asarray(c.time) - c.trigger_time
    pre, fault = seq.stages[0].phasors.breaker("Line.L1_Q0")
    w = 2 * math.pi * 50
    m = (t >= 0) & (t < 0.055)
    for k in range(3):
        i_ss = math.sqrt(2) * abs(fault[k]) * np.cos(w * t[m] + np.angle(fault[k]))
        i0 = math.sqrt(2) * abs(pre[k]) * math.cos(np.angle(pre[k])) - \
            math.sqrt(2) * abs(fault[k]) * math.cos(np.angle(fault[k]))
        want = i_ss + i0 * np.exp(-t[m] / seq.tau_s)
        got = np.asarray(c.analog[k])[m]
        scale = c.cfg.analog_channels[k].a
        assert np.abs(got - want).max() <= scale + 1e-6 * np.abs(want).max()
    assert rec.breaker == "L1_Q0" and "L1_Q0 BF OP" in rec.status_channels


def test_ascii_and_binary_records_hold_the_same_samples(station, engine, tmp_path):
    from app.training.protection import load_protection

    s = load_protection(station)
    ascii_s = s.model_copy(update={"recorder": s.recorder.model_copy(
        update={"format": "ASCII"})})
    a = fault_records_for(engine, station, ("F2_T", "LL"), fault_time=FAULT_TIME,
                          out_dir=tmp_path / "a", settings=ascii_s)
    b = fault_records_for(engine, station, ("F2_T", "LL"), fault_time=FAULT_TIME,
                          out_dir=tmp_path / "b")
    ca, cb = _read(a), _read(b)
    assert ca.cfg.ft == "ASCII" and cb.cfg.ft == "BINARY"
    assert ca.total_samples == cb.total_samples
    for x, y, ch in zip(ca.analog, cb.analog, cb.cfg.analog_channels, strict=True):
        # The same raw integers; the reader scales them through float32 on either path.
        assert np.allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-3 * ch.a)
    for x, y in zip(ca.status, cb.status, strict=True):
        assert np.array_equal(np.asarray(x), np.asarray(y))
