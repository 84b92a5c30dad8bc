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
from ml.rca.result import RcaHypothesis, Trigger

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
    (weight 1, repeated events count once) and the anomaly's features (their shares)."""
    raise NotImplementedError  # body follows in the next commit


def similarity(a: Signature, b: Signature) -> float:
    """Weighted Jaccard index of two signatures (0–1)."""
    raise NotImplementedError  # body follows in the next commit


def nearest(signature: Signature, incidents: Sequence[Incident], *, k: int = DEFAULT_MATCHES,
            min_similarity: float = DEFAULT_MIN_SIMILARITY) -> list[Match]:
    """The ``k`` past incidents most similar to ``signature`` (at least ``min_similarity``),
    most similar first; equal similarity: the more recent first."""
    raise NotImplementedError  # body follows in the next commit


def historical_hypotheses(trigger: Trigger, matches: Sequence[Match]) -> list[RcaHypothesis]:
    """One hypothesis per match: "like <asset> on <date>: <finding>", its confidence the
    similarity (scaled down: a resemblance is weaker evidence than a measurement), its cause
    the one recorded then (``history:match`` when none was)."""
    raise NotImplementedError  # body follows in the next commit
