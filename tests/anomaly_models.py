"""Small anomaly models for the analytics tests: trained on three hours of the healthy plant
simulator, the way ``gridtwin ml train anomaly --simulate`` does (plant scans through the
solver and the thermal twin, features with their history), but with few trees so a test
trains one in seconds. Cached per process: every test that needs one gets the same bytes."""

from __future__ import annotations

import functools

from app.station import Station

TRAIN_HOURS = 3.0
STEP_S = 90.0


@functools.lru_cache(maxsize=4)
def _model_bytes(station_path: str, kind: str, hours: float, seed: int) -> bytes:
    from app.analytics.sim import plant_scans
    from app.analytics.training import collect, simulation_start
    from app.runtime.solver import SolverService
    from app.station import load_station
    from ml.anomaly import AnomalyModel, FeatureExtractor

    st = load_station(station_path)
    step_s = STEP_S
    total = int(hours * 3600 / step_s)
    scans = (s for _, s in plant_scans(st, seed=seed, hours=hours, step_s=step_s,
                                       solver_factory=SolverService,
                                       start=simulation_start(seed)))
    scans = list(scans)
    fx = FeatureExtractor(st, scans[0].frame.points)
    ts = collect(iter(scans), fx, total, warmup_s=300.0)
    params = {"n_estimators": 20} if kind == "isolation_forest" else {}
    fit = {"epochs": 3} if kind == "autoencoder" else {}
    m = AnomalyModel.train(kind, ts, seed=seed, fit_params=fit, **params)
    return m.to_bytes()


def small_model(station: Station, kind: str = "isolation_forest", *,
                hours: float = TRAIN_HOURS,
                seed: int = 0):  # noqa: ANN201 - ml.anomaly.AnomalyModel
    """A fresh AnomalyModel (its own copy: tests may break it) trained on ``hours``."""
    from ml.anomaly import AnomalyModel

    return AnomalyModel.from_bytes(_model_bytes(str(station.path), kind, hours, seed))
