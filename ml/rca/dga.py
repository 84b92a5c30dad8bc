"""Dissolved-gas analysis (DGA) interpretation for mineral-oil transformers: IEC 60599, Duval.

Three methods, each on its own; :func:`interpret` combines the first two as IEC 60599 does
(:mod:`ml.rca.dga_combined` weighs all three):

* **the three basic gas ratios** of IEC 60599 (Table 1 of the standard, the same limits in its
  2015 and 2022 editions): C2H2/C2H4, CH4/H2 and C2H4/C2H6 ("NS": not significant, whatever
  its value):

  ====  =================================  ==========  ==========  ==========
  code  fault                              C2H2/C2H4   CH4/H2      C2H4/C2H6
  ====  =================================  ==========  ==========  ==========
  PD    partial discharges                 NS          < 0.1       < 0.2
  D1    discharges of low energy           > 1         0.1 – 0.5   > 1
  D2    discharges of high energy          0.6 – 2.5   0.1 – 1     > 2
  T1    thermal fault, t < 300 °C          NS          > 1 but NS  < 1
  T2    thermal fault, 300 °C < t < 700 °C < 0.1       > 1         1 – 4
  T3    thermal fault, t > 700 °C          < 0.2       > 1         > 4
  ====  =================================  ==========  ==========  ==========

  D1 and D2 overlap (the standard then gives the dual attribution "D1/D2"); ratios that fit
  no row give no diagnosis ("ND"), and the standard refers to the triangle.

* **Duval Triangle 1** (IEC 60599 Annex B): the relative percentages of CH4, C2H4 and C2H2 place
  the sample in one zone. Zone limits (:data:`DUVAL1_LIMITS`, as published by Duval and in
  IEEE C57.104-2019):

  ====  ========================================================================
  PD    CH4 ≥ 98 %
  D1    C2H2 ≥ 13 %, C2H4 < 23 %
  D2    C2H2 ≥ 13 %, C2H4 ≥ 23 %, and C2H4 < 40 % or C2H2 ≥ 29 %
  T1    C2H2 < 4 %, C2H4 < 20 %  (CH4 < 98 %)
  T2    C2H2 < 4 %, 20 % ≤ C2H4 < 50 %
  T3    C2H2 < 15 %, C2H4 ≥ 50 %
  DT    the rest (mixtures of thermal and electrical faults)
  ====  ========================================================================

* **Duval Pentagon 1** (Duval & Lamarre, "The Duval Pentagon — a new complementary tool for the
  interpretation of dissolved gas analysis in transformers", IEEE Electrical Insulation
  Magazine 30(6), 2014, pp. 9–12; the same pentagon in IEEE C57.104-2019, Annex): the relative
  percentages of H2, C2H6, CH4, C2H4 and C2H2 are plotted on five axes 72° apart (H2 up, then
  counter-clockwise C2H6, CH4, C2H4, C2H2), and the centroid of the irregular pentagon they
  draw falls in one of seven zones. The zone polygons (:data:`PENTAGON1_ZONES`, x/y in the
  pentagon's own units, outer radius 40) are the coordinates Duval and Lamarre tabulated:

  ====  =========================================================================
  PD    (0, 33), (-1, 33), (-1, 24.5), (0, 24.5)
  D1    (0, 40), (38, 12), (32, -6.1), (4, 16), (0, 1.5)
  D2    (4, 16), (32, -6.1), (24.3, -30), (0, -3), (0, 1.5)
  T3    (0, -3), (24.3, -30), (23.5, -32.4), (1, -32.4), (-6, -4)
  T2    (-6, -4), (1, -32.4), (-22.5, -32.4)
  T1    (-6, -4), (-22.5, -32.4), (-23.5, -32.4), (-35, 3), (0, 1.5), (0, -3)
  S     (0, 1.5), (-35, 3.1), (-38, 12.4), (0, 40), (0, 33), (-1, 33), (-1, 24.5), (0, 24.5)
  ====  =========================================================================

  S is stray gassing of the oil (no fault). The published vertices are rounded to 0.1, so the
  polygons leave hairline gaps (between T1's (-35, 3) and S's (-35, 3.1), and along the rim
  where a vertex such as (38, 12) sits inside the true outer pentagon): a centroid inside no
  polygon goes to the nearest one, and one on a shared edge to the first of PD, S, D1, D2,
  T3, T2, T1 (:func:`pentagon_zone`; hydrogen alone lies on the D1/S edge and reads S). A gas at zero is taken at a vanishing 1e-9 % (the limit
  of the centroid as it tends to zero): one gas alone puts the centroid a third of the way up
  its axis.

The IEEE C57.104-2019 status (Tables 1–4 and its DGA status 1/2/3) is in
:mod:`ml.rca.dga_ieee`, the combined diagnosis with a confidence in :mod:`ml.rca.dga_combined`,
the CSV report in :mod:`ml.rca.dga_csv`.

Interpretation is warranted only when a gas is above its typical value (IEC 60599 clause 9:
the ratios "are significant and should be calculated only if at least one of the gas
concentrations … is above typical values"). :data:`IEC_TYPICAL_90PCT_PPM` holds the ranges of
90 % typical values the standard's Annex A reports for power transformers; by default a gas
is "above typical" past the top of its range (a network should use its own figures: pass
``typical=``). Acetylene is judged against the higher range when the on-load tap-changer
communicates with the main tank.

When an earlier analysis is given (``previous=``), the ratios and percentages are computed
from the *increase* since it, as IEC 60599 advises for a fault developing on top of the gases
a transformer already holds (otherwise the background of a healthy unit — a few ppm of C2H4,
for instance — masks a weak fault such as partial discharge for a long time).

Input: ppm per gas, keyed by formula (``"H2"``, ``"CH4"``, ``"C2H6"``, ``"C2H4"``, ``"C2H2"``,
``"CO"``, ``"CO2"``; case does not matter; CO and CO2 are optional). A missing, negative or
non-numeric concentration is refused with :class:`DgaInputError` naming the gas.

Qt-free and numpy-free: this is the base the root-cause analysis builds on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: The gases interpreted, by formula.
GASES = ("H2", "CH4", "C2H6", "C2H4", "C2H2", "CO", "CO2")
REQUIRED = ("H2", "CH4", "C2H6", "C2H4", "C2H2")

FAULTS = MappingProxyType({
    "PD": "partial discharges",
    "D1": "discharges of low energy",
    "D2": "discharges of high energy",
    "T1": "thermal fault below 300 °C",
    "T2": "thermal fault between 300 and 700 °C",
    "T3": "thermal fault above 700 °C",
    "DT": "mixture of thermal and electrical faults",
    "D1/D2": "discharges (low or high energy: the ratios fit both)",
    "ND": "no diagnosis (the ratios fit no row of the table)",
    "S": "stray gassing of the oil (Duval Pentagon 1), not a fault",
    "N": "normal: no gas above its typical value, interpretation not warranted",
})

METHOD_RATIOS = "IEC 60599 ratios"
METHOD_DUVAL = "Duval Triangle 1"
METHOD_PENTAGON = "Duval Pentagon 1"

#: IEC 60599 Annex A: ranges of 90 % typical concentrations in power transformers, ppm (µl/l).
IEC_TYPICAL_90PCT_PPM = MappingProxyType({
    "H2": (50.0, 150.0), "CH4": (30.0, 130.0), "C2H6": (20.0, 90.0), "C2H4": (60.0, 280.0),
    "C2H2": (2.0, 20.0), "CO": (400.0, 600.0), "CO2": (3800.0, 14000.0),
})
#: Acetylene in transformers whose OLTC communicates with the main tank.
IEC_TYPICAL_90PCT_C2H2_OLTC_PPM = (60.0, 280.0)


@dataclass(frozen=True, slots=True)
class DuvalLimits:
    """Duval Triangle 1 zone limits, in percent of CH4 + C2H4 + C2H2."""

    pd_ch4: float = 98.0
    d_c2h2: float = 13.0  # D1 and D2 from here up
    d1_c2h4: float = 23.0  # D1 below, D2 from here
    d2_c2h4: float = 40.0  # D2 below this C2H4 …
    d2_c2h2: float = 29.0  # … or from this C2H2 up
    t12_c2h2: float = 4.0  # T1 and T2 below this C2H2
    t1_c2h4: float = 20.0  # T1 below, T2 from here
    t3_c2h4: float = 50.0  # T2 below, T3 from here
    t3_c2h2: float = 15.0  # T3 below this C2H2


DUVAL1_LIMITS = DuvalLimits()


class DgaInputError(ValueError):
    """A concentration is missing or not a plausible number; the message names the gas."""


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One method's answer."""

    method: str  # METHOD_RATIOS or METHOD_DUVAL
    code: str  # a key of FAULTS
    values: Mapping[str, float]
    """The ratios ("C2H2/C2H4", "CH4/H2", "C2H4/C2H6") or percentages ("CH4 %", "C2H4 %",
    "C2H2 %") the answer rests on (inf where a denominator is zero and its numerator not)."""
    explanation: str

    @property
    def fault(self) -> str:
        return FAULTS[self.code]


@dataclass(frozen=True, slots=True)
class Interpretation:
    """The combined answer for one analysis."""

    code: str
    """The conclusion: a fault code, "N" when interpretation is not warranted, or "ND"."""
    warranted: bool
    above_typical: tuple[str, ...]
    """Gases above their typical value."""
    basis: str
    """"concentrations" or "increase since the previous analysis"."""
    ratios: Diagnosis
    duval: Diagnosis
    agreed: bool
    """Both methods gave the same single fault code."""
    explanation: str
    ppm: Mapping[str, float] = field(default_factory=dict)
    """The gases used (increases when ``basis`` says so)."""

    @property
    def fault(self) -> str:
        return FAULTS[self.code]


# ----------------------------------------------------------------------------- input
def _normalise(ppm: Mapping[str, float], what: str = "sample") -> dict[str, float]:
    if not isinstance(ppm, Mapping):
        raise DgaInputError(f"{what}: expected a mapping of gas to ppm, got {type(ppm).__name__}")
    by_upper = {}
    for k, v in ppm.items():
        key = str(k).strip().upper()
        if key.endswith("_PPM"):
            key = key[:-4]
        by_upper[key] = v
    out: dict[str, float] = {}
    for gas in GASES:
        if gas not in by_upper:
            if gas in REQUIRED:
                raise DgaInputError(f"{what}: {gas} is missing (need {', '.join(REQUIRED)})")
            continue
        raw = by_upper[gas]
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise DgaInputError(f"{what}: {gas} = {raw!r} is not a number") from None
        if not math.isfinite(v) or v < 0:
            raise DgaInputError(f"{what}: {gas} = {v!r} ppm is not a concentration")
        out[gas] = v
    return out


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


# ----------------------------------------------------------------------------- methods
def gas_ratios(ppm: Mapping[str, float]) -> dict[str, float]:
    """The three IEC 60599 ratios of a sample."""
    g = _normalise(ppm)
    return {"C2H2/C2H4": _ratio(g["C2H2"], g["C2H4"]), "CH4/H2": _ratio(g["CH4"], g["H2"]),
            "C2H4/C2H6": _ratio(g["C2H4"], g["C2H6"])}


def three_ratio(ppm: Mapping[str, float]) -> Diagnosis:
    """Classify with the IEC 60599 three-ratio table (see the module notes)."""
    g = _normalise(ppm)
    r = gas_ratios(g)
    r1, r2, r5 = r["C2H2/C2H4"], r["CH4/H2"], r["C2H4/C2H6"]
    shown = f"C2H2/C2H4 = {_fmt(r1)}, CH4/H2 = {_fmt(r2)}, C2H4/C2H6 = {_fmt(r5)}"
    if not any(g[k] for k in REQUIRED):
        return Diagnosis(METHOD_RATIOS, "ND", r, "no H2 or hydrocarbons to interpret")
    d1 = r1 > 1 and 0.1 <= r2 <= 0.5 and r5 > 1
    d2 = 0.6 <= r1 <= 2.5 and 0.1 <= r2 <= 1 and r5 > 2
    rows = [
        ("PD", r2 < 0.1 and r5 < 0.2, "CH4/H2 < 0.1 and C2H4/C2H6 < 0.2"),
        ("D1/D2", d1 and d2, "within both the D1 and the D2 rows (the table's overlap)"),
        ("D1", d1, "C2H2/C2H4 > 1, CH4/H2 in 0.1–0.5, C2H4/C2H6 > 1"),
        ("D2", d2, "C2H2/C2H4 in 0.6–2.5, CH4/H2 in 0.1–1, C2H4/C2H6 > 2"),
        ("T1", r5 < 1, "C2H4/C2H6 < 1 (CH4/H2 typically > 1, not significant)"),
        ("T2", r1 < 0.1 and r2 > 1 and 1 <= r5 <= 4, "C2H2/C2H4 < 0.1, CH4/H2 > 1, "
                                                    "C2H4/C2H6 in 1–4"),
        ("T3", r1 < 0.2 and r2 > 1 and r5 > 4, "C2H2/C2H4 < 0.2, CH4/H2 > 1, C2H4/C2H6 > 4"),
    ]
    for code, hit, why in rows:
        if hit:
            return Diagnosis(METHOD_RATIOS, code, r, f"{shown}: {why} → {FAULTS[code]}")
    return Diagnosis(METHOD_RATIOS, "ND", r, f"{shown}: outside every row of IEC 60599 "
                                              "Table 1; see the Duval triangle")


def duval_percentages(ppm: Mapping[str, float]) -> dict[str, float]:
    """CH4, C2H4 and C2H2 as percentages of their sum (all 0 when the sum is 0)."""
    g = _normalise(ppm)
    total = g["CH4"] + g["C2H4"] + g["C2H2"]
    if total <= 0:
        return {"CH4 %": 0.0, "C2H4 %": 0.0, "C2H2 %": 0.0}
    return {"CH4 %": 100 * g["CH4"] / total, "C2H4 %": 100 * g["C2H4"] / total,
            "C2H2 %": 100 * g["C2H2"] / total}


def duval_zone(ch4_pct: float, c2h4_pct: float, c2h2_pct: float,
               limits: DuvalLimits = DUVAL1_LIMITS) -> str:
    """The Triangle 1 zone of a point given in percent (they should sum to 100)."""
    L = limits  # noqa: N806
    if ch4_pct >= L.pd_ch4:
        return "PD"
    if c2h2_pct >= L.d_c2h2:
        if c2h4_pct < L.d1_c2h4:
            return "D1"
        if c2h4_pct < L.d2_c2h4 or c2h2_pct >= L.d2_c2h2:
            return "D2"
    if c2h2_pct < L.t12_c2h2:
        if c2h4_pct < L.t1_c2h4:
            return "T1"
        if c2h4_pct < L.t3_c2h4:
            return "T2"
    if c2h4_pct >= L.t3_c2h4 and c2h2_pct < L.t3_c2h2:
        return "T3"
    return "DT"


def duval_triangle_1(ppm: Mapping[str, float], limits: DuvalLimits = DUVAL1_LIMITS
                     ) -> Diagnosis:
    """Classify with Duval Triangle 1."""
    p = duval_percentages(ppm)
    shown = f"CH4 {p['CH4 %']:.1f} %, C2H4 {p['C2H4 %']:.1f} %, C2H2 {p['C2H2 %']:.1f} %"
    if sum(p.values()) == 0:
        return Diagnosis(METHOD_DUVAL, "ND", p, "no CH4, C2H4 or C2H2 to place in the triangle")
    code = duval_zone(p["CH4 %"], p["C2H4 %"], p["C2H2 %"], limits)
    return Diagnosis(METHOD_DUVAL, code, p, f"{shown}: zone {code}, {FAULTS[code]}")


# ----------------------------------------------------------------------------- pentagon
#: Duval Pentagon 1 zones, as published (see the module notes), in the pentagon's x/y units.
PENTAGON1_ZONES = MappingProxyType({
    "PD": ((0.0, 33.0), (-1.0, 33.0), (-1.0, 24.5), (0.0, 24.5)),
    "D1": ((0.0, 40.0), (38.0, 12.0), (32.0, -6.1), (4.0, 16.0), (0.0, 1.5)),
    "D2": ((4.0, 16.0), (32.0, -6.1), (24.3, -30.0), (0.0, -3.0), (0.0, 1.5)),
    "T3": ((0.0, -3.0), (24.3, -30.0), (23.5, -32.4), (1.0, -32.4), (-6.0, -4.0)),
    "T2": ((-6.0, -4.0), (1.0, -32.4), (-22.5, -32.4)),
    "T1": ((-6.0, -4.0), (-22.5, -32.4), (-23.5, -32.4), (-35.0, 3.0), (0.0, 1.5), (0.0, -3.0)),
    "S": ((0.0, 1.5), (-35.0, 3.1), (-38.0, 12.4), (0.0, 40.0), (0.0, 33.0), (-1.0, 33.0),
          (-1.0, 24.5), (0.0, 24.5)),
})
#: Axis of each gas, degrees counter-clockwise from the x axis (H2 straight up).
PENTAGON_AXES_DEG = MappingProxyType({"H2": 90.0, "C2H6": 162.0, "CH4": 234.0, "C2H4": 306.0,
                                      "C2H2": 18.0})
_PENTAGON_GASES = ("H2", "C2H6", "CH4", "C2H4", "C2H2")  # counter-clockwise from the top
_PENTAGON_ZERO_PCT = 1e-9
_ON_EDGE = 1e-9
_EDGE_PRECEDENCE = ("PD", "S", "D1", "D2", "T3", "T2", "T1")


def pentagon_percentages(ppm: Mapping[str, float]) -> dict[str, float]:
    """H2, C2H6, CH4, C2H4 and C2H2 as percentages of their sum (all 0 when the sum is 0)."""
    g = _normalise(ppm)
    total = sum(g[k] for k in _PENTAGON_GASES)
    if total <= 0:
        return {f"{k} %": 0.0 for k in _PENTAGON_GASES}
    return {f"{k} %": 100 * g[k] / total for k in _PENTAGON_GASES}


def pentagon_centroid(pct: Mapping[str, float]) -> tuple[float, float]:
    """Centroid of the pentagon drawn by five relative percentages (keys "H2 %" … or "H2" …).

    Each percentage is plotted on its gas's axis; the area centroid of the five points (the
    shoelace formula) is the point the zones are read at. A zero is taken at a vanishing
    value, so the centroid is the limit as that gas tends to zero."""
    vals = []
    for gas in _PENTAGON_GASES:
        v = pct[f"{gas} %"] if f"{gas} %" in pct else pct[gas]
        vals.append(max(float(v), _PENTAGON_ZERO_PCT))
    total = sum(vals)
    pts = []
    for gas, v in zip(_PENTAGON_GASES, vals, strict=True):
        a = math.radians(PENTAGON_AXES_DEG[gas])
        r = 100 * v / total
        pts.append((r * math.cos(a), r * math.sin(a)))
    area2 = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        area2 += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    return cx / (3 * area2), cy / (3 * area2)


def _inside(x: float, y: float, poly: tuple[tuple[float, float], ...]) -> bool:
    inside = False
    for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _edge_distance(x: float, y: float, poly: tuple[tuple[float, float], ...]) -> float:
    best = math.inf
    for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1], strict=True):
        dx, dy = x1 - x0, y1 - y0
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, ((x - x0) * dx + (y - y0) * dy)
                                               / (dx * dx + dy * dy)))
        best = min(best, math.hypot(x - x0 - t * dx, y - y0 - t * dy))
    return best


def pentagon_zone(x: float, y: float) -> str:
    """The Pentagon 1 zone of a centroid: on a shared edge the first of PD, S, D1, D2, T3, T2,
    T1 (so hydrogen alone, on the D1/S edge, reads S); inside one polygon that one; in none
    (the published rounding's hairline gaps) the nearest."""
    dist = {z: _edge_distance(x, y, poly) for z, poly in PENTAGON1_ZONES.items()}
    for z in _EDGE_PRECEDENCE:
        if dist[z] <= _ON_EDGE:
            return z
    for z, poly in PENTAGON1_ZONES.items():
        if _inside(x, y, poly):
            return z
    return min(dist, key=dist.__getitem__)


def pentagon_zone_interior(x: float, y: float) -> str:
    """:func:`pentagon_zone` without its exact-edge rule (for points drawn at random, which lie
    on an edge with probability zero): the polygon holding the point, else the nearest."""
    for z, poly in PENTAGON1_ZONES.items():
        if _inside(x, y, poly):
            return z
    return min(PENTAGON1_ZONES, key=lambda z: _edge_distance(x, y, PENTAGON1_ZONES[z]))


def duval_pentagon_1(ppm: Mapping[str, float]) -> Diagnosis:
    """Classify with Duval Pentagon 1 (zones PD, D1, D2, T1, T2, T3 and S, stray gassing).

    ``values`` holds the five percentages and the centroid ("x", "y")."""
    p = pentagon_percentages(ppm)
    if sum(p.values()) == 0:
        return Diagnosis(METHOD_PENTAGON, "ND", {**p, "x": 0.0, "y": 0.0},
                         "no H2 or hydrocarbons to place in the pentagon")
    x, y = pentagon_centroid(p)
    code = pentagon_zone(x, y)
    shown = ", ".join(f"{k[:-2]} {v:.1f} %" for k, v in p.items())
    return Diagnosis(METHOD_PENTAGON, code, {**p, "x": x, "y": y},
                     f"{shown}: centroid ({x:.1f}, {y:.1f}), zone {code}, {FAULTS[code]}")


def above_typical(ppm: Mapping[str, float], *, typical: Mapping[str, float] | None = None,
                  oltc_communicating: bool = False) -> tuple[str, ...]:
    """Gases above their typical value: by default the top of the IEC 60599 90 % ranges."""
    g = _normalise(ppm)
    limit = dict(typical) if typical is not None else typical_limits(oltc_communicating)
    return tuple(gas for gas in GASES if gas in g and gas in limit and g[gas] > limit[gas])


def typical_limits(oltc_communicating: bool = False) -> dict[str, float]:
    lim = {g: hi for g, (_lo, hi) in IEC_TYPICAL_90PCT_PPM.items()}
    if oltc_communicating:
        lim["C2H2"] = IEC_TYPICAL_90PCT_C2H2_OLTC_PPM[1]
    return lim


def interpret(ppm: Mapping[str, float], *, previous: Mapping[str, float] | None = None,
              typical: Mapping[str, float] | None = None,
              oltc_communicating: bool = False) -> Interpretation:
    """Interpret one analysis with both methods (see the module notes).

    ``previous``: an earlier analysis of the same oil; the ratios and percentages then use the
    increase since it. ``typical``: ppm per gas above which a gas counts as above typical."""
    now = _normalise(ppm)
    high = above_typical(now, typical=typical, oltc_communicating=oltc_communicating)
    basis = "concentrations"
    used = now
    if previous is not None:
        before = _normalise(previous, "previous analysis")
        used = {g: max(0.0, now[g] - before.get(g, 0.0)) for g in now}
        basis = "increase since the previous analysis"
    ratio = three_ratio(used)
    duval = duval_triangle_1(used)
    single = ratio.code in ("PD", "D1", "D2", "T1", "T2", "T3")
    agreed = single and ratio.code == duval.code
    if not high:
        code = "N"
        text = "no gas above its typical value: interpretation not warranted"
    elif agreed:
        code = ratio.code
        text = f"{FAULTS[code]}: the IEC 60599 ratios and Duval Triangle 1 agree"
    elif ratio.code == "D1/D2" and duval.code in ("D1", "D2"):
        code = duval.code
        text = f"{FAULTS[code]}: the ratios allow D1 or D2, the triangle places it in {code}"
    elif duval.code != "ND":
        code = duval.code
        text = (f"{FAULTS[code]} (Duval Triangle 1); the ratios give {ratio.code}"
                + (" — the methods disagree" if single else ""))
    else:
        code = ratio.code
        text = f"{FAULTS[code]} (ratios only)"
    if high:
        text += f"; above typical: {', '.join(high)}"
    text += f"; from the {basis}"
    return Interpretation(code, bool(high), high, basis, ratio, duval, agreed, text,
                          MappingProxyType(dict(used)))


def _fmt(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:.3g}"
