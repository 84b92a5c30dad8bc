"""Short-circuit study: checked against the stated source level and a hand calculation."""

from __future__ import annotations

import cmath
import math
import threading

import numpy as np
import pytest

from app.twin import TwinEngine
from app.twin.faults import Cancelled, fault_study, station_fault_levels

# The station's stated 400 kV fault levels with both lines in service (circuits/station.dss).
STATED_ISC3_KA = 45.0
STATED_ISC1_KA = 31.0

# Circuit data, as in circuits/station.dss.
GRID_A = {"isc3_ka": 60.0, "x_r": 15.0, "angle_deg": 0.0, "km": 21.5}
GRID_B = {"isc3_ka": 55.0, "x_r": 15.0, "angle_deg": -0.3, "km": 28.5}
QUAD_MOOSE_Z1 = complex(0.0147, 0.253)  # ohm/km
QUAD_MOOSE_C1 = 14.3e-9  # F/km
REACTOR_MVAR = 50.0
ICT_MVA, ICT_R_PCT, ICT_XHL_PCT = 315.0, 0.25, 12.5
OMEGA = 2 * math.pi * 50


def _bus_result(results, bus, ftype):
    return next(r for r in results if r.bus == bus.lower() and r.type == ftype)


def _infeed(grid):
    """One infeed as seen from the station's 400 kV bus: a Thevenin source (EMF at 1 pu and
    its angle; |Zs| = 400 kV / (sqrt3 * ISC3) at angle atan(X/R)) behind the line's nominal pi
    (series Z = z1 * km, half the charging susceptance jwC1 * km / 2 at each end).

    Returns the branch's own Thevenin (EMF, Z) at the station end of the line:
        source + shunt:   E1 = E / (1 + Zs Y),  Z1 = Zs / (1 + Zs Y)
        + series line:    Z2 = Z1 + Zl
        + shunt:          E3 = E1 / (1 + Z2 Y), Z3 = Z2 / (1 + Z2 Y)
    """
    e = 400e3 / math.sqrt(3) * cmath.exp(1j * math.radians(grid["angle_deg"]))
    zs = 400e3 / (math.sqrt(3) * grid["isc3_ka"] * 1e3) * cmath.exp(1j * math.atan(grid["x_r"]))
    zl = QUAD_MOOSE_Z1 * grid["km"]
    y = 1j * OMEGA * QUAD_MOOSE_C1 * grid["km"] / 2
    e1, z1 = e / (1 + zs * y), zs / (1 + zs * y)
    z2 = z1 + zl
    return e1 / (1 + z2 * y), z2 / (1 + z2 * y)


def test_3ph_fault_at_400kv_bus_equals_stated_level_and_hand_calculation(engine):
    """Bolted 3-phase fault at a 400 kV main bus.

    The bus is at 0 V, so nothing connected only to it (the bus reactor, the ICTs and
    everything behind them) carries current into the fault: it is the sum of the two infeeds'
    Norton currents, |E3a / Z3a + E3b / Z3b|, each from :func:`_infeed`:
        Grid A: |Zs| = 400 / (sqrt3 * 60) = 3.849 ohm, line 21.5 km = 0.316 + j5.440 ohm
        Grid B: |Zs| = 400 / (sqrt3 * 55) = 4.199 ohm, line 28.5 km = 0.419 + j7.211 ohm
    giving 45.06 kA; the station's stated ISC3 is 45 kA. (The three closed switches of each
    bay, 1 + j1 mOhm each, are 0.05 % of the infeed impedance and left out.)
    """
    ea, za = _infeed(GRID_A)
    eb, zb = _infeed(GRID_B)
    i_hand_ka = abs(ea / za + eb / zb) / 1000
    assert i_hand_ka == pytest.approx(STATED_ISC3_KA, rel=0.01)
    r = fault_study(engine, ["B400_M1", "B400_M2"], ["3ph"])
    for x in r:
        assert x.converged and x.energised
        assert x.current_ka == pytest.approx(i_hand_ka, rel=0.01)
        assert x.current_ka == pytest.approx(STATED_ISC3_KA, rel=0.01)
        assert set(x.phase_currents_ka) == {"A", "B", "C"}


def test_3ph_fault_at_220kv_bus_equals_hand_calculation(engine):
    """Bolted 3-phase fault at the 220 kV main bus, ICT taps at nominal.

    The 400 kV side's Thevenin at the ICTs' HV terminals: the two infeeds of
    :func:`_infeed` and the 50 MVAr bus reactor (Zr = j 400^2 / 50 = j3200 ohm) in parallel,
        Y = 1/Z3a + 1/Z3b + 1/Zr,  Vth = (E3a/Z3a + E3b/Z3b) / Y,  Zth = 1 / Y,
    referred to 220 kV by n = 220/400 (voltage) and n^2 (impedance). Each 315 MVA ICT between
    its HV and IV terminals (the delta tertiary is unloaded, so it carries no positive-sequence
    current): Zb = 220^2 / 315 = 153.65 ohm, Z = (0.25 % + j12.5 %) Zb; two in parallel: Z/2.
    Everything on the 220 kV bus is shorted by the fault, so
        I = |Vth n| / |Zth n^2 + Z_ict / 2|   (about 11.38 kA).
    """
    engine.set_tap("ICT1", 1.0)
    engine.set_tap("ICT2", 1.0)
    ea, za = _infeed(GRID_A)
    eb, zb = _infeed(GRID_B)
    zr = 1j * 400.0**2 / REACTOR_MVAR
    y = 1 / za + 1 / zb + 1 / zr
    vth, zth = (ea / za + eb / zb) / y, 1 / y
    n = 220.0 / 400.0
    z_ict = complex(ICT_R_PCT, ICT_XHL_PCT) / 100 * 220.0**2 / ICT_MVA
    i_hand_ka = abs(vth * n) / abs(zth * n * n + z_ict / 2) / 1000
    assert 10.5 < i_hand_ka < 12.5  # the calculation itself is sane (about 11.38 kA)

    for method in ("superposition", "snapshot"):
        r = fault_study(engine, ["B220_M1"], ["3ph"], method=method)[0]
        assert r.current_ka == pytest.approx(i_hand_ka, rel=0.01), method


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
        # The study carries the load flow; FaultStudy mode is the pure Thevenin. An earth
        # fault on an ICT's unearthed delta tertiary finds no path: next to nothing in both.
        assert r.current_ka == pytest.approx(expected, rel=0.03, abs=0.01), (r.bus, r.type)
    r400 = {t: _bus_result(results, "B400_M1", t).current_ka for t in ("3ph", "LG", "LL")}
    assert r400["LL"] == pytest.approx(r400["3ph"] * math.sqrt(3) / 2, rel=0.01)
    assert r400["LG"] == pytest.approx(STATED_ISC1_KA, rel=0.02)  # stated ISC1 at the bus


def test_superposition_agrees_with_one_opendss_solve_per_fault(engine, station):
    """The fast study (superposition on the solved network) against OpenDSS solving every
    fault itself. They differ only in how loads behave during the fault (constant impedance
    at the pre-fault point vs OpenDSS's constant power above 0.85 pu), so fault currents agree
    within 2 %, and every breaker carrying a fifth or more of the fault current agrees within
    2 % of the fault current (the rest of the difference is the healthy feeders' load)."""
    breakers = [a.element for a in station.assets_of_type("breaker")]
    fast = fault_study(engine, breakers=breakers)
    slow = fault_study(engine, breakers=breakers, method="snapshot")
    assert [(r.bus, r.type) for r in fast] == [(r.bus, r.type) for r in slow]
    for f, s in zip(fast, slow, strict=True):
        assert f.current_ka == pytest.approx(s.current_ka, rel=0.02, abs=0.01), (f.bus, f.type)
        for ph, i in s.phase_currents_ka.items():
            assert f.phase_currents_ka[ph] == pytest.approx(i, rel=0.02, abs=0.01)
        for b, i in s.breaker_currents_ka.items():
            if i >= 0.2 * s.current_ka and s.current_ka > 0.1:
                assert f.breaker_currents_ka[b] == pytest.approx(i, abs=0.02 * s.current_ka), \
                    (f.bus, f.type, b)


def test_ict_delta_tertiary_is_a_zero_sequence_source(engine, station_copy):
    """The ICTs' 33 kV delta tertiaries give earth faults a zero-sequence path: at 220 kV the
    single-phase level exceeds the three-phase one (as at real 400/220 kV stations with
    autotransformers), and removing the tertiary (a plain YNyn0 ICT) lowers it; an earth fault
    on the unearthed tertiary itself draws next to nothing. Three-phase levels are unchanged."""
    levels = {r.bus: r for r in station_fault_levels(engine)}
    assert levels["b220_m1"].islg_ka > 1.05 * levels["b220_m1"].i3ph_ka
    assert levels["ict1_tv"].islg_ka < 0.01 and levels["ict1_tv"].i3ph_ka > 5.0

    dss = station_copy.with_name("station.dss")
    text = dss.read_text()
    for k in (1, 2):
        old = (f"windings=3 buses=(ICT{k}H_T ICT{k}L_T ICT{k}_TV) conns=(wye wye delta)\n"
               "~ kvs=(400 220 33) kvas=(315000 315000 105000) xhl=12.5 xht=45 xlt=30")
        assert old in text
        text = text.replace(old, f"windings=2 buses=(ICT{k}H_T ICT{k}L_T) conns=(wye wye)\n"
                                 "~ kvs=(400 220) kvas=(315000 315000) xhl=12.5")
        text = text.replace(f"SetkVBase bus=ICT{k}_TV kVLL=33\n", "")
    dss.write_text(text)
    plain = {r.bus: r for r in station_fault_levels(TwinEngine(dss))}
    for bus in ("b400_m1", "b220_m1"):
        assert plain[bus].i3ph_ka == pytest.approx(levels[bus].i3ph_ka, rel=1e-3)
        assert plain[bus].islg_ka < levels[bus].islg_ka
    assert plain["b220_m1"].islg_ka < 0.9 * levels["b220_m1"].islg_ka


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
    with pytest.raises(ValueError, match="method"):
        fault_study(engine, ["B220_M1"], ["LG"], method="guess")


@pytest.mark.parametrize(("bus", "ftype"), [("F1_R", "LG"), ("B400_M1", "3ph"),
                                            ("F1_T", "LLG"), ("L1_T", "LL")])
def test_fault_phasors_are_the_fault_study_kept_complex(engine, bus, ftype):
    """The complex quantities protection needs: their magnitudes are the fault study's, the
    Thevenin impedances OpenDSS's own FaultStudy ones, and the faulted phases sit at 0 V."""
    from app.twin.faults import fault_phasors

    fp = fault_phasors(engine, bus, ftype, voltage_buses=[bus, "B220_M1"])
    ref = fault_study(engine, [bus], [ftype])[0]
    assert fp.energised and fp.current_ka == pytest.approx(ref.current_ka, rel=1e-6)
    for phase, i in fp.fault_a.items():
        assert abs(i) / 1000 == pytest.approx(ref.phase_currents_ka[phase], rel=1e-6)
    got = np.abs(fp.fault_breaker_a).max(axis=1) / 1000
    want = np.array([ref.breaker_currents_ka[b] for b in fp.breakers])
    assert np.allclose(got, want, rtol=1e-6, atol=1e-6)
    level = next(r for r in station_fault_levels(engine, [bus]))
    assert fp.z1_ohm == pytest.approx(level.z1_ohm, rel=0.01)
    assert fp.z0_ohm == pytest.approx(level.z0_ohm, rel=0.01)
    _, v_fault = fp.voltages(bus)
    # Bolted (0.1 mOhm): the faulted phases at a few volts, or at one potential for L-L.
    if ftype == "LL":
        assert abs(v_fault[0] - v_fault[1]) < 10.0 < abs(v_fault[0])
    else:
        assert np.all(np.abs(v_fault[:len(fp.fault_a)]) < 10.0)
    pre, _ = fp.voltages("B220_M1")
    assert np.abs(pre) / 1000 == pytest.approx([220 / math.sqrt(3) * 0.993] * 3, rel=0.01)


def test_fault_phasors_of_a_dead_bus_carry_no_fault(engine):
    from app.twin.faults import fault_phasors

    engine.set_switch("Line.F1_Q0", False)
    fp = fault_phasors(engine, "F1_T", "LG", breakers=["Line.F1_Q0", "Line.F2_Q0"])
    assert not fp.energised and fp.current_ka == 0.0
    assert np.allclose(fp.fault_breaker_a, fp.pre_breaker_a)
    assert np.all(fp.fault_breaker_a[0] == 0)
