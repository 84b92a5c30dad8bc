"""What root-cause analysis takes and gives: the trigger, ranked hypotheses with their
evidence and recommended actions, and the result of one analysis.

Everything here is an immutable value (frozen dataclasses, read-only mappings), so a result
can cross from the inference worker's thread to the GUI's as it is.

A :class:`RcaHypothesis` names a ``cause`` (a short code: ``cooling_failure``,
``stuck_breaker``, ``comm_loss``, ``dga:T3`` …, see :data:`CAUSES`), the ``asset`` it lies
on, the ``analyser`` that found it (``thermal``, ``events``, ``dga``, ``history``), a
``confidence`` in 0–1, its ``evidence`` — :class:`Fact` items, each a sentence and the numbers
with units behind it, marked as supporting or contradicting — and :class:`Action` items
tagged :data:`IMMEDIATE`, :data:`INVESTIGATE` or :data:`MAINTAIN`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

IMMEDIATE, INVESTIGATE, MAINTAIN = "immediate", "investigate", "maintain"
ACTION_KINDS = (IMMEDIATE, INVESTIGATE, MAINTAIN)

#: Cause codes the analysers give (the DGA ones are ``dga:<class>``, class one of PD, D1, D2,
#: T1, T2, T3, DT; a historical match that names no known cause is ``history:match``).
CAUSES = MappingProxyType({
    "cooling_failure": "cooling failure (fans/pumps not removing heat)",
    "overload": "overload (load above the transformer's rating)",
    "sensor_fault": "temperature sensor fault",
    "normal_thermal": "temperatures as the thermal model expects",
    "stuck_breaker": "stuck breaker (failed to open; breaker-failure protection cleared the bus)",
    "busbar_fault": "busbar fault cleared by the bus differential protection",
    "protection_trip": "fault cleared by the bay's own protection",
    "unexplained_trip": "breaker opened with no protection operation and no command",
    "comm_loss": "communication loss to the bay device",
    "instrument_fault": "single measurement fault (sensor/transducer/wiring)",
    "upstream_event": "consequence of an upstream event",
    "common_excursion": "station-wide excursion seen by every instrument of the zone",
    "history:match": "similar to a past incident",
})

ANALYSERS = ("dga", "thermal", "events", "history")


class RcaInputError(ValueError):
    """Bad input to the root-cause analysis: the message names the item and field."""


def _ro(values: Mapping[str, float] | None) -> Mapping[str, float]:
    return MappingProxyType({str(k): float(v) for k, v in (values or {}).items()})


@dataclass(frozen=True, slots=True)
class Fact:
    """One piece of evidence: a sentence and the values behind it (keys carry the unit,
    ``hot_spot_c``, ``load_pu``, ``dt_s``)."""

    text: str
    values: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    supports: bool = True
    """False: the fact speaks against the hypothesis."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _ro(self.values))

    def as_dict(self) -> dict[str, object]:
        return {"text": self.text, "supports": self.supports,
                "values": {k: (round(v, 6) if math.isfinite(v) else None)
                           for k, v in self.values.items()}}


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    """IMMEDIATE, INVESTIGATE or MAINTAIN."""
    text: str

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS:
            raise RcaInputError(f"action kind {self.kind!r}: expected one of "
                                f"{', '.join(ACTION_KINDS)}")

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}


@dataclass(frozen=True, slots=True)
class RcaHypothesis:
    """One candidate root cause."""

    cause: str
    """A code of :data:`CAUSES` or ``dga:<class>``."""
    title: str
    """One line for the operator, naming the asset."""
    asset: str
    """Where the root cause lies (an asset id, or a bay id for a communication loss)."""
    analyser: str
    """One of :data:`ANALYSERS`."""
    confidence: float
    """0–1."""
    evidence: tuple[Fact, ...] = ()
    actions: tuple[Action, ...] = ()
    related: tuple[str, ...] = ()
    """Other assets the hypothesis explains (the adjacent breakers a stuck one tripped …)."""

    def __post_init__(self) -> None:
        c = float(self.confidence)
        if not math.isfinite(c) or not 0.0 <= c <= 1.0:
            raise RcaInputError(f"hypothesis {self.cause} on {self.asset}: confidence {c!r} "
                                "is not within 0–1")
        object.__setattr__(self, "confidence", c)
        object.__setattr__(self, "evidence", tuple(self.evidence))
        object.__setattr__(self, "actions", tuple(self.actions))
        object.__setattr__(self, "related", tuple(self.related))

    @property
    def supporting(self) -> tuple[Fact, ...]:
        return tuple(f for f in self.evidence if f.supports)

    @property
    def contradicting(self) -> tuple[Fact, ...]:
        return tuple(f for f in self.evidence if not f.supports)

    def as_dict(self) -> dict[str, object]:
        return {"cause": self.cause, "title": self.title, "asset": self.asset,
                "analyser": self.analyser, "confidence": round(self.confidence, 4),
                "evidence": [f.as_dict() for f in self.evidence],
                "actions": [a.as_dict() for a in self.actions], "related": list(self.related)}


TRIGGER_KINDS = ("alarm", "anomaly")


@dataclass(frozen=True, slots=True)
class Trigger:
    """What the analysis is asked about: a new alarm or a new anomaly on one asset."""

    kind: str
    """"alarm" or "anomaly"."""
    asset: str
    time: dt.datetime
    """Timezone-aware UTC."""
    asset_type: str = ""
    """The station file's asset type (``ict``, ``breaker``, ``cvt`` …), "" if unknown."""
    tag: str | None = None
    """The point (``ICT1.HOT_SPOT``) for a point alarm; None for a device or an anomaly."""
    alarm_kind: str | None = None
    """For an alarm, the alarm engine's kind: analog, trip, protection, status, comm,
    invalid."""
    quantity: str | None = None
    """The point's quantity (``hot_spot_c``, ``voltage_kv``) when there is one."""
    value: float | None = None
    priority: int | None = None
    message: str = ""
    features: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """For an anomaly, its explanation: the driving features and their values."""
    key: str = ""
    """The alarm key or the anomaly's id, for the caller to match the result to it."""

    def __post_init__(self) -> None:
        if self.kind not in TRIGGER_KINDS:
            raise RcaInputError(f"trigger kind {self.kind!r}: expected alarm or anomaly")
        if self.time.tzinfo is None:
            raise RcaInputError(f"trigger on {self.asset}: time {self.time.isoformat()} has no "
                                "timezone (UTC expected)")
        object.__setattr__(self, "features", _ro(self.features))


@dataclass(frozen=True, slots=True)
class RcaResult:
    """Ranked hypotheses for one trigger, most likely first."""

    trigger: Trigger
    hypotheses: tuple[RcaHypothesis, ...]
    analysers: tuple[str, ...]
    """The analysers that ran."""
    failures: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Analyser → one line saying why it failed (the others still ran)."""
    elapsed_ms: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "failures", MappingProxyType(dict(self.failures)))

    @property
    def top(self) -> RcaHypothesis | None:
        return self.hypotheses[0] if self.hypotheses else None

    def as_dict(self) -> dict[str, object]:
        t = self.trigger
        return {"trigger": {"kind": t.kind, "asset": t.asset, "time": t.time.isoformat(),
                            "tag": t.tag, "alarm_kind": t.alarm_kind, "quantity": t.quantity,
                            "value": t.value, "key": t.key, "message": t.message},
                "hypotheses": [h.as_dict() for h in self.hypotheses],
                "analysers": list(self.analysers), "failures": dict(self.failures),
                "elapsed_ms": round(self.elapsed_ms, 3)}
