"""The Load forecast view: the station load read from a real historian, the newest registered
forecaster's next 24 h with its band drawn beside it, and what it says with no model or no
historian."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

from app.analytics.forecast_models import register_forecast
from app.analytics.loadforecast import MIN_HOURS, LoadSeries, station_load_tags, train
from app.field.sim.plant import PlantSimulator
from app.historian import open_historian
from app.runtime.qt.jobs import JobRunner
from app.station.frame import ScanFrame
from app.ui.loadforecast import LoadForecastDock
from tests.clocks import now


@pytest.fixture
def runner(qtbot):
    r = JobRunner("test-forecast").start()
    yield r
    assert r.stop()


@pytest.fixture
def history(station, tmp_path):
    """Eight days of hourly samples (inside the raw retention): the plant's load."""
    at = now()
    t0 = (at - dt.timedelta(days=7, hours=23)).replace(minute=0, second=0, microsecond=0)
    plant = PlantSimulator(station, seed=5, start=t0)
    pts = plant.points
    h = open_historian(station, pts, data_dir=tmp_path)
    n = 0
    t = t0
    while t < at - dt.timedelta(minutes=5):
        snap = plant.step(1800.0)
        h.submit(ScanFrame(n + 1, t, pts, np.asarray(snap.values, float),
                           np.asarray(snap.quality), np.full(len(pts), int(t.timestamp() * 1e9)),
                           {}))
        n += 1
        t += dt.timedelta(minutes=30)
    deadline = time.monotonic() + 120
    while h.status.frames < n or h.status.pending_samples:
        assert time.monotonic() < deadline, h.status
        time.sleep(0.05)
    yield h, at
    h.close()


def test_the_view_draws_history_and_the_newest_forecast(qtbot, runner, station, history,
                                                        tmp_path):
    h, at = history
    dock = LoadForecastDock(station, h, runner, tmp_path, now=lambda: at, schedule=False)
    qtbot.addWidget(dock)
    with qtbot.waitSignal(dock.refreshed, timeout=120_000) as sig:
        dock.refresh()
    view = sig.args[0]
    assert view.history is not None and 7 * 24 + 20 <= len(view.history.mw) <= 8 * 24
    assert view.record is None and "No load forecaster yet" in dock.status.text()
    # Register a small forecaster (synthetic series: the view only draws what it forecasts).
    y = 200 + 40 * np.sin(2 * np.pi * np.arange(MIN_HOURS) / 24)
    tr = train(LoadSeries(at - MIN_HOURS * dt.timedelta(hours=1), y, "test"), steps=5)
    rec = register_forecast(tmp_path, station, tr, engine=h.engine)
    with qtbot.waitSignal(dock.refreshed, timeout=120_000) as sig:
        dock.refresh()
    view = sig.args[0]
    assert view.record.version == rec.version
    assert len(view.point) == 24 and np.all(view.lower <= view.upper)
    text = dock.status.text()
    assert "Next 24 h: peak" in text and f"v{rec.version}" in text and "MAPE" in text
    assert len(dock.plot.getPlotItem().items) >= 5  # history, band (3 items), forecast, now
    assert len(station_load_tags(station)) == 8


def test_without_a_historian_the_view_says_what_it_needs(qtbot, station):
    dock = LoadForecastDock(station, None, None, None)
    qtbot.addWidget(dock)
    assert not dock.train_btn.isEnabled() and "needs the historian" in dock.status.text()
    assert dock.refresh() is None and dock.train_now() is None
