"""The simulated bay IEDs' logic: select and operate answers with their AddCause, and the
same bay topology as the station interlocks, so the two layers agree."""

from __future__ import annotations

import datetime as dt

import pytest

from app.control.interlocks import Interlocking
from app.field.sim.plant import PlantSimulator
from app.station.commands import (
    ADD_CAUSE_BLOCKED_BY_HEALTH,
    ADD_CAUSE_BLOCKED_BY_INTERLOCKING,
    ADD_CAUSE_UNKNOWN,
)
from app.station.frame import ScanFrame
from app.station.points import POS_CLOSED

AFTERNOON = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def plant(station):
    p = PlantSimulator(station, seed=3, start=AFTERNOON)
    p.travel_s.update(isolator=0.0, earth_switch=0.0)
    return p


def test_select_answers_with_the_ieds_addcause(plant):
    r = plant.select("F1_Q1", False)
    assert (r.ok, r.add_cause, r.message) == (False, ADD_CAUSE_BLOCKED_BY_INTERLOCKING,
                                              "F1_Q1: bay breaker F1_Q0 is closed")
    assert plant.select("F1_Q0", False).ok
    assert plant.select("NOPE", True).add_cause == ADD_CAUSE_UNKNOWN
    plant.inject("sf6_leak", asset="F2_Q0", bar_per_h=36_000.0)
    plant.step(1.0)
    r = plant.select("F2_Q0", False)
    assert not r.ok and r.add_cause == ADD_CAUSE_BLOCKED_BY_HEALTH and "SF6" in r.message
    assert plant.check_interlock("F2_Q0", False) == r.message
    # A select moves nothing, accepted or not.
    assert plant.position("F1_Q0") == POS_CLOSED and plant.position("F1_Q1") == POS_CLOSED
    assert not plant.status()["moving"]


def test_a_bus_transfer_needs_the_coupler_closed_and_still(plant):
    # F2 runs on M1 (Q1 closed) under load: closing Q2 parallels the buses through it.
    assert plant.select("F2_Q2", True).ok
    assert plant.operate("BC2_Q0", False).ok
    plant.step(0.1)
    r = plant.select("F2_Q2", True)
    assert not r.ok and r.message == "F2_Q2: bay breaker F2_Q0 is closed"
    plant.travel_s["breaker"] = 60.0
    assert plant.operate("BC2_Q0", True).ok  # closing, still travelling
    assert not plant.select("F2_Q2", True).ok
    plant.step(61.0)
    assert plant.operate("F2_Q2", True).ok
    plant.step(0.1)
    assert plant.operate("F2_Q1", False).ok  # and off M1: the transfer is done


def _frame(plant, snap):
    return ScanFrame(snap.seq, snap.timestamp, plant.points, snap.values, snap.quality,
                     snap.t_source_ns, {})


@pytest.mark.parametrize("switching", [
    [],
    [("F1_Q0", False)],
    [("F1_Q0", False), ("F1_Q9", False)],
    [("F1_Q0", False), ("F1_Q9", False), ("F1_Q8", True)],
    [("BC2_Q0", False)],
    [("L2_Q0", False), ("L2_Q9", False)],
])
def test_what_a_bay_ied_refuses_the_station_refuses_first(plant, station, switching):
    """The station checks (before a command is sent) are at least as strict as the IEDs'
    (when it arrives), on every switch both ways: both read app.station.bays."""
    for asset, close in switching:
        assert plant.operate(asset, close).ok, asset
        plant.step(0.1)
    snap = plant.step(0.1)
    frame = _frame(plant, snap)
    engine, state = plant.engine, plant.twin_state
    live = lambda bus: bool(state.energised[engine.bus_index(bus)])  # noqa: E731
    station_il = Interlocking(station, plant.topology.ends)
    assert station_il.topology.ends == plant.ieds.topology.ends
    refused = 0
    for a in station.switches():
        for close in (False, True):
            ied = plant.check_interlock(a.id, close)
            if ied is None:
                continue
            refused += 1
            locks = station_il.check(a.id, close, frame, live)
            assert locks, f"the IED refuses {a.id} {'close' if close else 'open'} ({ied}) " \
                          "but the station's interlocks allow it"
    assert refused > 0
