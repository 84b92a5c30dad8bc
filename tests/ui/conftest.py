"""UI fixtures: offscreen Qt, realistic snapshots from the plant simulator."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from app.station import clock
from tests.clocks import recent_weekday_ist

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# A weekday 14:30 IST in the last few days: the plant behaves as on any weekday afternoon, and
# what it stores stays inside the historian's retention and the event log's "last 7 days".
T0 = recent_weekday_ist(14, 30)


@pytest.fixture
def plant(station):
    from app.field.sim.plant import PlantSimulator

    return PlantSimulator(station, seed=3, start=T0)


def snapshot_of(plant, snap=None, quality=None, comm=None):
    """A LiveSnapshot as the runtime would deliver it, from a plant step."""
    from app.runtime.snapshot import LiveSnapshot
    from app.station.frame import ScanFrame

    snap = snap or plant.step(0.1)
    frame = ScanFrame(seq=snap.seq, t_acquired=snap.timestamp, points=plant.points,
                      values=snap.values, quality=snap.quality if quality is None else quality,
                      t_source_ns=snap.t_source_ns, comm=comm or {})
    return LiveSnapshot(seq=snap.seq, frame=frame, twin=plant.twin_state)


@pytest.fixture
def live(plant):
    return lambda **kw: snapshot_of(plant, **kw)


class ScriptedSource:
    """Frames from an in-process plant with values the test sets, stamped by a clock the test
    can move forward (for shelving expiry); a FrameSource for the real Pipeline."""

    def __init__(self, plant, period_s: float = 0.05) -> None:  # noqa: ANN001
        import threading

        self.plant = plant
        self.period_s = period_s
        self.offset = dt.timedelta(0)
        self.values: dict[int, float] = {}
        self.quality: dict[int, int] = {}
        self.batches: list[tuple[dict[int, float], dict[int, int]]] = []
        self.frames = 0
        self._lock = threading.Lock()
        self._seq = 0

    def now(self) -> dt.datetime:
        return clock.now() + self.offset

    def advance(self, **kw: float) -> None:
        self.offset += dt.timedelta(**kw)

    def set(self, tag: str, value: float | None = None, quality: int | None = None) -> None:
        i = self.plant.points.row(tag)
        with self._lock:
            if value is not None:
                self.values[i] = value
            if quality is not None:
                self.quality[i] = quality

    def release(self, tag: str) -> None:
        i = self.plant.points.row(tag)
        with self._lock:
            self.values.pop(i, None)
            self.quality.pop(i, None)

    def schedule(self, batches: list[tuple[dict[int, float], dict[int, int]]]) -> None:
        """One batch of overrides more with each of the next frames."""
        with self._lock:
            self.batches.extend(batches)

    async def run(self, emit, stop) -> None:  # noqa: ANN001
        import asyncio
        import time

        import numpy as np

        from app.station.frame import Comm, CommState, ScanFrame

        next_t = time.monotonic()
        while not stop.is_set():
            snap = self.plant.step(self.period_s)
            with self._lock:
                if self.batches:
                    v, q = self.batches.pop(0)
                    self.values.update(v)
                    self.quality.update(q)
                values = snap.values.copy()
                quality = snap.quality.copy()
                for i, x in self.values.items():
                    values[i] = x
                for i, x in self.quality.items():
                    quality[i] = x
            now = self.now()
            values.setflags(write=False)
            quality.setflags(write=False)
            self._seq += 1
            comm = {d.id: CommState(d.id, "sim", Comm.OK, now) for d in self.plant.points.devices}
            emit(ScanFrame(self._seq, now, self.plant.points, values, quality,
                           np.asarray(snap.t_source_ns), comm))
            self.frames += 1
            next_t += self.period_s
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, next_t - time.monotonic()))
            except TimeoutError:
                pass


@pytest.fixture
def make_alarm_window(qtbot, station, tmp_path):
    """A main window on a real pipeline fed by a ScriptedSource; closes everything after."""
    from PySide6.QtCore import QSettings

    from app.control.service import MemoryAudit
    from app.field.sim.plant import PlantSimulator
    from app.runtime.pipeline import Pipeline
    from app.runtime.qt.threads import running_threads
    from app.ui.main_window import MainWindow

    made = []

    def make(historian=None, rules=None, period_s: float = 0.05):  # noqa: ANN001
        plant = PlantSimulator(station, seed=2, start=T0, tick_s=period_s)
        source = ScriptedSource(plant, period_s)
        audit = MemoryAudit()
        pipe = Pipeline(station, plant.points, source, historian, rules=rules, audit=audit,
                        clock=source.now)
        settings = QSettings(str(tmp_path / f"hmi{len(made)}.ini"), QSettings.Format.IniFormat)
        win = MainWindow(station, plant.points, pipeline=pipe, settings=settings, yard3d=False)
        qtbot.addWidget(win)
        win.resize(1400, 900)
        win.show()
        if historian is not None:
            win.attach_historian(historian)
        pipe.start()
        made.append(win)
        win.source, win.audit, win.plant = source, audit, plant
        return win

    yield make
    for w in made:
        w.close()
    assert running_threads() == []
