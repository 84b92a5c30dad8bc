"""The headless drill: scenario timeline, protection through the plant's field path,
COMTRADE records, the trainee's commands through the control service, and scoring."""

from __future__ import annotations

import dataclasses
import datetime as dt

import comtrade
import numpy as np
import pytest

from app.station.points import POS_CLOSED, POS_OPEN
from app.training.drill import DrillEngine
from app.training.scenario import find_scenario, load_actions, load_scenario

DAY = dt.date(2025, 1, 15)  # the drill's own simulated day: no wall-clock logic meets it

SCENARIO = """\
[scenario]
id = "test-ov"
title = "Overvoltage, two expected actions"
duration_s = 130
seed = 3
scan_s = 2.0

[initial]
time_of_day = "23:30"
load_pct = 70
open = ["BR4_Q0"]

[[event]]
id = "ov"
kind = "inject"
at_s = 10
fault = "overvoltage"
params = { pu = 1.15 }

[[event]]
id = "shed-noted"
kind = "message"
after = "open F4_Q0"
text = "feeder-4 shed"

[[expect]]
id = "reactor-in"
action = "close"
asset = "BR4_Q0"
after = "ov"
within_s = 40
points = 20

[[expect]]
id = "shed-f4"
action = "open"
asset = "F4_Q0"
after = "ov"
within_s = 100
"""

GOOD = """\
trainee = "asha"
[[action]]
at_s = 26
action = "close"
asset = "BR4_Q0"
[[action]]
at_s = 40
action = "open"
asset = "F4_Q0"
"""

BAD = """\
trainee = "ravi"
role = "engineer"
[[action]]
at_s = 20
action = "close"
asset = "L1_Q8"
[[action]]
at_s = 36
action = "open"
asset = "F3_Q0"
[[action]]
at_s = 100
action = "close"
asset = "BR4_Q0"
[[action]]
at_s = 110
action = "open"
asset = "L1_Q1"
bypass_reason = "isolating line 1 quickly"
"""


def drill(station, tmp_path, actions=None, scenario=SCENARIO, **kw):
    sc_path = tmp_path / "sc.toml"
    sc_path.write_text(scenario, encoding="utf-8")
    script = None
    if actions is not None:
        (tmp_path / "actions.toml").write_text(actions, encoding="utf-8")
        script = load_actions(tmp_path / "actions.toml")
    sc = load_scenario(sc_path, station)
    return DrillEngine(station, sc, day=DAY, out_dir=tmp_path / "out", script=script, **kw)


def test_a_good_trainee_scores_full_marks(station, tmp_path, monkeypatch):
    live = tmp_path / "live-data"
    monkeypatch.setenv("GRIDTWIN_DATA_DIR", str(live))
    r = drill(station, tmp_path, GOOD).run()
    d = r.as_dict()
    assert [a["verdict"] for a in d["actions"]] == ["correct", "correct"]
    assert d["actions"][0]["response_s"] == pytest.approx(16.0)
    assert d["score"] == 100.0
    assert [e["verdict"] for e in d["expectations"]] == ["correct", "correct"]
    assert [e["id"] for e in d["events"]] == ["ov", "shed-noted"]  # one fired by the action
    soe = [(e["source"], e["text"]) for e in d["soe"]]
    assert ("BR4_Q0", "BR4_Q0 closed") in soe and ("F4_Q0", "F4_Q0 open") in soe
    assert any(a["tag"] == "B400_M1.V" and a["state"] == "UNACK" for a in d["alarms"])
    assert r.sim_s == pytest.approx(130.0)
    assert not live.exists()  # nothing reaches the live station's data folder
    # Every command went through the control service, audited on the drill's clock.
    assert r.start.tzinfo is not None


def test_a_bad_trainee_is_judged_action_by_action(station, tmp_path):
    eng = drill(station, tmp_path, BAD)
    r = eng.run()
    got = [(a.asset, a.verdict, a.reason) for a in r.actions]
    assert got[0] == ("L1_Q8", "unsafe", "earthing a live section (L1_T)")
    assert got[1] == ("F3_Q0", "wrong", "wrong bay: F3 (expected F4)")
    assert got[2][:2] == ("BR4_Q0", "late") and "limit 40 s" in got[2][2]
    assert got[3] == ("L1_Q1", "unsafe", "interlock bypass")
    assert not r.actions[0].ok and "interlocked" in r.actions[0].message
    verdicts = {e.expectation.id: e.verdict for e in r.score.expectations}
    assert verdicts == {"reactor-in": "late", "shed-f4": "missed"}
    assert r.score.score == 0.0 and r.score.penalty == 60.0
    # The bypass was the service's: audited as granted for the engineer, then the IED said no.
    bypass = [e for e in eng.audit.entries if e["action"] == "interlock bypass"]
    assert bypass and bypass[0]["result"] == "granted" and bypass[0]["user"] == "ravi"


def test_a_drill_is_repeatable(station, tmp_path):
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        runs.append(drill(station, tmp_path / name).run())
    a, b = runs
    assert np.array_equal(a.traces["B400_M1.V"], b.traces["B400_M1.V"], equal_nan=True)
    assert a.score.score == b.score.score == 0.0  # nothing done: both expectations missed


def _capped(sc, seconds=90.0):
    return dataclasses.replace(sc, duration_s=min(sc.duration_s, seconds), scan_s=2.0)


@pytest.mark.parametrize("sid", ["overvoltage-400kv", "ict-overload", "frequency-49-2",
                                 "breaker-failure", "busbar-fault", "line-fault-distance",
                                 "dga-developing", "comm-loss", "vt-fuse-failure"])
def test_every_shipped_scenario_runs_headless_to_a_score(station, tmp_path, sid):
    sc = _capped(load_scenario(find_scenario(sid), station))
    r = DrillEngine(station, sc, day=DAY, out_dir=tmp_path).run()
    d = r.as_dict()
    assert 0.0 <= d["score"] <= 100.0
    timed = [e.id for e in sc.events if e.timed and e.at_s <= sc.duration_s]
    assert {e["id"] for e in d["events"]} >= set(timed)
    faults = [e for e in sc.events if e.kind == "fault"]
    assert len(d["records"]) == len(faults)
    for rec in d["records"]:
        assert rec["fault_type"] in ("LG", "LL", "LLG", "3ph") and rec["bus"]
        c = comtrade.Comtrade()
        c.load(rec["cfg"], rec["dat"])
        assert c.cfg.sample_rates[0][0] >= 1000
        assert c.analog_count >= 3 and c.status_count >= 3


def test_a_busbar_fault_trips_its_zone_through_the_field_path(station, tmp_path):
    sc = _capped(load_scenario(find_scenario("busbar-fault"), station), 40.0)
    eng = DrillEngine(station, sc, day=DAY, out_dir=tmp_path)
    r = eng.run()
    seq = r.records[0].sequence
    opened = {e.breaker for e in seq.of_kind("breaker_open")}
    assert opened, "the busbar differential opened nothing"
    frame = eng.frame
    for b in opened:
        v, _q, _t = frame.value(f"{b}.POS")
        assert int(v) == POS_OPEN, b  # open in the station's points, as a scan reads it
    tripped = {e.source for e in seq.of_kind("trip")}
    assert "BB220_87B" in tripped
    assert frame.value("BB220_87B.OP")[0] == 1.0 and frame.value("BB220_87B.TRIP_A")[0] == 1.0
    # The SOE has each protection event at its millisecond after inception.
    trip = next(e for e in r.soe if e.kind == "trip" and e.source == "BB220_87B")
    first = next(e for e in seq.of_kind("trip") if e.source == "BB220_87B")
    fault_t = next(e.t_s for e in r.soe if e.kind == "fault")
    assert trip.t_s - fault_t == pytest.approx(first.time_s, abs=1e-6)
    assert trip.time.microsecond % 1000 == 0


def test_a_relay_reset_by_the_trainee_clears_the_flags(station, tmp_path):
    sc = load_scenario(find_scenario("line-fault-distance"), station)
    sc = dataclasses.replace(sc, duration_s=60.0, scan_s=2.0)
    (tmp_path / "a.toml").write_text('[[action]]\nat_s = 40\naction = "reset"\n',
                                     encoding="utf-8")
    eng = DrillEngine(station, sc, day=DAY, out_dir=tmp_path,
                      script=load_actions(tmp_path / "a.toml"))
    eng.run_until(30.0)
    assert eng.frame.value("F1_21.OP")[0] == 1.0 and eng.frame.value("F1_21.Z1")[0] == 1.0
    assert eng.frame.value("F1_Q0.POS")[0] == POS_CLOSED  # auto-reclosed
    r = eng.run()
    assert eng.frame.value("F1_21.OP")[0] == 0.0
    assert [a.verdict for a in r.actions] == ["correct"] and r.score.score == 100.0
