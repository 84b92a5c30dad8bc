"""IEC 60076-7 dynamic thermal model of an oil-immersed transformer (difference equations).

Loading (K = load / rated) and ambient temperature in; top-oil and hot-spot temperatures and
the relative ageing rate out::

    D(θo)   = Dt / (k11·τo) · [ ((1 + K²R)/(1 + R))^x · Δθor − (θo − θa) ]
    D(Δθh1) = Dt / (k22·τw) · [ k21 · Δθhr · K^y − Δθh1 ]
    D(Δθh2) = Dt / (τo/k22) · [ (k21 − 1) · Δθhr · K^y − Δθh2 ]
    θh = θo + Δθh1 − Δθh2,        Δθhr = H · gr
    V  = 2^((θh − 98)/6)          (non-thermally-upgraded paper, IEC 60076-7 eq. 2)

Default parameters are the standard's recommended values for large ONAF power transformers
(IEC 60076-7:2018 Table 4). Steps longer than a tenth of the winding time constant are split
so the explicit scheme stays stable at any simulation speed.

The integrators are guarded: the load factor is taken within 0…:data:`K_MAX` (a diverged power
flow's absurd loading never reaches them), the ageing rate's exponent is capped so it cannot
overflow, and a step whose result would not be finite is not taken — the state stays the last
finite one and :meth:`ThermalModel.step` names the quantity that failed, for the caller to log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The largest load factor the model integrates (5 × rated: far past any loading guide;
#: beyond it, protection would have tripped the transformer long before).
K_MAX = 5.0
#: The ageing-rate exponent cap: 2^1000 ≈ 1e301 is finite; 2^1024 overflows.
_AGEING_EXP_MAX = 1000.0


def relative_ageing_rate(hot_spot_c: float) -> float:
    """V = 2^((θh − 98)/6) (IEC 60076-7 eq. 2), its exponent capped so it never overflows."""
    return 2.0 ** min((hot_spot_c - 98.0) / 6.0, _AGEING_EXP_MAX)


@dataclass(frozen=True, slots=True)
class ThermalParams:
    delta_theta_or_k: float = 45.0  # top-oil rise at rated load
    gr_k: float = 26.0  # hot-spot to top-oil gradient at rated load (average winding)
    H: float = 1.3  # hot-spot factor
    R: float = 6.0  # ratio of load losses at rated current to no-load losses
    x: float = 0.8  # oil exponent
    y: float = 1.3  # winding exponent
    tau_o_min: float = 150.0  # oil time constant
    tau_w_min: float = 7.0  # winding time constant
    k11: float = 0.5
    k21: float = 2.0
    k22: float = 2.0


class ThermalModel:
    def __init__(self, params: ThermalParams | None = None, *, k: float = 0.6,
                 ambient_c: float = 30.0) -> None:
        self.p = params or ThermalParams()
        #: The transformer's rating with its cooling as it is now, as a share of the rating
        #: the parameters are for (1.0; a lost cooling stage — ``cooling_failure`` — lowers
        #: it, so the same load is a larger load factor).
        self.rating_factor = 1.0
        self.reset_steady_state(k, ambient_c)
        self.loss_of_life_h = 0.0

    def reset_steady_state(self, k: float, ambient_c: float) -> None:
        p = self.p
        self.theta_o = ambient_c + (((1 + k * k * p.R) / (1 + p.R)) ** p.x) * p.delta_theta_or_k
        dhr = p.H * p.gr_k
        self.dh1 = p.k21 * dhr * k ** p.y
        self.dh2 = (p.k21 - 1) * dhr * k ** p.y
        self.ambient_c = ambient_c
        self.k = k

    @property
    def hot_spot_c(self) -> float:
        return self.theta_o + self.dh1 - self.dh2

    @property
    def top_oil_c(self) -> float:
        return self.theta_o

    @property
    def ageing_rate(self) -> float:
        return relative_ageing_rate(self.hot_spot_c)

    def step(self, dt_s: float, k: float, ambient_c: float) -> str | None:
        """Advance ``dt_s`` seconds at load factor ``k`` and ambient ``ambient_c``.

        Returns None, or — when an input or the result is not finite — the name of the
        quantity at fault (``load_factor``, ``ambient_c``, ``top_oil_c``, ``hot_spot_c``,
        ``loss_of_life_h``), with the model left at its last finite state."""
        if not math.isfinite(k):
            return "load_factor"
        if not math.isfinite(ambient_c):
            return "ambient_c"
        p = self.p
        kk = min(max(0.0, k / self.rating_factor), K_MAX)
        dhr = p.H * p.gr_k
        max_step_min = p.tau_w_min / p.k22 / 10.0
        remaining = dt_s / 60.0
        theta_o, dh1, dh2, lol = self.theta_o, self.dh1, self.dh2, self.loss_of_life_h
        ultimate = (((1 + kk ** 2 * p.R) / (1 + p.R)) ** p.x) * p.delta_theta_or_k
        ky = kk ** p.y
        while remaining > 1e-12:
            dt = min(remaining, max_step_min)
            remaining -= dt
            theta_o += dt / (p.k11 * p.tau_o_min) * (ultimate - (theta_o - ambient_c))
            dh1 += dt / (p.k22 * p.tau_w_min) * (p.k21 * dhr * ky - dh1)
            dh2 += dt / (p.tau_o_min / p.k22) * ((p.k21 - 1) * dhr * ky - dh2)
            lol += relative_ageing_rate(theta_o + dh1 - dh2) * dt / 60.0
        for name, value in (("top_oil_c", theta_o), ("hot_spot_c", theta_o + dh1 - dh2),
                            ("loss_of_life_h", lol)):
            if not math.isfinite(value):
                return name
        self.theta_o, self.dh1, self.dh2, self.loss_of_life_h = theta_o, dh1, dh2, lol
        self.k, self.ambient_c = kk, ambient_c
        return None
