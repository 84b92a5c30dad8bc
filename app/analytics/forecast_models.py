"""Versions of the station-load forecaster in the ``ml_models`` table, beside the anomaly
models (:mod:`app.analytics.registry`).

A version is one training run: the forecaster's file (the pickle-free, hash-named format of
:class:`ml.forecast.station.StationForecaster`) under ``<data dir>/models/<station>-load-v<N>
.gtnb`` and a row of ``model_type`` :data:`MODEL_TYPE` with the training window and source, and
the held-out figures — N-BEATS' day-ahead MAPE beside same-hour-yesterday and
same-hour-last-week, and the band's coverage — in ``metrics``. The forecaster the HMI uses is
the newest version whose file is intact (its SHA-256 as recorded); an older one stays listed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.analytics.loadforecast import TrainedForecast
from app.analytics.registry import RegistryError, model_dir, open_store
from app.historian.models import MlModel
from app.station import Station
from app.station import clock as wallclock

log = logging.getLogger(__name__)

MODEL_TYPE = "nbeats_load"
SUFFIX = ".gtnb"


@dataclass(frozen=True)
class ForecastRecord:
    """One registered forecaster version."""

    model_id: str
    version: int
    source: str
    window_start: str | None
    window_end: str | None
    metrics: dict
    file_path: str
    sha256: str
    created_at: str


def _record(r: MlModel) -> ForecastRecord:
    return ForecastRecord(r.model_id, int(r.version or 0), r.source or "", r.window_start,
                          r.window_end, json.loads(r.metrics or "{}"), r.file_path or "",
                          r.file_sha256 or "", r.created_at or "")


def register_forecast(data_dir: str | Path | None, station: Station, trained: TrainedForecast,
                      *, engine: Engine | None = None) -> ForecastRecord:
    """Save ``trained`` as the next version (file + row); returns its record."""
    eng = engine or open_store(data_dir, station)
    fc = trained.forecaster
    data = fc.to_bytes()
    sid = station.station.id
    with Session(eng) as s, s.begin():
        version = int(s.scalar(select(func.max(MlModel.version))) or 0) + 1
        path = model_dir(data_dir) / f"{sid}-load-v{version}{SUFFIX}"
        tmp = path.with_suffix(SUFFIX + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        row = MlModel(model_id=f"{sid}-load-v{version}", model_type=MODEL_TYPE,
                      asset_type="station", model_data=None,
                      training_date=trained.series.end.isoformat(),
                      accuracy_score=trained.metrics.get("nbeats_mape_pct"),
                      feature_importance=None, version=version,
                      source=trained.series.source[:64],
                      window_start=trained.series.start.isoformat(),
                      window_end=trained.series.end.isoformat(), feature_fingerprint=None,
                      features=json.dumps({"station_load": ["p_mw hourly"]}),
                      metrics=json.dumps(trained.metrics, default=float), file_path=str(path),
                      file_sha256=fc.sha256, created_at=wallclock.now().isoformat(),
                      is_active=False)
        s.add(row)
        s.flush()
        rec = _record(row)
    log.info("registered station-load forecaster v%d (%s)", version, rec.source)
    return rec


def list_forecasts(data_dir: str | Path | None, station: Station, *,
                   engine: Engine | None = None) -> list[ForecastRecord]:
    """Every registered forecaster, newest first."""
    eng = engine or open_store(data_dir, station)
    with Session(eng) as s:
        rows = s.scalars(select(MlModel).where(MlModel.model_type == MODEL_TYPE)
                         .order_by(MlModel.version.desc())).all()
        return [_record(r) for r in rows]


def load_latest_forecast(data_dir: str | Path | None, station: Station, *,
                         engine: Engine | None = None) -> tuple[ForecastRecord, object] | None:
    """The newest forecaster whose file is intact, loaded: (record, StationForecaster); None
    when none is registered. A newest file that is missing or altered is a RegistryError
    naming it (the operator must know the forecast is not the one recorded)."""
    from ml.forecast.station import ModelFileError, StationForecaster

    recs = list_forecasts(data_dir, station, engine=engine)
    if not recs:
        return None
    rec = recs[0]
    try:
        return rec, StationForecaster.load(rec.file_path, expected_sha256=rec.sha256)
    except (OSError, ModelFileError) as exc:
        raise RegistryError(f"load forecaster v{rec.version} refused: {exc}") from None
