"""Stacked injections never freeze the plant: combined effects are bounded (and a refusal
names the limit), no step leaves a non-finite state, and clearing always brings it back."""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading

import numpy as np
import pytest

import app.field.sim.plant as plant_mod
from app.field.sim.control import ControlChannel, ControlClient
from app.field.sim.plant import MAX_COMBINED, PlantSimulator
from app.field.sim.thermal import K_MAX, ThermalModel, relative_ageing_rate
from app.station import quality as Q

AFTERNOON = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def plant(station):
    return PlantSimulator(station, seed=11, start=AFTERNOON)


def val(snap, plant, tag):
    return float(snap.values[plant.points.row(tag)])


def steps(plant, n, dt_s=1.0):
    snap = None
    for _ in range(n):
        snap = plant.step(dt_s)
        assert np.isfinite(snap.values).all()
    return snap


def plant_errors(caplog):
    return [r for r in caplog.records if r.name == plant_mod.__name__
            and r.levelno >= logging.ERROR]


# ---------------------------------------------------------------- bounded stacking
def test_stacked_overloads_are_refused_past_the_combined_limit(plant):
    assert MAX_COMBINED["transformer_overload"] == 3.0
    a = plant.inject("transformer_overload", asset="ICT1", factor=2.9)
    with pytest.raises(ValueError) as exc:
        plant.inject("transformer_overload", asset="ICT1", factor=2.9)
    msg = str(exc.value)
    assert "would reach 8.41×" in msg and "limit of 3×" in msg and a in msg
    assert "MAX_COMBINED['transformer_overload']" in msg
    assert list(plant.injections) == [a]  # the refused one left nothing behind
    # An ICT's overload scales every load it feeds, so it stacks with a 220/33 kV one.
    with pytest.raises(ValueError, match="limit of 3×"):
        plant.inject("transformer_overload", asset="TR1", factor=1.5)
    plant.clear(a)
    b = plant.inject("transformer_overload", asset="TR1", factor=1.7)
    c = plant.inject("transformer_overload", asset="TR1", factor=1.7)  # 2.89: within
    with pytest.raises(ValueError, match="would reach 3.179×"):
        plant.inject("transformer_overload", asset="TR1", factor=1.1)
    plant.inject("transformer_overload", asset="TR2", factor=2.9)  # the other section
    s = steps(plant, 120, dt_s=30)
    assert val(s, plant, "TR1.LOADING") > 120 and plant.twin_state.converged
    plant.clear(b)
    plant.clear(c)
    assert plant.loads.overload.max() == pytest.approx(2.9)
    plant.clear()
    assert (plant.loads.overload == 1.0).all()  # exactly, not 1 ± rounding


@pytest.mark.parametrize("kind,params,stack,refused", [
    # each: what one injection is, how many stack within the limit, the text of the refusal
    ("sensor_drift", {"point": "F3_CT.P", "rate_per_h": 3000.0}, 5, "spans/h"),
    ("sf6_leak", {"asset": "F2_Q0", "bar_per_h": 9000.0}, 4, "bar/h"),
    ("dga_fault", {"asset": "ICT2", "code": "T3", "severity": 2.5}, 4,
     "combined DGA severity in ICT2"),
])
def test_every_kind_that_adds_up_is_bounded(plant, kind, params, stack, refused):
    ids = [plant.inject(kind, **params) for _ in range(stack)]
    with pytest.raises(ValueError) as exc:
        plant.inject(kind, **params)
    msg = str(exc.value)
    assert refused in msg and f"limit of {MAX_COMBINED[kind]:g}" in msg and ids[-1] in msg
    steps(plant, 60, dt_s=60)
    for i in ids[:-1]:
        plant.clear(i)
    plant.inject(kind, **params)  # room again
    plant.clear()
    assert not plant.injections
    steps(plant, 5)
    assert not plant.instruments.drifting and not any(plant.sf6_leak_bar_h.values())
    assert not plant.dga["ICT2"].faults


def test_kinds_that_do_not_add_up_stack_harmlessly(plant):
    ids = [plant.inject("overvoltage", pu=1.45) for _ in range(4)]
    ids += [plant.inject("frequency_excursion", target_hz=47.5, ramp_s=0) for _ in range(4)]
    s = steps(plant, 30)
    assert val(s, plant, "B400_M1.V") > 440  # the first one applies, not 1.45⁴
    assert val(s, plant, "B400_M1.HZ") == pytest.approx(47.5, abs=0.1)
    for i in ids:
        plant.clear(i)
    s = steps(plant, 60, dt_s=10)
    assert val(s, plant, "B400_M1.V") < 410
    assert val(s, plant, "B400_M1.HZ") == pytest.approx(50.0, abs=0.1)


@pytest.mark.parametrize("params,message", [
    ({"factor": "abc"}, "parameter 'factor': 'abc' is not a usable number"),
    ({"factor": 10 ** 400}, "an integer of 1329 bits is not a usable number"),
    ({"factor": float("nan")}, "parameter 'factor' must be finite"),
    ({"factor": [2]}, "parameter 'factor' must be a number, not list"),
    ({"factor": True}, "must be a number, not bool"),
])
def test_unusable_numbers_are_refused_naming_the_parameter(plant, params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        plant.inject("transformer_overload", asset="ICT1", **params)
    assert not plant.injections


def test_the_control_channel_replies_with_the_limit(plant):
    ch = ControlChannel(plant, "127.0.0.1", 0).start()
    try:
        with ControlClient(ch.host, ch.port) as c:
            c.inject("transformer_overload", asset="ICT1", factor=2.9)
            r = c.call("inject", kind="transformer_overload",
                       params={"asset": "ICT1", "factor": 2.9})
            assert r["ok"] is False and "limit of 3×" in r["error"]
            r = c.call("inject", kind="sf6_leak", params={"asset": "F2_Q0", "bar_per_h": 1e9})
            assert r["ok"] is False and "limit of 36000 bar/h" in r["error"]
            assert c.call("status")["ok"] is True
    finally:
        ch.stop()


# ---------------------------------------------------------------- never non-finite
def test_past_any_limit_no_step_goes_non_finite_and_clear_recovers(plant, monkeypatch, caplog):
    """The issue's case, with the limit lifted: four overloads at 2.9 (70× the load)."""
    monkeypatch.setitem(MAX_COMBINED, "transformer_overload", math.inf)
    caplog.set_level(logging.WARNING, logger=plant_mod.__name__)
    ids = [plant.inject("transformer_overload", asset="ICT1", factor=2.9) for _ in range(4)]
    hot = plant.points.row("ICT1.HOT_SPOT")
    snaps = [plant.step(1.0) for _ in range(40)]
    for s in snaps:
        assert np.isfinite(s.values).all()
    for th in plant.thermal.values():
        assert math.isfinite(th.hot_spot_c) and math.isfinite(th.loss_of_life_h)
        assert th.k <= K_MAX
    # One line per asset and quantity when it starts, not one a step.
    errors = plant_errors(caplog)
    assert 0 < len(errors) < 20
    assert len({r.getMessage() for r in errors}) == len(errors)
    # Clearing one id at a time, then everything: back to normal behaviour.
    plant.clear(ids[0])
    plant.clear(ids[1])
    plant.clear()
    caplog.clear()
    before = plant.snapshot()
    s = steps(plant, 360, dt_s=10)
    assert plant.twin_state.converged and not plant.twin_state.dead_buses()
    assert 30 < val(s, plant, "ICT1.LOADING") < 90
    assert s.seq > before.seq and s.values[hot] != before.values[hot]
    # Nothing invalid; only what the episode really did stays (gases it made, for one).
    assert not ((s.quality & Q.VALIDITY_MASK) == Q.INVALID).any()
    assert not plant_errors(caplog)
    plant.reset_protection()
    assert np.isfinite(plant.step(1.0).values).all()


def test_a_non_finite_integrator_keeps_its_last_state_with_one_log_line(plant, caplog):
    caplog.set_level(logging.WARNING, logger=plant_mod.__name__)
    plant.sf6_leak_bar_h["F2_Q0"] = math.inf  # as a broken model would leave it
    bar0 = plant.sf6_bar["F2_Q0"]
    for _ in range(10):
        s = plant.step(1.0)
        assert np.isfinite(s.values).all()
    assert plant.sf6_bar["F2_Q0"] == bar0
    errors = plant_errors(caplog)
    assert len(errors) == 1
    assert "F2_Q0: sf6_pressure_bar would not be finite" in errors[0].getMessage()
    plant.clear()  # the leak rates are rebuilt from the (no) injections
    plant.step(1.0)
    assert any("finite again" in r.getMessage() for r in caplog.records)


def test_a_non_finite_point_value_keeps_its_last_value(plant, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger=plant_mod.__name__)
    good = plant.step(1.0)
    row = plant.points.row("ICT1.TOP_OIL")
    real = PlantSimulator._evaluate

    def broken(self, *a):
        v, q, t = real(self, *a)
        v[row] = np.nan
        return v, q, t

    monkeypatch.setattr(PlantSimulator, "_evaluate", broken)
    for _ in range(5):
        s = plant.step(1.0)
        assert s.values[row] == good.values[row]
    errors = plant_errors(caplog)
    assert len(errors) == 1 and errors[0].getMessage().startswith("ICT1: top_oil_c")


def test_a_failing_step_is_logged_once_per_episode(plant, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger=plant_mod.__name__)
    stop = threading.Event()
    calls = {"n": 0}
    real = plant.step

    def step():
        calls["n"] += 1
        if calls["n"] >= 30:
            stop.set()
        if calls["n"] < 20:
            raise OverflowError(34, "Numerical result out of range")
        return real(0.1)

    monkeypatch.setattr(plant, "step", step)
    monkeypatch.setattr(plant, "tick_s", 0.001)
    plant.run(stop)
    failed = [r for r in caplog.records if "plant step failed" in r.getMessage()]
    assert len(failed) == 1
    assert any("stepping again after 19 failed" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- the thermal model
def test_the_thermal_model_refuses_non_finite_steps_and_bounds_k():
    th = ThermalModel(k=0.6, ambient_c=30.0)
    state = (th.theta_o, th.dh1, th.dh2, th.loss_of_life_h)
    assert th.step(60.0, math.inf, 30.0) == "load_factor"
    assert th.step(60.0, math.nan, 30.0) == "load_factor"
    assert th.step(60.0, 0.6, math.nan) == "ambient_c"
    assert (th.theta_o, th.dh1, th.dh2, th.loss_of_life_h) == state
    assert th.step(3600.0 * 24, 1e40, 30.0) is None  # a diverged flow's loading
    assert th.k == K_MAX and math.isfinite(th.hot_spot_c) and math.isfinite(th.ageing_rate)
    assert relative_ageing_rate(1e9) == 2.0 ** 1000
    assert relative_ageing_rate(98.0) == 1.0
