"""Anomaly detection per asset, Qt-free.

* :mod:`ml.anomaly.features` — :class:`FeatureExtractor`: per scan, a fixed, named,
  unit-carrying feature vector for every scored asset, grouped by asset class, with bad-quality
  values masked and windowed rates kept in a caller-owned :class:`FeatureHistory`.
* :mod:`ml.anomaly.models` — one detector per asset class behind one interface (``fit``,
  ``score``, ``explain``, severity, calibrated threshold): scikit-learn's Isolation Forest and
  a federatable torch autoencoder; :class:`AnomalyModel` bundles one kind for every class
  with its metadata and a hashed, pickle-free file.
* :mod:`ml.anomaly.detector` — :class:`AnomalyDetector`: one scan through extraction, every
  model and a persistence filter; what the inference worker calls.
* :mod:`ml.anomaly.evaluate` — event-level precision, recall, F1, false alarms per asset-day
  and lead time against injected faults.
"""

from ml.anomaly.detector import (
    AnomalyDetector,
    AnomalyFilter,
    AssetAnomaly,
    DetectorState,
    ScanAnomalies,
)
from ml.anomaly.evaluate import EventEvaluation, FaultInterval, evaluate_events, flags_matrix
from ml.anomaly.features import (
    ASSET_CLASSES,
    CLASS_FEATURES,
    EXTRA_HOT_SPOT_MODEL,
    EXTRA_TOP_OIL_MODEL,
    Feature,
    FeatureExtractor,
    FeatureFrame,
    FeatureHistory,
)
from ml.anomaly.models import (
    AnomalyModel,
    AutoencoderDetector,
    FeatureContribution,
    FeatureMismatchError,
    IsolationForestDetector,
    ModelFileError,
    NormStats,
    TrainingSet,
)

__all__ = [
    "ASSET_CLASSES", "CLASS_FEATURES", "EXTRA_HOT_SPOT_MODEL", "EXTRA_TOP_OIL_MODEL",
    "AnomalyDetector", "AnomalyFilter", "AnomalyModel", "AssetAnomaly",
    "AutoencoderDetector", "DetectorState", "EventEvaluation", "FaultInterval", "Feature",
    "FeatureContribution", "FeatureExtractor", "FeatureFrame", "FeatureHistory",
    "FeatureMismatchError", "IsolationForestDetector", "ModelFileError", "NormStats",
    "ScanAnomalies", "TrainingSet", "evaluate_events", "flags_matrix",
]
