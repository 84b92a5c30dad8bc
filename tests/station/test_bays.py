"""The bays' switching topology that the station interlocks and the bay IEDs share."""

from __future__ import annotations

import pytest

from app.station.bays import BayTopology, bay_breakers
from app.twin.topology import switch_ends


@pytest.fixture
def topo(station, engine):
    return BayTopology(station, switch_ends(engine, station))


def ids(assets):
    return [a.id for a in assets]


def test_a_double_bus_feeder_bay(topo):
    assert topo.breaker("F1").id == "F1_Q0"
    assert ids(topo.bus_disconnectors("F1")) == ["F1_Q1", "F1_Q2"]
    assert ids(topo.line_disconnectors("F1")) == ["F1_Q9"]
    assert ids(topo.earth_switches("F1")) == ["F1_Q8"]
    assert topo.bus_side("F1_Q1") == "b220_m1" and topo.bus_side("F1_Q2") == "b220_m2"
    assert topo.bus_side("F1_Q9") is None and topo.bus_side("F1_Q0") is None
    assert ids(topo.other_bus_disconnectors("F1_Q1")) == ["F1_Q2"]
    assert topo.other_bus_disconnectors("F1_Q9") == ()  # not a bus disconnector


def test_earth_switches_and_the_disconnectors_next_to_them(topo):
    assert topo.earthed_node("F1_Q8") == "f1_t"
    assert ids(topo.disconnectors_next_to("F1_Q8")) == ["F1_Q9"]
    assert ids(topo.earth_switches_next_to("F1_Q9")) == ["F1_Q8"]
    assert topo.earth_switches_next_to("F1_Q1") == ()  # the other side of the breaker
    assert topo.shares_node("F1_Q9", "F1_Q8") and not topo.shares_node("F1_Q1", "F1_Q8")


def test_couplers_by_voltage_level(topo):
    assert ids(topo.coupler_switches(400.0)) == ["BC4_Q1", "BC4_Q0", "BC4_Q2"]
    assert ids(topo.bay_coupler("F1_Q2")) == ["BC2_Q1", "BC2_Q0", "BC2_Q2"]
    assert topo.coupler_switches(33.0) == ()  # a bus section, not a coupler
    assert ids(topo.bus_disconnectors("TR1L")) == ["TR1L_Q1"]  # single bus at 33 kV
    assert topo.other_bus_disconnectors("TR1L_Q1") == ()


def test_a_busbar_zone_follows_closed_disconnectors_only(topo):
    everything_closed = topo.busbar_zone("b400_m1", lambda s: True)
    # Every 400 kV breaker is reachable from M1 through its Q1 (and the coupler's);
    # never across the other busbar.
    assert sorted(everything_closed) == ["BC4_Q0", "BR4_Q0", "ICT1H_Q0", "ICT2H_Q0", "L1_Q0",
                                         "L2_Q0"]
    no_l1 = topo.busbar_zone("b400_m1", lambda s: s not in ("L1_Q1",))
    assert "L1_Q0" not in no_l1 and "L2_Q0" in no_l1
    assert topo.busbar_zone("b400_m1", lambda s: False) == []


def test_every_switch_needs_its_circuit_buses(station, engine):
    ends = switch_ends(engine, station)
    del ends["F2_Q9"]
    with pytest.raises(ValueError, match="no circuit buses for F2_Q9"):
        BayTopology(station, ends)


def test_every_bay_with_switchgear_has_one_breaker(station, topo):
    breakers = bay_breakers(station)
    assert breakers["L1"].id == "L1_Q0" and breakers["BS3"].id == "BS3_Q0"
    assert {a.bay for a in station.switches()} == set(breakers)
    assert all(topo.breaker(b) is a for b, a in breakers.items())
    assert topo.breaker("BUS400") is None  # the busbars' own bay has no breaker
