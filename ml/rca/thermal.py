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

from ml.rca.result import RcaHypothesis, RcaInputError

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


def expected_temperatures(time_s: Sequence[float], load_pu: Sequence[float],
                          ambient_c: Sequence[float], params: ThermalParams = ThermalParams(),
                          ) -> tuple[list[float], list[float]]:
    """The model's (top-oil, hot-spot) temperature at each sample, starting in the steady
    state of the first sample's load and ambient (IEC 60076-7 difference equations)."""
    raise NotImplementedError  # body follows in the next commit


def assess(inputs: ThermalInputs, *, what: str = "transformer") -> ThermalAssessment:
    """The model against the measurements (see the module notes)."""
    raise NotImplementedError  # body follows in the next commit


def analyse_thermal(asset: str, inputs: ThermalInputs) -> list[RcaHypothesis]:
    """Thermal hypotheses for ``asset`` (cooling failure, overload, sensor fault, or the
    temperatures being as expected), most likely first; raises :class:`RcaInputError` naming
    the field when the inputs are inconsistent (lengths, non-increasing times)."""
    raise NotImplementedError  # body follows in the next commit


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
    if not math.isfinite(inputs.onan_rating_pu) or inputs.onan_rating_pu <= 0:
        raise RcaInputError(f"{what}: thermal inputs field onan_rating_pu = "
                            f"{inputs.onan_rating_pu!r} is not a positive rating")
