"""Scans from the real plant simulator, as the anomaly detector will see them live.

Each step of :class:`PlantSimulator` gives values, quality and source times; the runtime's
:class:`SolverService` solves the twin from them and gives the residuals; an IEC 60076-7
thermal model per transformer and reactor, driven by the *measured* loading and ambient (as
the integrator's runtime will do), gives the ``extra`` model temperatures. Plant-only: a fixed
simulated day, which no wall-clock logic meets.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.field.sim.plant import PlantSimulator
from app.field.sim.thermal import ThermalModel, ThermalParams
from app.runtime.solver import SolverService
from app.station.frame import ScanFrame
from ml.anomaly.features import EXTRA_HOT_SPOT_MODEL, EXTRA_TOP_OIL_MODEL

T0 = dt.datetime(2025, 3, 3, 0, 0, tzinfo=dt.UTC)  # a Monday


@dataclass
class Recording:
    t_s: np.ndarray  # (steps,)
    values: np.ndarray  # (steps, points)
    quality: np.ndarray
    t_source_ns: np.ndarray
    residual: np.ndarray
    extra: list[dict[str, dict[str, float]]]

    def __len__(self) -> int:
        return len(self.t_s)

    def scan(self, i: int) -> dict:
        return {"values": self.values[i], "quality": self.quality[i],
                "t_s": float(self.t_s[i]), "t_source_ns": self.t_source_ns[i],
                "residual": self.residual[i], "extra": self.extra[i]}


class ThermalTwin:
    """IEC 60076-7 model temperatures for the measured load (what the runtime supplies)."""

    def __init__(self, station, points) -> None:  # noqa: ANN001
        self.points = points
        self.models: dict[str, tuple[ThermalModel, int | None, list[int], float]] = {}
        amb_rows = [i for i, q in enumerate(points.quantity) if q == "ambient_c"]
        self.amb_row = amb_rows[0]
        for a in station.assets_of_type("ict", "transformer"):
            self.models[a.id] = (ThermalModel(k=0.5, ambient_c=30.0),
                                 points.row(f"{a.id}.LOADING"), [], math.nan)
        for a in station.assets_of_type("reactor"):
            kv = station.bay(a.bay).voltage_kv
            rated = (a.nameplate.rated_mva or 1.0) * 1e3 / (math.sqrt(3) * kv)
            rows = [points.row(f"{a.id}.{p}") for p in ("I_A", "I_B", "I_C")]
            params = ThermalParams(delta_theta_or_k=40.0, gr_k=18.0, H=1.2, R=1.0)
            self.models[a.id] = (ThermalModel(params, k=1.0, ambient_c=30.0), None, rows, rated)
        self.started = False

    def step(self, dt_s: float, values: np.ndarray) -> dict[str, dict[str, float]]:
        amb = float(values[self.amb_row])
        out = {}
        for aid, (m, load_row, i_rows, rated) in self.models.items():
            k = values[load_row] / 100.0 if load_row is not None else \
                float(np.mean(values[i_rows])) / rated
            if not self.started:
                m.reset_steady_state(k, amb)
            else:
                m.step(dt_s, k, amb)
            out[aid] = {EXTRA_HOT_SPOT_MODEL: m.hot_spot_c, EXTRA_TOP_OIL_MODEL: m.top_oil_c}
        self.started = True
        return out


def record(station, *, seed: int, hours: float, step_s: float = 60.0,  # noqa: ANN001
           start: dt.datetime = T0,
           before_step: Callable[[PlantSimulator, int], None] | None = None,
           after_step: Callable[[PlantSimulator, int, np.ndarray, np.ndarray], None] | None
           = None) -> Recording:
    """Run the plant for ``hours`` of simulated time in steps of ``step_s``.
    ``before_step(plant, i)`` may inject or clear faults; ``after_step(plant, i, values,
    quality)`` may edit a step's copy of the values and quality in place (a sensor-side
    anomaly the plant cannot produce)."""
    plant = PlantSimulator(station, seed=seed, start=start)
    solver = SolverService(station, plant.points)
    thermal = ThermalTwin(station, plant.points)
    n = int(round(hours * 3600 / step_s))
    npt = len(plant.points)
    rec = Recording(np.empty(n), np.empty((n, npt)), np.empty((n, npt), np.uint16),
                    np.empty((n, npt), np.int64), np.empty((n, npt)), [])
    for i in range(n):
        if before_step is not None:
            before_step(plant, i)
        snap = plant.step(step_s)
        v = np.array(snap.values)
        q = np.array(snap.quality)
        if after_step is not None:
            after_step(plant, i, v, q)
        frame = ScanFrame(snap.seq, snap.timestamp, plant.points, v, q, snap.t_source_ns, {})
        live = solver.solve(frame)
        rec.t_s[i] = snap.timestamp.timestamp()
        rec.values[i], rec.quality[i] = v, q
        rec.t_source_ns[i] = snap.t_source_ns
        rec.residual[i] = live.residual
        rec.extra.append(thermal.step(step_s, v))
    return rec
