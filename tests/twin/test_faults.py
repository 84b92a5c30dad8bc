"""Short-circuit study: checked against the stated source level and a hand calculation."""

from __future__ import annotations

import cmath
import math
import threading

import numpy as np
import pytest

from app.twin.faults import Cancelled, fault_study, station_fault_levels

STATED_ISC3_KA = 45.0  # station 400 kV level, both infeeds in service (circuits/station.dss)


def _bus_result(results, bus, ftype):
    return next(r for r in results if r.bus == bus.lower() and r.type == ftype)


def test_3ph_fault_at_400kv_bus_equals_stated_level(engine):
    r = fault_study(engine, ["B400_M1", "B400_M2"], ["3ph"])
    for x in r:
        assert x.converged and x.energised
        assert x.current_ka == pytest.approx(STATED_ISC3_KA, rel=0.01)
        assert set(x.phase_currents_ka) == {"A", "B", "C"}


def test_3ph_fault_at_220kv_bus_equals_hand_calculation(engine):
    """Bolted 3-phase fault at the 220 kV main bus, taps at nominal.

    Each 400 kV infeed: ISC3 = 22.5 kA, X/R = 12 at 400 kV, so
        |Zs| = 400 kV / (sqrt3 * 22.5 kA) = 10.264 ohm at angle atan(12).
    Infeed B lags infeed A by 1.5 deg; two equal Thevenins in parallel give
        Vth = V (1 + e^-j1.5deg) / 2,   Zth = Zs / 2.
    The 50 MVAr bus reactor sits on the 400 kV bus: Zr = j 400^2 / 50 = j3200 ohm, so
        Vth' = Vth Zr / (Zth + Zr),     Zth' = Zth Zr / (Zth + Zr).
    Referred to 220 kV by (220/400) and (220/400)^2. Each 315 MVA ICT:
        Zb = 220^2 / 315 = 153.65 ohm,  Z = (0.25 % + j12.5 %) Zb; two in parallel: Z / 2.
    The fault current is |Vth'(220)| / |Zth'(220) + Zict / 2|.
    """
    engine.set_tap("ICT1", 1.0)
    engine.set_tap("ICT2", 1.0)
    v_ln = 400e3 / math.sqrt(3)
    zs = (400e3 / (math.sqrt(3) * 22.5e3)) * cmath.exp(1j * math.atan(12))
    vth = v_ln * (1 + cmath.exp(-1j * math.radians(1.5))) / 2
    zth = zs / 2
    zr = 1j * 400.0**2 / 50.0
    vth, zth = vth * zr / (zth + zr), zth * zr / (zth + zr)
    n = 220.0 / 400.0
    zb = 220.0**2 / 315.0
    z_ict = complex(0.0025, 0.125) * zb
    i_hand_ka = abs(vth * n) / abs(zth * n * n + z_ict / 2) / 1000
    assert 10.5 < i_hand_ka < 12.5  # the calculation itself is sane (about 11.37 kA)

    r = fault_study(engine, ["B220_M1"], ["3ph"])[0]
    assert r.current_ka == pytest.approx(i_hand_ka, rel=0.01)


def test_single_ict_case_matches_the_independent_cross_check(engine):
    """One ICT in service: 45 kA source + one 315 MVA 12.5 % ICT gives 6.118 kA at 220 kV
    (hand calculation = pandapower IEC 60909 c=1.0 = OpenDSS, per the stack notes)."""
    for sw in ("Line.ICT2H_Q0", "Line.ICT2L_Q0", "Line.BR4_Q0"):
        engine.set_switch(sw, False)
    engine.set_tap("ICT1", 1.0)
    r = fault_study(engine, ["B220_M1"], ["3ph"])[0]
    assert r.current_ka == pytest.approx(6.118, rel=0.01)


def test_breaker_currents_add_up_at_the_faulted_bus(engine, station):
    breakers = [a.element for a in station.assets_of_type("breaker")]
    r = fault_study(engine, ["B220_M1"], ["3ph"], breakers=breakers)[0]
    b = {k.split(".")[1].upper(): v for k, v in r.breaker_currents_ka.items()}
    assert set(b) == {e.split(".")[1].upper() for e in breakers}
    # Both ICTs feed the fault, ICT-2 through the 220 kV coupler.
    assert b["ICT1L_Q0"] + b["ICT2L_Q0"] == pytest.approx(r.current_ka, rel=0.02)
    assert b["BC2_Q0"] == pytest.approx(b["ICT2L_Q0"], rel=0.02)
    assert b["F1_Q0"] < 0.05 and b["IND1_Q0"] < 0.05  # loads feed no fault current
    # The 400 kV infeeds carry the fault reflected through the ICTs (220 kV x tap 1.025 / 400 kV).
    assert b["L1_Q0"] + b["L2_Q0"] == pytest.approx(r.current_ka * 220 * 1.025 / 400, rel=0.03)


def test_all_types_at_every_bus_and_the_faultstudy_table_agree(engine):
    results = fault_study(engine)
    assert len(results) == 4 * len(engine.bus_names)
    assert all(r.converged for r in results)
    table = {row.bus: row for row in station_fault_levels(engine)}
    for r in results:
        row = table[r.bus]
        expected = {"3ph": row.i3ph_ka, "LG": row.islg_ka, "LL": row.ill_ka,
                    "LLG": row.illg_ka}[r.type]
        # Snapshot faults carry the load flow; FaultStudy mode is the pure Thevenin.
        assert r.current_ka == pytest.approx(expected, rel=0.03), (r.bus, r.type)
    r400 = {t: _bus_result(results, "B400_M1", t).current_ka for t in ("3ph", "LG", "LL")}
    assert r400["LL"] == pytest.approx(r400["3ph"] * math.sqrt(3) / 2, rel=0.01)
    assert r400["LG"] == pytest.approx(40.0, rel=0.02)  # stated ISC1 at the bus


def test_fault_resistance_reduces_the_current(engine):
    bolted = fault_study(engine, ["B220_M1"], ["LG"])[0].current_ka
    r10 = fault_study(engine, ["B220_M1"], ["LG"], rf_ohm=10.0)[0].current_ka
    assert r10 < bolted
    # With Rf = 10 ohm the current is bounded by V / Rf.
    assert r10 < 220e3 / math.sqrt(3) / 10.0 / 1000


def test_dead_bus_reports_no_current(engine):
    engine.set_switch("Line.TR1H_Q0", False)
    r = fault_study(engine, ["B33_A"], ["3ph"])[0]
    assert not r.energised and r.current_ka == 0.0
    row = station_fault_levels(engine, ["B33_A"])[0]
    assert not row.energised and row.i3ph_ka == 0.0


def test_study_leaves_the_engine_as_it_found_it(engine):
    before = engine.solve()
    fault_study(engine, types=["3ph", "LG"])
    station_fault_levels(engine)
    after = engine.solve()
    np.testing.assert_allclose(after.v_pu, before.v_pu, rtol=1e-6)
    assert after.totals.load_mw == pytest.approx(before.totals.load_mw, rel=1e-6)


def test_progress_and_cancel(engine):
    seen = []
    cancel = threading.Event()

    def progress(done, total):
        seen.append((done, total))
        if done == 5:
            cancel.set()

    before = engine.solve()
    with pytest.raises(Cancelled):
        fault_study(engine, progress=progress, cancel=cancel)
    assert seen[-1] == (5, 4 * len(engine.bus_names))
    np.testing.assert_allclose(engine.solve().v_pu, before.v_pu, rtol=1e-6)


def test_bad_arguments_are_refused(engine):
    with pytest.raises(ValueError, match="unknown fault type"):
        fault_study(engine, ["B220_M1"], ["3PH"])
    with pytest.raises(ValueError, match="resistance"):
        fault_study(engine, ["B220_M1"], ["LG"], rf_ohm=-1)
    with pytest.raises(KeyError, match="no bus 'NOWHERE'"):
        fault_study(engine, ["NOWHERE"])
