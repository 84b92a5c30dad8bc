"""The simulator's developing DGA faults, read from its published points and interpreted the
way the station's analysts would (IEC 60599 ratios and Duval Triangle 1, ml.rca.dga)."""

from __future__ import annotations

import datetime as dt

import pytest

from app.field.sim.dga import SIGNATURES
from app.field.sim.plant import PlantSimulator
from ml.rca.dga import GASES, duval_triangle_1, interpret, three_ratio

START = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
STEP_S = 600.0


def published(plant, snap, asset="ICT2") -> dict[str, float]:
    """The gases as the on-line monitor publishes them (its points ICT2.H2 … ICT2.CO2)."""
    return {g: float(snap.values[plant.points.row(f"{asset}.{g}")]) for g in GASES}


@pytest.mark.parametrize("code", list(SIGNATURES))
def test_each_signature_sits_inside_its_zone_for_both_methods(code):
    rates = dict(zip(GASES, SIGNATURES[code], strict=True))
    assert three_ratio(rates).code == code
    assert duval_triangle_1(rates).code == code


@pytest.mark.parametrize("code", ["PD", "D1", "D2", "T1", "T2", "T3"])
def test_a_developing_fault_is_diagnosed_from_the_published_gases(station, code):
    plant = PlantSimulator(station, seed=5, start=START)
    before = published(plant, plant.step(STEP_S))
    assert interpret(before).code == "N"  # a healthy unit: nothing to interpret
    plant.inject("dga_fault", asset="ICT2", code=code, ramp_h=6)
    hours = 0.0
    while True:  # until the monitor shows a gas above its typical value
        snap = plant.step(STEP_S)
        hours += STEP_S / 3600
        r = interpret(published(plant, snap), previous=before)
        if r.warranted:
            break
        assert hours < 72, f"{code} never rose above typical values"
    assert r.code == code and r.agreed, r.explanation
    for _ in range(int(24 * 3600 / STEP_S)):  # a day later: still the same fault
        snap = plant.step(STEP_S)
    r = interpret(published(plant, snap), previous=before)
    assert r.code == code and r.agreed, r.explanation
    if code != "PD":
        # Strong faults show in the concentrations themselves; partial discharge's trickle of
        # CH4 stays hidden by the background C2H4 for days (hence reading the increase).
        absolute = interpret(published(plant, snap))
        assert absolute.code == code, absolute.explanation
    assert interpret(published(plant, snap, "ICT1")).code == "N"  # the other ICT stays clean
