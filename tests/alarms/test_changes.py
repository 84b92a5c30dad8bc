"""The station's alarm rules and the sequence of events, on the plant's real signals."""

from __future__ import annotations

import numpy as np
import pytest

from app.alarms.changes import ChangeDetector
from app.alarms.engine import AlarmEngine
from app.alarms.rules import rules_for_station
from app.field.sim.plant import PlantSimulator
from app.station import quality as Q
from app.station.frame import Comm, CommState, ScanFrame
from tests.clocks import hours_ago

T0 = hours_ago(6)


@pytest.fixture
def plant(station):
    return PlantSimulator(station, seed=5, start=T0)


def frame(plant, snap, comm=None, quality=None):
    return ScanFrame(snap.seq, snap.timestamp, plant.points, snap.values,
                     snap.quality if quality is None else quality, snap.t_source_ns,
                     comm or {})


def engine_for(station, plant):
    rs = rules_for_station(station, plant.points)
    assert rs.problems == ()
    return AlarmEngine(plant.points, rs.rules, asset_types={a.id: a.type for a in station.assets},
                       aliases=rs.aliases, nominal=rs.nominal)


def test_healthy_station_raises_no_alarm(station, plant):
    eng = engine_for(station, plant)
    for _ in range(50):
        assert eng.evaluate(frame(plant, plant.step(0.1))) == []


def test_limits_protection_quality_and_comm(station, plant):
    eng = engine_for(station, plant)
    eng.evaluate(frame(plant, plant.step(0.1)))
    plant.inject("overvoltage", pu=1.08)
    plant.inject("line_trip", asset="F2_LINE")
    plant.inject("sensor_fail", point="ICT1.TOP_OIL")
    s = plant.step(0.1)
    q = s.quality.copy()
    lost = plant.points.device("F3").points
    q[lost] = Q.COMM_LOST
    comm = {"F3": CommState("F3", "mms", Comm.LOST, s.timestamp, "read failed")}
    tr = eng.evaluate(frame(plant, s, comm, q))
    keys = {t.key: t for t in tr}
    assert "B400_M1.V:hi" in keys
    assert "F2_21.OP:operated" in keys and keys["F2_21.OP:operated"].priority == 1
    assert "F2_Q0:trip" in keys
    assert "ICT1.TOP_OIL:invalid" in keys
    assert "F3:comm" in keys
    assert not any(t.asset.startswith("F3_") and t.key.endswith(":invalid") for t in tr)
    assert eng.annunciated()[0].priority == 1  # unacknowledged, priority 1 first


def test_sequence_of_events(plant):
    det = ChangeDetector(plant.points)
    assert det.changes(frame(plant, plant.step(0.1))) == []
    plant.operate("F1_Q0", False)
    ev = det.changes(frame(plant, plant.step(0.1)))
    pos = [e for e in ev if e.tag == "F1_Q0.POS"]
    assert len(pos) == 1 and (pos[0].before, pos[0].after) == ("closed", "open")
    assert pos[0].event_type == "state" and pos[0].severity == "medium"
    s = plant.step(0.1)
    q = s.quality.copy()
    q[plant.points.row("F2_CT.P")] = Q.SENSOR_FAILED
    ev = det.changes(frame(plant, s, quality=q))
    assert [e.message for e in ev if e.event_type == "quality"] == [
        "F2_CT.P quality good → invalid|failure"]
    c0 = {"F3": CommState("F3", "mms", Comm.OK, s.timestamp)}
    det.changes(frame(plant, plant.step(0.1), c0))
    c1 = {"F3": CommState("F3", "mms", Comm.LOST, s.timestamp, "timeout")}
    ev = det.changes(frame(plant, plant.step(0.1), c1))
    assert [e.message for e in ev if e.event_type == "comm"] == [
        "F3 communication ok → lost: timeout"]
    assert np.all([e.time.tzinfo is not None for e in ev])


def test_a_device_s_comm_events_speak_for_its_points(plant):
    """OK → SUSPECT → LOST → OK: one comm event each, no quality event for its points on the
    way down nor on the way back (their quality only follows the link)."""
    det = ChangeDetector(plant.points)
    rows = plant.points.device("F3").points
    states = [(Comm.OK, Q.GOOD, ""), (Comm.SUSPECT, Q.QUESTIONABLE | Q.OLD_DATA, "timeout"),
              (Comm.LOST, Q.COMM_LOST, "timeout"), (Comm.OK, Q.GOOD, "")]
    events = []
    for state, q, why in states:
        s = plant.step(0.1)
        quality = s.quality.copy()
        quality[rows] = q
        comm = {"F3": CommState("F3", "modbus", state, s.timestamp, why)}
        events += det.changes(frame(plant, s, comm, quality))
    assert [e.message for e in events if e.event_type == "comm"] == [
        "F3 communication ok → suspect: timeout", "F3 communication suspect → lost: timeout",
        "F3 communication lost → ok"]
    assert [e.severity for e in events if e.event_type == "comm"] == ["low", "high", "low"]
    assert not [e for e in events if e.event_type == "quality"]
