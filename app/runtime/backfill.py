"""Trend backfill from the historian, off the GUI thread.

The trends dock asks (tags, range); a worker thread runs the historian query and the result
comes back to the GUI thread through a queued signal. No SQL runs on the GUI thread.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from app.runtime.qt.threads import managed_thread, stop_thread
from app.station import quality as Q


class _Worker(QObject):
    done = Signal(str, object, object)

    def __init__(self, historian) -> None:  # noqa: ANN001
        super().__init__()
        self.historian = historian

    @Slot(list, float, float, int)
    def fetch(self, tags: list, t0: float, t1: float, n: int) -> None:
        a = dt.datetime.fromtimestamp(t0, dt.UTC)
        b = dt.datetime.fromtimestamp(t1, dt.UTC)
        try:
            for tr in self.historian.trend(tags, a, b, max_points=n):
                v = np.asarray(tr.value, dtype=float)
                if len(tr.quality) == len(v):  # bad-quality samples are gaps, not values
                    v = np.where((tr.quality & Q.VALIDITY_MASK) == Q.GOOD, v, np.nan)
                self.done.emit(tr.tag, tr.t_ns / 1e9, v)
        except Exception:  # a failed backfill leaves the live trend as it is
            import logging

            logging.getLogger(__name__).exception("trend backfill failed for %s", tags)


class BackfillService(QObject):
    def __init__(self, historian, trends, parent: QObject | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._thread = managed_thread("backfill")
        self._worker = _Worker(historian)
        self._worker.moveToThread(self._thread)
        trends.backfill_requested.connect(self._worker.fetch)
        self._worker.done.connect(trends.add_history)
        self._thread.start()

    def stop(self) -> None:
        stop_thread(self._thread)
