"""N-1 contingency analysis on the reference station."""

from __future__ import annotations

import pytest

from app.twin.contingency import run_contingencies


def test_every_listed_outage_is_studied(engine, station):
    results = run_contingencies(engine, station)
    assert [r.outage for r in results] == ["base case"] + [c.asset for c in station.contingencies]
    assert {"ICT1", "ICT2", "TR1", "TR2", "L1_LINE", "L2_LINE"} <= {r.outage for r in results}
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
