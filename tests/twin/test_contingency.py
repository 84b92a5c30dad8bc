"""N-1 contingency analysis on the reference station."""

from __future__ import annotations

import numpy as np
import pytest

from app.twin.contingency import run_contingencies


def test_every_listed_outage_is_studied(engine, station):
    results = run_contingencies(engine, station)
    assert [r.outage for r in results] == ["base case"] + [c.asset for c in station.contingencies]
    assert {"ICT1", "ICT2", "TR1", "TR2", "L1_LINE", "L2_LINE", "F1_LINE", "F2_LINE",
            "F3_LINE", "F4_LINE"} <= {r.outage for r in results}
    assert all(r.converged for r in results)
    base = results[0]
    assert base.secure and not base.overloads and not base.voltage_violations


def test_ict_outage_overloads_the_other_ict(engine, station):
    r = {x.outage: x for x in run_contingencies(engine, station)}
    for out, other in (("ICT1", "transformer.ict2"), ("ICT2", "transformer.ict1")):
        assert not r[out].secure
        over = {o.element.lower(): o.loading_pct for o in r[out].overloads}
        assert over[other] > 100.0  # 326 MW on one 315 MVA ICT
        assert r[out].load_lost_mw == 0.0


def test_transformer_outage_loses_its_33kv_section(engine, station):
    r = {x.outage: x for x in run_contingencies(engine, station)}
    # The 33 kV bus section is normally open: TR-1 out loses IND1 + COM1 = 23 MW.
    assert r["TR1"].load_lost_mw == pytest.approx(23.0, rel=1e-3)
    assert r["TR2"].load_lost_mw == pytest.approx(18.0, rel=1e-3)
    assert "b33_a" in r["TR1"].dead_buses


def test_line_outage_is_secure(engine, station):
    r = {x.outage: x for x in run_contingencies(engine, station)}
    assert r["L1_LINE"].secure and r["L2_LINE"].secure


def test_voltage_band_violation_is_reported(engine, station):
    for src in engine.source_names:
        engine.set_source(src, pu=1.07)  # 428 kV: above the 420 kV band limit
    base = run_contingencies(engine, station)[0]
    high = [v for v in base.voltage_violations if v.base_kv == 400]
    assert high and all(v.kind == "high" and v.kv > 420 for v in high)


def test_switching_state_is_restored(engine, station):
    before = engine.switch_states()
    run_contingencies(engine, station)
    assert engine.switch_states() == before


def test_feeder_line_outage_loses_its_downstream_load(engine, station):
    r = {x.outage: x for x in run_contingencies(engine, station)}
    # The 220 kV feeders are radial: each one out loses its remote substation's load.
    for feeder, mw in (("F1_LINE", 85.0), ("F2_LINE", 75.0), ("F3_LINE", 65.0),
                       ("F4_LINE", 60.0)):
        assert r[feeder].load_lost_mw == pytest.approx(mw, rel=1e-3), feeder
        assert feeder[:2].lower() + "_r" in r[feeder].dead_buses
        assert not r[feeder].overloads


def test_shunt_reactors_and_capacitors_are_not_branch_loadings(engine, station):
    """A shunt's loading follows its bus voltage, not the flows: at night load the 50 MVAr
    bus reactor is the element nearest its rating, yet it is no branch overload and never
    "the most loaded branch"."""
    for name, (p, q) in engine.load_setpoints().items():
        engine.set_load(name, 0.1 * p, 0.1 * q)
    state = engine.solve()
    raw_worst = state.branch_names[int(np.nanargmax(state.loading_pct))]
    assert raw_worst.lower().startswith("reactor.")  # the premise
    for src in engine.source_names:
        engine.set_source(src, pu=1.07)
    for r in run_contingencies(engine, station):
        names = [o.element.lower() for o in r.overloads]
        assert not [n for n in names if n.startswith(("reactor.", "capacitor."))], r.outage
        assert not r.max_loading.element.lower().startswith(("reactor.", "capacitor."))
