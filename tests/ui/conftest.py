"""UI fixtures: offscreen Qt, realistic snapshots from the plant simulator."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from app.runtime.sources import PlantFrameSource
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


class ScriptedSource(PlantFrameSource):
    """Frames from an in-process plant with values the test sets, stamped by a clock the test
    can move forward (for shelving expiry); the same paced loop as the drill's source."""

    def __init__(self, plant, period_s: float = 0.05) -> None:  # noqa: ANN001
        import threading

        super().__init__(plant, period_s)
        self.offset = dt.timedelta(0)
        self.values: dict[int, float] = {}
        self.quality: dict[int, int] = {}
        self.batches: list[tuple[dict[int, float], dict[int, int]]] = []
        self.frames = 0
        self._lock = threading.Lock()

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

    def frame(self, snap):  # noqa: ANN001, ANN201
        import numpy as np

        from app.station.frame import Comm, CommState, ScanFrame

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
        self.frames += 1
        comm = {d.id: CommState(d.id, "sim", Comm.OK, now) for d in self.plant.points.devices}
        return ScanFrame(self._seq, now, self.plant.points, values, quality,
                         np.asarray(snap.t_source_ns), comm)


@pytest.fixture
def make_hmi(qtbot, station, tmp_path):
    """An HMI built as ``gridtwin run`` builds it — :func:`app.runtime.compose.compose`, then
    :func:`app.ui.app.assemble` — on a frame source of the test's choosing; everything is
    closed afterwards (:meth:`Hmi.close`, the one owner of its threads) and no thread may be
    left running. ``store=True`` puts the configuration store (users, audit, rules) in a
    temporary folder; ``accounts`` builds the users service (needs the store); ``analytics``
    (an AnalyticsSpec) runs the inference worker."""
    from PySide6.QtCore import QSettings

    from app.runtime.compose import FieldSpec, StoreSpec, compose
    from app.runtime.qt.threads import running_threads
    from app.ui.app import assemble

    made = []

    def make(source, *, store: bool = False, historian=None, rules=None, audit=None,
             accounts: dict | None = None, clock=None, yard3d: bool = False,
             size: tuple[int, int] | None = None, start: bool = True, analytics=None, **kw):
        settings = QSettings(str(tmp_path / f"hmi{len(made)}.ini"), QSettings.Format.IniFormat)
        rt = compose(station, source.plant.points, field=FieldSpec(source=source),
                     store=StoreSpec(data_dir=str(tmp_path / "data"), record_history=False)
                     if store else None, historian=historian, rules=rules, audit=audit,
                     accounts=accounts, clock=clock or clock_now, analytics=analytics)
        hmi = assemble(rt, settings=settings, yard3d=yard3d, **kw)
        qtbot.addWidget(hmi.win)
        if size is not None:
            hmi.win.resize(*size)
        made.append(hmi)
        if start:
            hmi.start()
        return hmi

    yield make
    for h in made:
        h.close()
    assert running_threads() == []


def clock_now():  # noqa: ANN201
    return clock.now()


@pytest.fixture
def make_alarm_window(make_hmi, station):
    """A main window on a real pipeline fed by a ScriptedSource (its clock movable, for
    shelving expiry); closed with everything after."""
    from app.control.service import MemoryAudit
    from app.field.sim.plant import PlantSimulator

    def make(historian=None, rules=None, period_s: float = 0.05):  # noqa: ANN001
        plant = PlantSimulator(station, seed=2, start=T0, tick_s=period_s)
        source = ScriptedSource(plant, period_s)
        audit = MemoryAudit()
        hmi = make_hmi(source, historian=historian, rules=rules, audit=audit, clock=source.now,
                       control=False, size=(1400, 900))
        win = hmi.win
        win.source, win.audit, win.plant, win.hmi = source, audit, plant, hmi
        return win

    return make
