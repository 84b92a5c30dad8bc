"""Analytics on the live scan, Qt-free: anomaly scores with explanations and root-cause
analysis, one immutable :class:`AnalyticsSnapshot` per processed scan.

::

    LiveSnapshot ──► InferenceEngine.process(snap)        (the "inference" thread: see
    AlarmView   ──► InferenceEngine.note_alarms(view)      app.runtime.qt.inference)
                     ├ FeatureExtractor (bad quality masked, rates in one FeatureHistory)
                     ├ one AnomalyDetector per model, each with its own persistence filter
                     │   (a model that raises is disabled: ONE log line naming it, its
                     │    status says why, the other models keep scoring)
                     ├ RCA on each NEW trigger: an asset newly flagged, an alarm newly raised
                     └ DGA history per transformer (each new analysis the monitor reports)
                   ──► AnalyticsSnapshot (frozen; read-only tuples and mappings)

The engine is the only place analytics state lives (feature history, filters, RCA results,
DGA history); it is driven by one thread at a time. Models are data: :meth:`set_models`
swaps them between scans (a model whose features do not match the station is refused with
one line naming the mismatch, :class:`ModelStatus`), so a model trained while the HMI runs
is picked up without a restart.

Root-cause analysis is a function of an :class:`RcaRequest` (``rca=``). By default it is
the station's: :func:`ml.rca.engine.analyse` on the context an
:class:`app.analytics.rca_context.RcaContextBuilder` keeps from every processed scan and
alarm view (DGA — IEC 60599, Duval Triangle 1 and Pentagon 1, IEEE C57.104-2019 —, thermal
against IEC 60076-7, event correlation over the twin's topology, historical matching);
when it has nothing (or only weak hypotheses) to say about an anomaly,
:func:`explanation_rca` reads the anomaly's own explanation against the seed's anomaly types (and a transformer's DGA history). A
failing RCA is one log line and an :class:`RcaResult` with ``error`` set; the scan's
anomalies are still published.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from app.alarms.engine import AlarmRow, AlarmState, AlarmView
from app.runtime.jobs import Cancelled, Job, JobContext
from app.runtime.snapshot import LiveSnapshot
from app.station import Station
from app.station.points import PointTable
from ml.anomaly.detector import AnomalyDetector, AssetAnomaly, DetectorState, ScanAnomalies
from ml.anomaly.features import (
    EXTRA_HOT_SPOT_MODEL,
    EXTRA_TOP_OIL_MODEL,
    FeatureExtractor,
    FeatureHistory,
    usable_mask,
)
from ml.anomaly.models import AnomalyModel, FeatureContribution, FeatureMismatchError

if TYPE_CHECKING:
    from app.analytics.training import TrainResult
    from app.historian.api import HistorianReader
    from ml.rca.result import RcaHypothesis as MlHypothesis

log = logging.getLogger(__name__)

UNTRAINED_TEXT = ("Analytics untrained — Analytics ▸ Train model… or "
                  "`gridtwin ml train anomaly --simulate 6`")
#: Analyses kept per transformer for the Duval plots.
DGA_KEEP = 500
#: An anomaly's explanation is recomputed when older than this (scan time, seconds)…
EXPLAIN_REFRESH_S = 2.0
#: …for at most this many anomalies a scan (a new anomaly is always explained at once).
EXPLAIN_BUDGET = 4
#: Below this confidence the station's RCA is weak: an anomaly's explanation ranks beside it.
WEAK_RCA = 0.3
#: How far back past incidents are read from the historian (historical matching).
INCIDENTS_DAYS = 365
#: RCA results kept (oldest dropped first).
RCA_KEEP = 200
GASES = ("H2", "CH4", "C2H6", "C2H4", "C2H2", "CO", "CO2")
_GAS_QUANTITY = {f"gas_{g.lower()}_ppm": g for g in GASES}

# Action classes of a hypothesis (as ml.rca.dga_hypotheses).
IMMEDIATE, INVESTIGATE, MAINTAIN = "immediate", "investigate", "maintain"


# ====================================================================== what the GUI gets
@dataclass(frozen=True, slots=True)
class AnomalyItem:
    """One flagged asset."""

    asset: str
    cls: str
    severity: str
    """"low", "medium" or "high" (ml.anomaly.models.severity_of)."""
    score: float
    """Normalised: 1.0 is the model's calibrated threshold."""
    since: dt.datetime
    model: str
    """The model kind that gave the score."""
    confidence: float
    """Share of the asset's features that were valid this scan (bad quality lowers it)."""
    explanation: tuple[FeatureContribution, ...]
    """The features that drove the score: value, normal range, share (largest first)."""

    def top_features(self, n: int = 3) -> tuple[str, ...]:
        return tuple(c.name for c in self.explanation[:n])


@dataclass(frozen=True, slots=True)
class RcaHypothesis:
    cause: str
    confidence: float
    """0–1."""
    action: str
    """IMMEDIATE, INVESTIGATE or MAINTAIN."""
    evidence: tuple[str, ...]
    recommendation: str = ""


@dataclass(frozen=True, slots=True)
class RcaResult:
    trigger: str
    """``alarm:<alarm key>`` or ``anomaly:<asset>@<since ISO>``."""
    kind: str
    """"alarm" or "anomaly"."""
    asset: str
    time: dt.datetime
    hypotheses: tuple[RcaHypothesis, ...]
    """Most likely first; empty when no method applies (``method`` says so)."""
    method: str
    error: str | None = None
    took_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class DgaSample:
    time: dt.datetime
    ppm: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class ModelStatus:
    name: str
    """The model's kind and version (e.g. ``isolation_forest v3``) or file."""
    state: str
    """"ok", "failed" (raised while scoring: disabled) or "refused" (features mismatch)."""
    reason: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class AnalyticsSnapshot:
    """Everything the analytics dock, the status bar and the trends show, after one scan."""

    seq: int
    """The scan it was computed from."""
    time: dt.datetime
    state: str
    """"untrained" (no model), "ok", "degraded" (some model failed or refused) or "failed"
    (no model scores)."""
    message: str
    """One line for the status bar."""
    models: tuple[ModelStatus, ...]
    anomalies: tuple[AnomalyItem, ...]
    """Flagged assets, highest score first."""
    rca: Mapping[str, RcaResult]
    """By trigger key."""
    dga: Mapping[str, tuple[DgaSample, ...]]
    """Per transformer / reactor: its analyses, oldest first."""
    processed: int
    skipped: int
    """Scans offered but not processed because a newer one arrived (the worker was behind)."""
    infer_ms: float

    def anomaly(self, asset: str) -> AnomalyItem | None:
        return next((a for a in self.anomalies if a.asset == asset), None)

    def rca_for_asset(self, asset: str) -> tuple[RcaResult, ...]:
        """The asset's RCA results, newest first."""
        return tuple(sorted((r for r in self.rca.values() if r.asset == asset),
                            key=lambda r: r.time, reverse=True))


def untrained_snapshot(message: str = UNTRAINED_TEXT, models: tuple[ModelStatus, ...] = ()
                       ) -> AnalyticsSnapshot:
    """What the dock shows before the first scan is processed (or with no model)."""
    return AnalyticsSnapshot(0, dt.datetime.fromtimestamp(0, dt.UTC),
                             "untrained" if not models else "failed", message, models, (),
                             MappingProxyType({}), MappingProxyType({}), 0, 0, 0.0)


# ====================================================================== RCA seam
@dataclass(frozen=True, slots=True, eq=False)
class RcaRequest:
    """One trigger and what the engine knows about the station at that moment."""

    trigger: str
    kind: str
    asset: str
    asset_type: str
    time: dt.datetime
    anomaly: AnomalyItem | None
    alarm: AlarmRow | None
    """The alarm's row (kind, tag, value, priority) for an alarm trigger."""
    alarm_message: str
    dga: tuple[DgaSample, ...]
    snapshot: LiveSnapshot
    recent_alarms: tuple[tuple[dt.datetime, str, str, str], ...]
    """(time, alarm key, asset, message) of the alarms raised in the last minutes."""


RcaFn = Callable[[RcaRequest], tuple[tuple[RcaHypothesis, ...], str]]
"""Returns the ranked hypotheses and the method's name."""


def _dga_rca(req: RcaRequest) -> tuple[tuple[RcaHypothesis, ...], str] | None:
    if not req.dga:
        return None
    from ml.rca.dga_hypotheses import rank_hypotheses

    hist = [(s.time, dict(s.ppm)) for s in req.dga]
    hyps = rank_hypotheses(hist)
    out = tuple(RcaHypothesis(f"{h.fault} — {h.fault_name} (DGA)", h.probability, h.action,
                              tuple(e.text for e in h.evidence))
                for h in hyps)
    return out, "DGA: IEC 60599, Duval Triangle 1 and Pentagon 1, IEEE C57.104-2019"


# The seed's anomaly types, read from the feature that drove an anomaly's score.
_FEATURE_CAUSES: tuple[tuple[str, str, str, str], ...] = (
    # (feature name contains, cause, action, recommendation) — first match wins
    ("residual", "measurement disagrees with the twin's solution (sensor or model fault)",
     INVESTIGATE, "compare with the neighbouring instruments; check the transducer"),
    ("imbalance", "current imbalance between phases (> 10 % phase to phase)", INVESTIGATE,
     "check the phase currents, a blown fuse or open pole, and the load on this bay"),
    ("neg_seq", "current imbalance between phases (> 10 % phase to phase)", INVESTIGATE,
     "check the phase currents, a blown fuse or open pole, and the load on this bay"),
    ("thd", "harmonic distortion (THD > 5 %)", INVESTIGATE,
     "find the harmonic source downstream; check the filter banks"),
    ("power_factor", "power-factor degradation (< 0.9)", INVESTIGATE,
     "check reactive compensation and the load's power factor"),
    ("excess", "overheating: hotter than the IEC 60076-7 model for the load (cooling)",
     IMMEDIATE, "check the cooling stages (fans, pumps, radiators); reduce the load"),
    ("hot_spot", "overheating", IMMEDIATE, "check the cooling and the loading"),
    ("top_oil", "overheating", IMMEDIATE, "check the cooling and the loading"),
    ("winding", "overheating", IMMEDIATE, "check the cooling and the loading"),
    ("unbalance", "voltage unbalance", INVESTIGATE, "check the supply and the VTs"),
    ("voltage", "voltage deviation (> ±5 % of nominal)", INVESTIGATE,
     "check the tap position and the reactive power flow"),
    ("frequency", "frequency deviation", INVESTIGATE, "check with the grid control centre"),
    ("rocof", "frequency deviation", INVESTIGATE, "check with the grid control centre"),
    ("gas_", "dissolved-gas increase", INVESTIGATE, "take a confirmatory oil sample"),
    ("sf6", "health degradation: SF6 leak", INVESTIGATE,
     "locate the leak; top up before the lock-out level"),
    ("contact_wear", "health degradation: contact wear", MAINTAIN,
     "plan the breaker's contact maintenance"),
    ("bushing", "health degradation: bushing insulation", INVESTIGATE,
     "measure the bushing's capacitance and tan delta offline"),
    ("moisture", "health degradation: wet oil", MAINTAIN, "plan oil drying"),
    ("loading", "overload", INVESTIGATE, "shift load to parallel equipment"),
    ("output", "capacitor bank output loss", INVESTIGATE, "check the bank's units and fuses"),
)


def _anomaly_rca(req: RcaRequest) -> tuple[tuple[RcaHypothesis, ...], str] | None:
    a = req.anomaly
    if a is None or not a.explanation:
        return None
    causes: dict[str, RcaHypothesis] = {}
    for c in a.explanation:
        key = c.name.lower()
        for needle, cause, action, rec in _FEATURE_CAUSES:
            if needle in key:
                ev = (f"{c.name} = {_num(c.value)} {c.unit} (normal {_num(c.normal_lo)}–"
                      f"{_num(c.normal_hi)}), {c.share:.0%} of the score")
                if cause in causes:
                    h = causes[cause]
                    causes[cause] = RcaHypothesis(cause, h.confidence + c.share, h.action,
                                                  h.evidence + (ev,), h.recommendation)
                else:
                    causes[cause] = RcaHypothesis(cause, c.share, action, (ev,), rec)
                break
    if not causes:
        return None
    ranked = sorted(causes.values(), key=lambda h: -h.confidence)
    return tuple(ranked), f"anomaly explanation ({a.model})"


def explanation_rca(req: RcaRequest) -> tuple[tuple[RcaHypothesis, ...], str]:
    """The anomaly's own explanation read against the seed's anomaly types, merged with
    the DGA diagnosis of a transformer or reactor with analyses."""
    parts: list[tuple[tuple[RcaHypothesis, ...], str]] = []
    a = _anomaly_rca(req)
    if a is not None:
        parts.append(a)
    if req.asset_type in ("ict", "transformer", "reactor"):
        d = _dga_rca(req)
        if d is not None:
            parts.append(d)
    if not parts:
        return (), "no root-cause method applies to this trigger yet"
    hyps = tuple(sorted((h for p in parts for h in p[0]), key=lambda h: -h.confidence))
    return hyps, " + ".join(p[1] for p in parts)


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "—"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


# ====================================================================== thermal model values
class ThermalExtras:
    """The IEC 60076-7 model temperatures for the actual load and ambient, per transformer
    and reactor, stepped with each processed scan (the features compare the measured ones
    against them). Parameters as :mod:`bench.ml_anomaly` trains with."""

    def __init__(self, station: Station, points: PointTable) -> None:
        from app.field.sim.thermal import ThermalModel, ThermalParams

        self._models: dict[str, tuple[ThermalModel, list[int], float]] = {}
        for a in station.assets_of_type("ict", "transformer"):
            tag = f"{a.id}.LOADING"
            if tag in points.index:
                self._models[a.id] = (ThermalModel(), [points.row(tag)], 100.0)
        for a in station.assets_of_type("reactor"):
            rows = [points.index.get(f"{a.id}.I_{p}") for p in "ABC"]
            if any(r is None for r in rows):
                continue
            rated_a = a.nameplate.rated_mva * 1e3 / (3 ** 0.5 * station.bay(a.bay).voltage_kv)
            self._models[a.id] = (ThermalModel(ThermalParams(delta_theta_or_k=40.0, gr_k=18.0,
                                                             H=1.2, R=1.0), k=1.0),
                                  [int(r) for r in rows], rated_a)
        self._amb = next((i for i, q in enumerate(points.quantity) if q == "ambient_c"), None)
        self._t: float | None = None
        self._ambient_c = 30.0
        self._started: set[str] = set()

    def step(self, t_s: float, values: np.ndarray, quality: np.ndarray
             ) -> dict[str, dict[str, float]]:
        dt_s = 0.0 if self._t is None else max(0.0, t_s - self._t)
        self._t = t_s
        ok = usable_mask(quality)
        if self._amb is not None and ok[self._amb] and math.isfinite(values[self._amb]):
            self._ambient_c = float(values[self._amb])
        out = {}
        for aid, (m, rows, rated) in self._models.items():
            good = [r for r in rows if ok[r] and math.isfinite(values[r])]
            if good:  # a bad loading reading holds the model where it was
                k = float(np.mean(values[good])) / rated
                if aid not in self._started:  # as the training scans start: steady state
                    m.reset_steady_state(k, self._ambient_c)
                    self._started.add(aid)
                elif dt_s > 0:
                    m.step(dt_s, k, self._ambient_c)
            out[aid] = {EXTRA_HOT_SPOT_MODEL: m.hot_spot_c, EXTRA_TOP_OIL_MODEL: m.top_oil_c}
        return out


# ====================================================================== the engine
@dataclass
class _Scorer:
    name: str
    model: AnomalyModel
    detector: AnomalyDetector
    state: DetectorState
    failed: str | None = None
    explained: dict[str, tuple[float, float, tuple[FeatureContribution, ...]]] = field(
        default_factory=dict)
    """Per flagged asset: (scan time, score, explanation) when last explained."""


@dataclass
class _Trigger:
    key: str
    kind: str
    asset: str
    time: dt.datetime | None
    """None: the scan's time."""
    message: str = ""
    again: bool = True
    """Analyse even when the key was analysed before (a new raise of the alarm)."""
    row: AlarmRow | None = None


@dataclass
class _DgaTrack:
    rows: dict[str, int]
    samples: deque = field(default_factory=lambda: deque(maxlen=DGA_KEEP))
    last: tuple[float, ...] | None = None


class InferenceEngine:
    """Anomaly scoring and RCA for one station's live stream (one thread drives it; only
    :meth:`note_alarms` and :meth:`set_models` may be called from another)."""

    def __init__(self, station: Station, points: PointTable,
                 models: Sequence[AnomalyModel] = (), *, names: Sequence[str] | None = None,
                 rca: RcaFn | None = None, reader: HistorianReader | None = None,
                 untrained_text: str = UNTRAINED_TEXT) -> None:
        """``rca``: the root-cause analysis (default :meth:`station_rca`); ``reader``: the
        historian, for past incidents (historical matching)."""
        from app.analytics.rca_context import RcaContextBuilder

        self.station, self.points = station, points
        self.extractor = FeatureExtractor(station, points)
        self.thermal = ThermalExtras(station, points)
        self.context = RcaContextBuilder(station, points=points, reader=reader)
        self._incidents_due = reader is not None
        self.rca_fn: RcaFn = rca or self.station_rca
        self.untrained_text = untrained_text
        self._asset_type = {a.id: a.type for a in station.assets}
        self._history: FeatureHistory = self.extractor.new_history()
        self._scorers: list[_Scorer] = []
        self._refused: list[ModelStatus] = []
        self._lock = threading.Lock()
        self._pending_models: tuple[list[_Scorer], list[ModelStatus]] | None = None
        self._pending_alarms: list[_Trigger] = []
        self._pending_views: list[AlarmView] = []
        self._recent_alarms: deque = deque(maxlen=200)
        self._flag_since: dict[str, float] = {}
        self._rca: dict[str, RcaResult] = {}
        self._dga = self._dga_tracks()
        self.processed = 0
        self.skipped = 0
        if models:
            self._install(*self._prepare(models, names))

    # ------------------------------------------------------------------ models
    def _prepare(self, models: Sequence[AnomalyModel], names: Sequence[str] | None
                 ) -> tuple[list[_Scorer], list[ModelStatus]]:
        names = list(names) if names is not None else [m.kind for m in models]
        scorers, refused = [], []
        for m, name in zip(models, names, strict=True):
            try:
                det = AnomalyDetector(self.extractor, [m])
            except FeatureMismatchError as exc:
                log.error("analytics: model %s refused: %s", name, exc)
                refused.append(ModelStatus(name, "refused", str(exc)))
                continue
            st = det.new_state()
            scorers.append(_Scorer(name, m, det, DetectorState(self._history, st.filter)))
        return scorers, refused

    def _install(self, scorers: list[_Scorer], refused: list[ModelStatus]) -> None:
        self._scorers, self._refused = scorers, refused
        self._flag_since.clear()

    def set_models(self, models: Sequence[AnomalyModel], names: Sequence[str] | None = None
                   ) -> tuple[ModelStatus, ...]:
        """Replace the models (any thread): checked now (refusals returned and logged), in
        effect from the next processed scan."""
        scorers, refused = self._prepare(models, names)
        with self._lock:
            self._pending_models = (scorers, refused)
        return tuple(ModelStatus(s.name, "ok") for s in scorers) + tuple(refused)

    def model_status(self) -> tuple[ModelStatus, ...]:
        return tuple(ModelStatus(s.name, "failed" if s.failed else "ok", s.failed or "")
                     for s in self._scorers) + tuple(self._refused)

    # ------------------------------------------------------------------ alarms
    def note_alarms(self, view: AlarmView) -> None:
        """Any thread: every alarm view, in order (the RCA's event history); the alarms
        newly raised in it become RCA triggers at the next processed scan."""
        rows = {r.key: r for r in view.rows}
        new = [_Trigger(f"alarm:{tr.key}", "alarm", tr.asset, tr.time, tr.message,
                        row=rows.get(tr.key))
               for tr in view.transitions
               if tr.before == AlarmState.NORMAL and tr.after != AlarmState.NORMAL]
        with self._lock:
            self._pending_views.append(view)
            self._pending_alarms.extend(new)

    def request_rca(self, row: AlarmRow) -> None:
        """Any thread: analyse an alarm the operator asked about (unless it was already)."""
        with self._lock:
            self._pending_alarms.append(_Trigger(f"alarm:{row.key}", "alarm", row.asset,
                                                 row.since, row.message, again=False, row=row))

    # ------------------------------------------------------------------ DGA
    def _dga_tracks(self) -> dict[str, _DgaTrack]:
        tracks: dict[str, dict[str, int]] = {}
        for i, q in enumerate(self.points.quantity):
            gas = _GAS_QUANTITY.get(q)
            if gas is not None:
                tracks.setdefault(self.points.asset[i], {})[gas] = i
        return {a: _DgaTrack(rows) for a, rows in tracks.items()
                if all(g in rows for g in ("H2", "CH4", "C2H6", "C2H4", "C2H2"))}

    def _update_dga(self, snap: LiveSnapshot, ok: np.ndarray) -> None:
        v = snap.frame.values
        for tr in self._dga.values():
            rows = list(tr.rows.values())
            if not all(ok[r] and math.isfinite(v[r]) for r in rows):
                continue  # a bad reading is not an analysis
            cur = tuple(round(float(v[r]), 3) for r in rows)
            if cur == tr.last:
                continue
            tr.last = cur
            tr.samples.append(DgaSample(snap.t_acquired, MappingProxyType(
                {g: float(v[r]) for g, r in tr.rows.items()})))

    # ------------------------------------------------------------------ one scan
    def process(self, snap: LiveSnapshot, *, skipped: int = 0) -> AnalyticsSnapshot:
        """Score one scan, run RCA on its new triggers, return what to show. ``skipped``:
        scans dropped before this one (the worker's mailbox counts them)."""
        t0 = time.perf_counter()
        with self._lock:
            pending, self._pending_models = self._pending_models, None
            alarms, self._pending_alarms = self._pending_alarms, []
            views, self._pending_views = self._pending_views, []
        if pending is not None:
            self._install(*pending)
        self.skipped += skipped
        self.processed += 1
        frame = snap.frame
        ok = usable_mask(frame.quality)
        self._update_dga(snap, ok)
        try:
            if self._incidents_due:  # past incidents for historical matching: once, here
                self._incidents_due = False  # (a query, on the worker's thread)
                n = self.context.load_incidents(
                    start=frame.t_acquired - dt.timedelta(days=INCIDENTS_DAYS),
                    end=frame.t_acquired)
                log.info("analytics: %d past incidents loaded for historical matching", n)
            for v in views:
                self.context.note_alarms(v)
            self.context.note_frame(frame)
        except Exception:
            log.exception("analytics: the root-cause context could not take scan %d",
                          frame.seq)
        t_s = frame.t_acquired.timestamp()
        extra = self.thermal.step(t_s, frame.values, frame.quality)
        items: dict[str, AnomalyItem] = {}
        live = [s for s in self._scorers if s.failed is None]
        if live:
            ff = self.extractor.extract_arrays(
                frame.values, frame.quality, t_s, t_source_ns=frame.t_source_ns,
                residual=snap.residual, extra=extra, history=self._history)
            for s in live:
                try:
                    res = s.detector.score_features(ff, s.state)
                    for a in self._flagged(s, res):
                        if a.asset not in items or a.score > items[a.asset].score:
                            items[a.asset] = a
                except Exception as exc:  # one line naming the model; the others go on
                    s.failed = f"{type(exc).__name__}: {exc}"
                    log.error("analytics: model %s failed and is disabled: %s", s.name,
                              s.failed)
        anomalies = tuple(sorted(items.values(), key=lambda a: -a.score))
        self._triggers(snap, anomalies, alarms)
        status = self.model_status()
        state, message = self._state(status, anomalies)
        return AnalyticsSnapshot(
            frame.seq, frame.t_acquired, state, message, status, anomalies,
            MappingProxyType(dict(self._rca)),
            MappingProxyType({a: tuple(t.samples) for a, t in self._dga.items()}),
            self.processed, self.skipped, (time.perf_counter() - t0) * 1000)

    def _flagged(self, s: _Scorer, res: ScanAnomalies) -> list[AnomalyItem]:
        """The model's flagged assets with their explanations. An explanation costs more
        than scoring every asset, so it is recomputed only for an anomaly that is new, whose
        score moved by a fifth, or whose explanation is older than EXPLAIN_REFRESH_S: every
        new one at once, then at most EXPLAIN_BUDGET refreshes a scan, the most stale first
        (the others keep theirs)."""
        flagged = res.flagged()
        cache = s.explained
        for asset in [k for k in cache if k not in {a.asset for a in flagged}]:
            del cache[asset]

        def stale(a: AssetAnomaly) -> float:
            old = cache.get(a.asset)
            if old is None:
                return math.inf
            if abs(a.score - old[1]) > 0.2 * max(old[1], 1.0):
                return 1e9
            return res.t_s - old[0] - EXPLAIN_REFRESH_S

        new = [a for a in flagged if a.asset not in cache]  # always explained at once
        due = sorted((a for a in flagged if a.asset in cache and stale(a) >= 0), key=stale,
                     reverse=True)
        for a in new + due[:EXPLAIN_BUDGET]:
            cache[a.asset] = (res.t_s, a.score, tuple(s.detector.explain(res, a.asset)))
        out = []
        for a in flagged:
            expl = cache[a.asset][2]
            since = a.since_s if a.since_s is not None else res.t_s
            out.append(AnomalyItem(a.asset, a.cls, a.severity or "low", a.score,
                                   dt.datetime.fromtimestamp(since, dt.UTC),
                                   f"{s.name}", a.confidence, expl))
        return out

    def _state(self, status: tuple[ModelStatus, ...], anomalies: tuple[AnomalyItem, ...]
               ) -> tuple[str, str]:
        if not status:
            return "untrained", self.untrained_text
        bad = [m for m in status if m.state != "ok"]
        if bad:
            m = bad[0]
            what = "failed" if m.state == "failed" else "refused"
            text = f"analytics: {m.name} {what} — {m.reason}"
            return ("failed" if len(bad) == len(status) else "degraded"), text
        n = len(anomalies)
        return "ok", (f"analytics: {n} anomal{'y' if n == 1 else 'ies'}" if n
                      else "analytics: normal")

    # ------------------------------------------------------------------ RCA
    def _triggers(self, snap: LiveSnapshot, anomalies: tuple[AnomalyItem, ...],
                  alarms: list[_Trigger]) -> None:
        now = snap.t_acquired
        flagged_now = {a.asset for a in anomalies}
        for asset in list(self._flag_since):
            if asset not in flagged_now:
                del self._flag_since[asset]
        todo: list[tuple[_Trigger, AnomalyItem | None]] = []
        for a in anomalies:
            since = a.since.timestamp()
            if self._flag_since.get(a.asset) != since:
                self._flag_since[a.asset] = since
                key = f"anomaly:{a.asset}@{a.since.isoformat()}"
                todo.append((_Trigger(key, "anomaly", a.asset, a.since), a))
        for tr in alarms:
            if tr.time is None:
                tr.time = now
            self._recent_alarms.append((tr.time, tr.key.removeprefix("alarm:"), tr.asset,
                                        tr.message))
            if not tr.again and tr.key in self._rca:
                continue
            todo.append((tr, next((a for a in anomalies if a.asset == tr.asset), None)))
        cutoff = now - dt.timedelta(minutes=10)
        recent = tuple(r for r in self._recent_alarms if r[0] >= cutoff)
        for tr, a in todo:
            self._analyse(tr, a, snap, recent)

    def _analyse(self, tr: _Trigger, anomaly: AnomalyItem | None, snap: LiveSnapshot,
                 recent: tuple[tuple[dt.datetime, str, str, str], ...]) -> None:
        t0 = time.perf_counter()
        dga = tuple(self._dga[tr.asset].samples) if tr.asset in self._dga else ()
        req = RcaRequest(tr.key, tr.kind, tr.asset, self._asset_type.get(tr.asset, ""),
                         tr.time, anomaly, tr.row, tr.message, dga, snap, recent)
        try:
            hyps, method = self.rca_fn(req)
            err = None
        except Exception as exc:
            log.error("analytics: root-cause analysis of %s failed: %s: %s", tr.key,
                      type(exc).__name__, exc)
            hyps, method, err = (), "failed", f"{type(exc).__name__}: {exc}"
        self._rca.pop(tr.key, None)  # re-inserted last: the oldest go first
        self._rca[tr.key] = RcaResult(tr.key, tr.kind, tr.asset, tr.time, tuple(hyps), method,
                                      err, (time.perf_counter() - t0) * 1000)
        while len(self._rca) > RCA_KEEP:
            self._rca.pop(next(iter(self._rca)))


    # ------------------------------------------------------------------ the station's RCA
    def station_rca(self, req: RcaRequest) -> tuple[tuple[RcaHypothesis, ...], str]:
        """:func:`ml.rca.engine.analyse` on this station's context (the default); for an
        anomaly it has no hypothesis of at least WEAK_RCA on, the anomaly's explanation
        (:func:`explanation_rca`) is ranked beside its hypotheses."""
        from ml.rca.result import Trigger

        c = self.context
        if req.alarm is not None:
            trig = c.trigger_for_alarm(req.alarm)
        elif req.kind == "alarm":
            trig = Trigger("alarm", req.asset, req.time, asset_type=req.asset_type,
                           message=req.alarm_message, key=req.trigger.removeprefix("alarm:"))
        else:
            a = req.anomaly
            trig = c.trigger_for_anomaly(
                req.asset, req.time,
                features={x.name: x.value for x in a.explanation} if a else None,
                severity=a.severity if a else None, score=a.score if a else None,
                key=req.trigger)
        res = c.analyse(trig)
        hyps = tuple(_from_ml(h) for h in res.hypotheses)
        method = "root-cause analysis: " + (", ".join(res.analysers) or "no analyser applied")
        if res.failures:
            method += " (failed: " + ", ".join(f"{k}: {v}" for k, v in res.failures.items()) \
                + ")"
        if req.anomaly is not None and (not hyps or hyps[0].confidence < WEAK_RCA):
            # Little or nothing from the station's analysers (a thermal history too short,
            # DGA not warranted …): the anomaly's own explanation ranks beside them.
            more, how = explanation_rca(req)
            if more:
                merged = sorted(hyps + tuple(more), key=lambda h: -h.confidence)
                return tuple(merged), f"{method}; {how}"
        return hyps, method


def _from_ml(h: MlHypothesis) -> RcaHypothesis:
    """An :class:`ml.rca.result.RcaHypothesis` as the dock shows it."""
    order = {IMMEDIATE: 0, INVESTIGATE: 1, MAINTAIN: 2}
    acts = sorted(h.actions, key=lambda a: order.get(a.kind, 3))
    evidence = tuple(f.text if f.supports else f"against: {f.text}" for f in h.evidence)
    if h.related:
        evidence += (f"also explains: {', '.join(h.related)}",)
    return RcaHypothesis(h.title, h.confidence, acts[0].kind if acts else INVESTIGATE,
                         evidence, "; ".join(f"{a.kind}: {a.text}" for a in acts))


# ====================================================================== training from the HMI
#: Simulated hours the HMI's "Train model…" trains on (as the untrained text advises).
TRAIN_HOURS = 6.0


def training_job(station: Station, *, data_dir: str | None, db_url: str | None = None,
                 hours: float = TRAIN_HOURS, seed: int = 0, step_s: float = 60.0,
                 kinds: Sequence[str] | None = None) -> Job[TrainResult]:
    """``gridtwin ml train anomaly --simulate HOURS`` as a job (progress, cooperative
    cancel): the models are registered as the next active version and returned, for the
    worker to pick up (:meth:`InferenceEngine.set_models`)."""
    from app.analytics import registry, training
    from app.analytics.sim import Cancelled as SimCancelled
    from app.runtime.solver import SolverService

    def run(ctx: JobContext) -> TrainResult:
        try:
            return training.train(data_dir, station, solver_factory=SolverService,
                                  simulate_hours=hours, seed=seed, step_s=step_s,
                                  kinds=tuple(kinds or registry.KINDS), progress=ctx.progress,
                                  cancelled=lambda: ctx.cancelled, db_url=db_url,
                                  torch_threads=1)
        except SimCancelled:
            raise Cancelled("training cancelled") from None

    return Job("train anomaly model", run)


def trained_names(result: TrainResult) -> tuple[str, ...]:
    return tuple(f"{r.kind} v{r.version}" for r in result.records)
