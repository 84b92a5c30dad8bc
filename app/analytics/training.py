"""Training the anomaly models: from the plant simulator at speed or from a historian window,
then registered as the next version (:mod:`app.analytics.registry`).

::

    result = train(data_dir, station, simulate_hours=6, solver_factory=SolverService,
                   progress=lambda f, msg: ..., cancelled=lambda: False)

* **Simulated** (``simulate_hours``): the healthy plant (no fault injected) for that many
  simulated hours in steps of ``step_s`` (default 60 s), from a simulated start drawn from
  nothing but the seed; each scan through the solver and the thermal twin, as live.
* **Historian** (``window``): every point's stored samples in ``[from, to)``, held at each
  step of ``step_s`` (the value, quality and source time of the newest sample at or before
  the step), solved and featured the same way. The window should be a healthy one: it is
  what *normal* means to the models.

Every ``step_s`` of scans becomes one row per scored asset in a
:class:`ml.anomaly.TrainingSet`; each requested kind is fitted on it (the autoencoder with
``torch_threads`` threads), and the result is registered (file + ``ml_models`` row).
``progress(fraction, message)`` is called as it goes; ``cancelled()`` is asked between scans
and between models (:class:`~app.analytics.sim.Cancelled`): the HMI's background job drives
both through its ``JobContext``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.analytics import registry
from app.analytics.sim import SIM_EPOCH, Cancelled, Scan, SolverFactory, ThermalTwin, plant_scans
from app.historian.api import HistorianReader
from app.station import Station
from app.station.frame import ScanFrame
from app.station.points import PointTable, build_point_table
from ml.anomaly import AnomalyModel, FeatureExtractor, TrainingSet

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

#: The share of the progress bar spent collecting scans (the rest: fitting the models).
_COLLECT_SHARE = 0.6
#: Autoencoder epochs for a registry model.
AE_EPOCHS = 20


class TrainingInputError(ValueError):
    """Options that cannot train a model (one line naming the option)."""


@dataclass(frozen=True)
class TrainResult:
    records: tuple[registry.ModelRecord, ...]
    models: tuple[AnomalyModel, ...]
    rows: dict[str, int]
    """Training rows per asset class."""
    scans: int
    window: tuple[str, str]
    train_s: dict[str, float] = field(default_factory=dict)
    """Fit time per kind (seconds)."""

    @property
    def version(self) -> int:
        return self.records[0].version if self.records else 0

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "models": [r.as_dict() for r in self.records],
                "rows": self.rows, "scans": self.scans, "window": list(self.window),
                "train_s": self.train_s}


def simulation_start(seed: int) -> dt.datetime:
    """The simulated start of a training run of ``seed`` (a whole day after the epoch per
    seed, so runs of different seeds meet different days of the week)."""
    return SIM_EPOCH + dt.timedelta(days=int(seed) % 7)


def collect(scans: Iterator[Scan], extractor: FeatureExtractor, total: int, *,
            progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
            warmup_s: float = 600.0) -> TrainingSet:
    """Feature rows of every scan after the first ``warmup_s`` (while the rates' windows
    fill), into a :class:`TrainingSet`."""
    ts = TrainingSet()
    hist = extractor.new_history()
    t0 = None
    for k, s in enumerate(scans):
        if cancelled is not None and cancelled():
            raise Cancelled("cancelled")
        ff = extractor.extract(s.frame, s.residual, s.extra, hist)
        t0 = s.t_s if t0 is None else t0
        if s.t_s - t0 >= warmup_s:
            ts.add(ff)
        if progress is not None and (k % 20 == 0 or k + 1 == total):
            progress(_COLLECT_SHARE * (k + 1) / max(total, 1),
                     f"collecting scans {k + 1}/{total}")
    return ts


def historian_scans(reader: HistorianReader, station: Station, points: PointTable,
                    t0: dt.datetime, t1: dt.datetime, step_s: float,
                    solver_factory: SolverFactory) -> tuple[Iterator[Scan], int]:
    """Scans rebuilt from the historian: each point's newest sample at or before each step
    (no sample yet: NaN, invalid), solved and with the thermal twin's temperatures."""
    from app.historian.store import Historian
    from app.station import quality as Q

    store = reader.config_store
    if not isinstance(store, Historian):
        raise TrainingInputError("--from/--to: this historian cannot be read back sample by "
                                 "sample (use the SQL historian)")
    n_steps = int((t1 - t0).total_seconds() // step_s)
    if n_steps < 2:
        raise TrainingInputError(f"--from/--to: the window {t0.isoformat()} – {t1.isoformat()}"
                                 f" holds fewer than two steps of {step_s:g} s")
    grid_ns = (t0.timestamp() + step_s * (1 + np.arange(n_steps))) * 1e9
    npt = len(points)
    V = np.full((n_steps, npt), np.nan)
    Qw = np.full((n_steps, npt), Q.INVALID, dtype=np.uint16)
    T = np.zeros((n_steps, npt), dtype=np.int64)
    a_ns, b_ns = int(t0.timestamp() * 1e9) - 3600 * 10**9, int(t1.timestamp() * 1e9)
    any_sample = False
    for j, tag in enumerate(points.tags):
        t, v, q = store.samples(tag, a_ns, b_ns)[:3]
        if not len(t):
            continue
        any_sample = True
        k = np.searchsorted(t, grid_ns, side="right") - 1
        ok = k >= 0
        V[ok, j] = v[k[ok]]
        Qw[ok, j] = q[k[ok]]
        T[ok, j] = t[k[ok]]
    if not any_sample:
        raise TrainingInputError(f"--from/--to: the historian holds no sample between "
                                 f"{t0.isoformat()} and {t1.isoformat()}")
    V = np.where(np.isnan(V), 0.0, V)

    def gen() -> Iterator[Scan]:
        solver = solver_factory(station, points)
        thermal = ThermalTwin(station, points)
        for i in range(n_steps):
            when = dt.datetime.fromtimestamp(grid_ns[i] / 1e9, dt.UTC)
            frame = ScanFrame(i + 1, when, points, V[i], Qw[i], T[i], {})
            live = solver.solve(frame)
            yield Scan(i, frame, np.asarray(live.residual), thermal.step(step_s, V[i]))

    return gen(), n_steps


def fit_models(ts: TrainingSet, kinds: Sequence[str], *, seed: int,
               progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
               torch_threads: int = 1, ae_epochs: int = AE_EPOCHS
               ) -> tuple[list[AnomalyModel], dict[str, float]]:
    """Fit every kind on ``ts``; (models, fit seconds per kind)."""
    if not ts.classes:
        raise TrainingInputError("no scored asset in the training data (is the station "
                                 "de-energised throughout the window?)")
    models, secs = [], {}
    for j, kind in enumerate(kinds):
        if cancelled is not None and cancelled():
            raise Cancelled("cancelled")
        if progress is not None:
            progress(_COLLECT_SHARE + (1 - _COLLECT_SHARE) * j / len(kinds), f"fitting {kind}")
        fit: dict[str, Any] = {}
        params: dict[str, Any] = {}
        if kind == "autoencoder":
            fit = {"epochs": ae_epochs}
            params = {"num_threads": torch_threads}
        a = time.perf_counter()
        models.append(AnomalyModel.train(kind, ts, seed=seed, fit_params=fit, **params))
        secs[kind] = round(time.perf_counter() - a, 2)
    return models, secs


def train(data_dir: str | Path | None, station: Station, *, solver_factory: SolverFactory,
          simulate_hours: float | None = None,
          window: tuple[dt.datetime, dt.datetime] | None = None,
          reader: HistorianReader | None = None,
          kinds: Sequence[str] = registry.KINDS, seed: int = 0, step_s: float = 60.0,
          progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
          activate: bool = True, db_url: str | None = None, torch_threads: int = 1,
          ae_epochs: int = AE_EPOCHS) -> TrainResult:
    """Train ``kinds`` from ``simulate_hours`` of the healthy plant simulator (``seed``) or
    from the historian ``window`` (read through ``reader``), and register them as the next
    version (active unless ``activate`` is False). Exactly one of ``simulate_hours`` and
    ``window`` is given. ``solver_factory`` builds the twin solver
    (``app.runtime.solver.SolverService``)."""
    if (simulate_hours is None) == (window is None):
        raise TrainingInputError("give either --simulate HOURS or --from/--to, not both")
    unknown = [k for k in kinds if k not in registry.KINDS]
    if unknown or not kinds:
        raise TrainingInputError(f"--kind: unknown model kind {unknown[0] if unknown else ''!r}"
                                 f" (use {', '.join(registry.KINDS)})")
    if not step_s > 0:
        raise TrainingInputError(f"step {step_s!r} s must be positive")
    points = build_point_table(station)
    fx = FeatureExtractor(station, points)
    if simulate_hours is not None:
        if not (simulate_hours > 0 and np.isfinite(simulate_hours)):
            raise TrainingInputError(f"--simulate: {simulate_hours!r} hours must be positive")
        total = max(1, int(round(simulate_hours * 3600 / step_s)))
        scans = (s for _, s in plant_scans(station, seed=seed, hours=simulate_hours,
                                           step_s=step_s, solver_factory=solver_factory,
                                           start=simulation_start(seed), cancelled=cancelled))
        source = f"simulate {simulate_hours:g}h seed {seed}"
    else:
        assert window is not None
        t0, t1 = window
        if t0.tzinfo is None or t1.tzinfo is None:
            raise TrainingInputError("--from/--to must carry a time zone (e.g. +05:30 or Z)")
        if not t1 > t0:
            raise TrainingInputError(f"--to {t1.isoformat()} is not after --from "
                                     f"{t0.isoformat()}")
        if reader is None:
            raise TrainingInputError("--from/--to needs the historian")
        scans, total = historian_scans(reader, station, points, t0.astimezone(dt.UTC),
                                       t1.astimezone(dt.UTC), step_s, solver_factory)
        source = "historian"
    warm = min(600.0, 0.25 * total * step_s)
    ts = collect(scans, fx, total, progress=progress, cancelled=cancelled, warmup_s=warm)
    models, secs = fit_models(ts, kinds, seed=seed, progress=progress, cancelled=cancelled,
                              torch_threads=torch_threads, ae_epochs=ae_epochs)
    if cancelled is not None and cancelled():
        raise Cancelled("cancelled")
    rows = {c: int(len(ts.arrays(c)[0])) for c in ts.classes}
    extra = {m.kind: {"train_s": secs[m.kind], "rows": rows, "scans": total,
                      "step_s": step_s, "seed": seed} for m in models}
    records = registry.register(data_dir, station, models, source=source, metrics=extra,
                                activate=activate, db_url=db_url)
    w = tuple(models[0].meta.get("training_window") or ("", ""))
    if progress is not None:
        progress(1.0, f"registered anomaly model v{records[0].version}")
    return TrainResult(tuple(records), tuple(models), rows, total, (str(w[0]), str(w[1])), secs)
