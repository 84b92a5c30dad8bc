"""The table of fault kinds: one class per kind, looked up by name; each checks its own
parameters with one message naming the parameter, and clearing one leaves nothing of it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.field.sim.injections import FAULT_KINDS, INJECTIONS, Injection, UnknownFault
from app.field.sim.plant import PlantSimulator
from app.station import quality as Q

AFTERNOON = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)

#: A valid injection of every kind.
VALID = {
    "overvoltage": {"pu": 1.1},
    "transformer_overload": {"asset": "ICT1", "factor": 1.5},
    "frequency_excursion": {"target_hz": 49.5, "ramp_s": 5},
    "breaker_stuck": {"asset": "F2_Q0"},
    "bus_fault": {"asset": "B220_M2"},
    "line_trip": {"asset": "F3_LINE", "km": 12.5},
    "sensor_stuck": {"point": "ICT1.TOP_OIL"},
    "sensor_drift": {"point": "F3_CT.P", "rate_per_h": 50.0},
    "sensor_fail": {"point": "F4_CT.P"},
    "comm_lost": {"device": "F1"},
    "dga_fault": {"asset": "ICT2", "code": "T1", "ramp_h": 0},
    "sf6_leak": {"asset": "F2_Q0", "bar_per_h": 1.0},
    "phase_unbalance": {"bay": "F1", "phase": "B", "pct": 20.0, "voltage_pct": 2.0},
    "harmonics": {"bay": "F2", "thd_pct": 8.0, "ramp_s": 60.0},
    "power_factor_drop": {"bay": "F3", "pf": 0.85},
    "cooling_failure": {"asset": "ICT2", "capacity_pct": 60.0},
}

#: Every numeric parameter, by kind.
NUMBERS = [("overvoltage", "pu"), ("transformer_overload", "factor"),
           ("frequency_excursion", "target_hz"), ("frequency_excursion", "ramp_s"),
           ("line_trip", "km"), ("sensor_drift", "rate_per_h"), ("dga_fault", "severity"),
           ("dga_fault", "ramp_h"), ("sf6_leak", "bar_per_h"), ("phase_unbalance", "pct"),
           ("phase_unbalance", "voltage_pct"), ("harmonics", "thd_pct"),
           ("harmonics", "ramp_s"), ("power_factor_drop", "pf"),
           ("cooling_failure", "capacity_pct")]


@pytest.fixture
def plant(station):
    return PlantSimulator(station, seed=5, start=AFTERNOON)


def in_force(plant):
    """Everything an injection can hold, in a comparable form."""
    return {
        "stuck": plant.stuck, "comm_lost": plant.comm_lost,
        "drifting": plant.instruments.drifting,
        "overload": float(plant.loads.overload.max()),
        "dga": {a: len(m.faults) for a, m in plant.dga.items()},
        "leaks": sum(plant.sf6_leak_bar_h.values()),
        "sources": [plant.engine.source_in_service(s) for s in plant.engine.source_names],
        "effects": plant.instruments.effects,
        "pf": dict(plant.loads.pf_target),
        "cooling": dict(plant.transformers.cooling_lost),
        "rating": {a: m.rating_factor for a, m in plant.thermal.items()},
    }


def test_the_registry_holds_every_kind_under_its_own_name():
    assert FAULT_KINDS == ("overvoltage", "transformer_overload", "frequency_excursion",
                           "breaker_stuck", "bus_fault", "line_trip", "sensor_stuck",
                           "sensor_drift", "sensor_fail", "comm_lost", "dga_fault", "sf6_leak",
                           "phase_unbalance", "harmonics", "power_factor_drop",
                           "cooling_failure")
    assert set(VALID) == set(INJECTIONS)
    for kind, cls in INJECTIONS.items():
        assert issubclass(cls, Injection) and cls.kind == kind


def test_an_unknown_kind_is_one_error_listing_the_kinds(plant):
    with pytest.raises(UnknownFault) as exc:
        plant.inject("_inject_overvoltage")  # no name reaches a method by string
    assert isinstance(exc.value, ValueError)
    assert str(exc.value) == ("unknown fault '_inject_overvoltage' (use one of "
                              + ", ".join(FAULT_KINDS) + ")")
    assert not plant.injections


@pytest.mark.parametrize("kind", list(VALID))
def test_each_kind_applies_and_clearing_it_leaves_nothing_of_it(plant, kind):
    before = in_force(plant)
    fid = plant.inject(kind, **VALID[kind])
    assert fid.startswith(f"{kind}-") and type(plant.injections[fid]) is INJECTIONS[kind]
    during = plant.step(10.0)
    if kind in ("sensor_stuck", "sensor_fail"):
        row = plant.points.row(VALID[kind]["point"])
        assert during.quality[row] == (Q.SENSOR_FROZEN if kind == "sensor_stuck"
                                       else Q.SENSOR_FAILED)
    elif kind in ("line_trip", "bus_fault"):
        assert plant.injections[fid].state["tripped"]  # its breakers opened
    elif kind in ("overvoltage", "frequency_excursion"):
        assert plant.active(kind) == [plant.injections[fid]]  # read by the grid each step
    else:
        assert in_force(plant) != before
    assert plant.clear(fid) == [fid]
    after = plant.step(10.0)
    assert in_force(plant) == before
    assert not plant.injections
    for tag in ("ICT1.TOP_OIL", "F4_CT.P"):
        assert after.quality[plant.points.row(tag)] == Q.GOOD
    assert np.isfinite(after.values).all()


@pytest.mark.parametrize("kind,key", NUMBERS)
@pytest.mark.parametrize("bad,message", [
    ("nan", "parameter '{key}' must be finite, not nan"),
    ([1], "parameter '{key}' must be a number, not list"),
    ("two", "parameter '{key}': 'two' is not a usable number"),
])
def test_every_number_is_checked_naming_its_parameter(plant, kind, key, bad, message):
    with pytest.raises(ValueError) as exc:
        plant.inject(kind, **{**VALID[kind], key: bad})
    assert str(exc.value) == message.format(key=key)
    assert not plant.injections


@pytest.mark.parametrize("kind,message", [
    ("transformer_overload", "parameter 'asset' is required"),
    ("breaker_stuck", "parameter 'asset' is required"),
    ("bus_fault", "parameter 'asset' is required"),
    ("line_trip", "parameter 'asset' is required"),
    ("dga_fault", "parameter 'asset' is required"),
    ("sf6_leak", "parameter 'asset' is required"),
    ("sensor_stuck", "parameter 'point' (ASSET.POINT) is required"),
    ("sensor_drift", "parameter 'point' (ASSET.POINT) is required"),
    ("sensor_fail", "parameter 'point' (ASSET.POINT) is required"),
    ("comm_lost", "no device '' (devices are bay ids, e.g. F1, ICT1H)"),
    ("phase_unbalance", "parameter 'bay' is required"),
    ("harmonics", "parameter 'bay' is required"),
    ("power_factor_drop", "parameter 'bay' is required"),
    ("cooling_failure", "parameter 'asset' is required"),
])
def test_a_missing_target_is_named(plant, kind, message):
    with pytest.raises(ValueError) as exc:
        plant.inject(kind)
    assert str(exc.value) == message
    assert not plant.injections


def test_a_refused_injection_still_uses_up_its_number(plant):
    """Ids are never reused, so a trainer's log stays unambiguous."""
    a = plant.inject("overvoltage", pu=1.05)
    with pytest.raises(ValueError):
        plant.inject("overvoltage", pu=9)
    b = plant.inject("overvoltage", pu=1.05)
    assert (a, b) == ("overvoltage-1", "overvoltage-3")


def test_the_same_seed_gives_the_same_numbers_with_every_kind_in_force(station):
    def run():
        p = PlantSimulator(station, seed=21, start=AFTERNOON)
        for kind, params in VALID.items():
            if kind != "bus_fault":  # it would trip the busbar the line trip needs
                p.inject(kind, **params)
        return [p.step(30.0).values.copy() for _ in range(10)]

    for a, b in zip(run(), run(), strict=True):
        np.testing.assert_array_equal(a, b)
