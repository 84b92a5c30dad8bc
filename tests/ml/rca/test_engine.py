"""The one entry point: analysers chosen from the trigger and context, merged and ranked."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import pytest

from ml.rca.engine import RcaContext, analyse, merge
from ml.rca.events import StationEvent, Topology
from ml.rca.history import Incident, Signature, nearest, signature_of, similarity, term
from ml.rca.result import Fact, RcaHypothesis, Trigger
from ml.rca.thermal import ThermalInputs
from tests.ml.rca.conftest import T0, at
from tests.ml.rca.test_events import stuck_breaker_sequence
from tests.ml.rca.test_thermal import inputs, run_plant

#: A transformer gassing like a hot spot in oil above 700 °C (ethylene dominant, little
#: acetylene), sampled weekly with the last sample rising fast.
DGA_T3 = (
    (T0 - dt.timedelta(days=21), {"H2": 40, "CH4": 60, "C2H6": 30, "C2H4": 50, "C2H2": 0.5,
                                  "CO": 300, "CO2": 3000}),
    (T0 - dt.timedelta(days=14), {"H2": 60, "CH4": 110, "C2H6": 40, "C2H4": 160, "C2H2": 1,
                                  "CO": 310, "CO2": 3100}),
    (T0 - dt.timedelta(days=1), {"H2": 120, "CH4": 260, "C2H6": 60, "C2H4": 600, "C2H2": 3,
                                 "CO": 320, "CO2": 3200}),
)


def test_dga_driven_transformer_alarm(topology: Topology) -> None:
    trigger = Trigger("alarm", "ICT1", T0, asset_type="ict", tag="ICT1.C2H4",
                      alarm_kind="analog", quantity="gas_c2h4_ppm", value=600.0)
    result = analyse(trigger, RcaContext(topology=topology, dga={"ICT1": DGA_T3}))
    assert "dga" in result.analysers and not result.failures
    top = result.top
    assert top is not None and top.cause == "dga:T3" and top.asset == "ICT1"
    assert top.actions and top.actions[0].kind in ("immediate", "investigate")
    assert any("Duval Triangle 1" in f.text for f in top.evidence)


def test_unwarranted_dga_names_no_cause(topology: Topology) -> None:
    low = ((T0, {"H2": 5, "CH4": 3, "C2H6": 2, "C2H4": 3, "C2H2": 0.1}),)
    trigger = Trigger("alarm", "ICT1", T0, asset_type="ict")
    result = analyse(trigger, RcaContext(dga={"ICT1": low}))
    assert result.analysers == ("dga",) and result.hypotheses == ()


def test_stuck_breaker_through_the_entry_point(topology: Topology) -> None:
    trigger = Trigger("alarm", "ICT1H_Q0", at(0.3), asset_type="breaker", alarm_kind="trip")
    result = analyse(trigger, RcaContext(topology=topology,
                                         events=tuple(stuck_breaker_sequence())))
    assert result.top is not None
    assert (result.top.cause, result.top.asset) == ("stuck_breaker", "L1_Q0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.top.confidence = 0.1  # type: ignore[misc]
    assert result.as_dict()["hypotheses"][0]["cause"] == "stuck_breaker"


def _incidents() -> tuple[Incident, ...]:
    cooling = Signature({term("analog", "top_oil_c", "ict"): 2.0,
                         term("limit", "hot_spot_c", "ict"): 1.0,
                         term("status", "cooler_running", "ict"): 1.0})
    trip = Signature({term("trip", None, "breaker"): 2.0,
                      term("protection", "zone_operated", "relay"): 1.0})
    return (Incident(T0 - dt.timedelta(days=400), "ICT2", "ict", cooling,
                     "fan supply MCB tripped; both cooler groups stopped", "cooling_failure",
                     "events 1201-1207"),
            Incident(T0 - dt.timedelta(days=90), "L2_Q0", "breaker", trip,
                     "line fault, cleared normally", "protection_trip", "events 88-90"))


def test_historical_match_found_and_supports_the_thermal_finding(topology: Topology) -> None:
    loads = [0.75] * 600
    top, hot = run_plant(loads, fans_off_from=360)
    thermal: ThermalInputs = inputs(loads, top, hot, coolers=(False, False))
    events = (StationEvent(T0 - dt.timedelta(seconds=5), "ICT1", "limit", tag="ICT1.HOT_SPOT",
                           quantity="hot_spot_c", value=hot[-1]),
              StationEvent(T0 - dt.timedelta(seconds=8), "ICT1", "status", tag="ICT1.COOLER1",
                           quantity="cooler_running"))
    trigger = Trigger("alarm", "ICT1", T0, asset_type="ict", tag="ICT1.TOP_OIL",
                      alarm_kind="analog", quantity="top_oil_c", value=top[-1])
    sig = signature_of(trigger, events, topology)
    matches = nearest(sig, _incidents())
    assert [m.incident.asset for m in matches] == ["ICT2"]
    assert similarity(sig, matches[0].incident.signature) == pytest.approx(1.0)
    without = analyse(trigger, RcaContext(topology=topology, events=events,
                                          thermal={"ICT1": thermal}))
    ctx = RcaContext(topology=topology, events=events, thermal={"ICT1": thermal},
                     incidents=_incidents())
    result = analyse(trigger, ctx)
    assert "history" in result.analysers
    assert result.top is not None and result.top.cause == "cooling_failure"
    assert result.top.confidence > without.top.confidence  # type: ignore[union-attr]
    assert any("fan supply MCB tripped" in f.text for f in result.top.evidence)


def test_history_alone_names_the_past_incident(topology: Topology) -> None:
    trigger = Trigger("alarm", "L1_Q0", T0, asset_type="breaker", alarm_kind="trip")
    events = (StationEvent(T0, "L1_21M1", "protection", quantity="zone_operated"),)
    result = analyse(trigger, RcaContext(events=events, incidents=_incidents()))
    hist = [h for h in result.hypotheses if h.analyser == "history"]
    assert hist and "L2_Q0" in hist[0].title and hist[0].cause == "protection_trip"


def test_a_failing_analyser_is_named_and_the_rest_run(topology: Topology,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    broken = ThermalInputs((1.0, 2.0), (0.5,), (30.0, 30.0), (50.0, 50.0), (60.0, 60.0))
    trigger = Trigger("alarm", "ICT1H_Q0", at(0.3), alarm_kind="trip")
    with caplog.at_level(logging.WARNING, logger="ml.rca.engine"):
        result = analyse(trigger, RcaContext(topology=topology, thermal={"ICT1": broken},
                                             events=tuple(stuck_breaker_sequence())))
    assert "thermal" in result.failures and "load_pu" in result.failures["thermal"]
    assert [r.message for r in caplog.records if "thermal" in r.message]
    assert result.top is not None and result.top.cause == "stuck_breaker"


def test_merge_combines_the_same_cause_on_the_same_asset() -> None:
    a = RcaHypothesis("overload", "x", "ICT1", "thermal", 0.5, (Fact("a"),))
    b = RcaHypothesis("overload", "y", "ICT1", "history", 0.5, (Fact("b"),))
    c = RcaHypothesis("overload", "z", "ICT2", "thermal", 0.6)
    merged = merge([a, b, c])
    assert [(h.asset, round(h.confidence, 3)) for h in merged] == [("ICT1", 0.75),
                                                                    ("ICT2", 0.6)]
    assert [f.text for f in merged[0].evidence] == ["a", "b"]
