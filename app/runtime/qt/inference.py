"""The inference worker: :class:`app.runtime.inference.InferenceEngine` on its own thread.

::

    GUI thread                                  "inference" thread
    pipeline.snapshot_ready ─► offer(snap)      (one-slot mailbox: the newest scan wins,
    pipeline.alarms_ready   ─► engine.note_alarms  a scan replaced before it was taken is
                                   │               counted as skipped)
                                   └─ wake ───► take the newest → engine.process → emit
    analytics_ready(AnalyticsSnapshot)  ◄────── (queued: arrives on the GUI thread)

Offering a scan is a lock and a reference swap on the GUI thread: the worker never blocks
the scan or the GUI. The HMI offers at most one scan a second (``min_interval_s``): the
rest are decimated before the mailbox. When it falls behind it skips to the newest scan and counts the skips
(``AnalyticsSnapshot.skipped``). New models are handed over with :meth:`set_models` (any
thread) and take effect at the next processed scan — a model trained while the HMI runs is
picked up without a restart. :meth:`stop` quits the thread's event loop and waits for it;
nothing is terminated. The owner of every thread (:class:`app.ui.app.Hmi`) starts and
stops it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence

from PySide6.QtCore import QObject, Qt, Signal, Slot

from app.alarms.engine import AlarmView
from app.runtime.inference import AnalyticsSnapshot, InferenceEngine, ModelStatus
from app.runtime.qt.threads import managed_thread, stop_thread
from app.runtime.snapshot import LiveSnapshot
from ml.anomaly.models import AnomalyModel

log = logging.getLogger(__name__)


class _Mailbox:
    """One slot: the newest snapshot not yet taken, and how many were replaced unseen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snap: LiveSnapshot | None = None
        self._skipped = 0

    def put(self, snap: LiveSnapshot) -> bool:
        """Returns True when the slot was empty (the worker needs waking)."""
        with self._lock:
            was_empty = self._snap is None
            if not was_empty:
                self._skipped += 1
            self._snap = snap
            return was_empty

    def take(self) -> tuple[LiveSnapshot | None, int]:
        with self._lock:
            snap, skipped = self._snap, self._skipped
            self._snap, self._skipped = None, 0
            return snap, skipped


class _Worker(QObject):
    ready = Signal(object)

    def __init__(self, engine: InferenceEngine, box: _Mailbox) -> None:
        super().__init__()
        self.engine, self.box = engine, box

    @Slot()
    def run_once(self) -> None:
        snap, skipped = self.box.take()
        if snap is None:
            return
        try:
            out = self.engine.process(snap, skipped=skipped)
        except Exception:  # the engine guards each model; this is anything else
            log.exception("analytics: scan %d could not be processed", snap.seq)
            return
        self.ready.emit(out)


class InferenceWorker(QObject):
    """Connect :attr:`analytics_ready`, :meth:`attach` to a pipeline, then :meth:`start`."""

    analytics_ready = Signal(object)  # AnalyticsSnapshot
    models_changed = Signal(object)  # tuple[ModelStatus, ...]
    _wake = Signal()

    def __init__(self, engine: InferenceEngine, parent: QObject | None = None, *,
                 min_interval_s: float = 0.0) -> None:
        """``min_interval_s``: scans closer than this (by acquisition time) to the last one
        offered are not offered at all (counted in :attr:`decimated`, not as skips): the HMI
        scores at 1 Hz, which anomalies lasting seconds do not notice and the GUI does —
        scoring every 10 Hz scan held the interpreter for most of each scan."""
        super().__init__(parent)
        self.engine = engine
        self.min_interval_s = float(min_interval_s)
        self.decimated = 0
        self._last_offered: dt.datetime | None = None
        self._box = _Mailbox()
        self._worker = _Worker(engine, self._box)
        self._thread = managed_thread("inference")
        self._worker.moveToThread(self._thread)
        self._wake.connect(self._worker.run_once)
        self._worker.ready.connect(self._on_ready)
        self.last: AnalyticsSnapshot | None = None
        self.offered = 0
        self._running = False

    # ------------------------------------------------------------------ inputs
    def attach(self, pipeline: QObject) -> None:
        """Subscribe to a pipeline's snapshots and alarm views (``snapshot_ready``,
        ``alarms_ready``), as the docks do."""
        pipeline.snapshot_ready.connect(self.offer, Qt.ConnectionType.DirectConnection)
        pipeline.alarms_ready.connect(self.offer_alarms, Qt.ConnectionType.DirectConnection)

    @Slot(object)
    def offer(self, snap: LiveSnapshot) -> None:
        """Hand a scan over (any thread; a lock and a swap, never waits for inference)."""
        t = snap.t_acquired
        last = self._last_offered
        if last is not None and self.min_interval_s > 0 and \
                0 <= (t - last).total_seconds() < self.min_interval_s:
            self.decimated += 1
            return
        self._last_offered = t
        self.offered += 1
        if self._box.put(snap) and self._running:
            self._wake.emit()

    @Slot(object)
    def offer_alarms(self, view: AlarmView) -> None:
        self.engine.note_alarms(view)

    def set_models(self, models: Sequence[AnomalyModel], names: Sequence[str] | None = None
                   ) -> tuple[ModelStatus, ...]:
        """Replace the models (checked now; in effect from the next processed scan)."""
        status = self.engine.set_models(models, names)
        self.models_changed.emit(status)
        return status

    @property
    def skipped(self) -> int:
        return self.engine.skipped

    # ------------------------------------------------------------------ output
    @Slot(object)
    def _on_ready(self, out: AnalyticsSnapshot) -> None:
        self.last = out
        self.analytics_ready.emit(out)

    def _box_pending(self) -> bool:
        with self._box._lock:
            return self._box._snap is not None

    # ------------------------------------------------------------------ lifetime
    def start(self) -> None:
        if not self._thread.isRunning():
            self._thread.start()
        self._running = True
        if self._box_pending():
            self._wake.emit()

    def stop(self, timeout_ms: int = 8000) -> bool:
        self._running = False
        ok = stop_thread(self._thread, timeout_ms)
        if not ok:
            log.error("the inference thread did not stop within %d ms", timeout_ms)
        return ok
