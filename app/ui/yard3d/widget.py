"""The 3D switchyard dock.

VTK crashes (no exception) where there is no OpenGL, and pyvistaqt's QtInteractor is blank on
Qt's offscreen platform, so the view decides in child processes, once per process:

* a real display with OpenGL → the live, interactive view (pyvistaqt), states recoloured in
  place, click to select (the same device is selected on the diagram, and vice versa);
* no display but off-screen rendering works (EGL) → a static render, re-rendered in a child
  process at most every few seconds when states change, with a caption saying so;
* neither → a clear "3D view unavailable" panel with the reason.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QProcess, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.field import quality as Q
from app.field.points import POS_CLOSED, POS_INTERMEDIATE, POS_OPEN, PointTable
from app.runtime.snapshot import LiveSnapshot
from app.station import Station

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[3]
_PROBE: tuple[str, str] | None = None

_LIVE_PROBE = """
import pyvista as pv
pv.global_theme.multi_samples = 0
pl = pv.Plotter(off_screen=False, window_size=(64, 64))
pl.add_mesh(pv.Sphere())
pl.show(auto_close=False, interactive=False)
print(pl.ren_win.ReportCapabilities().splitlines()[0] if hasattr(pl, 'ren_win') else 'ok')
pl.close()
"""


def probe(timeout_s: float = 60.0) -> tuple[str, str]:
    """("live" | "static" | "none", reason), decided in child processes, cached."""
    global _PROBE
    if _PROBE is not None:
        return _PROBE
    platform = QGuiApplication.platformName() if QGuiApplication.instance() else ""
    env = {**os.environ}
    if platform not in ("offscreen", "minimal", "") and os.environ.get("DISPLAY"):
        r = subprocess.run([sys.executable, "-c", _LIVE_PROBE], capture_output=True,
                           text=True, timeout=timeout_s, cwd=ROOT, env=env)
        if r.returncode == 0:
            _PROBE = ("live", "OpenGL on the display")
            return _PROBE
        reason = f"no OpenGL on the display (probe exit {r.returncode})"
    else:
        reason = f"Qt platform '{platform or 'none'}' has no OpenGL window"
    out = Path(tempfile.gettempdir()) / f"gridtwin-yard-probe-{os.getpid()}.png"
    r = subprocess.run([sys.executable, "-m", "app.ui.yard3d.render", str(out)],
                       capture_output=True, text=True, timeout=timeout_s, cwd=ROOT,
                       env={**env, "VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow"})
    if r.returncode == 0 and out.exists():
        _PROBE = ("static", reason)
    else:
        _PROBE = ("none", f"{reason}; off-screen rendering failed too "
                          f"(exit {r.returncode})")
    out.unlink(missing_ok=True)
    return _PROBE


def device_colours(scene, points: PointTable, snap: LiveSnapshot,  # noqa: ANN001
                   selected: str | None = None) -> tuple[np.ndarray, list[bool]]:
    """Per-device colours and per-busbar energisation for a snapshot (Qt-free logic)."""
    from app.ui.yard3d import scene as S

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

    def __init__(self, station: Station, points: PointTable, mode: str, reason: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station, self.points, self.mode, self.reason = station, points, mode, reason
        self.selected: str | None = None
        self._last: LiveSnapshot | None = None
        self._last_cols: np.ndarray | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        if mode == "live":
            import pyvista as pv
            from pyvistaqt import QtInteractor

            from app.ui.yard3d.scene import YardScene, add

            pv.global_theme.multi_samples = 0
            self.scene = YardScene(station)
            self.plotter = QtInteractor(self)
            add(self.plotter, self.scene)
            self.plotter.enable_point_picking(self._picked, show_message=False,
                                              show_point=False, left_clicking=True)
            lay.addWidget(self.plotter.interactor)
            self.caption.setText("3D switchyard — drag to orbit, wheel to zoom, click to select")
        elif mode == "static":
            from app.ui.yard3d.scene import YardScene

            self.scene = YardScene(station)
            self.image = QLabel("rendering the switchyard…")
            self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.image.setMinimumSize(320, 200)
            lay.addWidget(self.image, 1)
            self.caption.setText(f"Static render — live 3D needs OpenGL ({reason}).")
            self._proc: QProcess | None = None
            self._out = Path(tempfile.gettempdir()) / f"gridtwin-yard-{os.getpid()}.png"
            self._state = Path(tempfile.gettempdir()) / f"gridtwin-yard-{os.getpid()}.npz"
            self._pending = True
            self._timer = QTimer(self)
            self._timer.timeout.connect(self._maybe_render)
            self._timer.start(5000)
            QTimer.singleShot(0, self._maybe_render)
        else:
            self.scene = None
            self.caption.setText(f"3D view unavailable: {reason}")
            self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.caption)

    # ------------------------------------------------------------------ data
    @Slot(object)
    def update_snapshot(self, snap: LiveSnapshot) -> None:
        self._last = snap
        if self.scene is None:
            return
        cols, live = device_colours(self.scene, self.points, snap, self.selected)
        changed = self._last_cols is None or not np.array_equal(cols, self._last_cols)
        self._last_cols = cols
        if not changed:
            return
        self.scene.apply(cols, live)
        if self.mode == "live":
            self.plotter.render()
        else:
            self._pending = True

    # ------------------------------------------------------------------ static rendering
    def _maybe_render(self) -> None:
        if not self._pending or (self._proc is not None and
                                 self._proc.state() != QProcess.ProcessState.NotRunning):
            return
        self._pending = False
        if self._last_cols is not None:
            np.savez(self._state, colours=self.scene.colours,
                     bus_live=np.array(self._bus_live(), dtype=bool))
            args = ["-m", "app.ui.yard3d.render", str(self._out), str(self._state)]
        else:
            args = ["-m", "app.ui.yard3d.render", str(self._out)]
        self._proc = QProcess(self)
        self._proc.setWorkingDirectory(str(ROOT))
        env = self._proc.processEnvironment()
        env.insert("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
        self._proc.setProcessEnvironment(env)
        self._proc.finished.connect(self._rendered)
        self._proc.start(sys.executable, args)

    def _bus_live(self) -> list[bool]:
        if self._last is None:
            return [True] * len(self.scene.bus_assets)
        return device_colours(self.scene, self.points, self._last, self.selected)[1]

    def _rendered(self, code: int, _status) -> None:  # noqa: ANN001
        if code == 0 and self._out.exists():
            pix = QPixmap(str(self._out))
            self.image.setPixmap(pix.scaled(self.image.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
        else:
            self.caption.setText(f"3D view unavailable: the off-screen render failed ({code})")

    def rendering(self) -> bool:
        return self.mode == "static" and self._proc is not None and \
            self._proc.state() != QProcess.ProcessState.NotRunning

    # ------------------------------------------------------------------ selection
    def _picked(self, point) -> None:  # noqa: ANN001
        a = self.scene.nearest(tuple(point))
        if a:
            self.select_device(a)
            self.device_selected.emit(a)

    @Slot(str)
    def select_device(self, asset_id: str) -> None:
        if self.scene is None or asset_id not in self.scene.index or asset_id == self.selected:
            return
        self.selected = asset_id
        if self._last is not None:
            self._last_cols = None
            self.update_snapshot(self._last)

    def closeEvent(self, e) -> None:  # noqa: N802, ANN001
        if self.mode == "live":
            self.plotter.close()
        if self.mode == "static" and self._proc is not None:
            self._proc.kill()
            self._proc.waitForFinished(3000)
        super().closeEvent(e)


def create_yard_view(station: Station, points: PointTable,
                     parent: QWidget | None = None) -> Yard3DView:
    mode, reason = probe()
    log.info("3D view: %s (%s)", mode, reason)
    return Yard3DView(station, points, mode, reason, parent)
