"""The Load forecast view: the station load of the last week and the next 24 hours with the
forecaster's band.

Station load is the sum of the feeders' active power (:mod:`app.analytics.loadforecast`).
The view refreshes on the analytics job runner a minute and a half after start-up and every
hour: it reads the last eight days of hourly load from the historian and, when a forecaster
is registered, forecasts the next 24 h from the latest 168 h. It retrains once a day on up
to twelve weeks of the historian's load when the historian holds the 360 h the forecaster
needs (a new version in ``ml_models``, with its held-out figures); *Train now* does the same
on demand, and when the historian is still short it trains on the plant simulator's load for
the same span — the first model of a new installation — and says so. The status line names
the version in use and its day-ahead MAPE beside the two seasonal-naive ones it must beat.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.analytics.forecast_models import (
    ForecastRecord,
    load_latest_forecast,
    register_forecast,
)
from app.analytics.loadforecast import (
    HOUR,
    LOOKBACK_H,
    MIN_HOURS,
    LoadSeries,
    LoadSeriesError,
    available_hours,
    historian_series,
    simulated_series,
    train,
)
from app.historian.api import HistorianReader
from app.runtime.jobs import Job, JobContext
from app.runtime.qt.jobs import JobHandle, JobRunner
from app.station import Station, clock
from app.station.timezone import IST
from app.ui import theme

FIRST_REFRESH_MS = 90_000
REFRESH_MS = 3600 * 1000
RETRAIN_MS = 24 * 3600 * 1000
HISTORY_DAYS = 8
TRAIN_DAYS = 84


@dataclass(frozen=True)
class ForecastView:
    """What the view draws: the history, and the forecast when there is a model."""

    history: LoadSeries | None
    history_error: str | None
    record: ForecastRecord | None
    point: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


def _figures(rec: ForecastRecord) -> str:
    m = rec.metrics
    try:
        return (f"v{rec.version} ({rec.source}): day-ahead MAPE {m['nbeats_mape_pct']:.2f} % "
                f"against {m['naive_week_mape_pct']:.2f} % for last week's and "
                f"{m['naive_day_mape_pct']:.2f} % for yesterday's")
    except (KeyError, TypeError):
        return f"v{rec.version} ({rec.source})"


class LoadForecastDock(QWidget):
    """The Load forecast view (see the module notes); ``refreshed`` carries each view."""

    refreshed = Signal(object)
    trained = Signal(object)

    def __init__(self, station: Station, historian: HistorianReader | None,
                 runner: JobRunner | None, data_dir: str | Path | None, *,
                 now: Callable[[], dt.datetime] = clock.now, schedule: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station, self.historian, self.runner = station, historian, runner
        self.data_dir, self.now = data_dir, now
        self.view: ForecastView | None = None
        self.handle: JobHandle | None = None
        self.train_btn = QPushButton("Train now")
        self.train_btn.setToolTip("Train the N-BEATS day-ahead forecaster on the historian's "
                                  "station load (or the simulator's, while the historian has "
                                  f"less than {MIN_HOURS} h) and register a new version")
        self.refresh_btn = QPushButton("Refresh")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget(background=theme.PANEL.name(),
                                  axisItems={"bottom": pg.DateAxisItem(utcOffset=-19800)})
        self.plot.setLabel("left", "Station load", units="MW")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(10, 10))
        top = QHBoxLayout()
        top.addWidget(self.refresh_btn)
        top.addWidget(self.train_btn)
        top.addWidget(self.progress, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(self.plot, 1)
        self.refresh_btn.clicked.connect(self.refresh)
        self.train_btn.clicked.connect(self.train_now)
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setSingleShot(True)
        self.refresh_timer.timeout.connect(self._scheduled_refresh)
        self.retrain_timer = QTimer(self)
        self.retrain_timer.timeout.connect(lambda: self.train_now(scheduled=True))
        if historian is None or runner is None:
            for b in (self.train_btn, self.refresh_btn):
                b.setEnabled(False)
            self.status.setText("The load forecast needs the historian (gridtwin run records "
                                "the station load to it).")
        else:
            self.status.setText("The station load and its day-ahead forecast appear a minute "
                                "and a half after start-up, then hourly.")
            if schedule:
                self.refresh_timer.start(FIRST_REFRESH_MS)
                self.retrain_timer.start(RETRAIN_MS)

    # ------------------------------------------------------------------ jobs
    def _busy(self, busy: bool) -> None:
        for b in (self.train_btn, self.refresh_btn):
            b.setEnabled(not busy)

    def _scheduled_refresh(self) -> None:
        self.refresh()
        self.refresh_timer.start(REFRESH_MS)

    def refresh(self) -> JobHandle | None:
        """Read the last days' load and forecast the next 24 h (a job)."""
        if self.handle is not None or self.historian is None or self.runner is None:
            return None
        station, reader, data_dir, at = self.station, self.historian, self.data_dir, self.now()
        engine = reader.engine

        def run(_ctx: JobContext) -> ForecastView:
            history, error = None, None
            have = available_hours(reader, station, at, HISTORY_DAYS)
            try:
                if have < 24:
                    raise LoadSeriesError(f"The historian holds {have} h of station load up "
                                          "to now: the view shows it from 24 h on.")
                history = historian_series(reader, station, at, have / 24)
            except LoadSeriesError as exc:
                error = str(exc)
            if history is not None and len(history.mw) < LOOKBACK_H:
                error = (f"{len(history.mw)} h of station load recorded: a forecast needs the "
                         f"last {LOOKBACK_H} h.")
            try:
                got = load_latest_forecast(data_dir, station, engine=engine)
            except ValueError as exc:
                return ForecastView(history, f"{error or ''} {exc}".strip(), None)
            if got is None or history is None or len(history.mw) < LOOKBACK_H:
                return ForecastView(history, error, got[0] if got else None)
            rec, fc = got
            out = fc.forecast(history.mw)
            return ForecastView(history, error, rec, out.point, out.lower, out.upper)

        return self._submit("load forecast", run, self._show)

    def train_now(self, scheduled: bool = False) -> JobHandle | None:
        """Train and register a new forecaster version (a job; see the module notes)."""
        if self.handle is not None or self.historian is None or self.runner is None:
            return None
        station, reader, data_dir, at = self.station, self.historian, self.data_dir, self.now()
        engine = reader.engine

        def run(ctx: JobContext) -> ForecastRecord | None:
            have = available_hours(reader, station, at, TRAIN_DAYS)
            if have >= MIN_HOURS:
                series = historian_series(reader, station, at, have / 24)
            elif scheduled:
                return None  # the daily retrain waits for history; a first model is asked for
            else:
                series = simulated_series(station, at, TRAIN_DAYS,
                                          progress=lambda f: ctx.progress(0.5 * f,
                                                                          "simulating load"),
                                          cancelled=lambda: ctx.cancelled)
            trained = train(series, progress=lambda f: ctx.progress(0.5 + 0.5 * f, "training"),
                            cancelled=lambda: ctx.cancelled)
            return register_forecast(data_dir, station, trained, engine=engine)

        return self._submit("train load forecast", run, self._trained)

    def _submit(self, name: str, fn: Callable[[JobContext], object],
                done: Callable[[object], None]) -> JobHandle:
        self._busy(True)
        self.progress.setValue(0)
        self.handle = h = self.runner.submit(Job(name, fn))
        h.progress.connect(lambda f, text: (self.progress.setValue(int(f * 1000)),
                                            self.progress.setFormat(f"{text}  %p%")))
        h.done.connect(lambda res: (self._ended(), done(res)))
        h.failed.connect(lambda err: (self._ended(), self.status.setText(f"{name}: {err}")))
        h.cancelled.connect(lambda: (self._ended(), self.status.setText(f"{name} cancelled")))
        return h

    def _ended(self) -> None:
        self.handle = None
        self._busy(False)
        self.progress.setValue(1000)

    def _trained(self, rec: ForecastRecord | None) -> None:
        if rec is None:
            self.status.setText("Daily retraining waits: the historian does not yet hold "
                                f"{MIN_HOURS} h of unbroken station load.")
            return
        self.trained.emit(rec)
        self.status.setText(f"Trained {_figures(rec)}.")
        self.refresh()

    # ------------------------------------------------------------------ drawing
    def _show(self, view: ForecastView) -> None:
        self.view = view
        self.plot.clear()
        parts = []
        if view.history is not None:
            t = np.array([x.timestamp() for x in view.history.times()]) + 1800  # mid-hour
            self.plot.plot(t, view.history.mw, pen=pg.mkPen(theme.TEXT.name(), width=1),
                           name="measured (hourly mean)")
        if view.history_error:
            parts.append(view.history_error)
        if view.record is not None and view.point is not None and view.history is not None:
            t0 = view.history.end.timestamp()
            tf = t0 + 1800 + np.arange(len(view.point)) * 3600.0
            lo = pg.PlotDataItem(tf, view.lower, pen=pg.mkPen(None))
            hi = pg.PlotDataItem(tf, view.upper, pen=pg.mkPen(None))
            self.plot.addItem(lo)
            self.plot.addItem(hi)
            self.plot.addItem(pg.FillBetweenItem(lo, hi, brush=theme.STUDY_FILL))
            self.plot.plot(tf, view.point, name="forecast (90 % band)",
                           pen=pg.mkPen(theme.STUDY.name(), width=2,
                                        style=Qt.PenStyle.DashLine))
            self.plot.addItem(pg.InfiniteLine(t0, angle=90, pen=pg.mkPen(
                theme.TEXT_MUTED.name(), style=Qt.PenStyle.DotLine)))
            peak = int(np.argmax(view.point))
            when = (view.history.end + peak * HOUR).astimezone(IST)
            parts.insert(0, f"Next 24 h: peak {view.point[peak]:.0f} MW at {when:%H:%M} IST "
                            f"(90 %: {view.lower[peak]:.0f}–{view.upper[peak]:.0f}). "
                            f"Forecaster {_figures(view.record)}.")
        elif view.record is None:
            parts.insert(0, "No load forecaster yet: Train now (on the historian's load, or "
                            "the simulator's until the historian holds "
                            f"{MIN_HOURS} h), or `gridtwin ml train forecast`.")
        self.status.setText(" ".join(parts))
        self.refreshed.emit(view)
