"""The plant faults behind the seed's anomaly types: each shows the way the seed defines it
(measured as the anomaly features measure it), and bad parameters are one ValueError naming
the parameter, leaving nothing behind."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.field.sim.plant import PlantSimulator

NOON = dt.datetime(2025, 3, 4, 12, 0, tzinfo=dt.UTC)  # simulated: meets no wall clock


@pytest.fixture
def plant(station):
    p = PlantSimulator(station, seed=3, start=NOON)
    for _ in range(3):
        p.step(60.0)
    return p


def read(plant, *tags):
    snap = plant.snapshot()
    return np.array([snap.values[plant.points.row(t)] for t in tags])


def imbalance_pct(i):
    return float(np.max(np.abs(i - i.mean())) / i.mean() * 100)


def test_phase_unbalance_gives_a_current_imbalance_above_10_pct(plant):
    tags = [f"F1_CT.I_{p}" for p in "ABC"]
    assert imbalance_pct(read(plant, *tags)) < 2
    assert read(plant, "F1_CT.I_2")[0] < 1.0
    fid = plant.inject("phase_unbalance", bay="F1", phase="C", pct=20, voltage_pct=3)
    plant.step(60.0)
    i = read(plant, *tags)
    assert imbalance_pct(i) > 10 and np.argmax(i) == 2
    assert read(plant, "F1_CT.I_2")[0] > 0.05 * read(plant, "F1_CT.I_1")[0]
    v = read(plant, *[f"F1_CVT.V_{p}" for p in "ABC"])
    assert v[2] > 1.02 * v[:2].mean()
    plant.clear(fid)
    plant.step(60.0)
    assert imbalance_pct(read(plant, *tags)) < 2


def test_harmonics_rise_past_5_pct_thd_over_the_ramp(plant):
    tags = [f"F2_CT.THD_{p}" for p in "ABC"]
    assert read(plant, *tags).max() < 5
    plant.inject("harmonics", bay="F2", thd_pct=9, ramp_s=600)
    plant.step(60.0)
    part = read(plant, *tags)
    assert part.max() < 5  # a tenth of the way
    for _ in range(10):
        plant.step(60.0)
    assert read(plant, *tags).min() > 8.5
    assert read(plant, "F1_CT.THD_A")[0] < 5  # another bay: untouched


def test_power_factor_drop_takes_the_feeder_below_0_9(plant):
    assert read(plant, "F3_CT.PF")[0] > 0.9
    q0 = read(plant, "F3_CT.Q")[0]
    fid = plant.inject("power_factor_drop", bay="F3", pf=0.82)
    plant.step(60.0)
    assert read(plant, "F3_CT.PF")[0] < 0.9
    assert read(plant, "F3_CT.Q")[0] > 1.5 * q0  # the flow carries it, not just the meter
    assert read(plant, "F4_CT.PF")[0] > 0.9
    plant.clear(fid)
    plant.step(60.0)
    assert read(plant, "F3_CT.PF")[0] > 0.9


def test_cooling_failure_heats_the_transformer_beyond_its_model_and_stops_the_coolers(station):
    healthy = PlantSimulator(station, seed=3, start=NOON)
    failed = PlantSimulator(station, seed=3, start=NOON)
    failed.inject("cooling_failure", asset="ICT1", capacity_pct=60)
    for _ in range(90):  # 1.5 h
        healthy.step(60.0)
        failed.step(60.0)
    top_h, hot_h = read(healthy, "ICT1.TOP_OIL", "ICT1.HOT_SPOT")
    top_f, hot_f = read(failed, "ICT1.TOP_OIL", "ICT1.HOT_SPOT")
    load = read(failed, "ICT1.LOADING")[0]
    assert abs(load - read(healthy, "ICT1.LOADING")[0]) < 1.0  # same load
    assert top_f > top_h + 5 and hot_f > hot_h + 10
    assert failed.thermal["ICT1"].rating_factor == pytest.approx(0.6)
    assert read(failed, "ICT1.COOLER1", "ICT1.COOLER2").max() == 0.0
    assert read(failed, "ICT2.TOP_OIL")[0] == pytest.approx(read(healthy, "ICT2.TOP_OIL")[0],
                                                            abs=1.0)
    failed.clear()
    assert failed.thermal["ICT1"].rating_factor == 1.0
    assert failed.thermal["ICT1"].p.tau_o_min == 150.0


@pytest.mark.parametrize("pu,sign", [(1.08, 1), (0.93, -1)])
def test_voltage_deviation_beyond_5_pct_from_the_grid(plant, pu, sign):
    kv = plant.station.bay("F1").voltage_kv
    plant.inject("overvoltage", pu=pu)
    plant.step(60.0)
    v = read(plant, *[f"F1_CVT.V_{p}" for p in "ABC"]).mean()
    assert sign * (v / (kv / np.sqrt(3)) - 1) * 100 > 5


def test_health_degradation_gases_and_sf6(plant):
    g0 = read(plant, "ICT2.C2H4")[0]
    plant.inject("dga_fault", asset="ICT2", code="T3", ramp_h=0, severity=3)
    plant.inject("sf6_leak", asset="F2_Q0", bar_per_h=2.0)
    p0 = plant.sf6_bar["F2_Q0"]
    for _ in range(60):
        plant.step(120.0)
    assert plant.sf6_bar["F2_Q0"] < p0 - 1.0
    assert plant.dga["ICT2"].faults
    assert read(plant, "ICT2.C2H4")[0] > g0


@pytest.mark.parametrize("kind,params,message", [
    ("phase_unbalance", {"bay": "F1", "pct": 0}, "parameter 'pct' 0 must be in (-90, 100] "
                                                  "and not 0"),
    ("phase_unbalance", {"bay": "F1", "phase": "D"}, "parameter 'phase' must be A, B or C, "
                                                      "not 'D'"),
    ("phase_unbalance", {"bay": "F1", "voltage_pct": 30}, "parameter 'voltage_pct' 30 must "
                                                           "be within ±20"),
    ("phase_unbalance", {"bay": "NOPE"}, "no bay 'NOPE'"),
    ("harmonics", {"bay": "F1", "thd_pct": 80}, "parameter 'thd_pct' 80 must be in (0, 50]"),
    ("harmonics", {"bay": "F1", "ramp_s": -1}, "parameter 'ramp_s' must be >= 0"),
    ("power_factor_drop", {"bay": "F1", "pf": 1.0}, "parameter 'pf' 1 must be in [0.5, 1)"),
    ("cooling_failure", {"asset": "ICT1", "capacity_pct": 100},
     "parameter 'capacity_pct' 100 must be in [20, 100)"),
    ("cooling_failure", {"asset": "F1_Q0"}, "F1_Q0 is a breaker, expected ict or transformer"),
])
def test_bad_parameters_are_one_error_naming_them(plant, kind, params, message):
    with pytest.raises(ValueError) as exc:
        plant.inject(kind, **params)
    assert str(exc.value) == message
    assert not plant.injections
    assert not plant.instruments.effects and not plant.loads.pf_target
    assert not plant.transformers.cooling_lost


def test_a_second_cooling_failure_or_pf_drop_on_the_same_asset_is_refused(plant):
    a = plant.inject("cooling_failure", asset="TR1")
    with pytest.raises(ValueError, match=f"{a} already holds the cooling of TR1"):
        plant.inject("cooling_failure", asset="TR1")
    b = plant.inject("power_factor_drop", bay="F4")
    with pytest.raises(ValueError, match=f"{b} already holds the load of bay F4"):
        plant.inject("power_factor_drop", bay="F4", pf=0.7)
    assert set(plant.injections) == {a, b}


def test_an_unseeded_field_sim_is_the_same_station_with_fresh_noise(station):
    """The field-sim without --seed builds the station's own equipment every start (what the
    anomaly models were trained on), its noise fresh each time."""
    from app.field.sim.plant import EQUIPMENT_SEED, PlantSimulator, plant_of

    a = plant_of(station, run_seed=None)
    b = plant_of(station, run_seed=None)
    ref = PlantSimulator(station, seed=EQUIPMENT_SEED)
    assert a.switchgear.wear_pct == b.switchgear.wear_pct == ref.switchgear.wear_pct
    assert a.switchgear.op_count == ref.switchgear.op_count
    assert a.rng.bit_generator.state != b.rng.bit_generator.state
