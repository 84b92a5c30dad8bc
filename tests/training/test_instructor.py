"""The instructor's controls on a drill (Qt-free): run at a speed, freeze and resume, live
malfunctions and trainee actions, snapshots and backtracking to one."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.training.drill import DrillEngine
from app.training.scenario import TraineeAction, load_scenario
from tests.drill_scenarios import reactor_scenario

SC = reactor_scenario("instr", "Instructor test", duration_s=120, scan_s=2.0,
                     within_s=100)


@pytest.fixture
def engine(station, tmp_path):
    (tmp_path / "sc.toml").write_text(SC, encoding="utf-8")
    sc = load_scenario(tmp_path / "sc.toml", station)
    return DrillEngine(station, sc, day=dt.date(2025, 1, 15), out_dir=tmp_path / "out",
                       snapshot_every_s=20.0)


def test_speed_freeze_and_resume(engine):
    engine.set_speed(4.0)
    assert engine.advance_wall(2.5) == pytest.approx(10.0)
    engine.freeze()
    assert engine.advance_wall(5.0) == pytest.approx(10.0)
    engine.resume()
    engine.set_speed(0.5)
    assert engine.advance_wall(4.0) == pytest.approx(12.0)
    with pytest.raises(ValueError, match="outside 0.5x-20x"):
        engine.set_speed(50.0)
    engine.set_speed(20.0)
    assert engine.advance_wall(100.0) == pytest.approx(120.0)  # never past the end
    kinds = [e.kind for e in engine.soe if e.source == "instructor"]
    assert kinds == ["freeze", "resume"]


def test_live_malfunction_and_action_then_backtrack(engine):
    engine.set_speed(10.0)
    engine.advance_wall(3.0)  # 30 s
    v0 = engine.frame.value("B400_M1.V")[0]
    engine.inject("overvoltage", pu=1.12)
    with pytest.raises(ValueError, match="pu"):
        engine.inject("overvoltage", pu=9.0)
    engine.advance_wall(1.0)  # 40 s
    assert engine.frame.value("B400_M1.V")[0] > v0 * 1.05
    verdict = engine.trainee_does(TraineeAction(0.0, "close", "BR4_Q0"))
    assert (verdict.verdict, verdict.at_s) == ("correct", pytest.approx(40.0))
    engine.advance_wall(2.0)  # the operate took 2 s: 62 s
    labels = [s.label for s in engine.snapshots]
    assert labels[:3] == ["auto 20 s", "auto 40 s", "auto 60 s"]
    snap = engine.snapshot("after the reactor")
    engine.advance_wall(3.0)  # 90 s

    back = engine.backtrack(snap)
    assert back.t_s == pytest.approx(snap.t_s)
    assert back.frame.value("BR4_Q0.POS")[0] == engine.frame.value("BR4_Q0.POS")[0]
    n = len(back._trace_t)
    assert n == len(engine._trace_t[:n]) == 32  # a scan every 2 s from 0 to 62 s
    a = np.asarray(engine._trace["B400_M1.V"][:n])
    b = np.asarray(back._trace["B400_M1.V"][:n])
    assert np.allclose(a, b, equal_nan=True)  # the same plant, replayed
    assert [s.label for s in back.snapshots][-1] == "after the reactor"
    r = back.run()
    assert [x.verdict for x in r.actions] == ["correct"] and r.score.score == 100.0
