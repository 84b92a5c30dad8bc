"""Standing conditions and the sequence of events, on the plant's real signals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.alarms.changes import ChangeDetector
from app.alarms.conditions import ConditionMonitor
from app.field import quality as Q
from app.field.frame import Comm, CommState, ScanFrame
from app.field.sim.plant import PlantSimulator

T0 = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def plant(station):
    return PlantSimulator(station, seed=5, start=T0)


def frame(plant, snap, comm=None, quality=None):
    return ScanFrame(snap.seq, snap.timestamp, plant.points, snap.values,
                     snap.quality if quality is None else quality, snap.t_source_ns,
                     comm or {})


def test_healthy_station_has_no_conditions(plant):
    mon = ConditionMonitor(plant.points)
    assert mon.evaluate(frame(plant, plant.step(0.1))) == []


def test_limits_protection_quality_and_comm(plant):
    mon = ConditionMonitor(plant.points)
    plant.inject("overvoltage", pu=1.08)
    plant.inject("line_trip", asset="F2_LINE")
    plant.inject("sensor_fail", point="ICT1.TOP_OIL")
    s = plant.step(0.1)
    q = s.quality.copy()
    lost = plant.points.device("F3").points
    q[lost] = Q.COMM_LOST
    comm = {"F3": CommState("F3", "mms", Comm.LOST, s.timestamp, "read failed")}
    conds = mon.evaluate(frame(plant, s, comm, q))
    kinds = {(c.tag, c.kind) for c in conds}
    assert ("B400_M1.V", "hi") in kinds
    assert ("F2_21.OP", "protection") in kinds
    assert ("ICT1.TOP_OIL", "quality") in kinds
    assert ("F3", "comm") in kinds
    assert not any(c.asset.startswith("F3_") and c.kind == "quality" for c in conds)
    assert conds[0].priority == 1  # protection first
    since = {c.key: c.since for c in conds}
    later = mon.evaluate(frame(plant, plant.step(0.1), comm, q))
    assert {c.key: c.since for c in later}["B400_M1.V:hi"] == since["B400_M1.V:hi"]


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
