"""Relay measuring elements as pure functions of phasors (no state, no time).

* IEC 60255-151 inverse-time (IDMT) and definite-time overcurrent;
* distance: the six fault loops' apparent impedances (earth loops compensated with the
  line's residual factor k0), a superimposed-current phase selector, mho and quadrilateral
  characteristics with a memory-polarised directional check;
* directional earth fault from the residual current polarised by -3V0;
* biased differential: operate when Id > max(pickup, restraint(Ibias)).

Phasors are complex RMS values, primary A and V (phase-to-neutral), phases A, B, C.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Iterable, Sequence

import numpy as np

#: IEC 60255-151 constants of t = TMS * k / ((I/Is)^alpha - 1): (k, alpha).
IEC_CURVES: dict[str, tuple[float, float]] = {
    "SI": (0.14, 0.02),    # standard inverse
    "VI": (13.5, 1.0),     # very inverse
    "EI": (80.0, 2.0),     # extremely inverse
    "LTI": (120.0, 1.0),   # long-time inverse
}
#: IEC 60255-151 defines the dependent-time curve up to 20 times the setting; above it the
#: relay operates in the time it has at 20 times.
IDMT_MAX_MULTIPLE = 20.0

PHASES = ("A", "B", "C")
LOOPS = ("AG", "BG", "CG", "AB", "BC", "CA")
_A = cmath.exp(2j * math.pi / 3)


def idmt_time_s(current_a: float, pickup_a: float, tms: float, curve: str) -> float | None:
    """Operate time of an IDMT stage at a steady current; None at or below pickup."""
    k, alpha = IEC_CURVES[curve]
    m = current_a / pickup_a
    if m <= 1.0:
        return None
    m = min(m, IDMT_MAX_MULTIPLE)
    return tms * k / (m ** alpha - 1.0)


def residual(i: Sequence[complex]) -> complex:
    """3I0 = Ia + Ib + Ic."""
    return complex(i[0] + i[1] + i[2])


def zero_sequence_removed(i: Sequence[complex]) -> np.ndarray:
    """Each phase less I0 (what a differential relay's zero-sequence filter passes)."""
    arr = np.asarray(i, dtype=complex)
    return arr - arr.sum() / 3.0


def line_k0(z1_ohm: complex, z0_ohm: complex) -> complex:
    """Residual compensation factor k0 = (Z0 - Z1) / (3 Z1)."""
    return (z0_ohm - z1_ohm) / (3.0 * z1_ohm)


def loop_quantities(v: Sequence[complex], i: Sequence[complex], k0: complex
                    ) -> dict[str, tuple[complex, complex]]:
    """(loop voltage, loop current) of the six loops: earth loops with k0-compensated current,
    phase loops with the phase-to-phase voltage and current difference."""
    i0_3 = residual(i)
    out = {}
    for p, ph in enumerate(PHASES):
        out[f"{ph}G"] = (complex(v[p]), complex(i[p] + k0 * i0_3))
    for p, q, name in ((0, 1, "AB"), (1, 2, "BC"), (2, 0, "CA")):
        out[name] = (complex(v[p] - v[q]), complex(i[p] - i[q]))
    return out


def select_loops(delta_i: Sequence[complex], residual_a: float, residual_pickup_a: float,
                 min_delta_a: float) -> tuple[str, ...]:
    """Phase selection from the superimposed (fault minus pre-fault) phase currents.

    With dab = |dIa - dIb| etc. and the largest of them m: a single-phase-to-earth fault on
    A leaves dbc near zero (< 0.2 m); a fault between two phases makes their difference the
    largest and the other two clearly smaller (< 0.7 m: one half for L-L, 1/sqrt3 for L-L-G);
    three similar differences are a three-phase fault. Earth loops count only with residual
    current above ``residual_pickup_a``. Returns the loops to measure, none if the change is
    below ``min_delta_a``.
    """
    d = [complex(x) for x in delta_i]
    diffs = {"AB": abs(d[0] - d[1]), "BC": abs(d[1] - d[2]), "CA": abs(d[2] - d[0])}
    m = max(diffs.values())
    if m < min_delta_a:
        return ()
    earth = residual_a >= residual_pickup_a
    # Single phase to earth: the difference not involving the faulted phase is small.
    for ph, other in (("A", "BC"), ("B", "CA"), ("C", "AB")):
        if diffs[other] < 0.2 * m and earth:
            return (f"{ph}G",)
    big = [k for k, x in diffs.items() if x >= 0.7 * m]
    if len(big) == 1:
        loop = big[0]
        if earth:
            return (loop, f"{loop[0]}G", f"{loop[1]}G")
        return (loop,)
    return ("AB", "BC", "CA")


def forward(v_memory: complex, delta_i: complex, angle_deg: float) -> bool:
    """Memory-polarised directional check of one loop: the superimposed current lags the
    pre-fault (memory) voltage by about the source angle for a fault in front of the relay
    and leads it by about 180 degrees less for one behind."""
    if abs(delta_i) == 0 or abs(v_memory) == 0:
        return False
    return (v_memory / delta_i * cmath.exp(-1j * math.radians(angle_deg))).real > 0


def mho_inside(z: complex, reach_ohm: float, angle_deg: float, reverse: bool = False) -> bool:
    """Self-polarised mho circle through the origin, diameter ``reach_ohm`` along the line
    angle (reversed for a reverse zone). An impedance at the origin (a close-in bolted fault)
    counts as inside: the directional check decides."""
    zr = reach_ohm * cmath.exp(1j * math.radians(angle_deg)) * (-1 if reverse else 1)
    if abs(z) <= 0.02 * reach_ohm:
        return True
    return abs(z - zr / 2) <= reach_ohm / 2


def quad_inside(z: complex, reach_ohm: float, angle_deg: float, resistive_reach_ohm: float,
                reverse: bool = False) -> bool:
    """Quadrilateral: reactance line at the reach's X, resistive lines parallel to the line
    angle at +R reach and -R reach / 4, a bottom line slightly below the R axis."""
    if reverse:
        z = -z
    th = math.radians(angle_deg)
    xr = reach_ohm * math.sin(th)
    r_along = z.real - z.imag / math.tan(th)
    return (-0.1 * xr <= z.imag <= xr
            and -0.25 * resistive_reach_ohm <= r_along <= resistive_reach_ohm)


def earth_fault_forward(v: Sequence[complex], i: Sequence[complex], angle_deg: float
                        ) -> bool | None:
    """Direction of an earth fault from -3V0 (polarising) and 3I0: forward when 3I0 lags
    -3V0 by about ``angle_deg``. None without a usable polarising voltage."""
    v0_3 = complex(v[0] + v[1] + v[2])
    i0_3 = residual(i)
    vn = max(abs(x) for x in v) or 1.0
    if abs(v0_3) < 0.005 * vn or abs(i0_3) == 0:
        return None
    return ((-v0_3) / i0_3 * cmath.exp(-1j * math.radians(angle_deg))).real > 0


def differential(currents: Iterable[Sequence[complex]]) -> tuple[np.ndarray, np.ndarray]:
    """Per phase: Id = |sum of the (referred) currents into the zone|, Ibias = sum of their
    magnitudes / 2."""
    arr = np.asarray(list(currents), dtype=complex).reshape(-1, 3)
    return np.abs(arr.sum(axis=0)), np.abs(arr).sum(axis=0) / 2.0


def restraint_a(ibias_a: float, slope1: float, slope2: float, knee_a: float) -> float:
    """Dual-slope restraint: slope1 up to the knee, slope2 above it."""
    if ibias_a <= knee_a:
        return slope1 * ibias_a
    return slope1 * knee_a + slope2 * (ibias_a - knee_a)


def differential_operates(id_a: float, ibias_a: float, pickup_a: float, slope1: float,
                          slope2: float, knee_a: float) -> bool:
    return id_a > max(pickup_a, restraint_a(ibias_a, slope1, slope2, knee_a))
