"""Ranked fault hypotheses for one transformer from its dated DGA history.

:func:`rank_hypotheses` is what the inference worker calls on a transformer's history
(``[(aware datetime, {gas: ppm}), …]``, any order). It returns the fault classes the combined
diagnosis (:mod:`ml.rca.dga_combined`) gives any real support, most likely first, each with

* ``evidence``: :class:`Evidence` items, a sentence and the numbers behind it (each method's
  zone, the gas percentages, the IEEE C57.104-2019 status with the levels, deltas and rates
  that set it);
* ``action``: the recommended action class if that hypothesis is the fault:

  ``immediate``   the unit is in IEEE DGA status 3 and the fault is one that can fail it
                  quickly — a high-energy discharge (D2) or a hot spot above 700 °C (T3) —
                  or status 3 with a gas rising faster than Table 4 allows and a D1, T2 or DT
                  fault;
  ``investigate`` status 2 or 3 otherwise (confirm with a new sample, find the source);
  ``maintain``    status 1: routine sampling.

Which analysis is diagnosed: when there is an earlier analysis and the latest shows a gas
changing faster than the guide's Table 3 or Table 4 allow, the *increase* since the previous
analysis (IEC 60599's advice for a fault developing on a unit's background gases); otherwise
the latest concentrations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from ml.rca.dga import FAULTS
from ml.rca.dga_combined import CombinedDiagnosis, diagnose, measured_gases
from ml.rca.dga_ieee import IeeeStatus, ieee_status

IMMEDIATE, INVESTIGATE, MAINTAIN = "immediate", "investigate", "maintain"
SEVERE = frozenset({"D2", "T3"})
MODERATE = frozenset({"D1", "T2", "DT"})
MIN_SHARE = 0.05
"""A class is a hypothesis when its share of the combined vote reaches this (the top one always
is)."""


@dataclass(frozen=True, slots=True)
class Evidence:
    text: str
    values: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Hypothesis:
    fault: str
    """One of PD, D1, D2, T1, T2, T3, DT."""
    fault_name: str
    probability: float
    """The class's share of the combined vote (0–1)."""
    action: str
    """IMMEDIATE, INVESTIGATE or MAINTAIN."""
    evidence: tuple[Evidence, ...]

    def as_dict(self) -> dict[str, object]:
        return {"fault": self.fault, "fault_name": self.fault_name,
                "probability": round(self.probability, 4), "action": self.action,
                "evidence": [{"text": e.text, "values": dict(e.values)} for e in self.evidence]}


def action_for(fault: str, status: IeeeStatus) -> str:
    """The action class if ``fault`` is the fault and the unit is in ``status``."""
    if status.status == 3:
        gassing = any(g.rate_exceeded for g in status.gases.values())
        if fault in SEVERE or (fault in MODERATE and gassing):
            return IMMEDIATE
        return INVESTIGATE
    return INVESTIGATE if status.status == 2 else MAINTAIN


def rank_hypotheses(history: Sequence[tuple[datetime, Mapping[str, float]]], *,
                    age_years: float | None = None, o2_n2: float | None = None,
                    typical: Mapping[str, float] | None = None,
                    oltc_communicating: bool = False) -> list[Hypothesis]:
    """Fault hypotheses for one transformer, most likely first (see the module notes).

    ``history``: its dated analyses; ``age_years``, ``o2_n2``: for the IEEE tables (see
    :func:`ml.rca.dga_ieee.ieee_status`); ``typical``, ``oltc_communicating``: for whether
    interpretation is warranted (see :func:`ml.rca.dga_combined.diagnose`)."""
    status = ieee_status(history, age_years=age_years, o2_n2=o2_n2)
    ordered = sorted(history, key=lambda item: item[0])
    latest = measured_gases(ordered[-1][1], f"analysis of {ordered[-1][0].isoformat()}")
    active = any(g.delta_exceeded or g.rate_exceeded for g in status.gases.values())
    previous = None
    if len(ordered) > 1 and active:
        previous = measured_gases(ordered[-2][1], f"analysis of {ordered[-2][0].isoformat()}")
    diag = diagnose(latest, previous=previous, typical=typical,
                    oltc_communicating=oltc_communicating)
    common = _status_evidence(status) + _warranted_evidence(diag)
    ranked = sorted(diag.scores.items(), key=lambda kv: -kv[1])
    out = []
    for k, (fault, share) in enumerate(ranked):
        if k and share < MIN_SHARE:
            break
        if k == 0 and fault != diag.fault:  # a tie the diagnosis broke otherwise
            fault, share = diag.fault, diag.scores[diag.fault]
        if any(h.fault == fault for h in out):
            continue
        out.append(Hypothesis(fault, FAULTS[fault], share, action_for(fault, status),
                              _method_evidence(fault, diag) + common))
    return out


def _method_evidence(fault: str, diag: CombinedDiagnosis) -> tuple[Evidence, ...]:
    g = diag.ppm
    out = [Evidence(f"combined vote for {fault}: {100 * diag.scores[fault]:.0f} % (from the "
                    f"{diag.basis})", MappingProxyType({"share": diag.scores[fault]}))]
    names = {"triangle": ("Duval Triangle 1", diag.duval1_zone),
             "pentagon": ("Duval Pentagon 1", diag.pentagon_zone),
             "ratios": ("IEC 60599 ratios", diag.ratio_code)}
    for method, (name, zone) in names.items():
        share = diag.method_votes.get(method, {}).get(fault, 0.0)
        if share <= 0:
            continue
        values: dict[str, float] = {"vote_share": share}
        if method == "triangle":
            total = g.get("CH4", 0) + g.get("C2H4", 0) + g.get("C2H2", 0)
            values.update({f"{k} %": 100 * g[k] / total for k in ("CH4", "C2H4", "C2H2")}
                          if total else {})
        elif method == "pentagon":
            total = sum(g.get(k, 0) for k in ("H2", "C2H6", "CH4", "C2H4", "C2H2"))
            values.update({f"{k} %": 100 * g[k] / total
                           for k in ("H2", "C2H6", "CH4", "C2H4", "C2H2")} if total else {})
        else:
            values.update({"C2H2/C2H4": _r(g, "C2H2", "C2H4"), "CH4/H2": _r(g, "CH4", "H2"),
                           "C2H4/C2H6": _r(g, "C2H4", "C2H6")})
        out.append(Evidence(f"{name}: zone {zone}; {100 * share:.0f} % of its readings "
                            f"within measurement uncertainty support {fault}",
                            MappingProxyType(values)))
    return tuple(out)


def _r(g: Mapping[str, float], num: str, den: str) -> float:
    return g[num] / g[den] if g.get(den) else float("inf") if g.get(num) else 0.0


def _status_evidence(status: IeeeStatus) -> tuple[Evidence, ...]:
    out = [Evidence(status.explanation, MappingProxyType({"status": float(status.status)}))]
    for gas in status.gases.values():
        if gas.status == 1:
            continue
        values = {"level_ppm": gas.level_ppm, "table1_ppm": gas.table1_ppm,
                  "table2_ppm": gas.table2_ppm}
        if gas.delta_ppm is not None:
            values["delta_ppm"] = gas.delta_ppm
        if gas.rate_ppm_per_day is not None:
            values["rate_ppm_per_day"] = gas.rate_ppm_per_day
            values["table4_ppm_per_day"] = gas.table4_ppm_per_day or 0.0
        out.append(Evidence(f"{gas.gas}: " + "; ".join(gas.reasons),
                            MappingProxyType(values)))
    return tuple(out)


def _warranted_evidence(diag: CombinedDiagnosis) -> tuple[Evidence, ...]:
    if diag.warranted:
        text = f"above the IEC 60599 typical values: {', '.join(diag.above_typical)}"
    else:
        text = "no gas above its IEC 60599 typical value: interpretation not warranted"
    return (Evidence(text, MappingProxyType({"warranted": float(diag.warranted)})),)
