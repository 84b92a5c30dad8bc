"""The protection sequence played on the twin: what trips, when, and what follows."""

from __future__ import annotations

import numpy as np
import pytest

from app.training.protection import FaultScenario, StationProtection, load_protection
from app.training.protection.elements import IEC_CURVES
from app.twin.faults import fault_phasors


@pytest.fixture(scope="module")
def settings(station):
    return load_protection(station)


@pytest.fixture
def prot(station, settings, engine):
    return StationProtection(station, settings, engine)


def _kinds(seq, kind):
    return [(e.time_ms, e.source, e.breaker, e.phases) for e in seq.events if e.kind == kind]


def test_close_in_earth_fault_on_a_feeder_trips_zone1_single_pole_and_recloses(prot):
    seq = prot.simulate(FaultScenario("F1_T", "LG", permanent=False))
    trip = seq.first("trip", "F1_21")
    assert (trip.element, trip.phases, trip.time_ms, trip.operate_time_s) == ("Z1", "A", 20.0,
                                                                               0.02)
    assert seq.first("open_command", breaker="F1_Q0").phases == "A"
    opened = seq.first("breaker_open", breaker="F1_Q0")
    assert (opened.time_ms, opened.phases) == (20.0 + 60.0, "A")       # 220 kV: 60 ms
    assert seq.first("fault_extinguished") is not None
    rc = seq.first("reclose_command", "F1_21")
    assert rc.time_ms == pytest.approx(80.0 + 1000.0)                   # 1 s dead time
    assert seq.first("breaker_close", breaker="F1_Q0").time_ms == pytest.approx(1180.0)
    assert seq.first("reclaim_complete", "F1_21").time_ms == pytest.approx(1180.0 + 25000)
    assert seq.first("lockout") is None and seq.first("bf_backup_trip") is None
    # The 220 kV CEA limit is 160 ms; the faulted phase stopped feeding at 80 ms.
    assert seq.clearance_us() == 80_000


def test_permanent_fault_recloses_onto_the_fault_trips_three_pole_and_locks_out(prot):
    seq = prot.simulate(FaultScenario("L1_T", "LG", permanent=True))
    trips = [e for e in seq.of_kind("trip") if e.source == "L1_21M1"]
    assert [(t.time_ms, t.element, t.detail) for t in trips] == [
        (20.0, "Z1", "single-pole"), (1160.0, "Z1", "three-pole")]
    assert seq.first("lockout", "L1_21M1").detail == "fault in the reclaim time"
    opens = _kinds(seq, "breaker_open")
    assert opens == [(60.0, "L1_Q0", "L1_Q0", "A"), (1200.0, "L1_Q0", "L1_Q0", "ABC")]
    # Main-2 trips the same pole with main-1 (one auto-reclose per breaker).
    assert seq.first("trip", "L1_21M2").detail == "single-pole"
    assert seq.first("reclaim_complete") is None


def test_multi_phase_fault_trips_three_pole_without_reclose(prot):
    seq = prot.simulate(FaultScenario("F2_T", "LL"))
    assert seq.first("trip", "F2_21").phases == "AB"
    assert seq.first("open_command", breaker="F2_Q0").phases == "ABC"
    assert seq.first("lockout", "F2_21").detail == "multi-phase fault"
    assert seq.first("reclose_command") is None


def test_remote_end_fault_is_zone2_at_350_ms(prot):
    seq = prot.simulate(FaultScenario("F1_R", "3ph"))
    trip = seq.first("trip")
    assert (trip.source, trip.element, trip.time_ms) == ("F1_21", "Z2", 350.0)
    assert seq.first("breaker_open", breaker="F1_Q0").time_ms == 410.0
    assert {e.source for e in seq.of_kind("trip")} == {"F1_21"}


def test_bus_fault_trips_its_zone_only_and_lines_see_it_behind_them(prot):
    seq = prot.simulate(FaultScenario("B400_M1", "LG"))
    trip = seq.first("trip")
    assert (trip.source, trip.element, trip.time_ms) == ("BB400_87B", "87B", 20.0)
    assert "zone B400_M1" in trip.detail
    opened = {e.breaker for e in seq.of_kind("breaker_open")}
    assert opened == {"L1_Q0", "ICT1H_Q0", "BC4_Q0", "BR4_Q0"}   # B400_M1's zone today
    assert {e.source for e in seq.of_kind("trip")} == {"BB400_87B"}
    # The line relays see the bus fault in their reverse zone only.
    pick = seq.first("pickup", "L1_21M1")
    assert pick.element == "Z4"
    assert seq.clearance_us() == 60_000                            # 400 kV CEA limit: 100 ms


def test_stuck_breaker_starts_breaker_failure_backup_and_transfer_trip(prot):
    seq = prot.simulate(FaultScenario("B400_M1", "3ph", stuck=frozenset({"L1_Q0"})))
    assert seq.first("breaker_stuck", breaker="L1_Q0").time_ms == 60.0
    assert seq.first("breaker_open", breaker="L1_Q0") is None
    retrip = seq.first("retrip", breaker="L1_Q0")
    assert retrip.time_ms == pytest.approx(20.0 + 50.0)
    bf = seq.first("bf_backup_trip", breaker="L1_Q0")
    assert bf.time_ms == pytest.approx(20.0 + 200.0) and bf.source == "BB400_87B"
    assert seq.first("transfer_trip").detail.endswith("L1_LINE")
    assert seq.first("remote_open", "L1_LINE").time_ms == pytest.approx(260.0)
    assert seq.clearance_us() == 260_000


def test_stuck_infeed_breaker_backup_trips_its_bus_zone(prot):
    """A 220 kV bus fault with the ICT's 220 kV breaker stuck: the ICT keeps feeding, breaker
    failure trips the rest of the zone (already open) and the ICT's 400 kV side."""
    seq = prot.simulate(FaultScenario("B220_M2", "LLG", stuck=frozenset({"ICT2L_Q0"})))
    assert seq.first("trip").source == "BB220_87B"
    bf = seq.first("bf_backup_trip", breaker="ICT2L_Q0")
    assert bf is not None and bf.time_ms == pytest.approx(220.0)
    cmd = seq.first("open_command", breaker="ICT2H_Q0")
    assert cmd is not None and cmd.time_ms == pytest.approx(220.0)
    assert seq.first("breaker_open", breaker="ICT2H_Q0").time_ms == pytest.approx(260.0)


def test_transformer_fault_trips_87t_and_external_faults_do_not(prot):
    seq = prot.simulate(FaultScenario("ICT1H_T", "3ph"))
    trip = seq.first("trip", "ICT1_87T")
    assert trip is not None and trip.time_ms == 20.0
    assert {e.breaker for e in seq.of_kind("breaker_open")} == {"ICT1H_Q0", "ICT1L_Q0"}
    for bus, ftype in (("B220_M1", "LG"), ("F1_R", "3ph"), ("B33_A", "3ph"), ("TR1L_J", "LG")):
        seq = prot.simulate(FaultScenario(bus, ftype))
        assert seq.first("pickup", "ICT1_87T") is None, bus
        assert seq.first("pickup", "TR1_87T") is None, bus
    seq = prot.simulate(FaultScenario("TR1H_T", "LG"))
    assert seq.first("trip", "TR1_87T") is not None
    seq = prot.simulate(FaultScenario("BR4_C", "LG"))
    assert seq.first("trip").source == "BR4_87R"


def test_33kv_feeder_fault_high_set_and_incomer_coordination(prot):
    seq = prot.simulate(FaultScenario("IND1_C", "3ph"))
    trip = seq.first("trip")
    assert (trip.source, trip.element, trip.time_ms) == ("IND1_51", "50", 20.0)
    assert seq.first("breaker_open", breaker="IND1_Q0").time_ms == 100.0   # 33 kV: 80 ms
    assert seq.first("trip", "TR1L_51") is None                           # back-up stays


def test_idmt_trip_in_the_sequence_is_the_formula_at_the_simulated_current(station, settings,
                                                                            engine):
    """IND1's high-set out: the feeder's IDMT stage trips at TMS k / (M^a - 1) for the
    current the twin gives, to the microsecond; the incomer's IDMT keeps its margin."""
    r = settings.relay("IND1_51")
    oc = r.overcurrent.model_copy(update={"high_set": None})
    relays = tuple(x.model_copy(update={"overcurrent": oc}) if x.id == "IND1_51" else x
                   for x in settings.relays)
    prot = StationProtection(station, settings.model_copy(update={"relays": relays}), engine)
    seq = prot.simulate(FaultScenario("IND1_C", "3ph"))
    i = np.abs(fault_phasors(engine, "IND1_C", "3ph", breakers=["Line.IND1_Q0"]
                             ).fault_breaker_a[0]).max()
    k, alpha = IEC_CURVES[oc.idmt.curve]
    m = min(i / oc.idmt.pickup_a, 20.0)
    want = oc.idmt.tms * k / (m ** alpha - 1)
    trip = seq.first("trip", "IND1_51")
    assert trip.element == "51"
    assert trip.time_s == pytest.approx(want, rel=1e-5, abs=2e-6)
    assert trip.operate_time_s == pytest.approx(want, rel=0.01)
    assert seq.first("trip", "TR1L_51") is None


def test_sequence_is_deterministic_and_leaves_the_engine_as_it_was(prot, engine):
    before = engine.solve()
    states = engine.switch_states()
    a = prot.simulate(FaultScenario("L2_T", "LG", stuck=frozenset({"L2_Q0"})))
    b = prot.simulate(FaultScenario("L2_T", "LG", stuck=frozenset({"L2_Q0"})))
    assert [e.as_dict() for e in a.events] == [e.as_dict() for e in b.events]
    assert [e.time_us for e in a.events] == sorted(e.time_us for e in a.events)
    after = engine.solve()
    assert engine.switch_states() == states
    assert all(engine.source_in_service(s) for s in engine.source_names)
    assert np.allclose(after.v_pu, before.v_pu, equal_nan=True)
    assert np.allclose(after.i_a, before.i_a, equal_nan=True, atol=1e-6)


def test_bad_scenarios_are_refused(prot, engine):
    with pytest.raises(ValueError, match="unknown fault type 'LLLG'"):
        FaultScenario("F1_T", "LLLG")
    with pytest.raises(ValueError, match="stuck breaker 'F1_Q1' is not a breaker"):
        prot.simulate(FaultScenario("F1_T", "LG", stuck=frozenset({"F1_Q1"})))
    with pytest.raises(KeyError, match="no bus 'NOWHERE'"):
        prot.simulate(FaultScenario("NOWHERE", "LG"))
    engine.set_switch("Line.F1_Q0", False)
    with pytest.raises(ValueError, match="is dead: nothing to fault"):
        prot.simulate(FaultScenario("F1_R", "LG"))
