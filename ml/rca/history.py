"""Historical matching: the past incidents nearest to this one by signature.

A :class:`Signature` is a weighted bag of terms built from an incident's alarms and
anomalies: ``kind:quantity@asset_type`` (``limit:hot_spot_c@ict``, ``protection:
breaker_failure_operated@relay``, ``trip:@breaker``), plus the anomaly's driving features
(``feature:<name>@asset_type``). Similarity is the weighted Jaccard index of two bags (0–1):
asset ids and dates do not enter it, so an incident on ICT-2 last year matches one on ICT-1
today.

The caller passes the past incidents (:class:`Incident`: when, where, the signature, and what
was found then); the application side builds them from the historian's event table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ml.rca.events import StationEvent, Topology
from ml.rca.result import INVESTIGATE, Action, Fact, RcaHypothesis, Trigger

DEFAULT_MIN_SIMILARITY = 0.35
DEFAULT_MATCHES = 3


@dataclass(frozen=True, slots=True)
class Signature:
    terms: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", MappingProxyType(
            {str(k): float(v) for k, v in self.terms.items() if v > 0}))


@dataclass(frozen=True, slots=True)
class Incident:
    """A past incident as the historian holds it."""

    time: dt.datetime
    asset: str
    asset_type: str
    signature: Signature
    finding: str
    """What was found then (the recorded root cause, an engineer's note), "" if nothing."""
    cause: str | None = None
    """The cause code recorded then (see :data:`ml.rca.result.CAUSES`), if any."""
    ref: str = ""
    """Where it comes from (event ids), for the operator to look it up."""


@dataclass(frozen=True, slots=True)
class Match:
    incident: Incident
    similarity: float
    shared: tuple[str, ...]
    """The signature terms both incidents have, heaviest first."""


def term(kind: str, quantity: str | None, asset_type: str) -> str:
    """One signature term."""
    return f"{kind}:{quantity or ''}@{asset_type}"


def signature_of(trigger: Trigger, events: Iterable[StationEvent] = (),
                 topology: Topology | None = None) -> Signature:
    """The signature of the incident around ``trigger``: the trigger (weight 2), each event
    (weight 1, repeated terms count once) and the anomaly's features (weight 1 each).

    An asset's type comes from the topology (``trigger.asset_type`` for the trigger when
    given); without either it is "?"."""
    def type_of(asset: str) -> str:
        if topology is not None and asset in topology.assets:
            return topology.assets[asset].type
        if topology is not None and asset in topology.bays:
            return "bay"
        return "?"

    terms: dict[str, float] = {}
    t_type = trigger.asset_type or type_of(trigger.asset)
    t_kind = trigger.alarm_kind or trigger.kind
    terms[term(t_kind, trigger.quantity, t_type)] = TRIGGER_WEIGHT
    for name in trigger.features:
        terms.setdefault(term("feature", name, t_type), 1.0)
    for e in events:
        terms.setdefault(term(e.kind, e.quantity, type_of(e.asset)), 1.0)
    return Signature(terms)


TRIGGER_WEIGHT = 2.0
HISTORY_CONFIDENCE_SCALE = 0.6
"""A resemblance is weaker evidence than a measurement: a perfect match gives 0.6."""


def similarity(a: Signature, b: Signature) -> float:
    """Weighted Jaccard index of two signatures (0–1)."""
    keys = set(a.terms) | set(b.terms)
    if not keys:
        return 0.0
    num = sum(min(a.terms.get(k, 0.0), b.terms.get(k, 0.0)) for k in keys)
    den = sum(max(a.terms.get(k, 0.0), b.terms.get(k, 0.0)) for k in keys)
    return num / den if den else 0.0


def nearest(signature: Signature, incidents: Sequence[Incident], *, k: int = DEFAULT_MATCHES,
            min_similarity: float = DEFAULT_MIN_SIMILARITY) -> list[Match]:
    """The ``k`` past incidents most similar to ``signature`` (at least ``min_similarity``),
    most similar first; equal similarity: the more recent first."""
    scored = []
    for inc in incidents:
        sim = similarity(signature, inc.signature)
        if sim >= min_similarity:
            shared = sorted(set(signature.terms) & set(inc.signature.terms),
                            key=lambda t: (-min(signature.terms[t], inc.signature.terms[t]), t))
            scored.append(Match(inc, sim, tuple(shared)))
    scored.sort(key=lambda m: (-m.similarity, -m.incident.time.timestamp()))
    return scored[:k]


def historical_hypotheses(trigger: Trigger, matches: Sequence[Match]) -> list[RcaHypothesis]:
    """One hypothesis per recorded cause (``history:match`` when none was), from its most
    similar match: "like <asset> on <date>: <finding>", its confidence that match's
    similarity scaled by :data:`HISTORY_CONFIDENCE_SCALE`, on the trigger's asset. Several
    resemblances to the same cause do not add up to more confidence than the best one."""
    out = []
    seen: set[str] = set()
    for m in sorted(matches, key=lambda m: -m.similarity):
        if (m.incident.cause or "history:match") in seen:
            continue
        seen.add(m.incident.cause or "history:match")
        inc = m.incident
        cause = inc.cause if inc.cause else "history:match"
        when = inc.time.date().isoformat()
        finding = inc.finding or "no finding recorded"
        ev = [Fact(f"similar to the incident on {inc.asset} ({inc.asset_type}) of {when}: "
                   f"{finding}", {"similarity": m.similarity,
                                  "days_ago": (trigger.time - inc.time).total_seconds() / 86400}),
              Fact("shared signature: " + ", ".join(m.shared[:6]),
                   {"shared_terms": float(len(m.shared))})]
        if inc.ref:
            ev.append(Fact(f"historian reference: {inc.ref}", {}))
        out.append(RcaHypothesis(
            cause, f"like {inc.asset} on {when}: {finding}", trigger.asset, "history",
            min(0.99, HISTORY_CONFIDENCE_SCALE * m.similarity), tuple(ev),
            (Action(INVESTIGATE, f"read the {when} incident on {inc.asset} and check whether "
                                 "its finding applies"),)))
    return out
