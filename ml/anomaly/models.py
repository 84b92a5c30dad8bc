"""Anomaly models per asset class, behind one interface.

Each detector scores one asset class's feature vectors (:mod:`ml.anomaly.features`)::

    det.fit(X)                    # X: (rows, features), NaN where missing
    scores, valid = det.score(X)  # normalised: 1.0 is the calibrated threshold
    det.severity(score)           # None below 1, then "low", "medium", "high"
    det.explain(x)                # [FeatureContribution(name, unit, value, lo, hi, share)]

**Missing features.** A feature is *available* when the extractor says it applies (pass its
``available`` mask; default: every feature) and the model saw it valid in training; it is
*valid* when available and a number. Missing features are imputed from the training
statistics (the isolation forest with the training median, the autoencoder with the mean),
never appear in an explanation, and lower the confidence, ``valid / available``. A row with
fewer than ``min_valid_fraction`` of its available features valid is not scored (``valid``
False, score NaN).

**Scores** are normalised so that 1.0 is the threshold calibrated on the training data: the
``quantile`` (default 0.9995) of the training rows' raw scores. Severity: below 1 none,
[1, 1.5) ``low``, [1.5, 3) ``medium``, 3 and above ``high``.

**Isolation forest** (:class:`IsolationForestDetector`, scikit-learn's ``IsolationForest``,
100 trees of 256 samples). Its raw score ``s = 2^(−E[h(x)]/c(ψ))`` ranks unusual
*combinations* well but saturates outside the training range: a value ten times beyond the
largest seen takes the same path as the largest seen. So the detector's raw score is the
larger of two parts, each 1 at its own threshold:

* ``S_if = (s − median) / (q − median)`` over the training scores;
* ``S_env = max_f e_f / 3``, where ``e_f`` is how far feature f lies outside its training
  range [0.5 %, 99.5 % quantiles], in robust standard deviations (IQR/1.349, floored at the
  feature's resolution) — three of them beyond the range is 1.

Scoring runs a vectorised traversal of the fitted trees (packed into arrays; identical to
``IsolationForest.score_samples``, tested), not scikit-learn's per-tree loop. Explanation:
when ``S_env`` decided the score, the shares are the features' out-of-range excesses ``e_f``;
when ``S_if`` did, they are occlusion drops — how much ``S_if`` falls when that feature alone
is set to its training median (if no single feature lowers it, the features' robust |z|).

**Autoencoder** (:class:`AutoencoderDetector`, torch): ``d → h → k → h → d`` with tanh,
``h = min(64, max(8, 2d))``, ``k = max(2, min(8, d // 4))`` — fixed by the feature count, so
every station's model has the same shape. Inputs are standardised with statistics that
federate (:class:`NormStats`: count, sum and sum of squares per feature, summed over
stations), clipped to ±10, missing ones set to 0 (the mean); the loss is the squared error
over valid features only, with 10 % of inputs dropped at random in training so the network
learns to fill gaps. Raw score: mean squared reconstruction error over the valid features;
explanation: each feature's squared error above its mean training error. Scoring runs the
network in numpy (same weights; a few µs), training in torch with ``num_threads`` threads.
For Flower: :meth:`~AutoencoderDetector.get_weights`, :meth:`~AutoencoderDetector.set_weights`,
:meth:`~AutoencoderDetector.train_epochs` (returns the sample count and loss),
:meth:`~AutoencoderDetector.norm_stats` / :meth:`~AutoencoderDetector.set_norm_stats`, and
:meth:`~AutoencoderDetector.calibrate` to set thresholds on local data after aggregation.

:class:`AnomalyModel` holds one detector per asset class with its metadata (feature names and
units per class, training window, metrics, parameters); ``to_bytes()`` is a deterministic,
pickle-free file (a JSON header and raw arrays), ``sha256`` its hash, and ``from_bytes`` reads
it back (checking a hash when given).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, Unpack

import numpy as np

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest

from ml.anomaly.features import (
    ASSET_CLASSES,
    CLASS_FEATURES,
    Feature,
    FeatureExtractor,
    FeatureFrame,
    FeatureLayout,
)

log = logging.getLogger(__name__)

DEFAULT_QUANTILE = 0.9995
SEVERITY_BANDS = (("high", 3.0), ("medium", 1.5), ("low", 1.0))
#: Training range for the envelope and the "normal range" of explanations.
NORMAL_QUANTILES = (0.005, 0.995)
ENVELOPE_SD = 3.0
MIN_SHARE = 0.02
FORMAT = "gridtwin-anomaly/1"
_MAGIC = b"GTANOMALY1\n"


class ModelFileError(ValueError):
    """Model bytes that cannot be read (wrong format, truncated, wrong hash)."""


class FeatureMismatchError(ValueError):
    """A model whose features do not match what this program extracts for the station."""


@dataclass(frozen=True, slots=True)
class FeatureContribution:
    name: str
    unit: str
    value: float
    normal_lo: float
    normal_hi: float
    """The training data's 0.5–99.5 % range of this feature."""
    share: float
    """Share of the score; shares of one explanation sum to 1."""


def severity_of(score: float) -> str | None:
    if not score == score:  # NaN
        return None
    for name, level in SEVERITY_BANDS:
        if score >= level:
            return name
    return None


@dataclass
class TrainingStats:
    """Per-feature statistics of the valid training values (NaN where never valid)."""

    count: np.ndarray
    median: np.ndarray
    q_lo: np.ndarray
    q_hi: np.ndarray
    scale: np.ndarray
    """Robust standard deviation: IQR/1.349, floored at the feature's resolution."""

    @classmethod
    def of(cls, X: np.ndarray, valid: np.ndarray, resolution: np.ndarray) -> TrainingStats:
        d = X.shape[1]
        out = {k: np.full(d, np.nan) for k in ("median", "q_lo", "q_hi", "q25", "q75")}
        count = valid.sum(0).astype(float)
        for j in range(d):
            x = X[valid[:, j], j]
            if len(x):
                q = np.quantile(x, [0.5, *NORMAL_QUANTILES, 0.25, 0.75])
                for k, val in zip(("median", "q_lo", "q_hi", "q25", "q75"), q, strict=True):
                    out[k][j] = val
        scale = np.fmax((out["q75"] - out["q25"]) / 1.349, resolution)
        return cls(count, out["median"], out["q_lo"], out["q_hi"], scale)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}{k}": getattr(self, k) for k in
                ("count", "median", "q_lo", "q_hi", "scale")}

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray], prefix: str) -> TrainingStats:
        return cls(*(a[f"{prefix}{k}"] for k in ("count", "median", "q_lo", "q_hi", "scale")))


#: Training values an asset needs for a feature before its own baseline is used.
MIN_BASELINE_ROWS = 20


@dataclass
class AssetBaselines:
    """Each asset's own normal for every feature (raw units): median, robust scale and the
    0.5–99.5 % range of its training values. The last row, ``"*"``, is the class as a
    whole: the baseline of an asset the model has not seen, and of a feature an asset had
    too few values of."""

    assets: tuple[str, ...]
    median: np.ndarray
    scale: np.ndarray
    q_lo: np.ndarray
    q_hi: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, valid: np.ndarray, assets: np.ndarray,
           resolution: np.ndarray) -> AssetBaselines:
        names = tuple(sorted(set(assets.tolist()) - {"*"}))
        pooled = TrainingStats.of(X, valid, resolution)
        rows = []
        for a in names:
            sel = assets == a
            st = TrainingStats.of(X[sel], valid[sel], resolution)
            few = valid[sel].sum(0) < MIN_BASELINE_ROWS
            rows.append([np.where(few, getattr(pooled, k), getattr(st, k))
                         for k in ("median", "scale", "q_lo", "q_hi")])
        rows.append([pooled.median, pooled.scale, pooled.q_lo, pooled.q_hi])
        med, sc, lo, hi = (np.array([r[i] for r in rows]) for i in range(4))
        return cls((*names, "*"), med, sc, lo, hi)

    def __post_init__(self) -> None:
        self._index = {a: i for i, a in enumerate(self.assets[:-1])}
        self._cache: dict[tuple, np.ndarray] = {}

    def rows_of(self, assets: Sequence[str] | None, n: int) -> np.ndarray:
        star = len(self.assets) - 1
        if assets is None:
            return np.full(n, star, dtype=np.intp)
        key = tuple(assets)
        rows = self._cache.get(key)
        if rows is None:
            rows = np.array([self._index.get(a, star) for a in key], dtype=np.intp)
            if len(self._cache) < 64:
                self._cache[key] = rows
        return rows

    def arrays(self) -> dict[str, np.ndarray]:
        return {"base.median": self.median, "base.scale": self.scale,
                "base.q_lo": self.q_lo, "base.q_hi": self.q_hi}

    @classmethod
    def from_arrays(cls, assets: Sequence[str], a: Mapping[str, np.ndarray]) -> AssetBaselines:
        return cls(tuple(assets), a["base.median"], a["base.scale"], a["base.q_lo"],
                   a["base.q_hi"])


def _prep(X: np.ndarray, A: np.ndarray, trained: np.ndarray, min_frac: float | np.ndarray,
          relative: np.ndarray, med: np.ndarray, scale: np.ndarray, impute: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The missing-value handling and the per-asset standardisation, shared by the per-class
    API and the one-pass scoring of every unit: (features in the model's space with missing
    ones imputed, valid mask, row scorable, confidence)."""
    avail = A & trained
    valid = avail & ~np.isnan(X)
    n_av = avail.sum(1)
    n_ok = valid.sum(1)
    conf = n_ok / np.maximum(n_av, 1)
    ok = (n_ok > 0) & (conf >= min_frac)
    Z = np.where(relative, (X - med) / scale, X)
    return np.where(valid, Z, impute), valid, ok, conf


def _if_parts(s: np.ndarray, Zi: np.ndarray, valid: np.ndarray, if_med: float | np.ndarray,
              if_thr: float | np.ndarray,
              lo: np.ndarray, hi: np.ndarray, scale: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """The isolation forest's two score parts: S_if from the forest score ``s``, S_env from
    the out-of-range excess (see the module doc)."""
    s_if = (s - if_med) / (if_thr - if_med)
    e = np.where(valid, np.maximum(np.maximum(lo - Zi, Zi - hi), 0.0) / scale, 0.0)
    return s_if, e.max(1) / ENVELOPE_SD


def _ae_errors(Zi: np.ndarray, valid: np.ndarray, mean: np.ndarray, std: np.ndarray,
               forward: Callable[[np.ndarray], np.ndarray], clip: float) -> np.ndarray:
    """Squared reconstruction error per feature (0 where not valid)."""
    z = np.where(valid, (Zi - mean) / std, 0.0)
    return np.where(valid, (forward(np.clip(z, -clip, clip)) - z) ** 2, 0.0)


class DetectorOptions(TypedDict, total=False):
    """:class:`ClassDetector`'s settings, as its subclasses pass them on."""

    seed: int
    quantile: float
    min_valid_fraction: float
    max_rows: int


class DetectorParams(TypedDict, total=False):
    """What :meth:`AnomalyModel.create` passes to each class's detector (the seed it sets
    itself): the common settings and those of its kind (``n_estimators``, ``max_samples``
    for the isolation forest; ``num_threads`` for the autoencoder)."""

    quantile: float
    min_valid_fraction: float
    max_rows: int
    n_estimators: int
    max_samples: int
    num_threads: int


class FitParams(TypedDict, total=False):
    """Training settings of the autoencoder's :meth:`~AutoencoderDetector.fit`."""

    epochs: int
    lr: float
    batch_size: int


class ClassDetector:
    """The common interface, the per-asset baselines and the missing-value handling of
    every detector.

    Relative features (``Feature.relative``) are standardised against the asset's own
    baseline — ``(x − asset median) / asset scale`` — before the model sees them; absolute
    ones are used as they are. The models work in that space; values and normal ranges in
    explanations are back in engineering units (the asset's own range for a relative
    feature, the class's for an absolute one).
    """

    kind: ClassVar[str] = ""

    def __init__(self, cls: str, features: Sequence[Feature] | None = None, *, seed: int = 0,
                 quantile: float = DEFAULT_QUANTILE, min_valid_fraction: float = 0.5,
                 max_rows: int = 200_000) -> None:
        if not 0.5 < quantile < 1.0:
            raise ValueError(f"quantile {quantile} must be between 0.5 and 1")
        self.cls = cls
        self.features: tuple[Feature, ...] = tuple(features or CLASS_FEATURES[cls])
        self.names = tuple(f.name for f in self.features)
        self.units = tuple(f.unit for f in self.features)
        self.resolution = np.array([f.resolution for f in self.features])
        self.relative = np.array([f.relative for f in self.features], dtype=bool)
        #: Scale floors in the model's space: 1 for standardised (relative) features.
        self.floor = np.where(self.relative, 1.0, self.resolution)
        self.seed = int(seed)
        self.quantile = float(quantile)
        self.min_valid_fraction = float(min_valid_fraction)
        self.max_rows = int(max_rows)
        self.baselines: AssetBaselines | None = None
        self.stats: TrainingStats | None = None
        self.raw_threshold = math.nan
        self.metrics: dict[str, Any] = {}
        #: Bumped whenever what scoring uses changes (fit, calibration, weights, statistics):
        #: cached one-pass layouts (:meth:`AnomalyModel.bound`) compare it.
        self.revision = 0

    # -- interface --------------------------------------------------------------------
    @property
    def d(self) -> int:
        return len(self.features)

    @property
    def fitted(self) -> bool:
        return self.stats is not None and math.isfinite(self.raw_threshold)

    @property
    def threshold(self) -> float:
        """Normalised threshold: a score at or above it is anomalous."""
        return 1.0

    @property
    def trained(self) -> np.ndarray:
        """Features that had valid training values (the others are never used)."""
        self._need_fit()
        return self._trained

    def fit(self, X: np.ndarray, available: np.ndarray | None = None,
            assets: Sequence[str] | None = None) -> ClassDetector:
        raise NotImplementedError

    def score(self, X: np.ndarray, available: np.ndarray | None = None,
              assets: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(normalised scores, valid): NaN score where the row is not valid. ``assets``: the
        asset of each row (for its baseline); None or an unknown asset: the class's."""
        self._need_fit()
        Zi, valid, ok, _ = self.prepare(X, available, assets)
        return self._normalise(self._raw(Zi, valid), ok), ok

    def _normalise(self, raw: np.ndarray, ok: np.ndarray) -> np.ndarray:
        return np.where(ok, raw / self.raw_threshold, np.nan)

    def confidence(self, X: np.ndarray, available: np.ndarray | None = None) -> np.ndarray:
        return self.prepare(X, available)[3]

    def severity(self, score: float) -> str | None:
        return severity_of(score)

    def explain(self, x: np.ndarray, available: np.ndarray | None = None,
                asset: str | None = None, *, min_share: float = MIN_SHARE
                ) -> list[FeatureContribution]:
        """The features that drove the score of one row, largest share first (shares below
        ``min_share`` are dropped and the rest renormalised to sum to 1). Missing features
        never appear. Empty for a row that is not valid."""
        self._need_fit()
        x2 = np.asarray(x, dtype=float).reshape(1, -1)
        av = None if available is None else np.asarray(available, bool).reshape(1, -1)
        Zi, valid, ok, _ = self.prepare(x2, av, None if asset is None else [asset])
        if not ok[0]:
            return []
        c = np.where(valid[0], np.maximum(self._contributions(Zi[0], valid[0]), 0.0), 0.0)
        total = c.sum()
        if not total > 0:
            return []
        share = c / total
        keep = share >= min_share
        share = np.where(keep, share, 0.0)
        share /= share.sum()
        lo, hi = self.normal_range(asset)
        out = [FeatureContribution(self.names[j], self.units[j], float(x2[0, j]),
                                   float(lo[j]), float(hi[j]), float(share[j]))
               for j in np.nonzero(keep)[0]]
        out.sort(key=lambda fc: -fc.share)
        return out

    def normal_range(self, asset: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) per feature in engineering units: the asset's own 0.5–99.5 % training
        range for relative features, the class's for absolute ones."""
        self._need_fit()
        b = self.baselines
        r = b.rows_of(None if asset is None else [asset], 1)[0]
        return (np.where(self.relative, b.q_lo[r], b.q_lo[-1]),
                np.where(self.relative, b.q_hi[r], b.q_hi[-1]))

    # -- baselines and missing values -------------------------------------------------
    def transform(self, X: np.ndarray, assets: Sequence[str] | None = None) -> np.ndarray:
        """Raw features → the model's space (relative ones standardised per asset)."""
        b = self.baselines
        r = b.rows_of(assets, len(X))
        z = (X - b.median[r]) / b.scale[r]
        return np.where(self.relative, z, X)

    def prepare(self, X: np.ndarray, available: np.ndarray | None = None,
                assets: Sequence[str] | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(features in the model's space with missing ones imputed, valid mask, row
        scorable, confidence)."""
        self._need_fit()
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"{self.kind} model of class {self.cls} takes {self.d} features, "
                             f"got an array of shape {X.shape}")
        A = np.ones(X.shape, dtype=bool) if available is None else \
            np.asarray(available, dtype=bool)
        r = self.baselines.rows_of(assets, len(X))
        return _prep(X, A, self._trained, self.min_valid_fraction, self.relative,
                     self.baselines.median[r], self.baselines.scale[r], self._impute_values())

    def missing_reason(self, x: np.ndarray, available: np.ndarray | None = None) -> str:
        """Why one row is not scored, naming the missing features."""
        x2 = np.asarray(x, dtype=float).reshape(1, -1)
        av = np.ones_like(x2, dtype=bool) if available is None else \
            np.asarray(available, bool).reshape(1, -1)
        av = av & self.trained
        valid = av & np.isfinite(x2)
        miss = [self.names[j] for j in np.nonzero(av[0] & ~valid[0])[0]]
        n_av, n_ok = int(av.sum()), int(valid.sum())
        if n_av == 0:
            return "no feature available"
        return (f"too few valid features: {n_ok} of {n_av} (missing: "
                f"{', '.join(miss[:6])}{', …' if len(miss) > 6 else ''})")

    # -- for subclasses ----------------------------------------------------------------
    def _impute_values(self) -> np.ndarray:
        return self._impute

    def _stats_ready(self) -> None:
        """Derived arrays, once the training statistics are set (fit or load)."""
        self.revision += 1
        st = self.stats
        self._impute = np.nan_to_num(st.median)
        self._lo = np.nan_to_num(st.q_lo)
        self._hi = np.nan_to_num(st.q_hi)
        self._trained = st.count > 0

    def _training_rows(self, X: np.ndarray, available: np.ndarray | None,
                       assets: Sequence[str] | None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, valid, asset of each row) of the rows usable for training (enough valid
        features), subsampled to ``max_rows``."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"{self.kind} model of class {self.cls} takes {self.d} features, "
                             f"got an array of shape {X.shape}")
        a = np.full(len(X), "*", dtype=object) if assets is None else \
            np.asarray(assets, dtype=object)
        if len(a) != len(X):
            raise ValueError(f"{len(a)} asset ids for {len(X)} rows")
        avail = np.ones(X.shape, dtype=bool) if available is None else \
            np.asarray(available, dtype=bool)
        valid = avail & np.isfinite(X)
        n_av = avail.sum(1)
        keep = (n_av > 0) & (valid.sum(1) >= self.min_valid_fraction * n_av)
        X, valid, a = X[keep], valid[keep], a[keep]
        if len(X) > self.max_rows:
            pick = np.sort(np.random.default_rng(self.seed).choice(len(X), self.max_rows,
                                                                    replace=False))
            X, valid, a = X[pick], valid[pick], a[pick]
        if len(X) < 2:
            raise ValueError(f"class {self.cls}: {len(X)} usable training rows; need at least 2")
        return X, valid, a

    def _fit_space(self, X: np.ndarray, valid: np.ndarray, a: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Baselines and training statistics; returns (imputed training rows in the model's
        space, valid & trained)."""
        self.baselines = AssetBaselines.of(X, valid, a, self.resolution)
        Z = self.transform(X, a)
        self.stats = TrainingStats.of(Z, valid, self.floor)
        self._stats_ready()
        valid = valid & self.trained
        return np.where(valid, Z, self._impute_values()), valid

    def _calibrate_threshold(self, raw: np.ndarray) -> None:
        self.revision += 1
        self.raw_threshold = float(max(np.quantile(raw, self.quantile), 1e-12))
        never = [n for n, c in zip(self.names, self.stats.count, strict=True) if c == 0]
        self.metrics.update({
            "rows": int(len(raw)),
            "assets": len(self.baselines.assets) - 1,
            "raw_threshold": self.raw_threshold,
            "train_flag_rate": float(np.mean(raw >= self.raw_threshold)),
            "features_never_valid": never,
        })
        if never:
            log.warning("%s model of class %s: never valid in training, not used: %s",
                        self.kind, self.cls, ", ".join(never))

    def _need_fit(self) -> None:
        if self.stats is None:
            raise RuntimeError(f"{self.kind} model of class {self.cls} is not trained")

    def _raw(self, Zi: np.ndarray, valid: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _contributions(self, zi: np.ndarray, valid: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- persistence -------------------------------------------------------------------
    def _base_meta(self) -> dict[str, Any]:
        return {"cls": self.cls, "kind": self.kind, "seed": self.seed,
                "quantile": self.quantile, "min_valid_fraction": self.min_valid_fraction,
                "raw_threshold": self.raw_threshold, "metrics": self.metrics,
                "features": [f.name for f in self.features],
                "units": [f.unit for f in self.features],
                "baseline_assets": list(self.baselines.assets)}

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._need_fit()
        return self._base_meta(), {**self.stats.arrays("stats."), **self.baselines.arrays()}

    def _load_base(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        self.raw_threshold = float(meta["raw_threshold"])
        self.metrics = dict(meta.get("metrics", {}))
        self.stats = TrainingStats.from_arrays(arrays, "stats.")
        self._stats_ready()
        self.baselines = AssetBaselines.from_arrays(meta["baseline_assets"], arrays)


# ====================================================================== isolation forest
def _average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a BST of n points."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


@dataclass
class _Forest:
    """Isolation trees packed into flat arrays for a vectorised traversal."""

    feature: np.ndarray  # int64, per node (0 at leaves)
    threshold: np.ndarray  # float64 (+inf at leaves)
    left: np.ndarray  # int64, leaves point to themselves
    right: np.ndarray
    leaf_value: np.ndarray  # depth + c(n_samples) at leaves
    roots: np.ndarray
    depth: int
    c_norm: float

    @classmethod
    def from_sklearn(cls, forest: IsolationForest) -> _Forest:
        feats, thrs, lefts, rights, vals, roots = [], [], [], [], [], []
        base, depth_max = 0, 0
        n_features = forest.n_features_in_
        for est, cols in zip(forest.estimators_, forest.estimators_features_, strict=True):
            t = est.tree_
            n = t.node_count
            cl, cr = t.children_left.astype(np.int64), t.children_right.astype(np.int64)
            leaf = cl < 0
            depth = np.zeros(n, dtype=np.int64)
            for i in range(n):  # children always follow their parent in sklearn's arrays
                if not leaf[i]:
                    depth[cl[i]] = depth[cr[i]] = depth[i] + 1
            depth_max = max(depth_max, int(depth.max()))
            idx = np.arange(n, dtype=np.int64) + base
            f = np.where(leaf, 0, t.feature).astype(np.int64)
            if forest._max_features != n_features:
                f = np.asarray(cols, dtype=np.int64)[f]
            feats.append(np.where(leaf, 0, f))
            thrs.append(np.where(leaf, np.inf, t.threshold))
            lefts.append(np.where(leaf, idx, cl + base))
            rights.append(np.where(leaf, idx, cr + base))
            vals.append(np.where(leaf, depth + _average_path_length(t.n_node_samples), 0.0))
            roots.append(base)
            base += n
        c_norm = float(_average_path_length(np.array([forest._max_samples]))[0])
        return cls(np.concatenate(feats), np.concatenate(thrs), np.concatenate(lefts),
                   np.concatenate(rights), np.concatenate(vals),
                   np.asarray(roots, dtype=np.int64), depth_max, c_norm)

    def __post_init__(self) -> None:
        # Compact copies for the traversal. child[2i] is node i's left child, child[2i + 1]
        # its right (a leaf points to itself). Thresholds as float32 rounded down: for a
        # float32 x, x > t exactly when x > (the largest float32 <= t), so the traversal
        # takes scikit-learn's branches (it compares float32 inputs with float64 thresholds).
        n = len(self.feature)
        self._child = np.empty(2 * n, dtype=np.int32)
        self._child[0::2] = self.left
        self._child[1::2] = self.right
        self._feat = self.feature.astype(np.int32)
        t32 = self.threshold.astype(np.float32)
        over = t32.astype(np.float64) > self.threshold
        t32[over] = np.nextafter(t32[over], np.float32(-np.inf))
        self._thr = t32
        self.n_trees = len(self.roots)
        self.block_c_norm: np.ndarray | None = None  # per block, when combined
        self.block_roots: np.ndarray | None = None
        self.block_width = 0

    def _walk(self, x: np.ndarray, node: np.ndarray) -> np.ndarray:
        """Leaf of each (row, tree) from the start ``node``s; ``x`` (rows, width) float32."""
        flat = x.ravel()
        off = (np.arange(len(x), dtype=np.int32) * np.int32(x.shape[1]))[:, None]
        feat, thr, child = self._feat, self._thr, self._child
        node = node.astype(np.int32)
        for _ in range(self.depth):
            right = flat[off + feat[node]] > thr[node]
            node = child[2 * node + right]
        return node

    def score(self, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """2^(−E[h]/c(ψ)) per row: scikit-learn's ``-score_samples``."""
        X32 = np.asarray(X, dtype=np.float32)
        out = np.empty(len(X32))
        for s in range(0, len(X32), chunk):
            x = X32[s:s + chunk]
            node = np.broadcast_to(self.roots, (len(x), self.n_trees))
            h = self.leaf_value[self._walk(x, node)].sum(1) / self.n_trees
            out[s:s + chunk] = 2.0 ** (-h / self.c_norm) if self.c_norm > 0 else 1.0
        return out

    @classmethod
    def combine(cls, forests: Sequence[_Forest]) -> _Forest | None:
        """Several forests (one per class) as one, for :meth:`score_blocks`; None if their
        tree counts differ."""
        if len({f.n_trees for f in forests}) != 1:
            return None
        base, parts, roots = 0, [], []
        for f in forests:
            n = len(f.feature)
            parts.append((f.feature, f.threshold, f.left + base, f.right + base, f.leaf_value))
            roots.append(f.roots + base)
            base += n
        out = cls(*(np.concatenate([p[k] for p in parts]) for k in range(5)),
                  roots=roots[0], depth=max(f.depth for f in forests), c_norm=1.0)
        out.block_roots = np.array(roots)
        out.block_c_norm = np.array([f.c_norm for f in forests])
        out.block_width = max(int(f.feature.max()) + 1 for f in forests)
        return out

    def score_blocks(self, blocks: Sequence[np.ndarray]) -> np.ndarray:
        """Scores of each block's rows by its own forest, in one traversal."""
        n = sum(len(b) for b in blocks)
        width = max([self.block_width] + [b.shape[1] for b in blocks])
        x = np.zeros((n, width), dtype=np.float32)
        roots = np.empty((n, self.n_trees), dtype=np.int32)
        c = np.empty(n)
        i = 0
        for k, b in enumerate(blocks):
            x[i:i + len(b), :b.shape[1]] = b
            roots[i:i + len(b)] = self.block_roots[k]
            c[i:i + len(b)] = self.block_c_norm[k]
            i += len(b)
        return self.score_rows(x, roots, c)

    def score_rows(self, x: np.ndarray, roots: np.ndarray, c_norm: np.ndarray) -> np.ndarray:
        """Each row scored from its own trees' ``roots`` (rows, trees) with its ``c_norm``."""
        h = self.leaf_value[self._walk(np.asarray(x, dtype=np.float32), roots)].sum(1) \
            / self.n_trees
        return np.where(c_norm > 0, 2.0 ** (-h / np.where(c_norm > 0, c_norm, 1.0)), 1.0)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}{k}": getattr(self, k) for k in
                ("feature", "threshold", "left", "right", "leaf_value", "roots")}

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray], prefix: str, depth: int,
                    c_norm: float) -> _Forest:
        return cls(*(a[f"{prefix}{k}"] for k in
                     ("feature", "threshold", "left", "right", "leaf_value", "roots")),
                   depth=depth, c_norm=c_norm)


class IsolationForestDetector(ClassDetector):
    """scikit-learn's Isolation Forest for one asset class, with a training-range envelope
    (see the module doc for why and how it is explained)."""

    kind = "isolation_forest"

    def __init__(self, cls: str, features: Sequence[Feature] | None = None, *,
                 n_estimators: int = 100, max_samples: int = 256,
                 **kw: Unpack[DetectorOptions]) -> None:
        super().__init__(cls, features, **kw)
        self.n_estimators = int(n_estimators)
        self.max_samples = int(max_samples)
        self.forest: _Forest | None = None
        self.if_median = math.nan
        self.if_threshold = math.nan

    def fit(self, X: np.ndarray, available: np.ndarray | None = None,
            assets: Sequence[str] | None = None) -> IsolationForestDetector:
        from sklearn.ensemble import IsolationForest

        Xi, valid = self._fit_space(*self._training_rows(X, available, assets))
        forest = IsolationForest(n_estimators=self.n_estimators,
                                 max_samples=min(self.max_samples, len(Xi)),
                                 random_state=self.seed).fit(Xi)
        self.forest = _Forest.from_sklearn(forest)
        s = -forest.score_samples(Xi)  # the same numbers, natively (bulk)
        self.if_median = float(np.median(s))
        self.if_threshold = float(np.quantile(s, self.quantile))
        if self.if_threshold <= self.if_median:
            self.if_threshold = self.if_median + 1e-6
        self._calibrate_threshold(np.maximum(*self.parts(Xi, valid, s)))
        return self

    def parts(self, Zi: np.ndarray, valid: np.ndarray, s: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(S_if, S_env) per row of imputed features (``s``: the forest's scores of the
        rows, when already known)."""
        if s is None:
            s = self.forest.score(Zi)
        return _if_parts(s, Zi, valid, self.if_median, self.if_threshold, self._lo, self._hi,
                         self.stats.scale)

    def _excess(self, Zi: np.ndarray, valid: np.ndarray) -> np.ndarray:
        e = np.maximum(np.maximum(self._lo - Zi, Zi - self._hi), 0.0) / self.stats.scale
        return np.where(valid, e, 0.0)

    def _raw(self, Zi: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return np.maximum(*self.parts(Zi, valid))

    def _contributions(self, xi: np.ndarray, valid: np.ndarray) -> np.ndarray:
        s_if, s_env = self.parts(xi[None, :], valid[None, :])
        if s_env[0] >= s_if[0]:
            return self._excess(xi[None, :], valid[None, :])[0]
        js = np.nonzero(valid)[0]
        occluded = np.repeat(xi[None, :], len(js), axis=0)
        occluded[np.arange(len(js)), js] = self._impute_values()[js]
        drop = np.zeros(self.d)
        drop[js] = s_if[0] - self.parts(occluded, np.ones_like(occluded, dtype=bool))[0]
        if drop.max() > 1e-9:
            return drop
        st = self.stats
        return np.where(valid, np.abs(xi - np.nan_to_num(st.median)) / st.scale, 0.0)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = super().state()
        meta.update({"n_estimators": self.n_estimators, "max_samples": self.max_samples,
                     "if_median": self.if_median, "if_threshold": self.if_threshold,
                     "depth": self.forest.depth, "c_norm": self.forest.c_norm})
        arrays.update(self.forest.arrays("forest."))
        return meta, arrays

    @classmethod
    def from_state(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
                   ) -> IsolationForestDetector:
        det = cls(meta["cls"], seed=meta["seed"], quantile=meta["quantile"],
                  min_valid_fraction=meta["min_valid_fraction"],
                  n_estimators=meta["n_estimators"], max_samples=meta["max_samples"])
        det._load_base(meta, arrays)
        det.if_median = float(meta["if_median"])
        det.if_threshold = float(meta["if_threshold"])
        det.forest = _Forest.from_arrays(arrays, "forest.", int(meta["depth"]),
                                         float(meta["c_norm"]))
        return det


# ====================================================================== autoencoder
@dataclass(frozen=True)
class NormStats:
    """Sufficient statistics for standardisation, summable across stations: per feature
    the count of valid values, their sum and their sum of squares. Federate by adding the
    three arrays of every station (:meth:`merge`); mean = sum/count, variance =
    sumsq/count − mean²."""

    count: np.ndarray
    total: np.ndarray
    total_sq: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, valid: np.ndarray) -> NormStats:
        x = np.where(valid, X, 0.0)
        return cls(valid.sum(0).astype(float), x.sum(0), (x * x).sum(0))

    @classmethod
    def merge(cls, stats: Sequence[NormStats]) -> NormStats:
        return cls(sum(s.count for s in stats), sum(s.total for s in stats),
                   sum(s.total_sq for s in stats))

    def mean_std(self, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(self.count > 0, self.total / self.count, 0.0)
            var = np.where(self.count > 0, self.total_sq / self.count - mean * mean, 0.0)
        return mean, np.fmax(np.sqrt(np.maximum(var, 0.0)), floor)

    def to_list(self) -> list[np.ndarray]:
        """For a Flower message: [count, sum, sum of squares]."""
        return [self.count.copy(), self.total.copy(), self.total_sq.copy()]

    @classmethod
    def from_list(cls, arrays: Sequence[np.ndarray]) -> NormStats:
        c, s, q = (np.asarray(a, dtype=float) for a in arrays)
        return cls(c, s, q)


def ae_shape(d: int) -> tuple[int, int]:
    """(hidden, bottleneck) widths of the autoencoder for ``d`` features."""
    return min(64, max(8, 2 * d)), max(2, min(8, d // 4))


class AutoencoderDetector(ClassDetector):
    """A small torch autoencoder for one asset class, built for federated training."""

    kind = "autoencoder"
    CLIP_Z = 10.0
    INPUT_DROPOUT = 0.1

    def __init__(self, cls: str, features: Sequence[Feature] | None = None, *,
                 num_threads: int = 1, **kw: Unpack[DetectorOptions]) -> None:
        kw.setdefault("max_rows", 50_000)
        super().__init__(cls, features, **kw)
        self.hidden, self.bottleneck = ae_shape(self.d)
        self.num_threads = int(num_threads)
        self.norm: NormStats | None = None
        self.mean = np.zeros(self.d)
        self.std = np.ones(self.d)
        self.base_err = np.zeros(self.d)
        self._net = None
        self._gen = None
        self._np_weights: list[np.ndarray] | None = None
        self._init_net()

    # -- the network -------------------------------------------------------------------
    def _init_net(self) -> None:
        import torch

        d, h, k = self.d, self.hidden, self.bottleneck
        self._gen = torch.Generator().manual_seed(self.seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(d, h), torch.nn.Tanh(), torch.nn.Linear(h, k), torch.nn.Tanh(),
            torch.nn.Linear(k, h), torch.nn.Tanh(), torch.nn.Linear(h, d))
        with torch.no_grad():  # seeded without touching torch's global generator
            for m in net:
                if isinstance(m, torch.nn.Linear):
                    bound = 1.0 / math.sqrt(m.in_features)
                    m.weight.uniform_(-bound, bound, generator=self._gen)
                    m.bias.uniform_(-bound, bound, generator=self._gen)
        self._net = net
        self._sync_numpy()

    def _sync_numpy(self) -> None:
        self.revision += 1
        self._np_weights = [p.detach().cpu().numpy().astype(np.float64)
                            for p in self._net.parameters()]

    def get_weights(self) -> list[np.ndarray]:
        """The network's parameters (float32, in layer order) — a Flower ``NDArrays``."""
        return [p.detach().cpu().numpy().copy() for p in self._net.parameters()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        import torch

        params = list(self._net.parameters())
        if len(weights) != len(params):
            raise ValueError(f"autoencoder of class {self.cls} has {len(params)} parameter "
                             f"arrays, got {len(weights)}")
        with torch.no_grad():
            for p, w in zip(params, weights, strict=True):
                w = np.asarray(w)
                if tuple(w.shape) != tuple(p.shape):
                    raise ValueError(f"autoencoder of class {self.cls}: parameter of shape "
                                     f"{tuple(p.shape)} given {tuple(w.shape)}")
                p.copy_(torch.from_numpy(w.astype(np.float32)))
        self._sync_numpy()

    # -- normalisation -----------------------------------------------------------------
    def norm_stats(self, X: np.ndarray, available: np.ndarray | None = None,
                   assets: Sequence[str] | None = None) -> NormStats:
        """This station's sufficient statistics of ``X`` in the model's space (to federate).
        Needs the baselines (:meth:`calibrate` on local data first)."""
        self._need_fit()
        X, valid, a = self._training_rows(X, available, assets)
        return NormStats.of(self.transform(X, a), valid)

    def set_norm_stats(self, stats: NormStats) -> None:
        self.revision += 1
        self.norm = stats
        self.mean, self.std = stats.mean_std(self.floor)

    def _z(self, Zi: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return np.where(valid, (Zi - self.mean) / self.std, 0.0)

    def _impute_values(self) -> np.ndarray:
        return self.mean

    # -- training ----------------------------------------------------------------------
    def fit(self, X: np.ndarray, available: np.ndarray | None = None,
            assets: Sequence[str] | None = None, *, epochs: int = 20, lr: float = 2e-3,
            batch_size: int = 512) -> AutoencoderDetector:
        X, valid, a = self._training_rows(X, available, assets)
        Zi, v = self._fit_space(X, valid, a)
        self.set_norm_stats(NormStats.of(Zi, v))
        self.train_epochs(X, epochs, valid, a, lr=lr, batch_size=batch_size)
        self.calibrate(X, valid, a)
        return self

    def train_epochs(self, X: np.ndarray, epochs: int, available: np.ndarray | None = None,
                     assets: Sequence[str] | None = None, *, lr: float = 2e-3,
                     batch_size: int = 512) -> tuple[int, float]:
        """Train locally for ``epochs`` on raw feature rows ``X``; returns (samples used,
        mean loss of the last epoch). Needs baselines and normalisation first
        (:meth:`calibrate`, :meth:`set_norm_stats`)."""
        import torch

        if self.norm is None or self.baselines is None:
            raise RuntimeError(f"autoencoder of class {self.cls}: calibrate on local data and "
                               "set the normalisation statistics before training")
        X, valid, a = self._training_rows(X, available, assets)
        valid = valid & self.trained
        Zi = np.where(valid, self.transform(X, a), self._impute_values())
        z = torch.from_numpy(np.clip(self._z(Zi, valid), -self.CLIP_Z, self.CLIP_Z)
                             .astype(np.float32))
        m = torch.from_numpy(valid.astype(np.float32))
        old_threads = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            opt = torch.optim.Adam(self._net.parameters(), lr=lr)
            n = len(z)
            loss_sum, seen = 0.0, 0
            for _ in range(max(1, int(epochs))):
                order = torch.randperm(n, generator=self._gen)
                loss_sum, seen = 0.0, 0
                for s in range(0, n, batch_size):
                    idx = order[s:s + batch_size]
                    zb, mb = z[idx], m[idx]
                    keep = (torch.rand(zb.shape, generator=self._gen)
                            >= self.INPUT_DROPOUT).float()
                    out = self._net(zb * keep)
                    err = ((out - zb) ** 2) * mb
                    loss = err.sum() / mb.sum().clamp(min=1.0)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    loss_sum += loss.item() * len(idx)
                    seen += len(idx)
        finally:
            torch.set_num_threads(old_threads)
        self._sync_numpy()
        return n, float(loss_sum / max(seen, 1))

    def calibrate(self, X: np.ndarray, available: np.ndarray | None = None,
                  assets: Sequence[str] | None = None) -> AutoencoderDetector:
        """Baselines, training statistics, threshold and mean per-feature errors from
        (local) data; the normalisation too if none is set yet."""
        Zi, valid = self._fit_space(*self._training_rows(X, available, assets))
        if self.norm is None:
            self.set_norm_stats(NormStats.of(Zi, valid))
        err = self._errors(Zi, valid)
        self.base_err = np.nan_to_num(err.sum(0) / np.maximum(valid.sum(0), 1))
        self._calibrate_threshold(self._raw(Zi, valid))
        return self

    # -- scoring -----------------------------------------------------------------------
    def _forward(self, zin: np.ndarray) -> np.ndarray:
        w = self._np_weights
        h = np.tanh(zin @ w[0].T + w[1])
        h = np.tanh(h @ w[2].T + w[3])
        h = np.tanh(h @ w[4].T + w[5])
        return h @ w[6].T + w[7]

    def reconstruct(self, z: np.ndarray) -> np.ndarray:
        """The network's output for standardised inputs (numpy; same as the torch net)."""
        return self._forward(np.clip(z, -self.CLIP_Z, self.CLIP_Z))

    def _errors(self, Zi: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return _ae_errors(Zi, valid, self.mean, self.std, self._forward, self.CLIP_Z)

    def _raw(self, Xi: np.ndarray, valid: np.ndarray) -> np.ndarray:
        e = self._errors(Xi, valid)
        return e.sum(1) / np.maximum(valid.sum(1), 1)

    def _contributions(self, xi: np.ndarray, valid: np.ndarray) -> np.ndarray:
        e = self._errors(xi[None, :], valid[None, :])[0]
        c = np.where(valid, e - self.base_err, 0.0)
        return c if c.max() > 0 else e

    # -- persistence -------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = super().state()
        meta.update({"hidden": self.hidden, "bottleneck": self.bottleneck,
                     "num_threads": self.num_threads})
        for i, w in enumerate(self.get_weights()):
            arrays[f"weight.{i}"] = w
        for k, a in zip(("count", "total", "total_sq"), self.norm.to_list(), strict=True):
            arrays[f"norm.{k}"] = a
        arrays["base_err"] = self.base_err
        return meta, arrays

    @classmethod
    def from_state(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
                   ) -> AutoencoderDetector:
        det = cls(meta["cls"], seed=meta["seed"], quantile=meta["quantile"],
                  min_valid_fraction=meta["min_valid_fraction"],
                  num_threads=meta.get("num_threads", 1))
        if (det.hidden, det.bottleneck) != (meta["hidden"], meta["bottleneck"]):
            raise ModelFileError(f"autoencoder of class {det.cls}: shape "
                                 f"{meta['hidden']}/{meta['bottleneck']} in the file, "
                                 f"{det.hidden}/{det.bottleneck} for {det.d} features")
        det._load_base(meta, arrays)
        n = sum(1 for k in arrays if k.startswith("weight."))
        det.set_weights([arrays[f"weight.{i}"] for i in range(n)])
        det.set_norm_stats(NormStats.from_list(
            [arrays[f"norm.{k}"] for k in ("count", "total", "total_sq")]))
        det.base_err = np.asarray(arrays["base_err"], dtype=float)
        return det


DETECTORS: Mapping[str, type[ClassDetector]] = MappingProxyType({
    IsolationForestDetector.kind: IsolationForestDetector,
    AutoencoderDetector.kind: AutoencoderDetector,
})


# ====================================================================== training data
@dataclass
class TrainingSet:
    """Feature rows collected from scans, per class, with the asset of each row (only units
    the extractor could score). Add frames in time order; subsample the scans you add if
    they are many (a day at 10 Hz is 864,000 scans: one every few seconds is plenty)."""

    rows: dict[str, list[np.ndarray]] = field(default_factory=dict)
    avail: dict[str, list[np.ndarray]] = field(default_factory=dict)
    assets: dict[str, list[np.ndarray]] = field(default_factory=dict)
    t_first: float = math.inf
    t_last: float = -math.inf

    def add(self, ff: FeatureFrame) -> None:
        for cls, cf in ff.classes.items():
            ok = np.array([r is None for r in cf.reasons], dtype=bool)
            if ok.any():
                self.rows.setdefault(cls, []).append(cf.values[ok])
                self.avail.setdefault(cls, []).append(cf.available[ok])
                self.assets.setdefault(cls, []).append(np.asarray(cf.assets, object)[ok])
        self.t_first = min(self.t_first, ff.t_s)
        self.t_last = max(self.t_last, ff.t_s)

    def arrays(self, cls: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, available, asset of each row) of one class."""
        if cls not in self.rows:
            d = len(CLASS_FEATURES[cls])
            return np.empty((0, d)), np.empty((0, d), dtype=bool), np.empty(0, dtype=object)
        return (np.concatenate(self.rows[cls]), np.concatenate(self.avail[cls]),
                np.concatenate(self.assets[cls]))

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(c for c in ASSET_CLASSES if c in self.rows)

    def window(self) -> tuple[float, float] | None:
        return (self.t_first, self.t_last) if self.t_first <= self.t_last else None


# ====================================================================== the model set
@dataclass(frozen=True, slots=True, eq=False)
class ClassScores:
    """One class's scores for one scan."""

    cls: str
    assets: tuple[str, ...]
    scores: np.ndarray
    """Normalised (1.0 = threshold); NaN where not scored."""
    scored: np.ndarray
    confidence: np.ndarray
    reasons: tuple[str | None, ...]
    """Why a unit is not scored, else None."""


class AnomalyModel:
    """One detector kind for every asset class: what is trained, versioned, stored and
    loaded. ``kind`` is ``"isolation_forest"`` or ``"autoencoder"``."""

    def __init__(self, kind: str, detectors: Mapping[str, ClassDetector],
                 meta: Mapping[str, Any] | None = None) -> None:
        if kind not in DETECTORS:
            raise ValueError(f"unknown anomaly model kind '{kind}' "
                             f"(use one of {', '.join(DETECTORS)})")
        self.kind = kind
        self.detectors = dict(detectors)
        self.meta: dict[str, Any] = dict(meta or {})
        self._bound: dict[int, _Bound] = {}

    @classmethod
    def create(cls, kind: str, classes: Sequence[str] = ASSET_CLASSES, *, seed: int = 0,
               **params: Unpack[DetectorParams]) -> AnomalyModel:
        """An untrained model with one detector per class (``params`` go to each)."""
        if kind not in DETECTORS:
            raise ValueError(f"unknown anomaly model kind '{kind}' "
                             f"(use one of {', '.join(DETECTORS)})")
        det = DETECTORS[kind]
        return cls(kind, {c: det(c, seed=seed + i, **params) for i, c in enumerate(classes)},
                   {"seed": seed, "params": params})

    @classmethod
    def train(cls, kind: str, data: TrainingSet, *, seed: int = 0,
              window: tuple[str, str] | None = None, fit_params: FitParams | None = None,
              **params: Unpack[DetectorParams]) -> AnomalyModel:
        """Create and fit on ``data``. ``window``: the training window as ISO times (defaults
        to the data's first and last scan times)."""
        m = cls.create(kind, data.classes, seed=seed, **params)
        m.fit(data, window=window, **(fit_params or {}))
        return m

    def fit(self, data: TrainingSet, *, window: tuple[str, str] | None = None,
            **fit_params: Unpack[FitParams]) -> AnomalyModel:
        for cls_, det in self.detectors.items():
            X, av, assets = data.arrays(cls_)
            det.fit(X, av, assets, **fit_params)
        if window is None and data.window() is not None:
            import datetime as dt

            window = tuple(dt.datetime.fromtimestamp(t, dt.UTC).isoformat()
                           for t in data.window())
        self.meta["training_window"] = list(window) if window else None
        return self

    # -- scoring -----------------------------------------------------------------------
    def score(self, ff: FeatureFrame) -> dict[str, ClassScores]:
        """Every class's scores for one scan (units the extractor could not score, or with
        too few valid features, carry a reason and no score)."""
        scores, ok, conf = self.score_rows(ff)
        reasons = self.reasons(ff, ok)
        out = {}
        for cls_, sl in ff.layout.slices.items():
            if cls_ not in self.detectors:
                continue
            gate = np.array([r is None for r in reasons[sl]], dtype=bool)
            s = np.where(gate, scores[sl], np.nan)
            s.setflags(write=False)
            out[cls_] = ClassScores(cls_, ff.layout.assets[sl], s, gate,
                                    np.where(gate, conf[sl], 0.0), tuple(reasons[sl]))
        return out

    def score_rows(self, ff: FeatureFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(normalised score, scored by the model, confidence) of every unit of the frame, in
        its layout's order, in one pass (NaN score where not scored). Units the extractor
        could not score are still scored here: gate them with ``ff.reasons``."""
        return self.bound(ff.layout).score(ff.values, ff.available)

    def reasons(self, ff: FeatureFrame, ok: np.ndarray) -> list[str | None]:
        """Per unit: the extractor's reason, else why the model could not score it."""
        out = list(ff.reasons)
        for k in np.nonzero(~ok)[0]:
            if out[k] is None:
                det = self.detectors.get(ff.layout.classes[k])
                if det is None:
                    out[k] = f"no {self.kind} model for class {ff.layout.classes[k]}"
                else:
                    d = ff.layout.width[det.cls]
                    out[k] = det.missing_reason(ff.values[k, :d], ff.available[k, :d])
        return out

    def bound(self, layout: FeatureLayout) -> _Bound:
        """This model laid out over an extractor's units (cached per layout)."""
        b = self._bound.get(id(layout))
        if b is None or b.layout is not layout or b.version != self._revisions():
            b = _Bound(self, layout)
            self._bound = {id(layout): b}
        return b

    def explain(self, ff: FeatureFrame, asset_id: str, *, min_share: float = MIN_SHARE
                ) -> list[FeatureContribution]:
        cf, k = ff.of(asset_id)
        return self.detectors[cf.cls].explain(cf.values[k], cf.available[k], asset_id,
                                              min_share=min_share)

    # -- compatibility -----------------------------------------------------------------
    def check_features(self, extractor: FeatureExtractor | None = None) -> None:
        """Refuse (FeatureMismatchError, one line) a model whose features differ from what
        is extracted now, or that lacks a class the station has."""
        who = f"anomaly model {self.kind} {self.sha256[:12]}"
        for cls_, det in self.detectors.items():
            if cls_ not in CLASS_FEATURES:
                raise FeatureMismatchError(f"{who}: class '{cls_}' is unknown here")
            now = CLASS_FEATURES[cls_]
            if len(now) != det.d:
                raise FeatureMismatchError(
                    f"{who}: class '{cls_}' has {det.d} features in the model, "
                    f"{len(now)} here")
            for j, (f, name, unit) in enumerate(zip(now, det.names, det.units, strict=True)):
                if (f.name, f.unit) != (name, unit):
                    raise FeatureMismatchError(
                        f"{who}: class '{cls_}' feature {j + 1} is '{name}' [{unit}] in the "
                        f"model, '{f.name}' [{f.unit}] here")
        if extractor is not None:
            missing = [c for c in extractor.classes if c not in self.detectors]
            if missing:
                raise FeatureMismatchError(
                    f"{who}: no model for class '{missing[0]}' of this station "
                    f"(assets {', '.join(extractor.assets_of(missing[0])[:4])})")

    # -- federated learning (autoencoder) --------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Every class's autoencoder parameters, classes in ASSET_CLASSES order."""
        self._need_ae()
        return [w for c in ASSET_CLASSES if c in self.detectors
                for w in self.detectors[c].get_weights()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        self._need_ae()
        i = 0
        for c in ASSET_CLASSES:
            if c in self.detectors:
                n = len(self.detectors[c].get_weights())
                self.detectors[c].set_weights(weights[i:i + n])
                i += n
        if i != len(weights):
            raise ValueError(f"{len(weights)} weight arrays given, the model has {i}")

    def _revisions(self) -> tuple[int, ...]:
        return tuple(d.revision for d in self.detectors.values())

    def _need_ae(self) -> None:
        if self.kind != AutoencoderDetector.kind:
            raise TypeError(f"a {self.kind} model has no federated weights")

    # -- persistence -------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """A deterministic, pickle-free file: magic, header length, JSON header, arrays. The
        same model always gives the same bytes (so the same hash), also after a reload."""
        header: dict[str, Any] = {"format": FORMAT, "kind": self.kind,
                                  "meta": _jsonable(self.meta), "classes": {}}
        arrays: list[tuple[str, np.ndarray]] = []
        for cls_ in ASSET_CLASSES:
            det = self.detectors.get(cls_)
            if det is None:
                continue
            meta, arr = det.state()
            header["classes"][cls_] = _jsonable(meta)
            arrays += [(f"{cls_}/{k}", np.ascontiguousarray(v)) for k, v in sorted(arr.items())]
        table, offset = [], 0
        for key, a in arrays:
            table.append({"key": key, "dtype": a.dtype.str, "shape": list(a.shape),
                          "offset": offset, "nbytes": a.nbytes})
            offset += a.nbytes
        header["arrays"] = table
        hj = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()
        buf = io.BytesIO()
        buf.write(_MAGIC)
        buf.write(struct.pack("<Q", len(hj)))
        buf.write(hj)
        for _, a in arrays:
            buf.write(a.tobytes())
        return buf.getvalue()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, *, expected_sha256: str | None = None) -> AnomalyModel:
        if expected_sha256 is not None:
            got = hashlib.sha256(data).hexdigest()
            if got != expected_sha256.lower():
                raise ModelFileError(f"anomaly model bytes hash {got[:12]}… does not match "
                                     f"the recorded {expected_sha256[:12]}…")
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 8:
            raise ModelFileError("not a GridTwin anomaly model file (bad magic)")
        (n,) = struct.unpack_from("<Q", data, len(_MAGIC))
        start = len(_MAGIC) + 8
        try:
            header = json.loads(data[start:start + n].decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"anomaly model header is not JSON: {exc}") from None
        if header.get("format") != FORMAT:
            raise ModelFileError(f"anomaly model format {header.get('format')!r}, "
                                 f"this program reads {FORMAT!r}")
        kind = header.get("kind")
        if kind not in DETECTORS:
            raise ModelFileError(f"anomaly model kind {kind!r} is unknown")
        base = start + n
        per_class: dict[str, dict[str, np.ndarray]] = {}
        for t in header["arrays"]:
            lo = base + int(t["offset"])
            hi = lo + int(t["nbytes"])
            if hi > len(data):
                raise ModelFileError(f"anomaly model is truncated (array {t['key']})")
            a = np.frombuffer(data[lo:hi], dtype=np.dtype(t["dtype"])).reshape(t["shape"])
            cls_, _, key = t["key"].partition("/")
            per_class.setdefault(cls_, {})[key] = a.copy()
        dets = {}
        for cls_, meta in header["classes"].items():
            try:
                dets[cls_] = DETECTORS[kind].from_state(meta, per_class.get(cls_, {}))
            except KeyError as exc:
                raise ModelFileError(f"anomaly model class {cls_}: missing {exc}") from None
        return cls(kind, dets, header.get("meta", {}))

    def metadata(self) -> dict[str, Any]:
        """What the ``ml_models`` table records: kind, features per class, training window,
        metrics per class, parameters, hash."""
        return {
            "kind": self.kind, "format": FORMAT, "sha256": self.sha256,
            "training_window": self.meta.get("training_window"),
            "seed": self.meta.get("seed"), "params": self.meta.get("params", {}),
            "features": {c: [{"name": n, "unit": u} for n, u in zip(d.names, d.units,
                                                                     strict=True)]
                         for c, d in self.detectors.items()},
            "metrics": {c: d.metrics for c, d in self.detectors.items()},
        }


class _Bound:
    """A model's parameters laid out per unit of an extractor's :class:`FeatureLayout`, so
    one scan is scored for every unit in one pass (the same math as the per-class API)."""

    def __init__(self, model: AnomalyModel, layout: FeatureLayout) -> None:
        self.layout = layout
        self.version = model._revisions()
        self.kind = model.kind
        n, w = len(layout.assets), layout.max_width
        self.has = np.zeros(n, dtype=bool)
        self.trained = np.zeros((n, w), dtype=bool)
        self.relative = np.zeros((n, w), dtype=bool)
        self.med = np.zeros((n, w))
        self.scale = np.ones((n, w))
        self.impute = np.zeros((n, w))
        self.min_frac = np.ones(n)
        self.raw_thr = np.ones(n)
        dets = [(cls, sl, model.detectors[cls]) for cls, sl in layout.slices.items()
                if cls in model.detectors]
        for _cls, sl, det in dets:
            d = det.d
            rows = det.baselines.rows_of(layout.assets[sl], sl.stop - sl.start)
            self.has[sl] = True
            self.trained[sl, :d] = det.trained
            self.relative[sl, :d] = det.relative
            self.med[sl, :d] = det.baselines.median[rows]
            self.scale[sl, :d] = det.baselines.scale[rows]
            self.impute[sl, :d] = det._impute_values()
            self.min_frac[sl] = det.min_valid_fraction
            self.raw_thr[sl] = det.raw_threshold
        if self.kind == IsolationForestDetector.kind:
            self._bind_forest(dets, n, w)
        else:
            self._bind_autoencoder(dets, n, w)

    def _bind_forest(self, dets: list, n: int, w: int) -> None:
        self.lo = np.zeros((n, w))
        self.hi = np.zeros((n, w))
        self.st_scale = np.ones((n, w))
        self.if_med = np.zeros(n)
        self.if_thr = np.ones(n)
        forest = _Forest.combine([det.forest for _, _, det in dets])
        if forest is None:
            raise ValueError("the classes' isolation forests have different tree counts")
        self.forest = forest
        self.roots = np.zeros((n, forest.n_trees), dtype=np.int32)
        self.c_norm = np.zeros(n)
        for k, (_cls, sl, det) in enumerate(dets):
            d = det.d
            self.lo[sl, :d] = det._lo
            self.hi[sl, :d] = det._hi
            self.st_scale[sl, :d] = det.stats.scale
            self.if_med[sl] = det.if_median
            self.if_thr[sl] = det.if_threshold
            self.roots[sl] = forest.block_roots[k]
            self.c_norm[sl] = forest.block_c_norm[k]

    def _bind_autoencoder(self, dets: list, n: int, w: int) -> None:
        """Each class's network on its block of rows. (One block-diagonal network would be
        fewer calls, but its matrices are big enough for OpenBLAS to go multi-threaded,
        which costs far more than it saves on a busy two-core machine.)"""
        self.mean = np.zeros((n, w))
        self.std = np.ones((n, w))
        self.clip = AutoencoderDetector.CLIP_Z
        self.blocks = []
        for _cls, sl, det in dets:
            self.mean[sl, :det.d] = det.mean
            self.std[sl, :det.d] = det.std
            nw = det._np_weights
            self.blocks.append((sl, det.d, [nw[0].T.copy(), nw[1], nw[2].T.copy(), nw[3],
                                            nw[4].T.copy(), nw[5], nw[6].T.copy(), nw[7]]))

    def _forward_rows(self, zin: np.ndarray) -> np.ndarray:
        out = np.zeros_like(zin)
        for sl, d, (w1, b1, w2, b2, w3, b3, w4, b4) in self.blocks:
            h = np.tanh(zin[sl, :d] @ w1 + b1)
            h = np.tanh(h @ w2 + b2)
            h = np.tanh(h @ w3 + b3)
            out[sl, :d] = h @ w4 + b4
        return out

    def score(self, X: np.ndarray, A: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Zi, valid, ok, conf = _prep(X, A, self.trained, self.min_frac, self.relative,
                                    self.med, self.scale, self.impute)
        ok &= self.has
        if self.kind == IsolationForestDetector.kind:
            s = self.forest.score_rows(Zi, self.roots, self.c_norm)
            raw = np.maximum(*_if_parts(s, Zi, valid, self.if_med, self.if_thr, self.lo,
                                        self.hi, self.st_scale))
        else:
            err = _ae_errors(Zi, valid, self.mean, self.std, self._forward_rows, self.clip)
            raw = err.sum(1) / np.maximum(valid.sum(1), 1)
        scores = np.where(ok, raw / self.raw_thr, np.nan)
        return scores, ok, np.where(ok, conf, 0.0)


def _jsonable(x: object) -> object:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x
