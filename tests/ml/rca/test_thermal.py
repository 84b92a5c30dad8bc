"""Thermal RCA: the measurements come from the plant simulator's own IEC 60076-7 model
(app.field.sim.thermal), run with the standard's ONAN parameters when the fans have failed —
not from the analyser's model."""

from __future__ import annotations

import math

import pytest

from app.field.sim.thermal import ThermalModel
from app.field.sim.thermal import ThermalParams as PlantParams
from ml.rca.result import RcaInputError
from ml.rca.thermal import ThermalInputs, analyse_thermal, assess, relative_ageing_rate

STEP_S = 60.0
#: IEC 60076-7:2018 Table 4, medium/large power transformer ONAN (rated rises at the ONAN
#: rating), for the plant running with its fans stopped.
ONAN = PlantParams(delta_theta_or_k=52.0, gr_k=26.0, tau_o_min=210.0, tau_w_min=10.0)
ONAN_RATING_PU = 0.6


def run_plant(loads: list[float], *, fans_off_from: int | None = None, ambient_c: float = 32.0
              ) -> tuple[list[float], list[float]]:
    """(top oil, hot spot) of the plant, one sample per load step."""
    onaf = ThermalModel(k=loads[0], ambient_c=ambient_c)
    top, hot = [onaf.top_oil_c], [onaf.hot_spot_c]
    onan: ThermalModel | None = None
    for i in range(1, len(loads)):
        if fans_off_from is not None and i >= fans_off_from:
            if onan is None:
                onan = ThermalModel(ONAN, k=0.0, ambient_c=ambient_c)
                onan.theta_o, onan.dh1, onan.dh2 = onaf.theta_o, onaf.dh1, onaf.dh2
            onan.step(STEP_S, loads[i - 1] / ONAN_RATING_PU, ambient_c)
            top.append(onan.top_oil_c)
            hot.append(onan.hot_spot_c)
        else:
            onaf.step(STEP_S, loads[i - 1], ambient_c)
            top.append(onaf.top_oil_c)
            hot.append(onaf.hot_spot_c)
    return top, hot


def inputs(loads: list[float], top: list[float | None], hot: list[float | None], *,
           wti: list[float | None] | None = None, coolers: tuple[bool | None, ...] = (),
           ambient_c: float = 32.0) -> ThermalInputs:
    n = len(loads)
    return ThermalInputs(time_s=tuple(1.77e9 + STEP_S * i for i in range(n)),
                         load_pu=tuple(loads), ambient_c=(ambient_c,) * n, top_oil_c=tuple(top),
                         hot_spot_c=tuple(hot), winding_c=tuple(wti or ()),
                         coolers_running=coolers, onan_rating_pu=ONAN_RATING_PU)


def test_normal_operation_matches_the_model() -> None:
    loads = [0.7] * 240 + [0.9] * 240
    top, hot = run_plant(loads)
    hyps = analyse_thermal("ICT1", inputs(loads, top, hot, wti=hot))
    assert hyps[0].cause == "normal_thermal"
    a = assess(inputs(loads, top, hot))
    assert abs(a.top_oil_residual_k or 0) < 1.0 and abs(a.hot_spot_residual_k or 0) < 1.0


def test_cooling_failure_at_normal_load() -> None:
    loads = [0.75] * 600
    top, hot = run_plant(loads, fans_off_from=360)
    hot_q: list[float | None] = list(hot)
    hot_q[500] = None  # a bad-quality sample: skipped, not read as a value
    hyps = analyse_thermal("ICT1", inputs(loads, top, hot_q, coolers=(False, False)))
    top_h = hyps[0]
    assert top_h.cause == "cooling_failure"
    assert top_h.confidence > 0.7
    assert all(h.cause != "overload" for h in hyps)
    assert any("cooler stages reported stopped" in f.text for f in top_h.supporting)
    # coolers reported running: the same temperatures are less convincing
    running = analyse_thermal("ICT1", inputs(loads, top, hot_q, coolers=(True, True)))
    assert running[0].cause == "cooling_failure"
    assert running[0].confidence < top_h.confidence
    assert running[0].contradicting


def test_overload_when_the_model_itself_is_hot() -> None:
    loads = [0.8] * 240 + [1.35] * 240
    top, hot = run_plant(loads)
    hyps = analyse_thermal("ICT2", inputs(loads, top, hot, wti=hot))
    assert hyps[0].cause == "overload"
    assert all(h.cause != "cooling_failure" for h in hyps)
    assert any(a.kind == "immediate" for a in hyps[0].actions)
    assert hyps[0].evidence[0].values["max_load_pu"] == pytest.approx(1.35)


def test_one_sensor_against_the_other_and_the_model() -> None:
    loads = [0.8] * 480
    top, hot = run_plant(loads)
    bad_hot = [h + 22.0 for h in hot]  # the fibre-optic hot-spot probe reads 22 K high
    hyps = analyse_thermal("TR1", inputs(loads, top, bad_hot, wti=hot))
    assert hyps[0].cause == "sensor_fault"
    assert "hot_spot" in hyps[0].title
    assert all(h.cause != "cooling_failure" for h in hyps)


def test_ageing_rate_and_loss_of_life() -> None:
    assert relative_ageing_rate(98.0) == pytest.approx(1.0)
    assert relative_ageing_rate(104.0) == pytest.approx(2.0)
    n = 61  # one hour
    a = assess(inputs([1.0] * n, [80.0] * n, [104.0] * n))
    assert a.ageing_rate == pytest.approx(2.0)
    assert a.loss_of_life_h == pytest.approx(2.0)  # V = 2 for one hour
    assert a.window_h == pytest.approx(1.0)


def test_bad_inputs_name_the_field() -> None:
    good = inputs([0.8] * 3, [60.0] * 3, [70.0] * 3)
    short = ThermalInputs(good.time_s, good.load_pu, good.ambient_c, good.top_oil_c[:2],
                          good.hot_spot_c)
    with pytest.raises(RcaInputError, match="ICT1: thermal inputs field top_oil_c has 2"):
        analyse_thermal("ICT1", short)
    back = ThermalInputs((3.0, 2.0, 4.0), good.load_pu, good.ambient_c, good.top_oil_c,
                         good.hot_spot_c)
    with pytest.raises(RcaInputError, match="time_s is not increasing at sample 1"):
        analyse_thermal("ICT1", back)
    no_load = ThermalInputs(good.time_s, (None, math.nan, None), good.ambient_c,
                            good.top_oil_c, good.hot_spot_c)
    with pytest.raises(RcaInputError, match="load_pu has no valid sample"):
        analyse_thermal("ICT1", no_load)


def test_model_agrees_with_the_plant_simulators_model() -> None:
    """The analyser's exact per-interval solution against the plant's sub-stepped difference
    equations, over load steps up and down."""
    from ml.rca.thermal import expected_temperatures

    loads = [0.5] * 120 + [1.2] * 180 + [0.3] * 180
    top, hot = run_plant(loads)
    t = [STEP_S * i for i in range(len(loads))]
    m_top, m_hot = expected_temperatures(t, loads, [32.0] * len(loads))
    assert max(abs(a - b) for a, b in zip(top, m_top, strict=True)) < 0.5
    assert max(abs(a - b) for a, b in zip(hot, m_hot, strict=True)) < 1.0
