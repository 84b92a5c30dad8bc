"""Maintenance suggestions from a health index: what to do, by when, and why.

A factor scoring below 50 (Poor) suggests the work that addresses it; below 25 it is
corrective and due within 7 days, otherwise predictive and due within 30. Each suggestion
carries a stable ``code`` (``<asset>:<factor>``) so whoever stores them can refuse a second
open suggestion for the same thing on a rerun, and the evidence (the factor's value, score
and basis) that made it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ml.health.index import Factor, HealthIndex

POOR, VERY_POOR = 50.0, 25.0

#: The work that addresses each factor.
ACTIONS = {
    "dga": "Take a confirmatory oil sample, diagnose the fault (Duval Triangle / Pentagon, "
           "IEC 60599) and shorten the sampling interval",
    "thermal": "Check the cooling (fans, pumps, radiators, oil flow) and the loading; review "
               "the overload history against IEC 60076-7",
    "moisture": "Dry and filter the oil; check the breather's silica gel and the gaskets",
    "bushings": "Off-line tan δ and capacitance test of the bushings; plan a replacement",
    "oltc": "Overhaul the tap-changer diverter switch (contacts, oil)",
    "contact_wear": "Inspect the arcing contacts and nozzle; replace when worn",
    "operations": "Mechanical overhaul of the operating mechanism per the maker's manual",
    "sf6": "Locate and repair the SF6 leak (gas detector / camera); top up to the rated "
           "density",
    "arrester_leakage": "Thermal image and test the surge arrester; replace if the leakage "
                        "keeps rising",
    "age": "Condition assessment for life extension or replacement planning",
}


@dataclass(frozen=True)
class Suggestion:
    """One piece of maintenance work suggested by a factor."""

    code: str
    asset: str
    factor: str
    maintenance_type: str  # "predictive" or "corrective"
    due: dt.date
    action: str
    reason: str
    evidence: str

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "asset": self.asset, "factor": self.factor,
                "maintenance_type": self.maintenance_type, "due": self.due.isoformat(),
                "action": self.action, "reason": self.reason, "evidence": self.evidence}


def _one(hi: HealthIndex, f: Factor, today: dt.date) -> Suggestion:
    corrective = f.score < VERY_POOR
    due = today + dt.timedelta(days=7 if corrective else 30)
    word = "very poor" if corrective else "poor"
    return Suggestion(
        code=f"{hi.asset}:{f.name}", asset=hi.asset, factor=f.name,
        maintenance_type="corrective" if corrective else "predictive", due=due,
        action=ACTIONS[f.name],
        reason=f"{f.name} condition {word} (score {f.score:.0f}/100; health index "
               f"{hi.index:.0f}, {hi.band})",
        evidence=f"{f.value:.4g} {f.unit}: {f.basis}")


def suggestions(hi: HealthIndex) -> list[Suggestion]:
    """The work ``hi``'s poor factors call for, worst first."""
    today = hi.at.date()
    return [_one(hi, f, today) for f in sorted(hi.factors, key=lambda f: f.score)
            if f.score < POOR]
