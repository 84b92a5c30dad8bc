"""One scan in, every scored asset's anomaly state out: the inference worker's entry point.

::

    fx = FeatureExtractor(station, points)
    det = AnomalyDetector(fx, [iforest_model, autoencoder_model])   # refuses mismatches
    state = det.new_state()                      # one per live stream, kept by the caller
    res = det.scan(frame, residual, extra, state)   # every scan, in time order
    for a in res.flagged():                      # AssetAnomaly: score, severity, since …
        det.explain(res, a.asset)                # [FeatureContribution …]

Each model scores every asset (normalised: 1.0 is its threshold); an asset's score is the
larger of the models' scores, and its explanation comes from that model. A per-asset
persistence filter turns scores into flags that do not chatter with scan-to-scan noise: the
share of recent scans at or above 1, as an exponential average with time constant ``tau_s``
(so it means the same at 10 Hz and in a simulator stepped at speed), raises a flag at
``raise_at`` — and only after at least ``min_scans`` consecutive scans at or above 1, so a
single unlucky scan never flags even when scans are further apart than ``tau_s`` — and
clears it at ``clear_at``. An asset that cannot be scored (de-energised,
too few valid features) is never flagged and its filter restarts.

The detector holds no per-stream state: it lives in :class:`DetectorState` (feature history
and filter), so one detector may serve several streams (live, replay, evaluation).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from app.station.frame import ScanFrame
from ml.anomaly.features import FeatureExtractor, FeatureFrame, FeatureHistory
from ml.anomaly.models import AnomalyModel, FeatureContribution, severity_of


@dataclass(frozen=True, slots=True)
class AssetAnomaly:
    asset: str
    cls: str
    scored: bool
    reason: str | None
    """Why it is not scored (de-energised, too few valid features …), else None."""
    score: float
    """The larger of the models' normalised scores (1.0 = threshold); NaN if not scored."""
    model: str | None
    """The model kind that gave ``score``."""
    severity: str | None
    confidence: float
    """Share of the asset's available features that were valid (0–1)."""
    flagged: bool
    """After the persistence filter."""
    since_s: float | None
    """Scan time the current flag was raised (seconds since the Unix epoch, UTC)."""
    scores: Mapping[str, float]
    """Each model's normalised score."""


class AnomalyFilter:
    """Per asset: raise after persistent scores ≥ 1, clear after persistent scores below."""

    def __init__(self, n: int, *, tau_s: float = 2.0, raise_at: float = 0.6,
                 clear_at: float = 0.2, min_scans: int = 2) -> None:
        if not 0.0 <= clear_at < raise_at <= 1.0:
            raise ValueError("need 0 <= clear_at < raise_at <= 1")
        self.tau_s, self.raise_at, self.clear_at = float(tau_s), raise_at, clear_at
        self.min_scans = max(1, int(min_scans))
        self.run = np.zeros(n, dtype=np.int64)
        self.level = np.zeros(n)
        self.flagged = np.zeros(n, dtype=bool)
        self.since = np.full(n, np.nan)
        self.last_t: float | None = None

    def update(self, t_s: float, above: np.ndarray, scored: np.ndarray) -> None:
        dt = 0.0 if self.last_t is None else max(0.0, t_s - self.last_t)
        self.last_t = t_s
        alpha = 1.0 if self.tau_s <= 0 else 1.0 - math.exp(-dt / self.tau_s)
        self.level += alpha * (above.astype(float) - self.level)
        self.level[~scored] = 0.0
        self.run = np.where(above & scored, self.run + 1, 0)
        rise = ~self.flagged & (self.level >= self.raise_at) & scored & \
            (self.run >= self.min_scans)
        fall = self.flagged & ((self.level <= self.clear_at) | ~scored)
        self.flagged[rise] = True
        self.since[rise] = t_s
        self.flagged[fall] = False
        self.since[fall] = np.nan


@dataclass
class DetectorState:
    history: FeatureHistory
    filter: AnomalyFilter

    def copy(self) -> DetectorState:
        return copy.deepcopy(self)


@dataclass(frozen=True, slots=True, eq=False)
class ScanAnomalies:
    """Every scored unit's anomaly state for one scan (read-only arrays, units in the
    extractor's order)."""

    t_s: float
    assets: tuple[str, ...]
    classes: tuple[str, ...]
    score: np.ndarray
    model_index: np.ndarray
    """Per unit: which of ``model_kinds`` gave ``score`` (−1 where not scored)."""
    model_kinds: tuple[str, ...]
    scores: Mapping[str, np.ndarray]
    confidence: np.ndarray
    scored: np.ndarray
    flagged_mask: np.ndarray
    since_s: np.ndarray
    reasons: tuple[str | None, ...]
    features: FeatureFrame

    def model_of(self, k: int) -> str | None:
        """The model kind that gave unit ``k``'s score."""
        i = int(self.model_index[k])
        return self.model_kinds[i] if i >= 0 else None

    def index(self, asset_id: str) -> int:
        try:
            return self.assets.index(asset_id)
        except ValueError:
            raise KeyError(f"asset '{asset_id}' is not scored") from None

    def asset(self, asset_id: str) -> AssetAnomaly:
        k = self.index(asset_id)
        since = float(self.since_s[k])
        sc = float(self.score[k])
        return AssetAnomaly(
            asset=asset_id, cls=self.classes[k], scored=bool(self.scored[k]),
            reason=self.reasons[k], score=sc, model=self.model_of(k), severity=severity_of(sc),
            confidence=float(self.confidence[k]), flagged=bool(self.flagged_mask[k]),
            since_s=None if math.isnan(since) else since,
            scores={m: float(s[k]) for m, s in self.scores.items()})

    def flagged(self) -> tuple[AssetAnomaly, ...]:
        """The flagged assets, highest score first."""
        ks = np.nonzero(self.flagged_mask)[0]
        ks = ks[np.argsort(-self.score[ks], kind="stable")]
        return tuple(self.asset(self.assets[k]) for k in ks)

    def above_threshold(self) -> np.ndarray:
        """Per unit: this scan's score is at or above 1 (before the filter)."""
        with np.errstate(invalid="ignore"):
            return self.score >= 1.0


class AnomalyDetector:
    """Feature extraction, every model, and the persistence filter, for one station."""

    def __init__(self, extractor: FeatureExtractor, models: Sequence[AnomalyModel], *,
                 tau_s: float = 2.0, raise_at: float = 0.6, clear_at: float = 0.2,
                 min_scans: int = 2) -> None:
        if not models:
            raise ValueError("an anomaly detector needs at least one model")
        kinds = [m.kind for m in models]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"two models of the same kind: {', '.join(kinds)}")
        for m in models:
            m.check_features(extractor)
        self.extractor = extractor
        self.models = {m.kind: m for m in models}
        self.filter_params = {"tau_s": tau_s, "raise_at": raise_at, "clear_at": clear_at,
                              "min_scans": min_scans}
        self.assets = tuple(u.asset for u in extractor.units)
        self.classes = tuple(u.cls for u in extractor.units)

    def new_state(self) -> DetectorState:
        return DetectorState(self.extractor.new_history(),
                             AnomalyFilter(len(self.assets), **self.filter_params))

    def scan(self, frame: ScanFrame, residual: np.ndarray | None = None,
             extra: Mapping[str, Mapping[str, float]] | None = None,
             state: DetectorState | None = None) -> ScanAnomalies:
        """Score one scan. ``state``: the stream's (updated in place); None scores this scan
        alone (no rates, no persistence: ``flagged`` is then this scan's threshold test)."""
        return self.scan_arrays(frame.values, frame.quality, frame.t_acquired.timestamp(),
                                t_source_ns=frame.t_source_ns, residual=residual, extra=extra,
                                state=state)

    def scan_arrays(self, values: np.ndarray, quality: np.ndarray, t_s: float, *,
                    t_source_ns: np.ndarray | None = None,
                    residual: np.ndarray | None = None,
                    extra: Mapping[str, Mapping[str, float]] | None = None,
                    state: DetectorState | None = None) -> ScanAnomalies:
        ff = self.extractor.extract_arrays(
            values, quality, t_s, t_source_ns=t_source_ns, residual=residual, extra=extra,
            history=None if state is None else state.history)
        return self.score_features(ff, state)

    def score_features(self, ff: FeatureFrame, state: DetectorState | None = None
                       ) -> ScanAnomalies:
        """Score already extracted features (``ff`` from this detector's extractor)."""
        if ff.layout is not self.extractor.layout:
            raise ValueError("features from another extractor: score them with its detector")
        n = len(self.assets)
        gate = ff.scorable
        per_model: dict[str, np.ndarray] = {}
        conf = np.zeros(n)
        scored = np.zeros(n, dtype=bool)
        for kind, m in self.models.items():
            s, ok, c = m.score_rows(ff)
            ok &= gate
            per_model[kind] = np.where(ok, s, np.nan)
            scored |= ok
            conf = np.maximum(conf, np.where(ok, c, 0.0))
        reasons: list[str | None] = [None] * n
        if not scored.all():
            first = next(iter(self.models.values()))
            why = first.reasons(ff, scored)
            for k in np.nonzero(~scored)[0]:
                reasons[k] = why[k]
        stack = np.vstack(list(per_model.values()))
        kinds = list(per_model)
        best = np.where(np.isnan(stack), -np.inf, stack).argmax(0)
        score = np.where(scored, stack[best, np.arange(n)], np.nan)
        best = np.where(scored, best, -1)
        with np.errstate(invalid="ignore"):
            above = score >= 1.0
        if state is not None:
            state.filter.update(ff.t_s, above, scored)
            flagged = state.filter.flagged.copy()
            since = state.filter.since.copy()
        else:
            flagged = above & scored
            since = np.where(flagged, ff.t_s, np.nan)
        for a in (score, best, conf, scored, flagged, since, *per_model.values()):
            a.setflags(write=False)
        return ScanAnomalies(ff.t_s, self.assets, self.classes, score, best, tuple(kinds),
                             per_model, conf, scored, flagged, since, tuple(reasons), ff)

    def explain(self, result: ScanAnomalies, asset_id: str) -> list[FeatureContribution]:
        """The explanation of one asset's score in ``result``, by the model that gave it."""
        kind = result.model_of(result.index(asset_id))
        if kind is None:
            return []
        return self.models[kind].explain(result.features, asset_id)
