"""The 3D switchyard dock.

VTK crashes (no exception) where there is no OpenGL, and pyvistaqt's QtInteractor is blank on
Qt's offscreen platform, so the view decides in child processes, once per process, without
ever blocking the GUI thread (the probe takes seconds: it starts VTK):

* a real display with OpenGL → the live, interactive view (pyvistaqt), states and alarms
  recoloured in place, click to select (the same device is selected on the diagram), and a
  device selected elsewhere is highlighted and its bay flown to;
* no display but off-screen rendering works (EGL) → a static render, re-rendered in a child
  process at most every few seconds when states change, with a caption saying so;
* neither → a clear "3D view unavailable" panel with the reason.

Until the probe answers the dock says so ("checking for OpenGL…"); snapshots and selections
that arrive meanwhile are kept and applied when the view is built.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QProcess, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QGuiApplication, QPixmap, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.alarms.engine import AlarmView
from app.field.childproc import python_command
from app.field.lifeline import child_env
from app.runtime.snapshot import LiveSnapshot
from app.scratch import scratch_file
from app.station import Station
from app.station.points import PointTable
from app.ui.perf import timed
from app.ui.yard3d.layout import YardModel
from app.ui.yard3d.state import YardState, yard_state

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[3]
PROBE_TIMEOUT_MS = 120_000  # a loaded machine takes a minute to start VTK
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
        cmd = python_command(*args)  # the interpreter, or the packaged program's child mode
        self._proc.start(cmd[0], cmd[1:])
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


def same_state(a: YardState | None, b: YardState) -> bool:
    """Whether two yard states draw the same picture (nothing to recolour or re-render)."""
    if a is None:
        return False
    return (np.array_equal(a.body, b.body) and np.array_equal(a.part, b.part)
            and np.array_equal(a.blade_open, b.blade_open)
            and np.array_equal(a.bus_live, b.bus_live)
            and np.array_equal(a.seg_live, b.seg_live) and a.markers == b.markers
            and a.selected == b.selected and a.focus_bay == b.focus_bay)


class Yard3DView(QWidget):
    """The 3D yard. Public API: :meth:`update_snapshot` (the pipeline's snapshots),
    :meth:`alarm_markers` (its alarm views), :meth:`select_device` (a device or bay selected
    elsewhere: highlighted and flown to), :meth:`fly_to` / :meth:`overview` (the camera),
    :attr:`device_selected` (a device clicked in the yard), :meth:`settled`, :attr:`mode`,
    :attr:`caption`."""

    device_selected = Signal(str)
    #: the view has been built (live, static or none) after the probe
    ready = Signal(str)
    FLY_S = 0.4
    FLY_STEP_MS = 30

    def __init__(self, station: Station, points: PointTable, mode: str | None = None,
                 reason: str = "", parent: QWidget | None = None) -> None:
        """``mode`` None: probe asynchronously (the normal case); a given mode is used as is
        (tests)."""
        super().__init__(parent)
        self.station, self.points = station, points
        self.mode, self.reason = "probing", ""
        self.selected: str | None = None
        self.focus_bay = ""
        self.scene: YardModel | None = None
        self.state: YardState | None = None  # what is drawn (or due to be rendered)
        self._last: LiveSnapshot | None = None
        self._alarms: AlarmView | None = None
        self._proc: QProcess | None = None
        self._fly: list[tuple[tuple[float, ...], tuple[float, ...]]] = []  # from, to
        self._fly_t0 = 0.0
        self._fly_timer = QTimer(self)
        self._fly_timer.timeout.connect(self._fly_step)
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
            scene = YardScene(self.station)
            self.plotter = QtInteractor(self)  # shows itself: the scene must not be set yet
            add(self.plotter, scene)
            self.scene = scene
            # A cell picker: the first surface the click's ray meets (a point picker takes the
            # mesh vertex nearest the ray, often a dense insulator in front of a big tank).
            self.plotter.enable_point_picking(self._picked, show_message=False,
                                              show_point=False, left_clicking=True,
                                              picker="cell", tolerance=0.001)
            lay.addWidget(self.plotter.interactor, 1)
            self.caption.setText("3D switchyard — drag to orbit, wheel to zoom, click a device"
                                 " to select it; selecting on the diagram flies here")
        elif mode == "static":
            self.scene = YardModel(self.station)  # states only: the child process draws
            self.image = QLabel("rendering the switchyard…")
            self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.image.setMinimumSize(320, 200)
            lay.addWidget(self.image, 1)
            self.caption.setText(f"Static render — live 3D needs OpenGL ({reason}).")
            self._out = scratch_file(f"yard-{id(self):x}.png")
            self._state_file = self._out.with_suffix(".npz")
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
        if mode != "none":
            row = QHBoxLayout()
            row.addWidget(self.caption, 1)
            self.overview_button = QPushButton("Whole yard")
            self.overview_button.setToolTip("Camera back on the whole switchyard")
            self.overview_button.clicked.connect(self.overview)
            row.addWidget(self.overview_button, 0)
            lay.addLayout(row, 0)
        else:
            lay.addWidget(self.caption, 1)
        self._refresh()
        if self.selected is not None and self.scene is not None:
            chosen, self.selected = self.selected, None
            self.select_device(chosen)  # chosen while the probe ran
        self.ready.emit(mode)

    # ------------------------------------------------------------------ data
    @Slot(object)
    @timed("3d")
    def update_snapshot(self, snap: LiveSnapshot) -> None:
        self._last = snap
        self._refresh()

    @Slot(object)
    def alarm_markers(self, view: AlarmView) -> None:
        """The alarm view (the pipeline's alarms_ready): each alarmed device takes its
        priority colour and a marker (priority number), a tripped breaker a TRIP flag until
        the trip is acknowledged; alarms of devices the yard does not draw (relays, bay
        controllers) are marked at their bay."""
        self._alarms = view
        self._refresh()

    def _refresh(self) -> None:
        if self.scene is None or not self.isVisible():
            return  # hidden (a tab behind another): drawn when shown (showEvent)
        st = yard_state(self.scene, self.points, self._last, self._alarms, self.selected,
                        self.focus_bay)
        if same_state(self.state, st):
            return
        self.state = st
        if self.mode == "live":
            from app.ui.yard3d.scene import decorate

            self.scene.apply(st)
            decorate(self.plotter, self.scene, st)
            self.plotter.render()
        elif self.mode == "static":
            self._pending = True
            if self._proc is None and self._last is not None:
                self._maybe_render()  # the first snapshot: render now, not in 5 s

    # ------------------------------------------------------------------ static rendering
    def _maybe_render(self) -> None:
        if not self._pending or (self._proc is not None and
                                 self._proc.state() != QProcess.ProcessState.NotRunning):
            return
        self._pending = False
        args = ["-m", "app.ui.yard3d.render", str(self._out)]
        if self.state is not None:
            self.state.save(self._state_file)
            ratio = self.devicePixelRatioF()
            w = int(min(max(self.image.width() * ratio, 640), 2560))
            h = int(min(max(self.image.height() * ratio, 400), 1600))
            args += [str(self._state_file), f"{w}x{h}"]
        self._proc = QProcess(self)
        self._proc.setWorkingDirectory(str(ROOT))
        env = self._proc.processEnvironment()
        for k, v in child_env({"VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow"}).items():
            env.insert(k, v)
        self._proc.setProcessEnvironment(env)
        self._proc.finished.connect(self._rendered)
        cmd = python_command(*args)
        self._proc.start(cmd[0], cmd[1:])

    def _rendered(self, code: int, _status: QProcess.ExitStatus) -> None:
        if code == 0 and self._out.exists():
            pix = QPixmap(str(self._out))
            pix.setDevicePixelRatio(self.devicePixelRatioF())
            self.image.setPixmap(pix.scaled(
                self.image.size() * self.devicePixelRatioF(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))
        else:
            self.caption.setText(f"3D view unavailable: the off-screen render failed ({code})")

    def rendering(self) -> bool:
        return self.mode == "static" and self._proc is not None and \
            self._proc.state() != QProcess.ProcessState.NotRunning

    def settled(self) -> bool:
        """The view shows the newest states: live (and not flying), or a static render done
        and none due."""
        if self.mode == "probing":
            return False
        if self.mode == "live":
            return not self._fly
        return self.mode != "static" or (not self.rendering() and not self._pending
                                         and self._proc is not None)

    # ------------------------------------------------------------------ selection, camera
    def _picked(self, point: Sequence[float]) -> None:
        """A point the user picked in the 3D view (x, y, z): select there, no camera move."""
        a = self.scene.nearest(tuple(point)) if self.scene is not None else None
        if a and a != self.selected:
            self.selected = a
            self._refresh()
            self.device_selected.emit(a)

    @Slot(str)
    def select_device(self, asset_id: str) -> None:
        """A device (or bay) selected elsewhere — the diagram, the alarm list: highlighted
        here and the camera flown to its bay. An asset the yard does not draw (a relay, a bay
        controller) or a bay id selects the bay's breaker."""
        if self.scene is None:
            if self.mode == "probing":
                self.selected = asset_id  # applied once the view is built
            return
        bay = self.scene.bay_of(asset_id)
        if bay is None:
            return
        if asset_id not in self.scene.index:
            ks = self.scene.bay_devices[bay]
            k = next((j for j in ks if self.scene.placed[j].kind == "breaker"), ks[0])
            asset_id = self.scene.placed[k].asset
        if asset_id == self.selected and bay == self.focus_bay:
            return
        self.selected = asset_id
        self.fly_to(bay)

    @property
    def highlighted(self) -> str | None:
        """The device the yard draws selected (None until drawn)."""
        if self.state is None or self.state.selected < 0 or self.scene is None:
            return None
        return self.scene.placed[self.state.selected].asset

    @Slot(str)
    def fly_to(self, bay: str) -> None:
        """Frame a bay: the camera moves there in a few steps (live), or the next static
        render is of that bay."""
        if self.scene is None or bay not in self.scene.bays:
            return
        self.focus_bay = bay
        self._refresh()
        if self.mode == "live":
            focal, pos = self.scene.bay_view(bay)  # type: ignore[attr-defined]
            self._glide(focal, pos)

    @Slot()
    def overview(self) -> None:
        """The camera back on the whole yard."""
        if self.scene is None:
            return
        self.focus_bay = ""
        self._refresh()
        if self.mode == "live":
            self._glide(*self.scene.overview())  # type: ignore[attr-defined]

    def camera(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """(focal point, position) of the live camera."""
        if self.mode != "live":
            return None
        c = self.plotter.camera
        return tuple(c.focal_point), tuple(c.position)

    def _glide(self, focal: Sequence[float], pos: Sequence[float]) -> None:
        """Move the camera over FLY_S seconds (by the clock, not by frames: on a slow software
        renderer it takes fewer, bigger steps and still arrives on time)."""
        f0, p0 = self.camera()  # type: ignore[misc]
        self._fly = [(tuple(f0), tuple(p0)), (tuple(focal), tuple(pos))]
        self._fly_t0 = time.monotonic()
        self._fly_timer.start(self.FLY_STEP_MS)

    def _fly_step(self) -> None:
        from app.ui.yard3d.scene import set_camera

        if not self._fly or self.mode != "live":
            self._fly_timer.stop()
            self._fly = []
            return
        (f0, p0), (f1, p1) = self._fly
        u = min(1.0, (time.monotonic() - self._fly_t0) / self.FLY_S)
        t = 0.5 - 0.5 * np.cos(np.pi * u)  # ease in and out
        set_camera(self.plotter, tuple(np.add(np.multiply(f0, 1 - t), np.multiply(f1, t))),
                   tuple(np.add(np.multiply(p0, 1 - t), np.multiply(p1, t))))
        self.plotter.render()
        if u >= 1.0:
            self._fly_timer.stop()
            self._fly = []

    def showEvent(self, e: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(e)
        self._refresh()

    def closeEvent(self, e: QCloseEvent) -> None:  # noqa: N802
        self._fly_timer.stop()
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
