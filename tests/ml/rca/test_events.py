"""Event correlation on the reference station's topology, with scripted event sequences."""

from __future__ import annotations

import pytest

from ml.rca.events import StationEvent, Topology, correlate
from ml.rca.result import RcaInputError, Trigger
from tests.ml.rca.conftest import T0, at


def ev(t: float, asset: str, kind: str, **kw: object) -> StationEvent:
    return StationEvent(at(t), asset, kind, **kw)  # type: ignore[arg-type]


def test_topology_zones_and_feeds(topology: Topology) -> None:
    assert topology.zone_of("L1_Q0") == "BUS400"
    assert topology.zone_of("F1_Q0") == "BUS220"
    assert topology.bays["L1"].breaker == "L1_Q0"
    assert "BUS220" in topology.feeds["BUS400"]
    assert topology.upstream_zones("BUS33") == ("BUS220", "BUS400")
    assert topology.relation("F1_Q0", "L1_Q0") == "upstream"
    assert topology.relation("L1_Q0", "L1_21M1") == "same_bay"
    assert topology.relation("L1_Q0", "L2_Q0") == "same_zone"


def stuck_breaker_sequence() -> list[StationEvent]:
    """A fault on line 1: its distance protection trips, L1_Q0 does not open, the busbar
    protection's 50BF trips every other 400 kV breaker; plus an unrelated 33 kV alarm."""
    return [
        ev(0.0, "L1_21M1", "protection", tag="L1_21M1.Z1", quantity="zone_operated"),
        ev(0.0, "L1_21M1", "protection", tag="L1_21M1.TRIP_A", quantity="trip"),
        ev(0.2, "BB400_87B", "protection", tag="BB400_87B.BF_OP",
           quantity="breaker_failure_operated"),
        ev(0.3, "L2_Q0", "trip"), ev(0.3, "ICT1H_Q0", "trip"), ev(0.3, "ICT2H_Q0", "trip"),
        ev(0.3, "BC4_Q0", "trip"), ev(0.3, "BR4_Q0", "trip"),
        ev(-5.0, "F3_Q0", "limit", quantity="current_a", value=900.0),
    ]


def test_stuck_breaker_is_the_root_of_the_bus_trips(topology: Topology) -> None:
    trigger = Trigger("alarm", "L2_Q0", at(0.3), asset_type="breaker", alarm_kind="trip")
    hyps = correlate(trigger, stuck_breaker_sequence(), topology)
    top = hyps[0]
    assert top.cause == "stuck_breaker" and top.asset == "L1_Q0"
    assert {"L2_Q0", "ICT1H_Q0", "ICT2H_Q0", "BC4_Q0", "BR4_Q0"} <= set(top.related)
    assert top.confidence > 0.8
    assert any("BB400_87B" in f.text for f in top.supporting)
    assert {a.kind for a in top.actions} == {"immediate", "investigate", "maintain"}
    # the trigger is explained: it is not called unexplained
    assert all(h.cause != "unexplained_trip" for h in hyps)


def test_without_breaker_failure_evidence_confidence_drops(topology: Topology) -> None:
    seq = [e for e in stuck_breaker_sequence() if e.quantity != "breaker_failure_operated"]
    trigger = Trigger("alarm", "L2_Q0", at(0.3), alarm_kind="trip")
    with_bf = correlate(trigger, stuck_breaker_sequence(), topology)[0]
    without = correlate(trigger, seq, topology)[0]
    assert without.cause == "stuck_breaker"
    assert without.confidence < with_bf.confidence
    assert without.contradicting


def test_breaker_that_opens_clears_its_own_fault(topology: Topology) -> None:
    seq = [ev(0.0, "L1_21M1", "protection", quantity="trip"), ev(0.06, "L1_Q0", "trip")]
    trigger = Trigger("alarm", "L1_Q0", at(0.06), alarm_kind="trip")
    top = correlate(trigger, seq, topology)[0]
    assert top.cause == "protection_trip" and top.asset == "L1_LINE"
    assert not any(h.cause == "stuck_breaker" for h in correlate(trigger, seq, topology))


def test_busbar_fault_when_the_bus_differential_trips(topology: Topology) -> None:
    seq = [ev(0.0, "BB220_87B", "protection", quantity="trip")]
    seq += [ev(0.05, b, "trip") for b in ("ICT1L_Q0", "ICT2L_Q0", "F1_Q0", "F2_Q0", "F3_Q0",
                                          "F4_Q0", "BC2_Q0", "BR2_Q0", "TR1H_Q0", "TR2H_Q0")]
    trigger = Trigger("alarm", "F2_Q0", at(0.05), alarm_kind="trip")
    top = correlate(trigger, seq, topology)[0]
    assert top.cause == "busbar_fault" and top.asset == "BUS220"
    assert top.confidence > 0.8


def test_trip_with_no_protection_is_unexplained(topology: Topology) -> None:
    trigger = Trigger("alarm", "F2_Q0", at(0.0), alarm_kind="trip")
    hyps = correlate(trigger, [ev(0.0, "F2_Q0", "trip")], topology)
    assert hyps[0].cause == "unexplained_trip" and hyps[0].asset == "F2_Q0"


def test_comm_loss_told_from_sensor_failure(topology: Topology) -> None:
    points = topology.device_points("ICT1H")
    lost = [ev(0.0, "ICT1H", "comm_lost")] + [ev(0.0, "ICT1", "invalid", tag=t)
                                              for t in points]
    trigger = Trigger("alarm", "ICT1", at(0.0), tag="ICT1.HOT_SPOT", alarm_kind="invalid")
    top = correlate(trigger, lost, topology)[0]
    assert top.cause == "comm_loss" and top.asset == "ICT1H"
    one = [ev(0.0, "ICT1", "invalid", tag="ICT1.HOT_SPOT")]
    top = correlate(trigger, one, topology)[0]
    assert top.cause == "instrument_fault" and top.asset == "ICT1"
    assert "ICT1.HOT_SPOT" in top.related


def test_frozen_phase_current_is_a_sensor(topology: Topology) -> None:
    values = {"F1_CT.I_A": (410.0,) * 8, "F1_CT.I_B": (400.0, 405, 398, 410, 402, 399, 404, 401),
              "F1_CT.I_C": (401.0, 404, 399, 409, 403, 398, 405, 400)}
    asset = topology.assets.get("F1_CT")
    assert asset is not None and "F1_CT.I_A" in asset.points
    trigger = Trigger("anomaly", "F1_CT", at(0.0), tag="F1_CT.I_A")
    hyps = correlate(trigger, [], topology, values=values)
    assert hyps and hyps[0].cause == "instrument_fault" and "frozen" in hyps[0].evidence[0].text
    moving = dict(values, **{"F1_CT.I_A": (400.0, 401, 402, 403, 404, 405, 406, 407)})
    assert correlate(trigger, [], topology, values=moving) == []


def test_voltage_excursion_explained_upstream(topology: Topology) -> None:
    seq = [ev(-2.0, "L2_Q0", "trip"), ev(0.0, "B220_M1", "limit", quantity="voltage_kv",
                                           value=205.0)]
    trigger = Trigger("alarm", "B220_M1", at(0.0), tag="B220_M1.V", quantity="voltage_kv",
                      value=205.0, alarm_kind="analog")
    hyps = correlate(trigger, seq, topology)
    assert hyps[0].cause == "upstream_event" and hyps[0].asset == "L2_Q0"


def test_one_voltage_instrument_against_its_zone(topology: Topology) -> None:
    zone_v = {"B220_M1.V": (220.0,) * 3, "B220_M2.V": (221.0,) * 3,
              "B220_M1_CVT.V_A": (127.5,) * 3, "B220_M2_CVT.V_A": (127.0,) * 3}
    lone = dict(zone_v, **{"B220_M1.V": (200.0,) * 3})
    trigger = Trigger("alarm", "B220_M1", at(0.0), tag="B220_M1.V", quantity="voltage_kv",
                      value=200.0, alarm_kind="analog")
    hyps = correlate(trigger, [], topology, values=lone)
    assert hyps[0].cause == "instrument_fault"
    low = {k: tuple(v * 0.9 for v in vs) for k, vs in zone_v.items()}
    hyps = correlate(trigger, [], topology, values=low)
    assert hyps[0].cause == "common_excursion"


def test_bad_event_kind_is_named() -> None:
    with pytest.raises(RcaInputError, match="kind 'tripped'"):
        StationEvent(T0, "L1_Q0", "tripped")
    with pytest.raises(RcaInputError, match="no timezone"):
        StationEvent(T0.replace(tzinfo=None), "L1_Q0", "trip")


def test_transformer_protection_explains_both_windings_breakers(topology: Topology) -> None:
    seq = [ev(0.0, "ICT1_87T", "protection", quantity="trip"), ev(0.06, "ICT1H_Q0", "trip"),
           ev(0.06, "ICT1L_Q0", "trip")]
    trigger = Trigger("alarm", "ICT1L_Q0", at(0.06), alarm_kind="trip")
    hyps = correlate(trigger, seq, topology)
    assert hyps[0].cause == "protection_trip" and hyps[0].asset == "ICT1"
    assert {"ICT1H_Q0", "ICT1L_Q0"} <= set(hyps[0].related)
    assert all(h.cause != "unexplained_trip" for h in hyps)


def test_stuck_lv_breaker_of_a_transformer(topology: Topology) -> None:
    seq = [ev(0.0, "ICT1_87T", "protection", quantity="trip"), ev(0.06, "ICT1H_Q0", "trip"),
           ev(0.2, "ICT1_87T", "protection", quantity="breaker_failure_operated")]
    seq += [ev(0.3, b, "trip") for b in ("ICT2L_Q0", "F1_Q0", "F2_Q0", "BC2_Q0")]
    trigger = Trigger("alarm", "F1_Q0", at(0.3), alarm_kind="trip")
    top = correlate(trigger, seq, topology)[0]
    assert (top.cause, top.asset) == ("stuck_breaker", "ICT1L_Q0")
    assert "F1_Q0" in top.related
