"""Scans from the plant simulator at speed, as the inference worker sees them live.

Each step of :class:`~app.field.sim.plant.PlantSimulator` gives values, quality and source
times; a twin solver (the runtime's :class:`app.runtime.solver.SolverService`, passed in by
the caller as a factory so this layer does not import the runtime) gives the residuals —
measured minus solved; an IEC 60076-7 thermal model per transformer and reactor, driven by
the *measured* loading (or phase currents) and ambient, gives the model temperatures
(``extra``) the anomaly features compare the measured ones against.

Simulated time only: the caller gives the start, and no wall clock is read.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from app.field.sim.plant import EQUIPMENT_SEED, PlantSimulator, plant_of
from app.field.sim.thermal import ThermalModel, ThermalParams
from app.station import Station
from app.station.frame import ScanFrame
from app.station.points import PointTable
from ml.anomaly.features import EXTRA_HOT_SPOT_MODEL, EXTRA_TOP_OIL_MODEL

#: A simulated Monday 00:00 UTC: the default start of simulated runs (meets no wall clock).
SIM_EPOCH = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)
#: The seed of the simulated station's *equipment*: what the plant draws once when it is
#: built — each breaker's SF6 filling, each CT's harmonic baseline, each transformer's oil
#: moisture and ageing, bushing constants. Training and evaluation runs simulate the same
#: station on different days: they share this seed and differ in the run's seed (noise,
#: load variation, faults).
STATION_SEED = EQUIPMENT_SEED


class Cancelled(Exception):
    """The caller asked a run to stop (its ``cancelled()`` returned True)."""


class Solved(Protocol):
    @property
    def residual(self) -> np.ndarray: ...


class TwinSolver(Protocol):
    """What this module needs of the runtime's solver: a frame in, residuals out."""

    def solve(self, frame: ScanFrame) -> Solved: ...


#: ``factory(station, points) -> TwinSolver`` (``app.runtime.solver.SolverService``).
SolverFactory = Callable[[Station, PointTable], TwinSolver]


@dataclass(frozen=True, slots=True, eq=False)
class Scan:
    """One simulated scan with what the detector takes."""

    index: int
    frame: ScanFrame
    residual: np.ndarray
    extra: dict[str, dict[str, float]]

    @property
    def t_s(self) -> float:
        return self.frame.t_acquired.timestamp()


class ThermalTwin:
    """IEC 60076-7 model temperatures for the measured load of every transformer and
    reactor (what the runtime supplies the detector as ``extra``)."""

    def __init__(self, station: Station, points: PointTable) -> None:
        self.models: dict[str, tuple[ThermalModel, int | None, list[int], float]] = {}
        amb = [i for i, q in enumerate(points.quantity) if q == "ambient_c"]
        self.amb_row = amb[0] if amb else None
        for a in station.assets_of_type("ict", "transformer"):
            self.models[a.id] = (ThermalModel(), points.row(f"{a.id}.LOADING"), [], math.nan)
        for a in station.assets_of_type("reactor"):
            kv = station.bay(a.bay).voltage_kv
            rated_a = (a.nameplate.rated_mva or 1.0) * 1e3 / (math.sqrt(3) * kv)
            rows = [points.row(f"{a.id}.I_{p}") for p in "ABC"]
            params = ThermalParams(delta_theta_or_k=40.0, gr_k=18.0, H=1.2, R=1.0)
            self.models[a.id] = (ThermalModel(params, k=1.0), None, rows, rated_a)
        self.started = False

    def step(self, dt_s: float, values: np.ndarray) -> dict[str, dict[str, float]]:
        amb = float(values[self.amb_row]) if self.amb_row is not None else 30.0
        out = {}
        for aid, (m, load_row, i_rows, rated) in self.models.items():
            k = values[load_row] / 100.0 if load_row is not None else \
                float(np.mean(values[i_rows])) / rated
            if not self.started:
                m.reset_steady_state(float(k), amb)
            else:
                m.step(dt_s, float(k), amb)
            out[aid] = {EXTRA_HOT_SPOT_MODEL: m.hot_spot_c, EXTRA_TOP_OIL_MODEL: m.top_oil_c}
        self.started = True
        return out


def simulated_plant(station: Station, *, seed: int, start: dt.datetime,
                    station_seed: int = STATION_SEED) -> PlantSimulator:
    """The plant of ``station_seed``'s equipment, its random draws from here on those of
    run ``seed`` (the generator every part shares is reseeded in place)."""
    return plant_of(station, run_seed=seed, equipment_seed=station_seed, start=start)


def plant_scans(station: Station, *, seed: int, hours: float, step_s: float,
                solver_factory: SolverFactory, start: dt.datetime = SIM_EPOCH,
                before_step: Callable[[PlantSimulator, dt.datetime], None] | None = None,
                cancelled: Callable[[], bool] | None = None,
                plant: PlantSimulator | None = None) -> Iterator[tuple[PlantSimulator, Scan]]:
    """Run the plant for ``hours`` of simulated time in steps of ``step_s`` seconds and
    yield each scan (the plant: :func:`simulated_plant`). ``before_step(plant, t)`` may inject or clear faults before the step
    that ends at ``t``; ``cancelled()`` is asked every step (:class:`Cancelled`)."""
    if not (hours > 0 and step_s > 0):
        raise ValueError("hours and step_s must be positive")
    p = plant or simulated_plant(station, seed=seed, start=start)
    solver = solver_factory(station, p.points)
    thermal = ThermalTwin(station, p.points)
    n = max(1, int(round(hours * 3600.0 / step_s)))
    for i in range(n):
        if cancelled is not None and cancelled():
            raise Cancelled("cancelled")
        if before_step is not None:
            before_step(p, p.clock + dt.timedelta(seconds=step_s))
        snap = p.step(step_s)
        frame = ScanFrame(snap.seq, snap.timestamp, p.points, snap.values, snap.quality,
                          snap.t_source_ns, {})
        live = solver.solve(frame)
        yield p, Scan(i, frame, np.asarray(live.residual), thermal.step(step_s, snap.values))
