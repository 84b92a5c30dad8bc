"""One entry point for root-cause analysis: :func:`analyse` (trigger, context) → result.

The trigger is a new alarm or anomaly (:class:`~ml.rca.result.Trigger`); the context
(:class:`RcaContext`) carries everything the analysers may use, as data — the window of
events and the topology (:mod:`ml.rca.events`), each transformer's recent thermal inputs
(:mod:`ml.rca.thermal`), each transformer's DGA history (:mod:`ml.rca.dga_hypotheses`) and the
past incidents (:mod:`ml.rca.history`). Which analysers run depends on the trigger and on what
the context holds:

* ``events`` — whenever there is a topology;
* ``thermal`` — a trigger on a transformer with thermal inputs;
* ``dga`` — a trigger on a transformer with a DGA history (the combined diagnosis);
* ``history`` — whenever there are past incidents.

Their hypotheses are merged — the same cause on the same asset from two analysers becomes
one, its evidence joined and its confidence 1 − Π(1 − cᵢ) — and ranked by confidence. An
analyser that raises is logged once (naming it) and recorded in ``RcaResult.failures``; the
others still run. The result is immutable.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ml.rca.events import DEFAULT_WINDOW_AFTER_S, DEFAULT_WINDOW_BEFORE_S, StationEvent, Topology
from ml.rca.history import Incident
from ml.rca.result import RcaHypothesis, RcaResult, Trigger
from ml.rca.thermal import ThermalInputs

log = logging.getLogger(__name__)

#: Asset types that are oil-immersed transformers (thermal and DGA analysers apply).
TRANSFORMER_TYPES = frozenset({"ict", "transformer", "reactor"})
MAX_HYPOTHESES = 8

DgaHistory = tuple[tuple[dt.datetime, Mapping[str, float]], ...]


@dataclass(frozen=True, slots=True)
class RcaContext:
    """What the analysers may use (all optional: an analyser without its input does not
    run)."""

    topology: Topology | None = None
    events: tuple[StationEvent, ...] = ()
    """The events around the trigger (the caller's window; the correlation narrows it)."""
    values: Mapping[str, tuple[float, ...]] = field(
        default_factory=lambda: MappingProxyType({}))
    """Recent good samples per tag, oldest first (frozen-instrument detection)."""
    thermal: Mapping[str, ThermalInputs] = field(default_factory=lambda: MappingProxyType({}))
    """Transformer asset → its recent thermal history."""
    dga: Mapping[str, DgaHistory] = field(default_factory=lambda: MappingProxyType({}))
    """Transformer asset → its dated analyses ``((time, {gas: ppm}), …)``."""
    age_years: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Transformer asset → age, for the IEEE C57.104 tables."""
    incidents: tuple[Incident, ...] = ()
    """Past incidents for historical matching."""
    before_s: float = DEFAULT_WINDOW_BEFORE_S
    after_s: float = DEFAULT_WINDOW_AFTER_S


def analyse(trigger: Trigger, context: RcaContext, *,
            max_hypotheses: int = MAX_HYPOTHESES) -> RcaResult:
    """Ranked root-cause hypotheses for ``trigger`` (see the module notes)."""
    raise NotImplementedError  # body follows in the next commit


def merge(hypotheses: Sequence[RcaHypothesis]) -> list[RcaHypothesis]:
    """Same cause on the same asset → one hypothesis (evidence and actions joined, related
    assets united, confidence 1 − Π(1 − cᵢ)); ranked by confidence, then by analyser order."""
    raise NotImplementedError  # body follows in the next commit
