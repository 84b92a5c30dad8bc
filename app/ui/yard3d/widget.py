"""The 3D switchyard dock.

VTK crashes (no exception) where there is no OpenGL, and pyvistaqt's QtInteractor is blank on
Qt's offscreen platform, so the view decides in child processes, once per process, without
ever blocking the GUI thread (the probe takes seconds: it starts VTK):

* a real display with OpenGL → the live, interactive view (pyvistaqt), states recoloured in
  place, click to select (the same device is selected on the diagram, and vice versa);
* no display but off-screen rendering works (EGL) → a static render, re-rendered in a child
  process at most every few seconds when states change, with a caption saying so;
* neither → a clear "3D view unavailable" panel with the reason.

Until the probe answers the dock says so ("checking for OpenGL…"); snapshots and selections
that arrive meanwhile are kept and applied when the view is built.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QProcess, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QGuiApplication, QPixmap, QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.field.lifeline import child_env
from app.runtime.snapshot import LiveSnapshot
from app.scratch import scratch_file
from app.station import Station
from app.station import quality as Q
from app.station.points import POS_CLOSED, POS_INTERMEDIATE, POS_OPEN, PointTable
from app.ui.perf import timed
from app.ui.yard3d.layout import YardModel

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[3]
PROBE_TIMEOUT_MS = 60_000
PYTHON = sys.executable  # the interpreter that runs the probes and renders
_PROBE: tuple[str, str] | None = None  # decided once per process

_LIVE_PROBE = """
import pyvista as pv
pv.global_theme.multi_samples = 0
pl = pv.Plotter(off_screen=False, window_size=(64, 64))
pl.add_mesh(pv.Sphere())
pl.show(auto_close=False, interactive=False)
print(pl.ren_win.ReportCapabilities().splitlines()[0] if hasattr(pl, 'ren_win') else 'ok')
pl.close()
"""


class YardProbe(QObject):
    """Finds out, in child processes, which 3D view this display allows; emits
    ``done(mode, reason)`` with mode "live", "static" or "none". The answer is cached for the
    process, so only the first view waits."""

    done = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._proc: QProcess | None = None
        self._reason = ""
        self._out = scratch_file("yard-probe.png")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._timed_out)

    def start(self) -> None:
        if _PROBE is not None:
            QTimer.singleShot(0, lambda: self.done.emit(*_PROBE))
            return
        platform = QGuiApplication.platformName() if QGuiApplication.instance() else ""
        if platform not in ("offscreen", "minimal", "") and os.environ.get("DISPLAY"):
            self._run("live", ["-c", _LIVE_PROBE], {})
        else:
            self._reason = f"Qt platform '{platform or 'none'}' has no OpenGL window"
            self._static()

    def _static(self) -> None:
        self._run("static", ["-m", "app.ui.yard3d.render", str(self._out)],
                  {"VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow"})

    def _run(self, step: str, args: list[str], env: dict[str, str]) -> None:
        self._step = step
        self._proc = QProcess(self)
        self._proc.setWorkingDirectory(str(ROOT))
        pe = self._proc.processEnvironment()
        for k, v in child_env(env).items():
            pe.insert(k, v)
        self._proc.setProcessEnvironment(pe)
        self._proc.finished.connect(self._finished)
        self._proc.errorOccurred.connect(self._error)
        self._proc.start(PYTHON, args)
        self._timer.start(PROBE_TIMEOUT_MS)

    def _error(self, err: QProcess.ProcessError) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            self._finished(-1, None)

    def _timed_out(self) -> None:
        if self._proc is not None:
            self._proc.kill()  # finished() follows, with a failure code

    def _finished(self, code: int, _status: QProcess.ExitStatus | None) -> None:
        self._timer.stop()
        ok = code == 0 and (self._step == "live" or self._out.exists())
        if self._step == "live":
            if ok:
                return self._decide("live", "OpenGL on the display")
            self._reason = f"no OpenGL on the display (probe exit {code})"
            return self._static()
        self._out.unlink(missing_ok=True)
        if ok:
            return self._decide("static", self._reason)
        self._decide("none", f"{self._reason}; off-screen rendering failed too (exit {code})")

    def _decide(self, mode: str, reason: str) -> None:
        global _PROBE
        _PROBE = (mode, reason)
        log.info("3D view: %s (%s)", mode, reason)
        self.done.emit(mode, reason)

    def stop(self) -> None:
        self._timer.stop()
        if self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning:
            self._proc.finished.disconnect(self._finished)
            self._proc.kill()
            self._proc.waitForFinished(3000)


def device_colours(scene: YardModel, points: PointTable, snap: LiveSnapshot,
                   selected: str | None = None) -> tuple[np.ndarray, list[bool]]:
    """Per-device colours and per-busbar energisation for a snapshot (Qt-free logic)."""
    from app.ui.yard3d import layout as S

    f = snap.frame
    good = (f.quality & Q.VALIDITY_MASK) == Q.GOOD
    cols = np.tile(S.CLOSED, (len(scene.asset_ids), 1))
    for k, a in enumerate(scene.asset_ids):
        row = points.index.get(f"{a}.POS")
        if row is not None:
            if not good[row]:
                cols[k] = S.INVALID
            else:
                pos = int(round(float(f.values[row])))
                cols[k] = {POS_CLOSED: S.CLOSED, POS_OPEN: S.OPEN,
                           POS_INTERMEDIATE: S.TRAVEL}.get(pos, S.TRAVEL)
        if a == selected:
            cols[k] = S.SELECTED
    live = []
    tw = snap.twin
    for asset, _kv in scene.bus_assets:
        a = scene.station.asset(asset)
        live.append(bool(tw.bus(a.bus).energised) if tw is not None and a.bus else True)
    return cols, live


class Yard3DView(QWidget):
    device_selected = Signal(str)
    #: the view has been built (live, static or none) after the probe
    ready = Signal(str)

    def __init__(self, station: Station, points: PointTable, mode: str | None = None,
                 reason: str = "", parent: QWidget | None = None) -> None:
        """``mode`` None: probe asynchronously (the normal case); a given mode is used as is
        (tests)."""
        super().__init__(parent)
        self.station, self.points = station, points
        self.mode, self.reason = "probing", ""
        self.selected: str | None = None
        self.scene = None
        self._last: LiveSnapshot | None = None
        self._last_cols: np.ndarray | None = None
        self._proc: QProcess | None = None
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel("3D switchyard: checking for OpenGL…")
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._lay.addWidget(self.caption, 1)
        self._probe: YardProbe | None = None
        if mode is None:
            self._probe = YardProbe(self)
            self._probe.done.connect(self._become)
            self._probe.start()
        else:
            self._become(mode, reason)

    @Slot(str, str)
    def _become(self, mode: str, reason: str) -> None:
        self.mode, self.reason = mode, reason
        lay = self._lay
        lay.removeWidget(self.caption)
        if mode == "live":
            import pyvista as pv
            from pyvistaqt import QtInteractor

            from app.ui.yard3d.scene import YardScene, add

            pv.global_theme.multi_samples = 0
            self.scene = YardScene(self.station)
            self.plotter = QtInteractor(self)
            add(self.plotter, self.scene)
            self.plotter.enable_point_picking(self._picked, show_message=False,
                                              show_point=False, left_clicking=True)
            lay.addWidget(self.plotter.interactor, 1)
            self.caption.setText("3D switchyard — drag to orbit, wheel to zoom, click to select")
        elif mode == "static":
            self.scene = YardModel(self.station)  # states only: the child process draws
            self.colours: np.ndarray | None = None
            self.image = QLabel("rendering the switchyard…")
            self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.image.setMinimumSize(320, 200)
            lay.addWidget(self.image, 1)
            self.caption.setText(f"Static render — live 3D needs OpenGL ({reason}).")
            self._out = scratch_file(f"yard-{id(self):x}.png")
            self._state = self._out.with_suffix(".npz")
            # The first render waits for the first snapshot (or 3 s): a render costs a child
            # process seconds of CPU, and one without states would be redone at once.
            self._pending = True
            self._timer = QTimer(self)
            self._timer.timeout.connect(self._maybe_render)
            self._timer.start(5000)
            QTimer.singleShot(3000, self._maybe_render)
        else:
            self.caption.setText(f"3D view unavailable: {reason}")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignLeft if mode != "none"
                                  else Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.caption, 0 if mode != "none" else 1)
        if self._last is not None:
            self.update_snapshot(self._last)
        self.ready.emit(mode)

    # ------------------------------------------------------------------ data
    @Slot(object)
    @timed("3d")
    def update_snapshot(self, snap: LiveSnapshot) -> None:
        self._last = snap
        if self.scene is None or not self.isVisible():
            return  # hidden (a tab behind another): coloured when shown (showEvent)
        cols, live = device_colours(self.scene, self.points, snap, self.selected)
        changed = self._last_cols is None or not np.array_equal(cols, self._last_cols)
        self._last_cols = cols
        if not changed:
            return
        if self.mode == "live":
            self.scene.apply(cols, live)
            self.plotter.render()
        else:
            self.colours = cols
            self._pending = True
            if self._proc is None:  # the first snapshot: render now, not in 5 s
                self._maybe_render()

    # ------------------------------------------------------------------ static rendering
    def _maybe_render(self) -> None:
        if not self._pending or (self._proc is not None and
                                 self._proc.state() != QProcess.ProcessState.NotRunning):
            return
        self._pending = False
        if self._last_cols is not None:
            np.savez(self._state, colours=self.colours,
                     bus_live=np.array(self._bus_live(), dtype=bool))
            args = ["-m", "app.ui.yard3d.render", str(self._out), str(self._state)]
        else:
            args = ["-m", "app.ui.yard3d.render", str(self._out)]
        self._proc = QProcess(self)
        self._proc.setWorkingDirectory(str(ROOT))
        env = self._proc.processEnvironment()
        for k, v in child_env({"VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow"}).items():
            env.insert(k, v)
        self._proc.setProcessEnvironment(env)
        self._proc.finished.connect(self._rendered)
        self._proc.start(PYTHON, args)

    def _bus_live(self) -> list[bool]:
        if self._last is None:
            return [True] * len(self.scene.bus_assets)
        return device_colours(self.scene, self.points, self._last, self.selected)[1]

    def _rendered(self, code: int, _status: QProcess.ExitStatus) -> None:
        if code == 0 and self._out.exists():
            pix = QPixmap(str(self._out))
            self.image.setPixmap(pix.scaled(self.image.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
        else:
            self.caption.setText(f"3D view unavailable: the off-screen render failed ({code})")

    def rendering(self) -> bool:
        return self.mode == "static" and self._proc is not None and \
            self._proc.state() != QProcess.ProcessState.NotRunning

    def settled(self) -> bool:
        """The view shows the newest states: live, or a static render done and none due."""
        if self.mode == "probing":
            return False
        return self.mode != "static" or (not self.rendering() and not self._pending
                                         and self._proc is not None)

    # ------------------------------------------------------------------ selection
    def _picked(self, point: Sequence[float]) -> None:
        """A point the user picked in the 3D view (x, y, z)."""
        a = self.scene.nearest(tuple(point))
        if a:
            self.select_device(a)
            self.device_selected.emit(a)

    @Slot(str)
    def select_device(self, asset_id: str) -> None:
        if asset_id == self.selected:
            return
        if self.scene is None:
            if self.mode == "probing":
                self.selected = asset_id  # applied once the view is built
            return
        if asset_id not in self.scene.index:
            return
        self.selected = asset_id
        if self._last is not None:
            self._last_cols = None
            self.update_snapshot(self._last)

    def showEvent(self, e: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(e)
        if self._last is not None:
            self.update_snapshot(self._last)

    def closeEvent(self, e: QCloseEvent) -> None:  # noqa: N802
        if self._probe is not None:
            self._probe.stop()
        if self.mode == "live":
            self.plotter.close()
        if self.mode == "static" and self._proc is not None:
            self._proc.kill()
            self._proc.waitForFinished(3000)
        super().closeEvent(e)


def create_yard_view(station: Station, points: PointTable,
                     parent: QWidget | None = None) -> Yard3DView:
    """The 3D dock; it probes OpenGL in the background and builds itself when it knows."""
    return Yard3DView(station, points, parent=parent)
