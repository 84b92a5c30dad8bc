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
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from ml.rca.dga_hypotheses import Hypothesis, rank_hypotheses
from ml.rca.events import (
    DEFAULT_WINDOW_AFTER_S,
    DEFAULT_WINDOW_BEFORE_S,
    QUALITY_ALARMS,
    StationEvent,
    Topology,
    correlate,
)
from ml.rca.history import Incident, historical_hypotheses, nearest, signature_of
from ml.rca.result import (
    ANALYSERS,
    IMMEDIATE,
    INVESTIGATE,
    MAINTAIN,
    Action,
    Fact,
    RcaHypothesis,
    RcaResult,
    Trigger,
)
from ml.rca.thermal import ThermalInputs, analyse_thermal

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
    """Past incidents for historical matching (those within ``before_s`` of the trigger are
    this incident, not past ones, and are left out)."""
    before_s: float = DEFAULT_WINDOW_BEFORE_S
    after_s: float = DEFAULT_WINDOW_AFTER_S


def analyse(trigger: Trigger, context: RcaContext, *,
            max_hypotheses: int = MAX_HYPOTHESES) -> RcaResult:
    """Ranked root-cause hypotheses for ``trigger`` (see the module notes)."""
    t_start = time.perf_counter()
    found: list[RcaHypothesis] = []
    ran: list[str] = []
    failures: dict[str, str] = {}
    # a communication or data-quality alarm is about the measurement chain: the transformer's
    # gases and temperatures do not explain it
    xf = None if trigger.alarm_kind in QUALITY_ALARMS else _transformer_of(trigger, context)
    plan: list[tuple[str, Callable[[], list[RcaHypothesis]]]] = []
    if xf is not None and context.dga.get(xf):
        plan.append(("dga", lambda: dga_hypotheses(xf, context.dga[xf],
                                                   context.age_years.get(xf))))
    if xf is not None and xf in context.thermal:
        plan.append(("thermal", lambda: analyse_thermal(xf, context.thermal[xf])))
    if context.topology is not None:
        topo = context.topology
        plan.append(("events", lambda: correlate(trigger, context.events, topo,
                                                 values=context.values,
                                                 before_s=context.before_s,
                                                 after_s=context.after_s)))
    for name, run in plan:
        try:
            found += run()
            ran.append(name)
        except Exception as exc:  # noqa: BLE001 — one analyser's failure must not stop the rest
            failures[name] = f"{type(exc).__name__}: {exc}"
            log.warning("RCA analyser %s failed on %s %s: %s", name, trigger.kind,
                        trigger.asset, failures[name])
    past = tuple(i for i in context.incidents
                 if i.time < trigger.time - dt.timedelta(seconds=context.before_s))
    if past:
        try:
            window = _window(trigger, context)
            sig = signature_of(trigger, window, context.topology)
            found = _fold_history(found, historical_hypotheses(
                trigger, nearest(sig, past)))
            ran.append("history")
        except Exception as exc:  # noqa: BLE001
            failures["history"] = f"{type(exc).__name__}: {exc}"
            log.warning("RCA analyser history failed on %s %s: %s", trigger.kind,
                        trigger.asset, failures["history"])
    ranked = merge(found)[:max_hypotheses]
    return RcaResult(trigger, tuple(ranked), tuple(ran), failures,
                     (time.perf_counter() - t_start) * 1000.0)


def merge(hypotheses: Sequence[RcaHypothesis]) -> list[RcaHypothesis]:
    """Same cause on the same asset → one hypothesis (evidence and actions joined, related
    assets united, confidence 1 − Π(1 − cᵢ)); ranked by confidence, then by analyser order."""
    groups: dict[tuple[str, str], list[RcaHypothesis]] = {}
    for h in hypotheses:
        groups.setdefault((h.cause, h.asset), []).append(h)
    out = []
    for hs in groups.values():
        hs.sort(key=lambda h: -h.confidence)
        if len(hs) == 1:
            out.append(hs[0])
            continue
        miss = 1.0
        for h in hs:
            miss *= 1.0 - h.confidence
        first = hs[0]
        out.append(RcaHypothesis(
            first.cause, first.title, first.asset, first.analyser, min(0.99, 1.0 - miss),
            tuple(f for h in hs for f in h.evidence),
            tuple(dict.fromkeys(a for h in hs for a in h.actions)),
            tuple(dict.fromkeys(r for h in hs for r in h.related))))
    order = {a: i for i, a in enumerate(ANALYSERS)}
    out.sort(key=lambda h: (-h.confidence, order.get(h.analyser, len(order))))
    return out


def dga_hypotheses(asset: str, history: DgaHistory, age_years: float | None = None
                   ) -> list[RcaHypothesis]:
    """The combined DGA diagnosis's ranked faults (:func:`ml.rca.dga_hypotheses.
    rank_hypotheses`) as RCA hypotheses — none when no gas is above its IEC 60599 typical
    value: interpretation is then not warranted, and a fault class voted from background
    gases is no cause of anything."""
    ranked = _ranked_dga(_dga_key(history), age_years)
    out = []
    for h in ranked:
        if any(e.values.get("warranted", 1.0) <= 0 for e in h.evidence):
            return []
        facts = tuple(Fact(e.text, e.values) for e in h.evidence)
        out.append(RcaHypothesis(
            f"dga:{h.fault}", f"{asset}: {h.fault_name} (DGA)", asset, "dga",
            min(0.99, max(0.01, h.probability)), facts,
            (Action(h.action, _DGA_ACTIONS[h.action].format(asset=asset)),)))
    return out


_DGA_ACTIONS = {
    IMMEDIATE: "{asset}: reduce load or take it out of service; resample the oil at once",
    INVESTIGATE: "{asset}: resample the oil to confirm, find the gas source (thermal image, "
                 "electrical tests)",
    MAINTAIN: "{asset}: routine oil sampling",
}
DgaKey = tuple[tuple[dt.datetime, tuple[tuple[str, float], ...]], ...]


def _dga_key(history: DgaHistory) -> DgaKey:
    return tuple((t, tuple(sorted((str(g), float(v)) for g, v in ppm.items()
                                  if v is not None)))
                 for t, ppm in history)


@functools.lru_cache(maxsize=64)
def _ranked_dga(key: DgaKey, age_years: float | None) -> tuple[Hypothesis, ...]:
    """The combined diagnosis of a history, cached: a transformer's analyses change once a
    sample, its alarms far more often (the diagnosis draws 200 perturbed analyses)."""
    return tuple(rank_hypotheses([(t, dict(g)) for t, g in key], age_years=age_years))
_DGA_ACTIONS = {
    IMMEDIATE: "{asset}: reduce load or take it out of service; resample the oil at once",
    INVESTIGATE: "{asset}: resample the oil to confirm, find the gas source (thermal image, "
                 "electrical tests)",
    MAINTAIN: "{asset}: routine oil sampling",
}


def _transformer_of(trigger: Trigger, context: RcaContext) -> str | None:
    if trigger.asset in context.thermal or trigger.asset in context.dga:
        return trigger.asset
    if context.topology is not None:
        bay = context.topology.bay_of(trigger.asset)
        if bay is not None and bay.transformer is not None:
            return bay.transformer
    if trigger.asset_type in TRANSFORMER_TYPES:
        return trigger.asset
    return None


def _window(trigger: Trigger, context: RcaContext) -> list[StationEvent]:
    t0 = trigger.time - dt.timedelta(seconds=context.before_s)
    t1 = trigger.time + dt.timedelta(seconds=context.after_s)
    return [e for e in context.events if t0 <= e.time <= t1]


def _fold_history(found: list[RcaHypothesis], past: list[RcaHypothesis]
                  ) -> list[RcaHypothesis]:
    """A past incident whose recorded cause is already a hypothesis supports that one (its
    evidence joins it, its confidence combines); the others stand alone."""
    out = list(found)
    for p in past:
        idx = next((i for i, h in enumerate(out) if h.cause == p.cause), None)
        if idx is None:
            out.append(p)
            continue
        h = out[idx]
        conf = min(0.99, 1.0 - (1.0 - h.confidence) * (1.0 - p.confidence))
        out[idx] = replace(h, confidence=conf, evidence=h.evidence + p.evidence,
                           actions=tuple(dict.fromkeys(h.actions + p.actions)))
    return out
