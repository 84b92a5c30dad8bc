"""UI fixtures: offscreen Qt, realistic snapshots from the plant simulator."""

from __future__ import annotations

import datetime as dt
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def plant(station):
    from app.field.sim.plant import PlantSimulator

    return PlantSimulator(station, seed=3, start=T0)


def snapshot_of(plant, snap=None, quality=None, comm=None):
    """A LiveSnapshot as the runtime would deliver it, from a plant step."""
    from app.field.frame import ScanFrame
    from app.runtime.snapshot import LiveSnapshot

    snap = snap or plant.step(0.1)
    frame = ScanFrame(seq=snap.seq, t_acquired=snap.timestamp, points=plant.points,
                      values=snap.values, quality=snap.quality if quality is None else quality,
                      t_source_ns=snap.t_source_ns, comm=comm or {})
    return LiveSnapshot(seq=snap.seq, frame=frame, twin=plant.twin_state)


@pytest.fixture
def live(plant):
    return lambda **kw: snapshot_of(plant, **kw)
