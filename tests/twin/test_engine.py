"""The twin engine: base case, power balance, switching, topology, independence, errors."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from app.twin import CircuitError, TwinEngine

HV_BREAKERS = ("Line.ICT1H_Q0", "Line.ICT2H_Q0")
LV_BREAKERS = ("Line.ICT1L_Q0", "Line.ICT2L_Q0")


def test_base_case_is_realistic(engine):
    s = engine.solve()
    assert s.converged
    assert engine.dss.Solution.Frequency() == 50.0
    assert 300.0 <= s.totals.load_mw <= 350.0
    live = s.energised
    assert live.all(), f"dead in the base case: {s.dead_buses()}"
    pu = np.nanmean(s.v_pu, axis=1)
    assert ((pu >= 0.95) & (pu <= 1.05)).all(), dict(zip(s.bus_names, pu.round(4), strict=True))
    assert 0.0 < s.totals.losses_mw < 0.02 * s.totals.load_mw


def test_power_balance(engine):
    """Generation = load + losses within 0.1 %, with the load summed independently."""
    s = engine.solve()
    d = engine.dss
    load_kw = 0.0
    for name in d.Loads.AllNames():
        d.Circuit.SetActiveElement(f"Load.{name}")
        load_kw += sum(d.CktElement.Powers()[0::2])
    gen_mw = s.totals.generation_mw
    assert load_kw / 1000 == pytest.approx(s.totals.load_mw, rel=1e-9)
    assert gen_mw == pytest.approx(load_kw / 1000 + s.totals.losses_mw, rel=1e-3)
    assert 98.5 < s.totals.efficiency_pct < 100.0


def test_state_is_frozen(engine):
    s = engine.solve()
    for arr in (s.v_pu, s.p_mw, s.loading_pct, s.energised, s.i_a):
        with pytest.raises(ValueError):
            arr[0] = 0
    with pytest.raises(AttributeError):
        s.converged = False


def test_readings_by_name(engine):
    s = engine.solve()
    b = s.bus("B220_M1")  # case-insensitive, as in the station file
    assert b.energised and b.base_kv == 220.0 and 0.95 < b.pu < 1.05
    assert b.kv == pytest.approx(b.pu * 220.0)
    assert abs(b.angle_deg[0] - b.angle_deg[1] - 120.0) < 1e-6
    ict = s.branch("Transformer.ICT1")
    assert ict.p_mw > 100
    assert ict.loading_pct == pytest.approx(s.transformer_loading("Transformer.ICT1"))
    # Each ICT carries half the station load, near 57 % of 315 MVA.
    assert s.transformer_loading("Transformer.ICT1") == pytest.approx(
        s.transformer_loading("Transformer.ICT2"), rel=0.01)
    assert s.transformer_losses_kw.min() > 0
    with pytest.raises(KeyError):
        s.bus("nowhere")


@pytest.mark.parametrize("breakers", [HV_BREAKERS, LV_BREAKERS, HV_BREAKERS + LV_BREAKERS])
def test_opening_both_icts_deenergises_220_and_33_kv(engine, breakers):
    for b in breakers:
        assert engine.set_switch(b, False)
    s = engine.solve()
    assert s.converged  # OpenDSS calls it converged …
    # Every 220 and 33 kV bus dies except the ICTs' own LV terminals and their 33 kV
    # tertiaries, which stay live from the 400 kV side when only the LV breakers are open.
    back_fed = ({"ict1l_c", "ict1l_t", "ict2l_c", "ict2l_t", "ict1_tv", "ict2_tv"}
                if breakers == LV_BREAKERS else set())
    lower = [i for i, kv in enumerate(s.bus_base_kv) if kv < 300
             and s.bus_names[i] not in back_fed]
    assert all(s.bus(b).energised for b in back_fed)
    upper = [i for i, kv in enumerate(s.bus_base_kv) if kv >= 300 and "ict" not in
             s.bus_names[i]]
    assert lower and not s.energised[lower].any()  # … but the twin knows they are dead
    assert s.energised[upper].all()
    dead = s.bus("B33_A")
    assert not dead.energised and dead.kv == 0.0 and np.isnan(dead.angle_deg).all()
    assert s.totals.load_mw == pytest.approx(0.0, abs=1e-6)
    for b in breakers:
        assert engine.set_switch(b, True)
    s = engine.solve()
    assert s.energised.all() and 300 <= s.totals.load_mw <= 350


def test_set_switch_reports_change_and_rejects_unknown(engine):
    assert engine.set_switch("Line.BS3_Q0", False) is False  # already open
    assert engine.is_closed("Line.L1_Q0")
    with pytest.raises(KeyError, match="no branch element"):
        engine.set_switch("Line.NOPE", True)


def test_bus_section_closes_33_kv_buses_together(engine):
    engine.set_switch("Line.TR1H_Q0", False)
    s = engine.solve()
    assert not s.bus("B33_A").energised and s.bus("B33_B").energised
    engine.set_switch("Line.BS3_Q0", True)
    s = engine.solve()
    assert s.bus("B33_A").energised and 0.95 < s.bus("B33_A").pu < 1.05
    assert s.transformer_loading("Transformer.TR2") > 80  # TR2 now carries both sections


def test_measured_loads_move_the_flows(engine):
    s0 = engine.solve()
    engine.set_load("F1_LOAD", 120.0, 40.0)
    s1 = engine.solve()
    assert s1.load_p_mw[list(s1.load_names).index("Load.f1_load")] == pytest.approx(120.0,
                                                                                      rel=1e-4)
    assert s1.totals.load_mw == pytest.approx(s0.totals.load_mw + 35.0, rel=1e-4)
    assert s1.branch("Line.F1_Q0").p_mw > s0.branch("Line.F1_Q0").p_mw + 30
    with pytest.raises(KeyError):
        engine.set_load("NOPE", 1.0)


def test_source_voltage_and_taps(engine):
    engine.set_source("Vsource.source", pu=1.05)
    engine.set_source("GRID_B", pu=1.05)
    s = engine.solve()
    assert s.bus("B400_M1").kv > 415
    engine.set_tap("Transformer.ICT1", 1.0)
    engine.set_tap("ICT2", 1.0)
    assert engine.tap("ICT1") == 1.0
    s2 = engine.solve()
    assert s2.bus("B220_M1").pu < s.bus("B220_M1").pu
    with pytest.raises(ValueError, match="outside"):
        engine.set_tap("ICT1", 1.3)
    with pytest.raises(ValueError, match="plausible"):
        engine.set_source("source", pu=-1)


def test_two_engines_are_independent(station):
    a = TwinEngine(station.circuit_path)
    b = TwinEngine(station.circuit_path)
    a.set_switch("Line.TR1H_Q0", False)
    sa, sb = a.solve(), b.solve()
    assert not sa.bus("B33_A").energised
    assert sb.bus("B33_A").energised and sb.bus("B33_A").pu > 0.95


def test_engines_solve_in_parallel_threads(station):
    engines = [TwinEngine(station.circuit_path) for _ in range(2)]
    engines[1].set_switch("Line.TR2H_Q0", False)
    results: list[list[float]] = [[], []]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(200):
                results[k].append(engines[k].solve().totals.load_mw)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert min(results[0]) == pytest.approx(326.0, abs=0.5)
    assert max(results[1]) == pytest.approx(326.0 - 18.0, abs=0.5)


# ----------------------------------------------------------------------- bad circuits
def test_circuit_with_an_error_is_refused_with_opendss_message(tmp_path):
    bad = tmp_path / "broken.dss"
    bad.write_text("Clear\nNew Circuit.X basekv=400 bus1=A\nNew Lyne.L1 bus1=A bus2=B\n")
    with pytest.raises(CircuitError) as ei:
        TwinEngine(bad)
    msg = str(ei.value)
    assert str(bad) in msg
    assert "lyne" in msg.lower()  # OpenDSS's own words name the unknown class


def test_missing_circuit_file_is_refused(tmp_path):
    with pytest.raises(CircuitError, match="not found"):
        TwinEngine(tmp_path / "nope.dss")


def test_file_without_a_circuit_is_refused(tmp_path):
    f = tmp_path / "empty.dss"
    f.write_text("! nothing here\n")
    with pytest.raises(CircuitError, match="no circuit"):
        TwinEngine(f)


def test_voltages_stay_on_their_buses_after_an_infeed_is_taken_out(engine):
    """OpenDSS rebuilds its node list once a source is disabled and the topology changes;
    the engine must keep each voltage on its own bus (regression: readings went to 0 kV)."""
    reference = engine.solve()
    engine.set_source_in_service("source", False)  # remote end of line 1 open
    for sw in ("Line.BC4_Q0", "Line.BR4_Q0"):
        engine.set_switch(sw, False)
    s = engine.solve()
    assert not s.bus("B400_M1").energised or s.bus("B400_M1").kv > 350
    assert s.bus("L2_T").energised and 380 < s.bus("L2_T").kv < 410
    assert s.bus("B220_M1").energised and 200 < s.bus("B220_M1").kv < 230
    assert s.totals.load_mw == pytest.approx(reference.totals.load_mw, rel=1e-3)
    engine.set_source_in_service("source", True)
    for sw in ("Line.BC4_Q0", "Line.BR4_Q0"):
        engine.set_switch(sw, True)
    s = engine.solve()
    np.testing.assert_allclose(s.v_pu, reference.v_pu, rtol=1e-4)


def test_bulk_reads_equal_element_at_a_time_reads(engine):
    """Load powers come from one batch call and taps from set_tap's cache; both must equal
    what OpenDSS reports element by element, also after taps move and loads change."""
    engine.set_tap("ICT1", 1.0)
    engine.set_tap("TR2", 0.9875)
    engine.command("Transformer.TR1.wdg=2 tap=1.05")  # behind the engine's back
    engine.set_load("F3_LOAD", 70.0, 21.0)
    s = engine.solve()
    d = engine.dss
    for k, name in enumerate(s.load_names):
        d.Circuit.SetActiveElement(name)
        p_kw, q_kvar = d.CktElement.TotalPowers()[:2]
        assert s.load_p_mw[k] == p_kw / 1000.0 and s.load_q_mvar[k] == q_kvar / 1000.0
    for k, name in enumerate(s.transformer_names):
        d.Transformers.Name(name.split(".", 1)[1])
        d.Transformers.Wdg(2)
        assert s.tap_pu[k] == d.Transformers.Tap(), name
    assert s.tap_pu[list(s.transformer_names).index("Transformer.tr1")] == 1.05
    # The element-at-a-time fallback gives the same arrays.
    engine._drop_load_batch()
    s2 = engine.state()
    np.testing.assert_array_equal(s2.load_p_mw, s.load_p_mw)
    np.testing.assert_array_equal(s2.load_q_mvar, s.load_q_mvar)


def test_incoming_lines_are_real_lines_and_both_import(engine):
    """The 400 kV lines carry impedance and charging out to remote grid hubs: both import
    in the base case, the station bus sits below the hubs, and an open station breaker
    leaves the line charged from its far end, drawing its charging power."""
    s = engine.solve()
    l1, l2 = s.branch("Line.L1_LINE"), s.branch("Line.L2_LINE")
    assert l1.p_mw < -150 and l2.p_mw < -50  # bus-outward sign: imports read negative
    assert -(l1.p_mw + l2.p_mw) == pytest.approx(s.totals.generation_mw, rel=0.01)
    assert s.bus("B400_M1").pu < s.bus("GRID_A").pu
    engine.set_switch("Line.L1_Q0", False)
    s = engine.solve()
    assert s.bus("L1_T").energised and s.branch("Line.L1_LINE").i_a[0] < 1.0
    d = engine.dss
    d.Circuit.SetActiveElement("Line.L1_LINE")
    q_far_mvar = sum(d.CktElement.Powers()[7:12:2]) / 1000  # terminal 2 (grid end), Q
    v_pu = s.bus("GRID_A").pu
    # 400 kV, 21.5 km of quad Moose at 14.3 nF/km: Q = V^2 w C l = 15.5 MVAr at 1 pu.
    charging = (400e3 * v_pu) ** 2 * 2 * math.pi * 50 * 14.3e-9 * 21.5 / 1e6
    assert -q_far_mvar == pytest.approx(charging, rel=0.02)
