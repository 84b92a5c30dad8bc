"""The RCA context built from the runtime's pieces: the reference station, the plant
simulator's faults, the alarm engine's views and a real SQL historian. Every conclusion comes
from what the plant and the alarm engine produced."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from app.alarms.engine import AlarmEngine, AlarmRow
from app.alarms.log import transition_row
from app.alarms.rules import rules_for_station
from app.analytics.rca_context import (
    RcaContextBuilder,
    events_from_stored,
    incidents_from_stored,
    result_event,
)
from app.field.sim.plant import PlantSimulator
from app.historian import open_historian
from app.historian.api import HistorianBackend
from app.station import quality as Q
from app.station.frame import Comm, CommState, ScanFrame
from app.station.model import Station
from app.station.points import build_point_table
from ml.rca.history import term
from tests.clocks import hours_ago, recent_weekday_ist


class Rig:
    """Plant → frames (with comm states, as the plant frame source makes them) → alarm engine
    → builder."""

    def __init__(self, station: Station, seed: int = 5,
                 historian: HistorianBackend | None = None,
                 start: dt.datetime | None = None) -> None:
        self.historian = historian
        self.plant = PlantSimulator(station, seed=seed, start=start or hours_ago(6))
        rs = rules_for_station(station, self.plant.points)
        self.alarms = AlarmEngine(self.plant.points, rs.rules,
                                  asset_types={a.id: a.type for a in station.assets},
                                  aliases=rs.aliases, nominal=rs.nominal)
        self.builder = RcaContextBuilder(station, points=self.plant.points)
        self.rows: tuple[AlarmRow, ...] = ()

    def frame(self) -> ScanFrame:
        snap = self.plant.step(self.dt_s)
        q = snap.quality
        if snap.comm_lost:
            q = q.copy()
            for d in snap.comm_lost:
                q[self.plant.points.device(d).points] = Q.COMM_LOST
        comm = {d.id: CommState(d.id, "sim", Comm.LOST if d.id in snap.comm_lost else Comm.OK,
                                snap.timestamp) for d in self.plant.points.devices}
        return ScanFrame(snap.seq, snap.timestamp, self.plant.points, snap.values, q,
                         snap.t_source_ns, comm)

    def run(self, n: int, dt_s: float = 0.1) -> tuple[AlarmRow, ...]:
        self.dt_s = dt_s
        for _ in range(n):
            f = self.frame()
            transitions = self.alarms.evaluate(f)
            if self.historian is not None and transitions:
                self.historian.add_events([transition_row(t) for t in transitions])
            view = self.alarms.take_view(f.t_acquired, transitions)
            self.builder.note_frame(f)
            if view is not None:
                self.builder.note_alarms(view)
                self.rows = view.rows
        return self.rows

    def row(self, key: str) -> AlarmRow:
        return next(r for r in self.rows if r.key == key)


@pytest.fixture
def rig(station: Station) -> Iterator[Rig]:
    r = Rig(station)
    r.run(20)
    yield r


def test_stuck_breaker_found_from_the_plants_protection(rig: Rig) -> None:
    rig.plant.inject("breaker_stuck", asset="L1_Q0")
    rig.plant.inject("line_trip", asset="L1_LINE")
    rig.run(30)
    b = rig.builder
    result = b.analyse(b.trigger_for_alarm(rig.row("L1_21M1.trip:operated")))
    top = result.top
    assert top is not None and (top.cause, top.asset) == ("stuck_breaker", "L1_Q0")
    assert any("did not open" in f.text for f in top.evidence)


def test_breaker_that_opens_is_a_cleared_line_fault(rig: Rig) -> None:
    rig.plant.inject("line_trip", asset="L2_LINE")
    rig.run(30)
    b = rig.builder
    assert any(e.asset == "L2_Q0" and e.kind in ("trip", "open") for e in b.events)
    result = b.analyse(b.trigger_for_alarm(rig.row("L2_Q0:trip")))
    assert result.top is not None and result.top.cause == "protection_trip"
    assert result.top.asset == "L2_LINE"


def test_comm_loss_told_apart_from_a_failed_sensor(rig: Rig) -> None:
    rig.plant.inject("comm_lost", device="ICT1H")
    rig.run(40)
    b = rig.builder
    result = b.analyse(b.trigger_for_alarm(rig.row("ICT1H:comm")))
    assert result.top is not None and (result.top.cause, result.top.asset) == ("comm_loss",
                                                                                "ICT1H")
    rig.plant.clear()
    rig.run(60)
    assert any(e.kind == "comm_restored" and e.asset == "ICT1H" for e in b.events)
    rig.plant.inject("sensor_fail", point="ICT1.HOT_SPOT")
    rig.run(10)
    result = b.analyse(b.trigger_for_alarm(rig.row("ICT1.HOT_SPOT:invalid")))
    assert result.top is not None and result.top.cause == "instrument_fault"
    assert result.top.asset == "ICT1" and "ICT1.HOT_SPOT" in result.top.related


def test_cooling_failure_from_the_plants_thermal_model(station: Station) -> None:
    """Cooling lost at midday load (10:00 IST on a recent weekday, not whenever the suite
    runs: at night's load the unit stays cool without its fans, which is no failure to see)."""
    rig = Rig(station, start=recent_weekday_ist(10))
    rig.run(20)
    rig.run(120, 60.0)
    rig.plant.inject("cooling_failure", asset="ICT1")
    rig.run(240, 60.0)
    b = rig.builder
    when = rig.plant.snapshot().timestamp
    ctx = b.context(b.trigger_for_anomaly("ICT1", when))
    th = ctx.thermal["ICT1"]
    assert len(th.time_s) > 300 and th.coolers_running and not any(th.coolers_running)
    result = b.analyse(b.trigger_for_anomaly("ICT1", when, features={"top_oil_excess_k": 10}))
    assert result.top is not None and (result.top.cause, result.top.asset) == (
        "cooling_failure", "ICT1")


def test_past_incident_found_in_the_historian(station: Station, tmp_path: object) -> None:
    h = open_historian(station, build_point_table(station), data_dir=tmp_path,
                       start_writer=False)
    rig = Rig(station, seed=6, historian=h)
    rig.run(20)
    try:
        past = hours_ago(24 * 200)
        ms = int(past.timestamp() * 1000)
        h.add_events([
            {"event_type": "alarm", "severity": "critical", "message": "L2_21M1 operated",
             "time_ms": ms, "asset_id": "L2_21M1", "tag": "L2_21M1.trip:operated"},
            {"event_type": "alarm", "severity": "critical", "message": "L2_Q0 did not open",
             "time_ms": ms + 200, "asset_id": "L2_21M1", "tag": "L2_21M1.BF_OP:operated"},
            {"event_type": "note", "severity": "low", "time_ms": ms + 3_600_000,
             "message": "L2_Q0 trip coil 1 open circuit found", "asset_id": "L2_Q0"},
            {"event_type": "alarm", "severity": "high", "message": "F3 current high",
             "time_ms": ms - 86_400_000, "asset_id": "F3_CT", "tag": "F3_CT.I_A:hi"},
        ])
        stored = h.events(start=past - dt.timedelta(days=2), end=past + dt.timedelta(days=1))
        assert [e.kind for e in events_from_stored(stored, station)] == [
            "limit", "protection", "protection"]
        assert RcaContextBuilder(station, reader=h).load_incidents(
            start=past - dt.timedelta(days=2), end=past + dt.timedelta(days=1)) == 2
        rig.builder.reader = h  # read lazily, at the first analysis
        rig.plant.inject("breaker_stuck", asset="L1_Q0")
        rig.plant.inject("line_trip", asset="L1_LINE")
        rig.run(30)
        b = rig.builder
        result = b.analyse(b.trigger_for_alarm(rig.row("L1_21M1.trip:operated")))
        assert "history" in result.analysers and len(rig.builder.incidents) >= 2
        found = [f for hyp in result.hypotheses for f in hyp.evidence
                 if "trip coil 1 open circuit" in f.text]
        assert found and found[0].values["similarity"] > 0.5
        # the conclusion is stored as an "rca" event that later incidents are matched against
        row = result_event(result)
        h.add_events([row])
        again = incidents_from_stored(h.events(start=result.trigger.time
                                               - dt.timedelta(minutes=1)), station)
        assert len(again) == 1 and again[0].cause == "stuck_breaker"
        assert again[0].asset.startswith("L1_21M")
        assert term("protection", "breaker_failure_operated", "relay") in again[0].signature.terms
    finally:
        h.close()
