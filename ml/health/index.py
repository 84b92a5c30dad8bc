"""Asset health index: 0–100 from condition data, with the factors that make it up.

Each factor is a condition measurement turned into a score (100 = as new, 0 = at end of
life) by a piecewise-linear curve through limits from the standard that governs it, and
weighted by how much it says about the asset's remaining life:

========================  ===============================  ==================================
factor                    score curve (value → score)      basis
========================  ===============================  ==================================
``dga``                   IEEE status 1 → 100, 2 → 55,     IEEE C57.104-2019 status (levels,
                          3 → 15                           deltas and rates of every gas)
``thermal``               ageing rate V 1 → 100, 2 → 70,   IEC 60076-7: V = 2^((θh − 98)/6);
                          8 → 25; life used 0 → 100,       normal insulation life 180,000 h
                          100 % → 0 (the lower counts)
``moisture``              ≤ 10 ppm → 100, 15 → 60,         IEC 60422 (U ≥ 170 kV: good < 10,
                          25 → 20                          fair 10–15, poor > 15 ppm)
``bushings``              tan δ ≤ 0.5 % → 100, 0.7 → 60,   IEC 60137 / IEEE C57.19.01 practice
                          1.0 → 20 (worst bushing)         for OIP bushings
``oltc``                  ops since overhaul 0 → 100,      maker's overhaul interval
                          interval → 40, 1.5× → 10         (:data:`OLTC_OVERHAUL_OPS`)
``contact_wear``          ΣI²t wear 0 → 100, 80 % → 25,    the breaker's electrical endurance
                          100 % → 0                        (the monitored wear, % of nameplate)
``operations``            ops 0 → 100, M2 10,000 → 30      IEC 62271-100 mechanical class M2
``sf6``                   days to the alarm stage at the   IEC 62271-1 (leak ≤ 0.5 %/year);
                          present leak rate ≥ 3 y → 100,   density margin over the alarm stage
                          1 y → 70, 90 d → 35, 0 → 0
``arrester_leakage``      resistive current ≤ ½ limit →    IEC 60099-5 (resistive-current
                          100, limit → 50, 1.5× → 10       trend against the first reading)
``age``                   0 → 100, ¾ design life → 65,     design life per type
                          life → 35, 1.25× → 10            (:data:`DESIGN_LIFE_YEARS`)
========================  ===============================  ==================================

The index is the weighted mean of the factors there are data for, **capped at the worst
factor's score + 20**: a transformer with acetylene climbing is poor however young it is (the
cap is the usual answer to the averaging problem of health indices — one failing component is
enough). Factors without data are left out (their weight shared among the rest) and named in
``missing``; an index built from age alone says so.

Nothing here reads a clock or a database: the caller passes the condition and ``now``
(:mod:`app.analytics.health` gathers it from the historian).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.station.model import Asset
from ml.rca.dga_ieee import IEEE_GASES, ieee_status

#: Design life in years by asset type (utility practice in India: CEA asset-life tables).
DESIGN_LIFE_YEARS: Mapping[str, float] = {
    "ict": 35, "transformer": 35, "reactor": 35, "breaker": 30, "isolator": 35,
    "earth_switch": 35, "ct": 30, "cvt": 30, "lightning_arrester": 25, "capacitor_bank": 20,
}
#: The asset types a health index is computed for.
HEALTH_TYPES = tuple(DESIGN_LIFE_YEARS)
#: IEC 60076-7's normal insulation life at the reference hot-spot (98 °C), hours.
NORMAL_LIFE_H = 180_000.0
#: On-load tap-changer operations between overhauls (diverter switch, oil type).
OLTC_OVERHAUL_OPS = 100_000.0
#: IEC 62271-100 mechanical endurance class M2.
BREAKER_M2_OPS = 10_000.0
#: The cap: index ≤ worst factor + this.
WORST_FACTOR_MARGIN = 20.0
#: Index bands (the words on screen) and the end-of-life threshold of remaining life.
BANDS = ((85.0, "Good"), (70.0, "Fair"), (50.0, "Poor"), (0.0, "Very poor"))
END_OF_LIFE_INDEX = 25.0

_OIL_TYPES = ("ict", "transformer", "reactor")

#: Factor weights by asset type (renormalised over the factors that have data).
WEIGHTS: Mapping[str, Mapping[str, float]] = {
    "ict": {"dga": 0.30, "thermal": 0.20, "moisture": 0.10, "bushings": 0.15, "oltc": 0.10,
            "age": 0.15},
    "transformer": {"dga": 0.30, "thermal": 0.20, "moisture": 0.10, "bushings": 0.15,
                    "oltc": 0.10, "age": 0.15},
    "reactor": {"dga": 0.35, "thermal": 0.20, "moisture": 0.10, "bushings": 0.15, "age": 0.20},
    "breaker": {"contact_wear": 0.30, "operations": 0.15, "sf6": 0.35, "age": 0.20},
    "lightning_arrester": {"arrester_leakage": 0.70, "age": 0.30},
}
_AGE_ONLY = {"age": 1.0}


class HealthInputError(ValueError):
    """Condition data the index cannot use (a field named in the message)."""


@dataclass(frozen=True)
class Factor:
    """One factor of an index: its score, weight, the measured value behind it, and why."""

    name: str
    score: float
    weight: float
    value: float
    unit: str
    basis: str

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "score": round(self.score, 1),
                "weight": round(self.weight, 3), "value": _round(self.value),
                "unit": self.unit, "basis": self.basis}


@dataclass(frozen=True)
class Condition:
    """What is known of one asset's condition at ``at``.

    ``latest``: quantity → its present values (one per point of that quantity, e.g. six
    bushing tan δ); ``dga_history``: dated analyses, {gas: ppm} with the IEEE gas names;
    ``sf6_history``: dated gas densities, bar; ``oltc_ops_since_overhaul`` when known."""

    asset: Asset
    at: dt.datetime
    latest: Mapping[str, Sequence[float]] = field(default_factory=dict)
    dga_history: Sequence[tuple[dt.datetime, Mapping[str, float]]] = ()
    sf6_history: Sequence[tuple[dt.datetime, float]] = ()
    oltc_ops_since_overhaul: float | None = None

    @property
    def age_years(self) -> float:
        born = dt.datetime.combine(self.asset.nameplate.commissioned, dt.time(),
                                   tzinfo=dt.UTC)
        return max(0.0, (self.at - born).total_seconds() / (365.25 * 86400))

    def values(self, quantity: str) -> list[float]:
        return [float(v) for v in self.latest.get(quantity, ()) if math.isfinite(float(v))]


@dataclass(frozen=True)
class HealthIndex:
    """An asset's index, band, factors (weights as used), and what was left out."""

    asset: str
    asset_type: str
    at: dt.datetime
    index: float
    band: str
    factors: tuple[Factor, ...]
    missing: tuple[str, ...] = ()
    capped_by: str | None = None

    @property
    def worst(self) -> Factor | None:
        return min(self.factors, key=lambda f: f.score, default=None)

    def as_dict(self) -> dict[str, object]:
        return {"asset": self.asset, "asset_type": self.asset_type,
                "at": self.at.isoformat(), "index": round(self.index, 1), "band": self.band,
                "factors": [f.as_dict() for f in self.factors], "missing": list(self.missing),
                "capped_by": self.capped_by}


def band_of(index: float) -> str:
    for lower, name in BANDS:
        if index >= lower:
            return name
    return BANDS[-1][1]


def curve(x: float, points: Sequence[tuple[float, float]]) -> float:
    """Piecewise-linear score through (value, score) points sorted by value; flat outside."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _round(v: float) -> float:
    return float(f"{v:.4g}") if math.isfinite(v) and abs(v) < 1e4 else round(v, 1)


# ---------------------------------------------------------------------------- factors
def _dga(c: Condition) -> tuple[float, float, str, str] | None:
    hist = [(t, {g: float(v) for g, v in gases.items() if g in IEEE_GASES})
            for t, gases in c.dga_history]
    hist = [(t, g) for t, g in hist if g]
    if not hist:
        return None
    status = ieee_status(hist, age_years=c.age_years)
    score = {1: 100.0, 2: 55.0, 3: 15.0}[status.status]
    return score, float(status.status), "status", "IEEE C57.104-2019: " + status.explanation


def _thermal(c: Condition) -> tuple[float, float, str, str] | None:
    rate, lol = c.values("ageing_rate"), c.values("loss_of_life_h")
    if not rate and not lol:
        return None
    parts, score = [], 100.0
    if rate:
        v = max(rate)
        s = curve(math.log2(max(v, 1e-9)), ((0.0, 100.0), (1.0, 70.0), (3.0, 25.0),
                                             (5.0, 5.0)))
        score = min(score, s)
        parts.append(f"relative ageing rate {v:.2f} pu (IEC 60076-7, 1.0 at 98 °C hot-spot)")
    value, unit = (max(rate), "pu") if rate else (0.0, "pu")
    if lol:
        used = max(lol) / NORMAL_LIFE_H
        score = min(score, curve(used * 100, ((0.0, 100.0), (100.0, 0.0))))
        parts.append(f"loss of life {max(lol):,.0f} h = {used * 100:.1f} % of the "
                     f"{NORMAL_LIFE_H:,.0f} h normal life")
        if not rate:
            value, unit = max(lol), "h"
    return score, value, unit, "; ".join(parts)


def _moisture(c: Condition) -> tuple[float, float, str, str] | None:
    v = c.values("oil_moisture_ppm")
    if not v:
        return None
    x = max(v)
    return (curve(x, ((10.0, 100.0), (15.0, 60.0), (25.0, 20.0), (40.0, 0.0))), x, "ppm",
            f"water in oil {x:.1f} ppm (IEC 60422, U ≥ 170 kV: good < 10, poor > 15)")


def _bushings(c: Condition) -> tuple[float, float, str, str] | None:
    v = c.values("bushing_tan_delta_pct")
    if not v:
        return None
    x = max(v)
    return (curve(x, ((0.5, 100.0), (0.7, 60.0), (1.0, 20.0), (1.5, 0.0))), x, "%",
            f"worst bushing tan δ {x:.2f} % of {len(v)} (OIP: ≤ 0.5 % new, > 0.7 % "
            "investigate, > 1.0 % replace)")


def _oltc(c: Condition) -> tuple[float, float, str, str] | None:
    ops = c.oltc_ops_since_overhaul
    if ops is None or c.asset.type not in ("ict", "transformer"):
        return None
    k = OLTC_OVERHAUL_OPS
    return (curve(ops, ((0.0, 100.0), (k, 40.0), (1.5 * k, 10.0))), ops, "ops",
            f"{ops:,.0f} tap-changer operations since overhaul (interval {k:,.0f})")


def _contact_wear(c: Condition) -> tuple[float, float, str, str] | None:
    v = c.values("contact_wear_pct")
    if not v:
        return None
    x = max(v)
    ka = c.asset.nameplate.breaking_ka
    rating = f" of the {ka:g} kA rating's electrical endurance" if ka else ""
    return (curve(x, ((0.0, 100.0), (80.0, 25.0), (100.0, 0.0))), x, "%",
            f"contact wear (ΣI²t interrupted) {x:.1f} %{rating}")


def _operations(c: Condition) -> tuple[float, float, str, str] | None:
    v = c.values("operations")
    if not v:
        return None
    x = max(v)
    return (curve(x, ((0.0, 100.0), (BREAKER_M2_OPS, 30.0), (2 * BREAKER_M2_OPS, 0.0))),
            x, "ops", f"{x:,.0f} operations (IEC 62271-100 class M2: {BREAKER_M2_OPS:,.0f})")


def sf6_leak_bar_per_day(history: Sequence[tuple[dt.datetime, float]]) -> float | None:
    """Least-squares slope of the gas density, bar/day (negative = losing gas); None with
    fewer than 3 readings or less than a day between the first and the last."""
    pts = sorted((t, float(b)) for t, b in history if math.isfinite(float(b)))
    if len(pts) < 3:
        return None
    t0 = pts[0][0]
    x = [(t - t0).total_seconds() / 86400 for t, _ in pts]
    if x[-1] - x[0] < 1.0:
        return None
    y = [b for _, b in pts]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sxx


def _sf6(c: Condition) -> tuple[float, float, str, str] | None:
    v = c.values("sf6_pressure_bar")
    np_ = c.asset.nameplate
    if not v or np_.sf6_alarm_bar is None:
        return None
    bar = min(v)
    margin = bar - np_.sf6_alarm_bar
    slope = sf6_leak_bar_per_day(c.sf6_history)
    if margin <= 0:
        return 0.0, bar, "bar", (f"gas density {bar:.2f} bar at or below the alarm stage "
                                 f"{np_.sf6_alarm_bar:.2f} bar")
    rated = np_.sf6_rated_bar or bar
    # IEC 62271-1: a leak of 0.5 %/year of the rated filling is within the design.
    design_leak = 0.005 * rated / 365.25
    if slope is None or -slope <= design_leak:
        days = math.inf
        text = (f"gas density {bar:.2f} bar, {margin:.2f} bar above the alarm stage; no leak "
                "beyond the design rate" + ("" if slope is not None else " (too few readings "
                                            "for a rate)"))
    else:
        days = margin / -slope
        text = (f"gas density {bar:.2f} bar falling {-slope * 365.25:.3f} bar/year: the alarm "
                f"stage {np_.sf6_alarm_bar:.2f} bar in {days:,.0f} days")
    score = 100.0 if math.isinf(days) else curve(days, ((0.0, 0.0), (90.0, 35.0),
                                                        (365.0, 70.0), (1095.0, 100.0)))
    return score, bar, "bar", "IEC 62271-1: " + text


def _arrester(c: Condition) -> tuple[float, float, str, str] | None:
    point = next((p for p in c.asset.points if p.quantity == "resistive_leakage_ma"), None)
    v = c.values("resistive_leakage_ma")
    if not v or point is None or point.hi is None:
        return None
    x, lim = max(v), point.hi
    return (curve(x / lim, ((0.5, 100.0), (1.0, 50.0), (1.5, 10.0), (2.0, 0.0))), x, "mA",
            f"resistive leakage {x:.3f} mA against {lim:g} mA (IEC 60099-5: the resistive "
            "component grows as the ZnO blocks degrade)")


def _age(c: Condition) -> tuple[float, float, str, str]:
    life = DESIGN_LIFE_YEARS.get(c.asset.type, 30.0)
    a = c.age_years
    return (curve(a / life, ((0.0, 100.0), (0.75, 65.0), (1.0, 35.0), (1.25, 10.0))), a,
            "years", f"{a:.1f} years in service of a {life:g}-year design life")


_FACTORS = {"dga": _dga, "thermal": _thermal, "moisture": _moisture, "bushings": _bushings,
            "oltc": _oltc, "contact_wear": _contact_wear, "operations": _operations,
            "sf6": _sf6, "arrester_leakage": _arrester, "age": _age}


def health_index(c: Condition) -> HealthIndex:
    """The index of ``c.asset`` from its condition (see the module notes)."""
    if c.at.tzinfo is None:
        raise HealthInputError(f"{c.asset.id}: 'at' must be timezone-aware")
    weights = WEIGHTS.get(c.asset.type, _AGE_ONLY)
    got: list[tuple[str, tuple[float, float, str, str], float]] = []
    missing: list[str] = []
    for name, w in weights.items():
        r = _FACTORS[name](c)
        if r is None:
            missing.append(name)
        else:
            got.append((name, r, w))
    total_w = sum(w for _, _, w in got)
    factors = tuple(Factor(name, max(0.0, min(100.0, r[0])), w / total_w, r[1], r[2], r[3])
                    for name, r, w in got)
    mean = sum(f.score * f.weight for f in factors)
    worst = min(factors, key=lambda f: f.score)
    index, capped_by = mean, None
    if worst.score + WORST_FACTOR_MARGIN < mean:
        index, capped_by = worst.score + WORST_FACTOR_MARGIN, worst.name
    return HealthIndex(c.asset.id, c.asset.type, c.at, index, band_of(index), factors,
                       tuple(missing), capped_by)
