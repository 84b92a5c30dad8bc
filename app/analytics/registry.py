"""The anomaly model registry: models are data, versioned in the station's ``ml_models`` table.

A **version** is one training run: one model file per kind trained in it (the Isolation Forest,
the autoencoder, or both), each a row of ``ml_models`` with the same ``version``, the training
window and source, the feature spec (fingerprint and names per asset class), the model's
metrics, the file's path and SHA-256, when it was made and whether it is active. Exactly one
version is active at a time: registering a version activates it (unless told not to), and
:func:`activate` switches back.

Files live in ``<data dir>/models/<station id>-anomaly-v<N>-<kind>.gtam`` (the pickle-free,
hashed format of :class:`ml.anomaly.AnomalyModel`); the table lives in the station's
configuration store (the SQLite file in the data folder, or ``db_url``).

What the inference worker calls at start::

    loaded = load_active(data_dir, station)     # None: untrained (say how to train)
    det = loaded.detector()                     # ml.anomaly.AnomalyDetector

A file whose bytes do not hash to the recorded SHA-256, or a model whose features do not
match what this program extracts for the station, is refused with one line naming the file
and the mismatch (:class:`ModelHashError`, :class:`ModelFeatureMismatch`, both
:class:`RegistryError`, a ValueError).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.historian import data_dir as resolve_data_dir
from app.historian import open_config_store
from app.historian.models import MlModel
from app.station import Station
from app.station import clock as wallclock
from app.station.points import PointTable, build_point_table
from ml.anomaly import AnomalyDetector, AnomalyModel, FeatureExtractor
from ml.anomaly.features import spec_fingerprint
from ml.anomaly.models import FeatureMismatchError, ModelFileError

log = logging.getLogger(__name__)

#: The model kinds the registry knows (ml.anomaly's names), and the CLI's short names.
KINDS = ("isolation_forest", "autoencoder")
SHORT_KINDS = {"iforest": ("isolation_forest",), "autoencoder": ("autoencoder",),
               "both": KINDS}
MODEL_DIR = "models"
SUFFIX = ".gtam"
#: How to train, for the HMI and the CLI to say when there is no model.
HOW_TO_TRAIN = "train one with `gridtwin ml train anomaly --simulate 6` (or --from/--to a " \
               "historian window)"


class RegistryError(ValueError):
    """A model the registry refuses (one line naming the file and why)."""


class ModelHashError(RegistryError):
    """A model file whose bytes do not hash to the SHA-256 recorded for it (or is missing
    or unreadable)."""


class ModelFeatureMismatch(RegistryError):
    """A model whose features do not match what this program extracts for the station."""


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One row of the registry (one model kind of one version)."""

    model_id: str
    version: int
    kind: str
    source: str
    window_start: str | None
    window_end: str | None
    feature_fingerprint: str
    features: Mapping[str, tuple[str, ...]]
    metrics: Mapping[str, Any]
    file_path: str
    sha256: str
    created_at: str
    active: bool

    def as_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "version": self.version, "kind": self.kind,
                "source": self.source, "window": [self.window_start, self.window_end],
                "feature_fingerprint": self.feature_fingerprint,
                "features": {c: list(n) for c, n in self.features.items()},
                "metrics": dict(self.metrics), "file": self.file_path, "sha256": self.sha256,
                "created_at": self.created_at, "active": self.active}


@dataclass(frozen=True)
class LoadedModel:
    """The active version, verified and ready: its models (one per kind), their records and
    the station's feature extractor."""

    version: int
    models: tuple[AnomalyModel, ...]
    records: tuple[ModelRecord, ...]
    extractor: FeatureExtractor

    def detector(self, **filter_params: float) -> AnomalyDetector:
        """An :class:`ml.anomaly.AnomalyDetector` over these models (``filter_params``:
        the persistence filter's ``tau_s``, ``raise_at``, ``clear_at``, ``min_scans``)."""
        return AnomalyDetector(self.extractor, self.models, **filter_params)  # type: ignore[arg-type]

    def describe(self) -> str:
        kinds = ", ".join(r.kind for r in self.records)
        return f"anomaly model v{self.version} ({kinds})"


# ====================================================================== the store
def open_store(data_dir: str | Path | None, station: Station, *,
               db_url: str | None = None) -> Engine:
    """The station's configuration store (created and migrated as needed)."""
    return open_config_store(station, data_dir=data_dir, db_url=db_url)


def model_dir(data_dir: str | Path | None) -> Path:
    d = resolve_data_dir(data_dir) / MODEL_DIR
    d.mkdir(parents=True, exist_ok=True)
    return d


def _record(row: MlModel) -> ModelRecord:
    return ModelRecord(
        model_id=row.model_id, version=int(row.version or 0), kind=row.model_type,
        source=row.source or "", window_start=row.window_start, window_end=row.window_end,
        feature_fingerprint=row.feature_fingerprint or "",
        features={c: tuple(n) for c, n in json.loads(row.features or "{}").items()},
        metrics=json.loads(row.metrics or "{}"), file_path=row.file_path or "",
        sha256=row.file_sha256 or "", created_at=row.created_at or "",
        active=bool(row.is_active))


def register(data_dir: str | Path | None, station: Station, models: Sequence[AnomalyModel], *,
             source: str, metrics: Mapping[str, Mapping[str, Any]] | None = None,
             activate: bool = True, db_url: str | None = None,
             engine: Engine | None = None) -> list[ModelRecord]:
    """Save ``models`` (trained together: one per kind) as the next version: their files
    under the data folder, one ``ml_models`` row each. ``metrics``: per kind, added to the
    model's own per-class metrics. Returns the new records (active when ``activate``)."""
    if not models:
        raise RegistryError("nothing to register: no model")
    kinds = [m.kind for m in models]
    if len(set(kinds)) != len(kinds):
        raise RegistryError(f"two models of the same kind in one version: {', '.join(kinds)}")
    eng = engine or open_store(data_dir, station, db_url=db_url)
    folder = model_dir(data_dir)
    created = wallclock.now().isoformat()
    fingerprint = spec_fingerprint()
    sid = station.station.id
    with Session(eng) as s, s.begin():
        version = int(s.scalar(select(func.max(MlModel.version))) or 0) + 1
        rows = []
        for m in models:
            data = m.to_bytes()
            meta = m.metadata()
            path = folder / f"{sid}-anomaly-v{version}-{m.kind}{SUFFIX}"
            tmp = path.with_suffix(SUFFIX + ".part")
            tmp.write_bytes(data)
            tmp.replace(path)
            window = meta.get("training_window") or [None, None]
            row = MlModel(
                model_id=f"{sid}-anomaly-v{version}-{m.kind}", model_type=m.kind,
                asset_type=None, model_data=None, training_date=window[1],
                accuracy_score=None, feature_importance=None, version=version,
                source=source[:64], window_start=window[0], window_end=window[1],
                feature_fingerprint=fingerprint,
                features=json.dumps({c: [f["name"] for f in fs]
                                     for c, fs in meta["features"].items()}),
                metrics=json.dumps({"per_class": meta["metrics"],
                                    **dict((metrics or {}).get(m.kind, {}))}, default=float),
                file_path=str(path), file_sha256=meta["sha256"], created_at=created,
                is_active=False)
            s.add(row)
            rows.append(row)
        s.flush()
        if activate:
            s.execute(update(MlModel).values(is_active=False))
            for r in rows:
                r.is_active = True
        out = [_record(r) for r in rows]
    log.info("registered anomaly model v%d (%s)%s", version, ", ".join(kinds),
             " — active" if activate else "")
    return out


def list_models(data_dir: str | Path | None, station: Station, *,
                db_url: str | None = None, engine: Engine | None = None) -> list[ModelRecord]:
    """Every registered anomaly model, newest version first."""
    eng = engine or open_store(data_dir, station, db_url=db_url)
    with Session(eng) as s:
        rows = s.scalars(select(MlModel).where(MlModel.version.is_not(None))
                         .order_by(MlModel.version.desc(), MlModel.model_type)).all()
        return [_record(r) for r in rows]


def activate(data_dir: str | Path | None, station: Station, version: int, *,
             db_url: str | None = None, engine: Engine | None = None) -> list[ModelRecord]:
    """Make ``version`` the active one (a KeyError naming it when there is no such)."""
    eng = engine or open_store(data_dir, station, db_url=db_url)
    with Session(eng) as s, s.begin():
        rows = s.scalars(select(MlModel).where(MlModel.version == version)).all()
        if not rows:
            raise RegistryError(f"no anomaly model version {version}")
        s.execute(update(MlModel).values(is_active=False))
        for r in rows:
            r.is_active = True
        return [_record(r) for r in rows]


def read_model_file(path: str | Path, expected_sha256: str | None = None) -> AnomalyModel:
    """One model file, checked against ``expected_sha256`` when given (one line naming the
    file when it is missing, unreadable, or does not match)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelHashError(f"{p}: cannot read the model file: {exc.strerror}") from None
    try:
        return AnomalyModel.from_bytes(data, expected_sha256=expected_sha256)
    except ModelFileError as exc:
        raise ModelHashError(f"{p}: {exc}") from None


def check_station(model: AnomalyModel, extractor: FeatureExtractor, where: str,
                  fingerprint: str | None = None) -> None:
    """Refuse a model whose features do not match the station (one line naming ``where``
    and the first mismatch)."""
    try:
        model.check_features(extractor)
    except FeatureMismatchError as exc:
        raise ModelFeatureMismatch(f"{where}: {exc}") from None
    if fingerprint and fingerprint != spec_fingerprint():
        raise ModelFeatureMismatch(
            f"{where}: recorded feature spec {fingerprint[:12]}… differs from this "
            f"program's {spec_fingerprint()[:12]}… (retrain: {HOW_TO_TRAIN})")


def load_records(records: Sequence[ModelRecord], station: Station,
                 points: PointTable | None = None) -> LoadedModel:
    """Read, verify and check the files of ``records`` (one version)."""
    if not records:
        raise RegistryError("no model records to load")
    fx = FeatureExtractor(station, points if points is not None else build_point_table(station))
    models = []
    for r in records:
        m = read_model_file(r.file_path, r.sha256)
        check_station(m, fx, f"{r.file_path} (v{r.version} {r.kind})", r.feature_fingerprint)
        models.append(m)
    return LoadedModel(records[0].version, tuple(models), tuple(records), fx)


def load_active(data_dir: str | Path | None, station: Station,
                points: PointTable | None = None, *, db_url: str | None = None,
                engine: Engine | None = None) -> LoadedModel | None:
    """The active version's models, verified (file hash) and checked against the station
    (features): None when no model is registered or active (analytics untrained:
    :data:`HOW_TO_TRAIN`). Raises :class:`ModelHashError` or :class:`ModelFeatureMismatch`
    (one line) for a model it refuses."""
    eng = engine or open_store(data_dir, station, db_url=db_url)
    active = [r for r in list_models(data_dir, station, engine=eng) if r.active]
    if not active:
        return None
    return load_records(active, station, points)


def load_file(path: str | Path, station: Station, points: PointTable | None = None
              ) -> LoadedModel:
    """One model file outside the registry (``--model FILE``), checked against the station."""
    m = read_model_file(path)
    fx = FeatureExtractor(station, points if points is not None else build_point_table(station))
    check_station(m, fx, str(path))
    meta = m.metadata()
    window = meta.get("training_window") or [None, None]
    rec = ModelRecord(model_id=Path(path).stem, version=0, kind=m.kind, source="file",
                      window_start=window[0], window_end=window[1],
                      feature_fingerprint=spec_fingerprint(),
                      features={c: tuple(f["name"] for f in fs)
                                for c, fs in meta["features"].items()},
                      metrics={"per_class": meta["metrics"]}, file_path=str(path),
                      sha256=meta["sha256"], created_at="", active=False)
    return LoadedModel(0, (m,), (rec,), fx)
