"""The plant simulator: physics, operations with bay interlocks, fault injection."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pytest

from app.field.sim.plant import PlantSimulator
from app.station import quality as Q
from app.station.commands import (
    ADD_CAUSE_BLOCKED_BY_HEALTH,
    ADD_CAUSE_BLOCKED_BY_INTERLOCKING,
    ADD_CAUSE_POSITION_REACHED,
)
from app.station.points import POS_CLOSED, POS_INTERMEDIATE, POS_OPEN

# A weekday afternoon in IST (Wednesday 25 Nov 2026, 14:30 IST).
AFTERNOON = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def plant(station):
    return PlantSimulator(station, seed=7, start=AFTERNOON)


def val(plant, tag, snap=None):
    snap = snap or plant.snapshot()
    i = plant.points.row(tag)
    return float(snap.values[i]), int(snap.quality[i]), int(snap.t_source_ns[i])


def run_for(plant, seconds, dt_s=1.0):
    snap = None
    for _ in range(int(seconds / dt_s)):
        snap = plant.step(dt_s)
    return snap


def test_snapshot_covers_every_point_and_is_frozen(plant):
    s = plant.step()
    n = len(plant.points)
    assert n >= 2500
    assert s.values.shape == s.quality.shape == s.t_source_ns.shape == (n,)
    for a in (s.values, s.quality, s.t_source_ns):
        with pytest.raises(ValueError):
            a[0] = 0
    assert np.isfinite(s.values).all()
    assert (s.quality == Q.GOOD).all(), [plant.points.tags[i] for i in np.flatnonzero(s.quality)]
    assert not s.comm_lost and s.seq >= 2
    assert s.timestamp > AFTERNOON


def test_measurements_follow_the_electrical_state(plant):
    s = plant.step()
    tw = plant.twin_state
    p, _, _ = val(plant, "L1_CT.P", s)
    assert p == pytest.approx(tw.branch("Line.L1_Q0").p_mw, rel=0.01)
    assert p < 0  # the line imports into the busbar (bus-outward sign)
    v400, _, _ = val(plant, "B400_M1.V", s)
    assert v400 == pytest.approx(tw.bus("B400_M1").kv, rel=0.005)
    ia, _, _ = val(plant, "ICT1H_CT.I_A", s)
    assert ia == pytest.approx(tw.branch("Line.ICT1H_Q0").i_a[0], rel=0.01)
    vab, _, _ = val(plant, "F1_CT.V_AB", s)
    assert vab == pytest.approx(tw.bus("F1_J").kv, rel=0.01)
    hz, _, _ = val(plant, "B220_M1.HZ", s)
    assert 49.9 <= hz <= 50.05
    assert val(plant, "L1_Q0.POS", s)[0] == POS_CLOSED
    assert val(plant, "BS3_Q0.POS", s)[0] == POS_OPEN
    loading, _, _ = val(plant, "ICT1.LOADING", s)
    assert loading == pytest.approx(tw.transformer_loading("Transformer.ICT1"), rel=1e-6)
    assert val(plant, "L1_BCU.HEALTHY", s)[0] == 1.0
    assert val(plant, "L1_21M1.OP", s)[0] == 0.0


def test_daily_load_profile_has_indian_peaks(station):
    def load_at(hour_ist, day=25):
        t = dt.datetime(2026, 11, day, hour_ist, 0) - dt.timedelta(hours=5, minutes=30)
        p = PlantSimulator(station, seed=1, start=t.replace(tzinfo=dt.UTC))
        return p.twin_state.totals.load_mw

    night, morning, evening = load_at(4), load_at(10), load_at(20)
    assert evening > morning > night * 1.25
    sunday = load_at(20, day=29)
    assert sunday < evening * 0.95


def test_frequency_wanders_in_the_normal_band(plant):
    hz = [plant.step(1.0) and plant.frequency_hz for _ in range(900)]
    assert 49.9 < min(hz) < max(hz) < 50.1
    assert np.std(hz) > 0.001  # it does wander


def test_ambient_temperature_follows_its_daily_cycle(station):
    midnight_ist = dt.datetime(2026, 11, 24, 18, 30, tzinfo=dt.UTC)
    plant = PlantSimulator(station, seed=3, start=midnight_ist)
    hours, amb = [], []
    for k in range(1, 24 * 6 + 1):  # a day in 10-minute steps
        s = plant.step(600)
        hours.append(k / 6)
        amb.append(val(plant, "STN_ENV.AMBIENT", s)[0])
        # every transformer's ambient sensor reads the same air
        assert val(plant, "TR1.AMBIENT", s)[0] == pytest.approx(amb[-1], abs=1.0)
    amb = np.asarray(amb)
    coolest, warmest = hours[int(np.argmin(amb))], hours[int(np.argmax(amb))]
    assert 3.5 <= coolest <= 6.5, coolest  # around 05:00 IST
    assert 13.0 <= warmest <= 16.0, warmest  # mid-afternoon
    assert 10.0 <= amb.max() - amb.min() <= 14.0  # a 12 K swing around 28 °C
    assert 26.0 <= amb.mean() <= 30.0


def test_instrument_noise_is_within_each_accuracy_class(plant):
    """Stepping zero time re-reads the same true state: what varies is instrument noise, with
    sigma = half the instrument transformer's class (0.2 for the 400 kV CVT and the line CT,
    0.5 for the 33 kV VT), so ~95 % of readings are within the class's error limit."""
    tags = {"B400_M1_CVT.V_A": 0.2, "B33_A_VT.V_A": 0.5, "L1_CT.I_A": 0.2}
    rows = [plant.points.row(t) for t in tags]
    samples = np.array([plant.step(0.0).values[rows] for _ in range(400)])
    tw = plant.twin_state
    mean = samples.mean(axis=0)
    for k, (tag, cls) in enumerate(tags.items()):
        rel = samples[:, k] / mean[k] - 1.0
        sigma_pct = 100 * rel.std()
        assert 0.8 * cls / 2 <= sigma_pct <= 1.2 * cls / 2, (tag, sigma_pct)
        assert (np.abs(100 * rel) <= cls).mean() >= 0.9, tag
    # The mean reading is the true value (no bias).
    assert mean[2] == pytest.approx(tw.branch("Line.L1_Q0").i_a[0], rel=0.001)


def test_oltc_regulates_the_33kv_buses_on_over_and_under_voltage(plant):
    def state(s):
        return (val(plant, "TR1.TAP", s)[0], val(plant, "TR2.TAP", s)[0],
                val(plant, "B33_A.V", s)[0] / 33.0, val(plant, "ICT1.TAP", s)[0])

    tap1, tap2, pu0, ict = state(plant.step(1.0))
    assert abs(pu0 - 1) <= 0.0125 + 0.003  # in the AVR's band to begin with
    fid = plant.inject("overvoltage", pu=1.06)
    _, _, pu, _ = state(plant.step(1.0))
    assert pu > 1.0125 + 0.01  # the grid's rise reaches the 33 kV buses
    s = run_for(plant, 20)
    assert state(s)[:2] == (tap1, tap2)  # the AVR waits out its time delay (30 s) …
    moving = []
    for _ in range(600):
        s = plant.step(1.0)
        moving.append(val(plant, "TR1.TAP_MOVING", s)[0])
    t1, t2, pu, ict_now = state(s)
    assert t1 < tap1 and t2 < tap2  # … then steps the taps down
    assert abs(pu - 1) <= 0.0125 + 0.003 and 1.0 in moving
    assert ict_now == ict  # the 400/220 kV ICTs have no AVR here
    plant.clear(fid)
    plant.inject("overvoltage", pu=0.94)  # and under-voltage: the taps go up past the start
    s = run_for(plant, 900)
    t1u, t2u, pu, _ = state(s)
    assert t1u > tap1 and t2u > tap2
    assert abs(pu - 1) <= 0.0125 + 0.003


def test_breaker_and_isolator_operations(plant):
    r = plant.operate("F1_Q0", False)
    assert r.ok
    plant.step(0.1)
    assert val(plant, "F1_Q0.POS")[0] == POS_OPEN
    assert val(plant, "F1_LINE.P")[0] == 0.0
    ops_before = val(plant, "F1_Q0.OPCNT")[0]
    assert plant.operate("F1_Q9", False).ok
    plant.step(1.0)
    assert val(plant, "F1_Q9.POS")[0] == POS_INTERMEDIATE  # motor still travelling
    run_for(plant, 8)
    assert val(plant, "F1_Q9.POS")[0] == POS_OPEN
    assert plant.operate("F1_Q0", True).ok
    plant.step(0.1)
    assert val(plant, "F1_Q0.OPCNT")[0] == ops_before + 1
    r = plant.operate("F1_Q0", True)
    assert not r.ok and r.add_cause == ADD_CAUSE_POSITION_REACHED


def test_bay_interlocks_refuse_with_addcause(plant):
    r = plant.operate("L1_Q1", False)  # disconnector under a closed breaker
    assert not r.ok and r.add_cause == ADD_CAUSE_BLOCKED_BY_INTERLOCKING
    assert "L1_Q0" in r.message
    r = plant.operate("F1_Q8", True)  # earth switch on a live line terminal
    assert not r.ok and r.add_cause == ADD_CAUSE_BLOCKED_BY_INTERLOCKING
    assert val(plant, "F1_Q8.POS")[0] == POS_OPEN
    # Isolate the feeder properly, then earthing is allowed.
    plant.travel_s.update(isolator=0.0, earth_switch=0.0)
    assert plant.operate("F1_Q0", False).ok
    plant.step(0.1)
    assert plant.operate("F1_Q9", False).ok
    plant.step(0.1)
    assert plant.check_interlock("F1_Q8", True) is None
    assert plant.operate("F1_Q8", True).ok
    plant.step(0.1)
    assert val(plant, "F1_Q8.POS")[0] == POS_CLOSED
    # …and the line disconnector may not close onto the earthed line.
    r = plant.operate("F1_Q9", True)
    assert not r.ok and "F1_Q8" in r.message
    # The 400 kV line terminal stays live from the remote end: no earthing there.
    assert plant.operate("L1_Q0", False).ok
    plant.step(0.1)
    assert plant.operate("L1_Q9", False).ok
    plant.step(0.1)
    r = plant.operate("L1_Q8", True)
    assert not r.ok and "live" in r.message


def test_sf6_leak_alarms_then_blocks_the_breaker(plant):
    plant.inject("sf6_leak", asset="F2_Q0", bar_per_h=3.0)
    run_for(plant, 3600 * 0.3, dt_s=10)
    bar, q, _ = val(plant, "F2_Q0.SF6")
    assert bar < 5.2 and q == Q.GOOD
    assert val(plant, "F2_Q0.SF6_ALM")[0] == 1.0
    run_for(plant, 3600 * 0.1, dt_s=10)
    assert val(plant, "F2_Q0.SF6_LOCK")[0] == 1.0
    r = plant.operate("F2_Q0", False)
    assert not r.ok and r.add_cause == ADD_CAUSE_BLOCKED_BY_HEALTH


def test_transformer_overload_heats_it_per_iec_60076_7(station):
    plant = PlantSimulator(station, seed=3, start=AFTERNOON, speed=1.0)
    th0 = val(plant, "TR1.HOT_SPOT")[0]
    plant.inject("transformer_overload", asset="TR1", factor=2.6)
    run_for(plant, 6 * 3600, dt_s=60)
    loading = val(plant, "TR1.LOADING")[0]
    hot, _, _ = val(plant, "TR1.HOT_SPOT")
    top, _, _ = val(plant, "TR1.TOP_OIL")
    assert loading > 110 and hot > th0 + 20 and hot > top
    assert val(plant, "TR1.AGEING")[0] > 1.0
    assert val(plant, "TR1.LOL")[0] > 1.0
    assert val(plant, "TR1.COOLER1")[0] == 1.0
    assert val(plant, "TR2.LOADING")[0] < 80  # the other section is untouched


def test_dga_fault_develops_with_its_signature(plant):
    h0 = {g: val(plant, f"ICT2.{g}")[0] for g in ("H2", "C2H2", "C2H4", "CH4")}
    plant.inject("dga_fault", asset="ICT2", code="D2", ramp_h=4, severity=1.0)
    snap = run_for(plant, 8 * 3600, dt_s=60)
    d = {g: val(plant, f"ICT2.{g}", snap)[0] - h0[g] for g in h0}
    assert d["C2H2"] > 100 and d["H2"] > 100  # arcing: acetylene and hydrogen
    assert d["C2H2"] > d["CH4"]
    _, q, t = val(plant, "ICT2.C2H2", snap)
    assert q == Q.GOOD
    # The monitor samples hourly: the gas reading carries its sample time, not now.
    now_ns = int(snap.timestamp.timestamp() * 1e9)
    assert now_ns - 3600e9 <= t <= now_ns
    assert val(plant, "ICT1.C2H2", snap)[0] < 2  # the healthy ICT stays clean


def test_sensor_faults_carry_quality(plant):
    plant.step(1.0)
    v0, _, t0 = val(plant, "ICT1.TOP_OIL")
    plant.inject("sensor_stuck", point="ICT1.TOP_OIL")
    plant.inject("sensor_fail", point="B220_M1.V")
    plant.inject("sensor_drift", point="F3_CT.P", rate_per_h=36.0)
    s = run_for(plant, 600, dt_s=10)
    v, q, t = val(plant, "ICT1.TOP_OIL", s)
    assert (v, t) == (v0, t0) and q == Q.SENSOR_FROZEN
    assert Q.describe(q) == "questionable|oldData"
    assert Q.describe(val(plant, "B220_M1.V", s)[1]) == "invalid|failure"
    drifted, q, _ = val(plant, "F3_CT.P", s)
    true_p = plant.twin_state.branch("Line.F3_Q0").p_mw
    assert drifted - true_p == pytest.approx(6.0, abs=0.5) and q == Q.GOOD
    plant.clear()
    s = plant.step(1.0)
    assert (s.quality == Q.GOOD).all()


def test_line_trip_and_protection_flags(plant):
    plant.inject("line_trip", asset="F4_LINE", type="LG", km=23.5)
    s = plant.step(0.1)
    assert val(plant, "F4_Q0.POS", s)[0] == POS_OPEN
    assert val(plant, "F4_21.OP", s)[0] == 1.0 and val(plant, "F4_21.TRIP_A", s)[0] == 1.0
    assert val(plant, "F4_21.TRIP_B", s)[0] == 0.0
    assert val(plant, "F4_21.FAULT_KM", s)[0] == pytest.approx(23.5, abs=0.01)
    assert val(plant, "F4_21.FAULT_KA", s)[0] > 5
    plant.reset_protection()
    assert val(plant, "F4_21.OP", plant.step(0.1))[0] == 0.0


def test_bus_fault_trips_the_busbar_zone(plant):
    plant.inject("bus_fault", asset="B220_M2")
    s = plant.step(0.1)
    tw = plant.twin_state
    assert not tw.bus("B220_M2").energised
    assert tw.bus("B220_M1").energised  # the coupler opened; bus-I keeps running
    for cb in ("ICT2L_Q0", "F3_Q0", "F4_Q0", "TR2H_Q0", "BC2_Q0"):
        assert val(plant, f"{cb}.POS", s)[0] == POS_OPEN, cb
    for cb in ("ICT1L_Q0", "F1_Q0", "F2_Q0", "TR1H_Q0"):
        assert val(plant, f"{cb}.POS", s)[0] == POS_CLOSED, cb
    assert val(plant, "BB220_87B.OP", s)[0] == 1.0


def test_stuck_breaker_starts_breaker_failure_backup(plant):
    plant.inject("breaker_stuck", asset="L2_Q0")
    plant.inject("bus_fault", asset="B400_M2")
    s = plant.step(0.1)
    tw = plant.twin_state
    assert val(plant, "L2_Q0.POS", s)[0] == POS_CLOSED  # it failed to open
    assert val(plant, "L2_21M1.BF_OP", s)[0] == 1.0
    assert not tw.bus("B400_M2").energised  # remote end tripped by direct transfer trip
    assert tw.bus("B400_M1").energised and tw.totals.load_mw > 250
    # A stuck breaker accepts the command but never moves.
    plant.clear()
    plant.inject("breaker_stuck", asset="F2_Q0")
    assert plant.operate("F2_Q0", False).ok
    plant.step(0.5)
    assert val(plant, "F2_Q0.POS")[0] == POS_CLOSED


def test_a_stuck_breaker_fails_to_open_but_still_closes(plant):
    assert plant.operate("F2_Q0", False).ok
    plant.step(0.5)
    assert val(plant, "F2_Q0.POS")[0] == POS_OPEN
    fid = plant.inject("breaker_stuck", asset="F2_Q0")
    r = plant.operate("F2_Q0", True)  # closing is unaffected
    assert r.ok and "closing" in r.message
    plant.step(0.5)
    assert val(plant, "F2_Q0.POS")[0] == POS_CLOSED
    assert plant.operate("F2_Q0", False).ok  # the trip is accepted …
    plant.step(0.5)
    assert val(plant, "F2_Q0.POS")[0] == POS_CLOSED  # … and the breaker does not open
    plant.clear(fid)
    assert plant.operate("F2_Q0", False).ok
    plant.step(0.5)
    assert val(plant, "F2_Q0.POS")[0] == POS_OPEN


def test_the_same_fault_injected_twice_is_cleared_one_injection_at_a_time(plant):
    plant.step(1.0)
    a = plant.inject("sensor_fail", point="B220_M1.V")
    b = plant.inject("sensor_fail", point="B220_M1.V")
    plant.clear(a)
    assert Q.describe(val(plant, "B220_M1.V", plant.step(1.0))[1]) == "invalid|failure"
    plant.clear(b)
    assert val(plant, "B220_M1.V", plant.step(1.0))[1] == Q.GOOD
    # Frozen twice: the value stays the one frozen first until the last injection goes.
    v0, _, t0 = val(plant, "ICT1.TOP_OIL")
    a = plant.inject("sensor_stuck", point="ICT1.TOP_OIL")
    run_for(plant, 60, dt_s=10)
    b = plant.inject("sensor_stuck", point="ICT1.TOP_OIL")
    plant.clear(a)
    v, q, t = val(plant, "ICT1.TOP_OIL", run_for(plant, 60, dt_s=10))
    assert (v, t, q) == (v0, t0, Q.SENSOR_FROZEN)
    plant.clear(b)
    assert val(plant, "ICT1.TOP_OIL", plant.step(1.0))[1] == Q.GOOD
    # Two drifts on one point add up; clearing one leaves the other's.
    a = plant.inject("sensor_drift", point="F3_CT.P", rate_per_h=36.0)
    b = plant.inject("sensor_drift", point="F3_CT.P", rate_per_h=36.0)
    s = run_for(plant, 600, dt_s=10)
    assert val(plant, "F3_CT.P", s)[0] - plant.twin_state.branch("Line.F3_Q0").p_mw == \
        pytest.approx(12.0, abs=0.6)
    plant.clear(a)
    s = plant.step(1.0)
    assert val(plant, "F3_CT.P", s)[0] - plant.twin_state.branch("Line.F3_Q0").p_mw == \
        pytest.approx(6.0, abs=0.6)
    plant.clear(b)
    # A device lost twice answers again only when both are cleared; a breaker stuck twice
    # frees only when both are.
    a = plant.inject("comm_lost", device="F1")
    b = plant.inject("comm_lost", device="F1")
    plant.clear(a)
    assert plant.step().comm_lost == {"F1"}
    plant.clear(b)
    assert plant.step().comm_lost == frozenset()
    a = plant.inject("breaker_stuck", asset="F2_Q0")
    b = plant.inject("breaker_stuck", asset="F2_Q0")
    plant.clear(a)
    assert "F2_Q0" in plant.stuck
    plant.clear(b)
    assert not plant.stuck
    # Two DGA faults on one transformer: clearing one stops only its gas.
    d1 = plant.inject("dga_fault", asset="ICT2", code="T3", ramp_h=0)
    plant.inject("dga_fault", asset="ICT2", code="PD", ramp_h=0)
    plant.clear(d1)
    assert [f.code for f in plant.dga["ICT2"].faults.values()] == ["PD"]


def test_overvoltage_and_frequency_excursion(plant):
    plant.inject("overvoltage", pu=1.08)
    plant.inject("frequency_excursion", target_hz=49.6, ramp_s=10)
    s = run_for(plant, 60)
    assert val(plant, "B400_M1.V", s)[0] > 425
    assert val(plant, "B400_M1.HZ", s)[0] == pytest.approx(49.6, abs=0.05)
    plant.clear()
    s = run_for(plant, 120)
    assert val(plant, "B400_M1.V", s)[0] < 405
    assert val(plant, "B400_M1.HZ", s)[0] == pytest.approx(50.0, abs=0.1)


def test_comm_lost_is_published(plant):
    plant.inject("comm_lost", device="F1")
    assert plant.step().comm_lost == {"F1"}
    r = plant.operate("F1_Q0", False)
    assert not r.ok


@pytest.mark.parametrize("kind,params,message", [
    ("breaker_stuck", {"asset": "ICT1"}, "is a ict, expected breaker"),
    ("breaker_stuck", {}, "parameter 'asset' is required"),
    ("sensor_fail", {"point": "NOPE.X"}, "no point 'NOPE.X'"),
    ("comm_lost", {"device": "Z9"}, "no device 'Z9'"),
    ("dga_fault", {"asset": "ICT1", "code": "X1"}, "unknown DGA fault 'X1'"),
    ("frequency_excursion", {"target_hz": 40}, "outside 47"),
    ("teleport", {}, "unknown fault 'teleport'"),
])
def test_bad_injections_are_refused_clearly(plant, kind, params, message):
    with pytest.raises(ValueError, match=message):
        plant.inject(kind, **params)
    assert not plant.injections


def test_operations_from_other_threads_while_running(plant):
    stop = threading.Event()
    seen = []
    t = threading.Thread(target=plant.run, args=(stop, seen.append), daemon=True)
    t.start()
    try:
        results = []
        workers = [threading.Thread(target=lambda a=a: results.append(plant.operate(a, False)))
                   for a in ("F1_Q0", "F2_Q0", "F3_Q0")]
        for w in workers:
            w.start()
        for w in workers:
            w.join(5)
        assert all(r.ok for r in results)
        deadline = threading.Event()
        for _ in range(100):
            if all(plant.position(a) == POS_OPEN for a in ("F1_Q0", "F2_Q0", "F3_Q0")):
                break
            deadline.wait(0.05)
        assert all(plant.position(a) == POS_OPEN for a in ("F1_Q0", "F2_Q0", "F3_Q0"))
    finally:
        stop.set()
        t.join(5)
    assert not t.is_alive() and seen
