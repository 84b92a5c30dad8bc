"""A fault the instructor starts live goes through the protection like a scenario's fault:
relays, breakers, SOE, the COMTRADE record — and is replayed by a backtrack."""

from __future__ import annotations

import datetime as dt

import pytest

from app.station.points import POS_OPEN
from app.training.drill import DrillEngine
from app.training.scenario import load_scenario

SC = """\
[scenario]
id = "live-fault"
title = "Live fault"
duration_s = 120
scan_s = 1.0

[initial]
time_of_day = "11:00"
"""


@pytest.fixture
def engine(station, tmp_path):
    (tmp_path / "sc.toml").write_text(SC, encoding="utf-8")
    sc = load_scenario(tmp_path / "sc.toml", station)
    return DrillEngine(station, sc, day=dt.date(2025, 1, 15), out_dir=tmp_path / "out")


def test_a_live_fault_trips_through_the_protection_and_is_recorded(engine):
    engine.advance_wall(10.0)
    snap = engine.snapshot("before")
    engine.inject("fault", bus="l2_t", type="LG")
    engine.advance_wall(5.0)
    assert [(r.bus, r.fault_type) for r in engine.records] == [("l2_t", "LG")]
    assert engine.records[0].cfg.exists()
    kinds = {(e.source, e.kind) for e in engine.soe}
    assert ("instructor", "fault") in kinds
    assert any(e.kind == "trip" for e in engine.soe)
    assert engine.frame.value("L2_Q0.POS")[0] == POS_OPEN
    after = engine.snapshot("after")
    # Going back before it undoes it; going back after it replays it.
    before = engine.backtrack(snap)
    assert before.records == [] and before.frame.value("L2_Q0.POS")[0] != POS_OPEN
    again = engine.backtrack(after)
    assert [(r.bus, r.fault_type) for r in again.records] == [("l2_t", "LG")]
    assert again.frame.value("L2_Q0.POS")[0] == POS_OPEN


@pytest.mark.parametrize(("params", "words"), [
    ({"bus": "nowhere"}, "parameter 'bus': 'nowhere' is not a bus"),
    ({"bus": "l2_t", "type": "LLLG"}, "parameter 'type'"),
    ({"bus": "l2_t", "stuck": "ICT1"}, "parameter 'stuck': 'ICT1' is not a breaker"),
])
def test_bad_fault_parameters_are_named(engine, params, words):
    with pytest.raises(ValueError, match=words):
        engine.inject("fault", **params)
    assert engine.records == [] and engine.snapshot().live == ()


def test_the_instructor_clears_a_malfunction_and_a_backtrack_replays_it(engine):
    engine.advance_wall(5.0)
    engine.inject("overvoltage", pu=1.12)
    (inj,) = engine.plant.injections
    engine.advance_wall(5.0)
    engine.inject("clear", id=inj)
    assert engine.plant.injections == {}
    assert ("instructor", "clear") in {(e.source, e.kind) for e in engine.soe}
    with pytest.raises(ValueError, match="parameter 'id': no malfunction 'nothing-1'"):
        engine.inject("clear", id="nothing-1")
    engine.advance_wall(5.0)
    again = engine.backtrack(engine.snapshot("after the clear"))
    assert again.plant.injections == {}
    assert [e.kind for e in again.soe if e.source == "instructor"][-3:] == \
        ["inject", "clear", "backtrack"]
