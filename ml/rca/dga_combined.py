"""One DGA diagnosis from three methods, with a confidence.

:func:`diagnose` always names the most likely fault class among PD, D1, D2, T1, T2, T3 and DT
(:data:`FAULT_CLASSES`), whether or not interpretation is warranted (``warranted`` says that: a
gas above its typical value, as in :mod:`ml.rca.dga`). Three methods vote:

* **Duval Triangle 1** (weight 1): its zone. DT, the triangle's zone for a mixture of thermal
  and electrical faults it cannot separate, votes at half strength.
* **Duval Pentagon 1** (weight 1): its zone; S (stray gassing) is no fault class and votes
  half T1 and half PD, the two low-energy classes nearest it on the pentagon.
* **IEC 60599 ratios** (weight ½: the table leaves many analyses outside every row and its D1
  and D2 rows overlap): its code; D1/D2 votes half each, ND not at all.

When the pentagon and the ratios point at faults of different families (one thermal, T1–T3,
the other electrical, PD–D2) the smaller of the two shares also votes DT: that disagreement is
what a mixture looks like.

**Measurement uncertainty.** A zone boundary is a line; an analysis near it is in either zone
within the laboratory's uncertainty. Each method therefore votes with the share of the zones it
gives over the measured analysis and :data:`DEFAULT_DRAWS` perturbed copies of it: each gas
drawn normally around its value with a standard deviation of 7.5 % of the value (a ±15 %
uncertainty at 95 %) combined with half the gas's detection limit
(:data:`DETECTION_LIMIT_PPM`, typical laboratory figures; a gas reported as 0 is below its
detection limit, not absent). The draws use a fixed seed, so the result is reproducible.

**Confidence** is the winning class's share of all the votes (0–1): 1 when the three methods
agree and no analysis within the uncertainty changes any of them.

Nothing here is fitted: the weights and the rules above were set from the methods' published
descriptions before any evaluation, and the IEC TC 10 inspected cases (Duval & dePablo 2001)
are kept for testing only (:mod:`ml.rca.dga_eval`).

A gas not measured (absent, or None) leaves out the methods that need it: the ratios and the
pentagon need all five of H2, CH4, C2H6, C2H4, C2H2; the triangle CH4, C2H4 and C2H2.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ml.rca.dga import (
    FAULTS,
    GASES,
    REQUIRED,
    DgaInputError,
    above_typical,
    duval_zone,
    pentagon_centroid,
    pentagon_zone,
    pentagon_zone_interior,
    three_ratio,
)

FAULT_CLASSES = ("PD", "D1", "D2", "T1", "T2", "T3", "DT")
THERMAL = ("T1", "T2", "T3")
ELECTRICAL = ("PD", "D1", "D2")
WEIGHT_TRIANGLE = 1.0
WEIGHT_PENTAGON = 1.0
WEIGHT_RATIOS = 0.5
DT_VOTE = 0.5
RELATIVE_SIGMA = 0.075
DETECTION_LIMIT_PPM = MappingProxyType({"H2": 5.0, "CH4": 1.0, "C2H6": 1.0, "C2H4": 1.0,
                                        "C2H2": 0.5, "CO": 25.0, "CO2": 25.0})
DEFAULT_DRAWS = 200

_TRIANGLE_GASES = ("CH4", "C2H4", "C2H2")
_ZONE_VOTES: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "S": {"T1": 0.5, "PD": 0.5}, "D1/D2": {"D1": 0.5, "D2": 0.5}, "DT": {"DT": DT_VOTE},
    "ND": {}})


@dataclass(frozen=True, slots=True)
class CombinedDiagnosis:
    """The combined answer for one analysis."""

    fault: str
    """One of FAULT_CLASSES."""
    confidence: float
    scores: Mapping[str, float]
    """Each class's share of the votes (they sum to 1, or are all 0 with no evidence)."""
    warranted: bool
    above_typical: tuple[str, ...]
    duval1_zone: str
    """Triangle 1 zone of the analysis as measured ("ND": not computable)."""
    pentagon_zone: str
    ratio_code: str
    method_votes: Mapping[str, Mapping[str, float]]
    """Per method, the share of each class over the measured and perturbed analyses."""
    basis: str
    explanation: str
    ppm: Mapping[str, float]

    @property
    def fault_name(self) -> str:
        return FAULTS[self.fault]

    def as_dict(self) -> dict[str, object]:
        return {"fault": self.fault, "fault_name": self.fault_name,
                "confidence": round(self.confidence, 4), "warranted": self.warranted,
                "above_typical": list(self.above_typical), "duval1_zone": self.duval1_zone,
                "pentagon_zone": self.pentagon_zone, "ratio_code": self.ratio_code,
                "scores": {k: round(v, 4) for k, v in self.scores.items()},
                "basis": self.basis, "explanation": self.explanation}


# ----------------------------------------------------------------------------- input
def measured_gases(ppm: Mapping[str, float | None], what: str = "sample") -> dict[str, float]:
    """The gases measured in an analysis (absent or None: not measured), checked."""
    if not isinstance(ppm, Mapping):
        raise DgaInputError(f"{what}: expected a mapping of gas to ppm, got {type(ppm).__name__}")
    out: dict[str, float] = {}
    for k, raw in ppm.items():
        gas = str(k).strip().upper().removesuffix("_PPM")
        if gas not in GASES or raw is None:
            continue
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise DgaInputError(f"{what}: {gas} = {raw!r} is not a number") from None
        if not math.isfinite(v) or v < 0:
            raise DgaInputError(f"{what}: {gas} = {v!r} ppm is not a concentration")
        out[gas] = v
    return out


# ----------------------------------------------------------------------------- methods
def _triangle(g: Mapping[str, float]) -> str:
    total = g["CH4"] + g["C2H4"] + g["C2H2"]
    if total <= 0:
        return "ND"
    return duval_zone(100 * g["CH4"] / total, 100 * g["C2H4"] / total, 100 * g["C2H2"] / total)


def _pentagon(g: Mapping[str, float]) -> str:
    if sum(g[k] for k in REQUIRED) <= 0:
        return "ND"
    return pentagon_zone(*pentagon_centroid(g))


def _pentagon_drawn(g: Mapping[str, float]) -> str:
    if sum(g[k] for k in REQUIRED) <= 0:
        return "ND"
    return pentagon_zone_interior(*pentagon_centroid(g))


def _ratios(g: Mapping[str, float]) -> str:
    return three_ratio(g).code


def _methods(g: Mapping[str, float]) -> dict[str, object]:
    have = set(g)
    out: dict[str, object] = {}
    if have >= set(_TRIANGLE_GASES):
        out["triangle"] = _triangle
    if have >= set(REQUIRED):
        out["pentagon"] = _pentagon
        out["ratios"] = _ratios
    return out


def _vote(zone: str) -> Mapping[str, float]:
    if zone in _ZONE_VOTES:
        return _ZONE_VOTES[zone]
    return {zone: 1.0}


def _perturbed(g: Mapping[str, float], rng: random.Random) -> dict[str, float]:
    out = {}
    for gas, v in g.items():
        sigma = math.hypot(RELATIVE_SIGMA * v, DETECTION_LIMIT_PPM.get(gas, 1.0) / 2)
        out[gas] = max(0.0, v + rng.gauss(0.0, sigma))
    return out


def method_votes(g: Mapping[str, float], *, draws: int = DEFAULT_DRAWS, seed: int = 0
                 ) -> tuple[dict[str, str], dict[str, dict[str, float]], dict[str, float]]:
    """Each method's zone for the analysis as measured, its vote shares over it and ``draws``
    perturbed copies (see the module notes), and the share of those copies in the measured
    zone. A method whose zone is "ND" (no diagnosis) has no votes: the draws refine an answer,
    they do not make one out of noise around zero."""
    methods = _methods(g)
    zones = {name: fn(g) for name, fn in methods.items()}  # type: ignore[operator]
    methods = {name: fn for name, fn in methods.items() if zones[name] != "ND"}
    if "pentagon" in methods:
        methods["pentagon"] = _pentagon_drawn
    shares: dict[str, dict[str, float]] = {name: {} for name in methods}
    same = dict.fromkeys(methods, 0.0)
    rng = random.Random(seed)
    copies = [g] + [_perturbed(g, rng) for _ in range(draws)]
    for copy in copies:
        for name, fn in methods.items():
            zone = zones[name] if copy is g else fn(copy)  # type: ignore[operator]
            same[name] += (zone == zones[name]) / len(copies)
            for cls, v in _vote(zone).items():
                shares[name][cls] = shares[name].get(cls, 0.0) + v / len(copies)
    return zones, shares, same


def combine(shares: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The weighted vote over FAULT_CLASSES (unnormalised)."""
    weights = {"triangle": WEIGHT_TRIANGLE, "pentagon": WEIGHT_PENTAGON, "ratios": WEIGHT_RATIOS}
    score = dict.fromkeys(FAULT_CLASSES, 0.0)
    for name, vote in shares.items():
        for cls, v in vote.items():
            score[cls] += weights[name] * v
    others: dict[str, float] = {}
    for name in ("pentagon", "ratios"):
        for cls, v in shares.get(name, {}).items():
            others[cls] = others.get(cls, 0.0) + weights[name] * v
    thermal = sum(others.get(c, 0.0) for c in THERMAL)
    electrical = sum(others.get(c, 0.0) for c in ELECTRICAL)
    score["DT"] += min(thermal, electrical)
    return score


def _pick(score: Mapping[str, float], zones: Mapping[str, str]) -> str:
    """The highest score; ties go to the pentagon's zone, then the triangle's, then the ratios',
    then the order of FAULT_CLASSES."""
    best = max(score.values())
    tied = [c for c in FAULT_CLASSES if score[c] >= best - 1e-12]
    for name in ("pentagon", "triangle", "ratios"):
        for cls in _vote(zones.get(name, "ND")):
            if cls in tied:
                return cls
    return tied[0]


# ----------------------------------------------------------------------------- diagnosis
def diagnose(ppm: Mapping[str, float | None], *, previous: Mapping[str, float | None] | None = None,
             typical: Mapping[str, float] | None = None, oltc_communicating: bool = False,
             draws: int = DEFAULT_DRAWS, seed: int = 0) -> CombinedDiagnosis:
    """Diagnose one analysis with Triangle 1, Pentagon 1 and the IEC ratios combined.

    ``previous``: an earlier analysis of the same oil; the methods then read the increase since
    it (IEC 60599's advice for a fault on top of a unit's background gases); ``warranted``
    always judges the analysis itself. ``typical``: ppm per gas above which a gas is above
    typical (default: the top of the IEC 60599 90 % ranges)."""
    now = measured_gases(ppm)
    high = above_typical({**dict.fromkeys(REQUIRED, 0.0), **now}, typical=typical,
                         oltc_communicating=oltc_communicating)
    high = tuple(gas for gas in high if gas in now)
    used = now
    basis = "concentrations"
    if previous is not None:
        before = measured_gases(previous, "previous analysis")
        used = {gas: max(0.0, v - before[gas]) if gas in before else v for gas, v in now.items()}
        basis = "increase since the previous analysis"
    zones, shares, same = method_votes(used, draws=draws, seed=seed)
    raw = combine(shares)
    total = sum(raw.values())
    scores = {c: (v / total if total > 0 else 0.0) for c, v in raw.items()}
    if total > 0:
        fault = _pick(raw, zones)
        confidence = scores[fault]
    else:
        fault, confidence = "T1", 0.0
    tri, pen, rat = (zones.get("triangle", "ND"), zones.get("pentagon", "ND"),
                     zones.get("ratios", "ND"))
    explanation = _explain(fault, confidence, used, zones, same, high, basis, total > 0)
    return CombinedDiagnosis(fault, confidence, MappingProxyType(scores), bool(high), high,
                             tri, pen, rat,
                             MappingProxyType({k: MappingProxyType(v) for k, v in shares.items()}),
                             basis, explanation, MappingProxyType(dict(used)))


def _explain(fault: str, confidence: float, g: Mapping[str, float], zones: Mapping[str, str],
             same: Mapping[str, float], high: tuple[str, ...], basis: str,
             evidence: bool) -> str:
    if not evidence:
        missing = [gas for gas in REQUIRED if gas not in g]
        why = (f"{', '.join(missing)} not measured" if missing
               else "no H2 or hydrocarbon above zero")
        text = f"no evidence for any fault ({why}); T1 named only because a class is required"
    else:
        parts = []
        names = {"triangle": "Triangle 1", "pentagon": "Pentagon 1", "ratios": "IEC ratios"}
        for name in ("triangle", "pentagon", "ratios"):
            if name not in zones:
                parts.append(f"{names[name]} not computable (a gas not measured)")
                continue
            if zones[name] == "ND":
                parts.append(f"{names[name]} no diagnosis")
                continue
            firm = same[name]
            parts.append(f"{names[name]} {zones[name]}" + (
                f" (holds for {100 * firm:.0f} % of the analyses within measurement uncertainty)"
                if firm < 0.995 else ""))
        text = (f"{fault} ({FAULTS[fault]}), confidence {confidence:.2f}: " + "; ".join(parts))
    if high:
        text += f"; above typical: {', '.join(high)}"
    else:
        text += "; no gas above its typical value: interpretation not warranted"
    return text + f"; from the {basis}"
