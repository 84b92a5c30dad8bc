"""Scoring a trainee's actions against a scenario's expected ones.

Each action the trainee takes gets one verdict:

* ``unsafe`` — an interlock bypass (asked for, granted or not), an attempt to earth a
  section that is live; whatever else it was;
* ``correct`` — it carried out an expected action (its trigger had happened) within the
  expectation's time limit; ``late`` — the same, after the limit;
* ``wrong`` — anything else: an operation nobody asked for, the right operation on the wrong
  bay (said so), an expected action before its trigger, or one the station refused.

Expected actions never done are ``missed``. The score, 0–100: the share of the expectations'
points earned (a late one earns half), less :data:`WRONG_PENALTY` for each wrong action and
:data:`UNSAFE_PENALTY` for each unsafe one. A scenario with no expectations starts at 100:
there, doing nothing is right.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.control.interlocks import Interlocking
from app.station import Station
from app.training.scenario import Expectation, Scenario, TraineeAction

VERDICTS = ("correct", "late", "wrong", "unsafe")
WRONG_PENALTY = 10.0
UNSAFE_PENALTY = 25.0
LATE_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class ActionVerdict:
    at_s: float
    action: str
    asset: str
    ok: bool
    message: str
    verdict: str
    reason: str = ""
    expectation: str | None = None
    response_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"at_s": round(self.at_s, 3), "action": self.action, "asset": self.asset,
                "ok": self.ok, "message": self.message, "verdict": self.verdict,
                "reason": self.reason, "expectation": self.expectation,
                "response_s": None if self.response_s is None else round(self.response_s, 3)}


@dataclass(slots=True)
class ExpectationResult:
    expectation: Expectation
    verdict: str = "missed"
    done_at_s: float | None = None
    response_s: float | None = None
    earned: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        x = self.expectation
        return {"id": x.id, "action": x.action, "asset": x.asset, "text": x.text,
                "after": x.after or None, "within_s": x.within_s, "points": x.points,
                "verdict": self.verdict, "earned": self.earned,
                "done_at_s": None if self.done_at_s is None else round(self.done_at_s, 3),
                "response_s": None if self.response_s is None else round(self.response_s, 3)}


@dataclass(slots=True)
class Score:
    score: float
    actions: list[ActionVerdict]
    expectations: list[ExpectationResult]
    penalty: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def points_summary(self) -> dict[str, Any]:
        return {"earned": sum(e.earned for e in self.expectations),
                "possible": sum(e.expectation.points for e in self.expectations),
                "penalty": self.penalty, **self.counts,
                "missed": sum(e.verdict == "missed" for e in self.expectations)}


class Scorer:
    """Judges each action as it happens (:meth:`judge`), then the whole drill
    (:meth:`result`)."""

    def __init__(self, station: Station, scenario: Scenario) -> None:
        self.station = station
        self.scenario = scenario
        self.expectations = [ExpectationResult(x) for x in scenario.expect]
        self.actions: list[ActionVerdict] = []

    def _bay(self, asset: str) -> str:
        try:
            return self.station.asset(asset).bay
        except KeyError:
            return "?"

    def _type(self, asset: str) -> str:
        try:
            return self.station.asset(asset).type
        except KeyError:
            return "?"

    def unsafe_reason(self, a: TraineeAction, is_live: Callable[[str], bool],
                      interlocking: Interlocking) -> str:
        """Why this action is unsafe before it is tried ("" when it is not)."""
        if a.bypass_reason is not None:
            return "interlock bypass"
        if a.action == "close" and self._type(a.asset) == "earth_switch":
            node = interlocking.topology.earthed_node(a.asset)
            if is_live(node):
                return f"earthing a live section ({node.upper()})"
        return ""

    def judge(self, a: TraineeAction, t_s: float, ok: bool, message: str, unsafe: str,
              fired: Mapping[str, float]) -> ActionVerdict:
        def verdict(v: str, reason: str = "", x: ExpectationResult | None = None,
                    response: float | None = None) -> ActionVerdict:
            out = ActionVerdict(t_s, a.action, a.asset, ok, message, v, reason,
                                x.expectation.id if x else None, response)
            self.actions.append(out)
            return out

        if unsafe:
            return verdict("unsafe", unsafe)
        same = [x for x in self.expectations if x.verdict == "missed"
                and x.expectation.action == a.action and x.expectation.asset == a.asset]
        due = [x for x in same if not x.expectation.after or x.expectation.after in fired]
        if due:
            x = due[0]
            if not ok:
                return verdict("wrong", "refused by the station", x)
            since = fired.get(x.expectation.after, 0.0)
            response = t_s - since
            x.done_at_s, x.response_s = t_s, response
            if response <= x.expectation.within_s:
                x.verdict, x.earned = "correct", x.expectation.points
                return verdict("correct", "", x, response)
            x.verdict, x.earned = "late", x.expectation.points * LATE_SHARE
            return verdict("late", f"{response:.0f} s, limit {x.expectation.within_s:g} s",
                           x, response)
        if same:
            return verdict("wrong", f"too early: before '{same[0].expectation.after}'")
        if a.action != "reset":
            kind = self._type(a.asset)
            for x in self.expectations:
                if x.verdict == "missed" and x.expectation.action == a.action and \
                        self._type(x.expectation.asset) == kind and \
                        self._bay(x.expectation.asset) != self._bay(a.asset):
                    return verdict("wrong", f"wrong bay: {self._bay(a.asset)} (expected "
                                            f"{self._bay(x.expectation.asset)})")
        return verdict("wrong", "not an expected action")

    def result(self, fired: Mapping[str, float]) -> Score:
        possible = sum(x.expectation.points for x in self.expectations)
        earned = sum(x.earned for x in self.expectations)
        counts = {v: sum(a.verdict == v for a in self.actions) for v in VERDICTS}
        penalty = WRONG_PENALTY * counts["wrong"] + UNSAFE_PENALTY * counts["unsafe"]
        base = 100.0 * earned / possible if possible > 0 else 100.0
        score = round(min(100.0, max(0.0, base - penalty)), 1)
        return Score(score, list(self.actions), list(self.expectations), penalty, counts)
