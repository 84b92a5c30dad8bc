"""Drill snapshots on file (round trip, a drill started from one, bad files named) and the
instructor's malfunction parameters."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from app.station.points import build_point_table
from app.training.drill import DrillEngine, Malfunction, Snapshot
from app.training.malfunctions import MALFUNCTIONS, MalfunctionParamError, parse_params
from app.training.scenario import TraineeAction, load_scenario
from app.training.snapshots import (
    SnapshotFileError,
    engine_at,
    load_snapshot,
    save_snapshot,
)

SC = """\
[scenario]
id = "snap"
title = "Snapshot test"
duration_s = 200
scan_s = 2.0

[initial]
time_of_day = "23:30"
open = ["BR4_Q0"]
"""

DAY = dt.date(2025, 1, 15)


@pytest.fixture
def scenario(station, tmp_path):
    (tmp_path / "sc.toml").write_text(SC, encoding="utf-8")
    return load_scenario(tmp_path / "sc.toml", station)


def test_round_trip_and_a_drill_started_from_the_file(station, scenario, tmp_path):
    eng = DrillEngine(station, scenario, day=DAY, out_dir=tmp_path / "a")
    eng.advance_wall(20.0)
    eng.inject("overvoltage", pu=1.12)
    eng.advance_wall(10.0)
    eng.trainee_does(TraineeAction(0.0, "close", "BR4_Q0"))
    eng.advance_wall(10.0)
    snap = eng.snapshot("after the close")
    v_then = eng.frame.value("B400_M1.V")[0]
    pos_then = eng.frame.value("BR4_Q0.POS")[0]

    path = save_snapshot(tmp_path / "s.json", scenario.id, snap, DAY)
    f = load_snapshot(path)
    assert f.scenario == "snap" and f.day == DAY and f.snapshot == snap
    assert [type(x) for _, x in f.snapshot.live] == [Malfunction, TraineeAction]

    again = engine_at(station, scenario, f.snapshot, day=f.day, out_dir=tmp_path / "b")
    assert again.t_s == pytest.approx(snap.t_s)
    assert again.frame.value("B400_M1.V")[0] == pytest.approx(v_then, rel=1e-9)
    assert again.frame.value("BR4_Q0.POS")[0] == pos_then
    assert [a.verdict for a in again.scorer.actions] == ["wrong"]  # judged again, the same


def _write(tmp_path, text: str):
    p = tmp_path / "bad.json"
    p.write_text(text, encoding="utf-8")
    return p


def _good(**over) -> dict:
    d = {"format": "gridtwin-drill-snapshot", "version": 1, "scenario": "snap", "t_s": 50.0,
         "label": "x", "live": [{"t_s": 10.0, "type": "action", "action": "close",
                                  "asset": "BR4_Q0"}]}
    d.update(over)
    return d


@pytest.mark.parametrize(("doc", "field", "words"), [
    (_good(format="other"), "format", "not a drill snapshot"),
    (_good(version=9), "version", "not supported"),
    (_good(t_s=-1), "t_s", "not a simulated time"),
    (_good(day="15/01/2025"), "day", "not a date"),
    (_good(live=[{"t_s": 10.0, "type": "action", "action": "toggle", "asset": "X"}]),
     "live[0].action", "not one of open, close, reset"),
    (_good(live=[{"t_s": 99.0, "type": "action", "action": "open", "asset": "X"}]),
     "live[0].t_s", "between 0 and the snapshot's 50 s"),
    (_good(live=[{"t_s": 1.0, "type": "bogus"}]), "live[0].type", "'bogus'"),
])
def test_a_bad_file_is_one_line_naming_file_line_and_field(tmp_path, doc, field, words):
    from app.training.snapshots import dumps

    text = json.dumps(doc, indent=2)
    if field.startswith("live"):  # as the program writes them: one item a line
        snap = Snapshot(50.0, "x", ())
        text = dumps("snap", snap).replace('"live": []', '"live": [\n    '
                                           + json.dumps(doc["live"][0]) + "\n  ]")
    p = _write(tmp_path, text)
    with pytest.raises(SnapshotFileError) as ei:
        load_snapshot(p)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{p}:") and f"field '{field}'" in msg and words in msg
    assert ei.value.line is not None
    assert field.split("[")[0].split(".")[0] in text.splitlines()[ei.value.line - 1] \
        or field.startswith("live[")


def test_not_json_names_the_line(tmp_path):
    p = _write(tmp_path, '{\n  "format": "gridtwin-drill-snapshot",\n  "t_s": ,\n}')
    with pytest.raises(SnapshotFileError, match=r"bad\.json:3: not JSON"):
        load_snapshot(p)


def test_malfunction_parameters_are_checked_and_named(station):
    points = build_point_table(station)
    assert {m.kind for m in MALFUNCTIONS} >= {"overvoltage", "comm_lost", "breaker_stuck"}
    assert parse_params("overvoltage", {"pu": "1.15"}, station, points) == {"pu": 1.15}
    assert parse_params("breaker_stuck", {"asset": "L2_Q0"}, station, points) == \
        {"asset": "L2_Q0"}
    assert "km" not in parse_params("line_trip", {"asset": "L1_LINE", "type": "LG", "km": ""},
                                    station, points)
    with pytest.raises(MalfunctionParamError, match="parameter 'pu' = 9 outside"):
        parse_params("overvoltage", {"pu": "9"}, station, points)
    with pytest.raises(MalfunctionParamError, match="'target_hz': 'abc' is not a number"):
        parse_params("frequency_excursion", {"target_hz": "abc", "ramp_s": "5"}, station,
                     points)
    with pytest.raises(MalfunctionParamError, match="'ICT1' is not a breaker"):
        parse_params("breaker_stuck", {"asset": "ICT1"}, station, points)
    with pytest.raises(MalfunctionParamError, match="parameter 'device'.*required"):
        parse_params("comm_lost", {}, station, points)
