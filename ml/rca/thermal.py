"""Thermal root-cause analysis of an oil-immersed transformer (IEC 60076-7).

The measured top-oil and hot-spot temperatures are compared with what the IEC 60076-7
dynamic thermal model gives for the *actual* load and ambient history
(:func:`expected_temperatures`; the standard's difference equations, duplicated here from the
plant simulator because ``ml`` may not import the field layer). Three causes are told apart:

* **cooling failure** — measured well above the model at normal load, top oil and hot spot
  together (the oil itself runs hot), better explained by the model with its forced cooling
  lost (ONAN rating), coolers reported stopped;
* **overload** — the model itself is hot because the load exceeds the rating, and the
  measurements agree with it;
* **sensor fault** — one sensor disagrees with both the other sensor and the model.

The relative ageing rate V = 2^((θh − 98)/6) (non-thermally-upgraded paper, IEC 60076-7
eq. 2) and the loss of life over the window (∫V dt, in hours and days) are reported with
every hypothesis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ml.rca.result import (
    IMMEDIATE,
    INVESTIGATE,
    MAINTAIN,
    Action,
    Fact,
    RcaHypothesis,
    RcaInputError,
)

#: The largest load factor integrated (as in the plant's model).
K_MAX = 5.0
_AGEING_EXP_MAX = 1000.0


@dataclass(frozen=True, slots=True)
class ThermalParams:
    """IEC 60076-7:2018 Table 4 parameters (defaults: large ONAF power transformer)."""

    delta_theta_or_k: float = 45.0
    gr_k: float = 26.0
    H: float = 1.3
    R: float = 6.0
    x: float = 0.8
    y: float = 1.3
    tau_o_min: float = 150.0
    tau_w_min: float = 7.0
    k11: float = 0.5
    k21: float = 2.0
    k22: float = 2.0


@dataclass(frozen=True, slots=True)
class ThermalInputs:
    """A transformer's recent history, oldest first, one sample per entry.

    A ``None`` (or NaN) sample is a bad-quality or missing reading: never used as a value.
    """

    time_s: tuple[float, ...]
    """Seconds since the Unix epoch (UTC), increasing."""
    load_pu: tuple[float | None, ...]
    """Load factor K = load / rated (ONAF rating)."""
    ambient_c: tuple[float | None, ...]
    top_oil_c: tuple[float | None, ...]
    hot_spot_c: tuple[float | None, ...]
    winding_c: tuple[float | None, ...] = ()
    """The winding-temperature indicator (WTI), a second hot-spot reading, when present."""
    coolers_running: tuple[bool | None, ...] = ()
    """Each cooling stage's latest status (True running, False stopped, None unknown)."""
    params: ThermalParams = ThermalParams()
    onan_rating_pu: float = 0.6
    """The rating with forced cooling lost (ONAN / ONAF MVA)."""
    top_oil_alarm_c: float = 85.0
    hot_spot_alarm_c: float = 98.0


@dataclass(frozen=True, slots=True)
class ThermalAssessment:
    """The comparison behind the hypotheses."""

    model_top_oil_c: float
    model_hot_spot_c: float
    measured_top_oil_c: float | None
    measured_hot_spot_c: float | None
    measured_winding_c: float | None
    top_oil_residual_k: float | None
    """Measured − model at the latest valid sample (kelvin)."""
    hot_spot_residual_k: float | None
    load_pu: float
    max_load_pu: float
    ageing_rate: float
    """V at the latest hot spot (measured when valid, else the model's)."""
    loss_of_life_h: float
    """∫V dt over the window, hours."""
    window_h: float


def relative_ageing_rate(hot_spot_c: float) -> float:
    """V = 2^((θh − 98)/6) (IEC 60076-7 eq. 2), its exponent capped."""
    return 2.0 ** min((hot_spot_c - 98.0) / 6.0, _AGEING_EXP_MAX)


def expected_temperatures(time_s: Sequence[float], load_pu: Sequence[float | None],
                          ambient_c: Sequence[float | None],
                          params: ThermalParams = ThermalParams(),
                          ) -> tuple[list[float], list[float]]:
    """The model's (top-oil, hot-spot) temperature at each sample, starting in the steady
    state of the first valid load and ambient. A missing load or ambient sample holds the
    last valid one; each interval is integrated at the load and ambient of its start, exactly:
    the IEC 60076-7 difference equations are the explicit (Euler) form of three first-order
    equations whose solution over an interval with its inputs held is an exponential
    approach to the interval's ultimate rise — one step per sample, stable at any spacing."""
    p = params
    k_hold = _first_valid(load_pu, "load_pu")
    a_hold = _first_valid(ambient_c, "ambient_c")
    kk = min(max(0.0, k_hold), K_MAX)
    dhr = p.H * p.gr_k
    theta_o = a_hold + (((1 + kk * kk * p.R) / (1 + p.R)) ** p.x) * p.delta_theta_or_k
    dh1 = p.k21 * dhr * kk ** p.y
    dh2 = (p.k21 - 1) * dhr * kk ** p.y
    top, hot = [theta_o], [theta_o + dh1 - dh2]
    tau_o = p.k11 * p.tau_o_min
    tau_1 = p.k22 * p.tau_w_min
    tau_2 = p.tau_o_min / p.k22
    for i in range(1, len(time_s)):
        if _ok(load_pu[i - 1]):
            k_hold = float(load_pu[i - 1])  # type: ignore[arg-type]
        if _ok(ambient_c[i - 1]):
            a_hold = float(ambient_c[i - 1])  # type: ignore[arg-type]
        kk = min(max(0.0, k_hold), K_MAX)
        ultimate = (((1 + kk * kk * p.R) / (1 + p.R)) ** p.x) * p.delta_theta_or_k
        ky = kk ** p.y
        h_min = (time_s[i] - time_s[i - 1]) / 60.0
        target_o = a_hold + ultimate
        target_1 = p.k21 * dhr * ky
        target_2 = (p.k21 - 1) * dhr * ky
        theta_o = target_o + (theta_o - target_o) * math.exp(-h_min / tau_o)
        dh1 = target_1 + (dh1 - target_1) * math.exp(-h_min / tau_1)
        dh2 = target_2 + (dh2 - target_2) * math.exp(-h_min / tau_2)
        top.append(theta_o)
        hot.append(theta_o + dh1 - dh2)
    return top, hot


def assess(inputs: ThermalInputs, *, what: str = "transformer") -> ThermalAssessment:
    """The model against the measurements (see the module notes)."""
    _check(inputs, what)
    c = _compare(inputs)
    return c.assessment


def analyse_thermal(asset: str, inputs: ThermalInputs) -> list[RcaHypothesis]:
    """Thermal hypotheses for ``asset`` (cooling failure, overload, sensor fault, or the
    temperatures being as expected), most likely first; raises :class:`RcaInputError` naming
    the field when the inputs are inconsistent (lengths, non-increasing times)."""
    _check(inputs, asset)
    c = _compare(inputs)
    a = c.assessment
    common = _common_facts(a)
    out: list[RcaHypothesis] = []
    ro, rh, rw = c.res_top, c.res_hot, c.res_wti
    readings = {"top_oil": ro, "hot_spot": rh, "winding (WTI)": rw}
    valid = {k: v for k, v in readings.items() if v is not None}
    high = {k for k, v in valid.items() if v > DEVIATION_K}
    agree = {k for k, v in valid.items() if abs(v) <= AGREE_K}
    coolers = [x for x in inputs.coolers_running if x is not None]
    stopped = sum(1 for x in coolers if not x)
    # --- cooling failure: the oil itself runs hot at the load it carries
    if ro is not None and ro > DEVIATION_K and (rh is None or rh > DEVIATION_K / 2):
        err_normal = abs(ro) + abs(rh or 0.0)
        err_lost = abs(c.lost_top - (a.measured_top_oil_c or 0.0))
        if rh is not None and a.measured_hot_spot_c is not None:
            err_lost += abs(c.lost_hot - a.measured_hot_spot_c)
        fit = max(0.0, min(1.0, (err_normal - err_lost) / err_normal)) if err_normal else 0.0
        conf = 0.45 + 0.25 * fit + (0.2 if stopped else 0.0) - (0.2 if coolers and not stopped
                                                                else 0.0)
        conf += 0.05 if a.max_load_pu <= 1.0 else -0.1
        ev = [Fact(f"top oil {a.measured_top_oil_c:.1f} °C is {ro:+.1f} K off the IEC 60076-7 "
                   f"model ({a.model_top_oil_c:.1f} °C) at load {a.load_pu:.2f} pu",
                   {"measured_top_oil_c": a.measured_top_oil_c or math.nan,
                    "model_top_oil_c": a.model_top_oil_c, "residual_k": ro,
                    "load_pu": a.load_pu})]
        if rh is not None:
            ev.append(Fact(f"hot spot {a.measured_hot_spot_c:.1f} °C is {rh:+.1f} K off the "
                           f"model ({a.model_hot_spot_c:.1f} °C): both sensors agree",
                           {"measured_hot_spot_c": a.measured_hot_spot_c or math.nan,
                            "model_hot_spot_c": a.model_hot_spot_c, "residual_k": rh}))
        ev.append(Fact(f"the model with forced cooling lost (rating {inputs.onan_rating_pu:.2f} "
                       f"pu) gives top oil {c.lost_top:.1f} °C, hot spot {c.lost_hot:.1f} °C",
                       {"lost_cooling_top_oil_c": c.lost_top,
                        "lost_cooling_hot_spot_c": c.lost_hot, "fit": fit},
                       supports=fit > 0.3))
        if coolers:
            ev.append(Fact(f"{stopped} of {len(coolers)} cooler stages reported stopped",
                           {"stopped": float(stopped), "stages": float(len(coolers))},
                           supports=stopped > 0))
        if a.max_load_pu <= 1.0:
            ev.append(Fact(f"load within rating (max {a.max_load_pu:.2f} pu over the window)",
                           {"max_load_pu": a.max_load_pu}))
        hot_now = (a.measured_hot_spot_c or a.model_hot_spot_c)
        acts = [Action(INVESTIGATE, "check fans and pumps, their supply MCBs and the cooler "
                                    "control; compare with the thermal image"),
                Action(MAINTAIN, "service the cooling (fan motors, radiators, oil pumps)")]
        if hot_now > inputs.hot_spot_alarm_c or a.ageing_rate > 2.0:
            acts.insert(0, Action(IMMEDIATE, f"reduce the load to the natural-cooling rating "
                                             f"({inputs.onan_rating_pu:.2f} pu) or transfer it"))
        out.append(_h("cooling_failure", f"{asset}: cooling failure", asset, conf, ev + common,
                      acts))
    # --- overload: the model itself is hot, the sensors agree with it
    if a.max_load_pu > 1.0:
        agreeing = len(agree) / len(valid) if valid else 0.0
        over = min(1.0, max(0.0, (a.max_load_pu - 1.0) / 0.3))
        conf = 0.3 + 0.35 * agreeing + 0.3 * over
        ev = [Fact(f"load reached {a.max_load_pu:.2f} pu of rating (now {a.load_pu:.2f} pu)",
                   {"max_load_pu": a.max_load_pu, "load_pu": a.load_pu},
                   supports=a.max_load_pu > 1.0),
              Fact(f"the IEC 60076-7 model gives hot spot {a.model_hot_spot_c:.1f} °C, top oil "
                   f"{a.model_top_oil_c:.1f} °C for this load",
                   {"model_hot_spot_c": a.model_hot_spot_c,
                    "model_top_oil_c": a.model_top_oil_c})]
        for k, v in valid.items():
            ev.append(Fact(f"{k} sensor {'agrees with' if abs(v) <= AGREE_K else 'departs from'}"
                           f" the model ({v:+.1f} K)", {"residual_k": v},
                           supports=abs(v) <= AGREE_K))
        acts = [Action(INVESTIGATE, "review the loading against the loading guide and the "
                                    "load forecast; transfer load to the parallel unit"),
                Action(MAINTAIN, f"record the loss of life ({a.loss_of_life_h:.1f} h over "
                                 f"{a.window_h:.1f} h)")]
        if a.model_hot_spot_c > EMERGENCY_HOT_SPOT_C or a.max_load_pu > 1.3:
            acts.insert(0, Action(IMMEDIATE, "shed or transfer load now: hot spot above the "
                                             "long-time emergency limit"))
        out.append(_h("overload", f"{asset}: overload ({a.max_load_pu:.2f} pu)", asset, conf,
                      ev + common, acts))
    # --- sensor fault: one sensor off, the others and the model agree
    if len(valid) >= 2:
        for name, v in valid.items():
            others = [k for k in valid if k != name]
            if abs(v) > DEVIATION_K and all(k in agree for k in others):
                # a hot spot alone above the model could also be a real local hot spot: a
                # third reading agreeing with the model makes the sensor more likely
                conf = 0.5 + 0.15 * (len(others) - 1) + (0.1 if v < 0 else 0.0)
                ev = [Fact(f"{name} reads {v:+.1f} K off the model", {"residual_k": v}),
                      *(Fact(f"{k} agrees with the model ({valid[k]:+.1f} K)",
                             {"residual_k": valid[k]}) for k in others)]
                out.append(_h("sensor_fault", f"{asset}: {name} sensor fault", asset, conf,
                              ev + common,
                              [Action(INVESTIGATE, f"check the {name} sensor, its transducer "
                                                   "and wiring against a portable reading"),
                               Action(MAINTAIN, f"calibrate or replace the {name} sensor")]))
    if not out and valid and not high:
        out.append(_h("normal_thermal", f"{asset}: temperatures as the model expects", asset,
                      0.3 + 0.4 * len(agree) / len(valid),
                      [Fact(f"{k} within {AGREE_K:.0f} K of the model ({v:+.1f} K)",
                            {"residual_k": v}, supports=abs(v) <= AGREE_K)
                       for k, v in valid.items()]
                      + [Fact(f"the model's hot spot {a.model_hot_spot_c:.1f} °C at load "
                              f"{a.load_pu:.2f} pu and ambient {c.ambient_c:.1f} °C",
                              {"model_hot_spot_c": a.model_hot_spot_c, "load_pu": a.load_pu,
                               "ambient_c": c.ambient_c})] + common,
                      [Action(MAINTAIN, "no thermal cause: look at the other hypotheses")]))
    out.sort(key=lambda h: -h.confidence)
    return out


DEVIATION_K = 8.0
"""Measured minus model beyond this (kelvin) is a departure from the model."""
AGREE_K = 5.0
"""Within this (kelvin) a sensor agrees with the model."""
EMERGENCY_HOT_SPOT_C = 120.0
"""IEC 60076-7 Table 3: hot-spot limit of long-time emergency loading (large power
transformers)."""
RESIDUAL_SAMPLES = 5
"""The residual is the mean over this many latest valid samples."""


@dataclass(frozen=True, slots=True)
class _Comparison:
    assessment: ThermalAssessment
    res_top: float | None
    res_hot: float | None
    res_wti: float | None
    lost_top: float
    lost_hot: float
    ambient_c: float


def _compare(inputs: ThermalInputs) -> _Comparison:
    t = inputs.time_s
    top, hot = expected_temperatures(t, inputs.load_pu, inputs.ambient_c, inputs.params)
    lost_k = [None if not _ok(k) else k / inputs.onan_rating_pu  # type: ignore[operator]
              for k in inputs.load_pu]
    ltop, lhot = expected_temperatures(t, lost_k, inputs.ambient_c, inputs.params)
    res_top, m_top = _residual(inputs.top_oil_c, top)
    res_hot, m_hot = _residual(inputs.hot_spot_c, hot)
    res_wti, m_wti = _residual(inputs.winding_c, hot) if inputs.winding_c else (None, None)
    loads = [float(k) for k in inputs.load_pu if _ok(k)]  # type: ignore[arg-type]
    # ageing: the measured hot spot where valid, else the model's
    theta = [float(h) if _ok(h) else hot[i]  # type: ignore[arg-type]
             for i, h in enumerate(inputs.hot_spot_c)]
    lol_h = 0.0
    for i in range(1, len(t)):
        v0, v1 = relative_ageing_rate(theta[i - 1]), relative_ageing_rate(theta[i])
        lol_h += 0.5 * (v0 + v1) * (t[i] - t[i - 1]) / 3600.0
    a = ThermalAssessment(
        model_top_oil_c=top[-1], model_hot_spot_c=hot[-1], measured_top_oil_c=m_top,
        measured_hot_spot_c=m_hot, measured_winding_c=m_wti, top_oil_residual_k=res_top,
        hot_spot_residual_k=res_hot, load_pu=loads[-1], max_load_pu=max(loads),
        ageing_rate=relative_ageing_rate(theta[-1]), loss_of_life_h=lol_h,
        window_h=(t[-1] - t[0]) / 3600.0)
    last_lost = [i for i in range(len(t)) if _ok(inputs.top_oil_c[i])]
    j = last_lost[-1] if last_lost else len(t) - 1
    amb = [float(x) for x in inputs.ambient_c if _ok(x)]  # type: ignore[arg-type]
    return _Comparison(a, res_top, res_hot, res_wti, ltop[j], lhot[j], amb[-1])


def _residual(measured: Sequence[float | None], model: Sequence[float]
              ) -> tuple[float | None, float | None]:
    """Mean (measured − model) over the latest valid samples, and the latest valid reading."""
    idx = [i for i in range(len(measured)) if _ok(measured[i])][-RESIDUAL_SAMPLES:]
    if not idx:
        return None, None
    res = sum(float(measured[i]) - model[i] for i in idx) / len(idx)  # type: ignore[arg-type]
    return res, float(measured[idx[-1]])  # type: ignore[arg-type]


def _common_facts(a: ThermalAssessment) -> list[Fact]:
    return [Fact(f"relative ageing rate V = {a.ageing_rate:.2f}; loss of life "
                 f"{a.loss_of_life_h:.2f} h ({a.loss_of_life_h / 24:.3f} days) over the last "
                 f"{a.window_h:.1f} h", {"ageing_rate": a.ageing_rate,
                                         "loss_of_life_h": a.loss_of_life_h,
                                         "loss_of_life_days": a.loss_of_life_h / 24,
                                         "window_h": a.window_h})]


def _h(cause: str, title: str, asset: str, conf: float, evidence: list[Fact],
       actions: list[Action]) -> RcaHypothesis:
    return RcaHypothesis(cause, title, asset, "thermal", min(0.99, max(0.01, conf)),
                         tuple(evidence), tuple(actions))


def _ok(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _first_valid(xs: Sequence[float | None], name: str) -> float:
    for x in xs:
        if _ok(x):
            return float(x)  # type: ignore[arg-type]
    raise RcaInputError(f"thermal inputs field {name}: no valid sample")


def _check(inputs: ThermalInputs, what: str) -> None:
    n = len(inputs.time_s)
    for name in ("load_pu", "ambient_c", "top_oil_c", "hot_spot_c"):
        if len(getattr(inputs, name)) != n:
            raise RcaInputError(f"{what}: thermal inputs field {name} has "
                                f"{len(getattr(inputs, name))} samples, time_s has {n}")
    if inputs.winding_c and len(inputs.winding_c) != n:
        raise RcaInputError(f"{what}: thermal inputs field winding_c has "
                            f"{len(inputs.winding_c)} samples, time_s has {n}")
    if n == 0:
        raise RcaInputError(f"{what}: thermal inputs field time_s is empty")
    for i in range(1, n):
        if not inputs.time_s[i] > inputs.time_s[i - 1]:
            raise RcaInputError(f"{what}: thermal inputs field time_s is not increasing at "
                                f"sample {i}")
    for name in ("load_pu", "ambient_c"):
        if not any(_ok(x) for x in getattr(inputs, name)):
            raise RcaInputError(f"{what}: thermal inputs field {name} has no valid sample")
    if not math.isfinite(inputs.onan_rating_pu) or inputs.onan_rating_pu <= 0:
        raise RcaInputError(f"{what}: thermal inputs field onan_rating_pu = "
                            f"{inputs.onan_rating_pu!r} is not a positive rating")
