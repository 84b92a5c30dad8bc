"""The live 3D switchyard on a real X server with OpenGL (Mesa under Xvfb).

Run by ``make test`` in its own pass under ``xvfb-run`` (``-m xvfb``); skipped on Qt's offscreen
platform, where QtInteractor cannot draw.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest

from .conftest import snapshot_of

pytestmark = pytest.mark.xvfb


@pytest.fixture
def live_window(qtbot, station, plant, tmp_path):
    if QGuiApplication.platformName() != "xcb" or not os.environ.get("DISPLAY"):
        pytest.skip("needs a real X server (make test runs this under xvfb-run)")
    from PySide6.QtCore import QSettings

    from app.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "hmi.ini"), QSettings.Format.IniFormat)
    win = MainWindow(station, plant.points, settings=settings, yard3d=True)
    qtbot.addWidget(win)
    win.resize(1600, 950)
    win.show()
    win.docks["3D switchyard"].show()
    win.docks["3D switchyard"].raise_()
    qtbot.waitUntil(lambda: win.yard.mode != "probing", timeout=180_000)
    assert win.yard.mode == "live", win.yard.reason
    feed(win, snapshot_of(plant))
    win.yard.overview()
    qtbot.waitUntil(win.yard.settled, timeout=120_000)
    yield win, plant
    win.close()


def feed(win, snap) -> None:  # noqa: ANN001
    """What the pipeline's snapshot signal does for the two views this test looks at."""
    win.sld.update_snapshot(snap)
    win.yard.update_snapshot(snap)


def _frame(view) -> np.ndarray:  # noqa: ANN001
    view.plotter.render()
    return np.asarray(view.plotter.screenshot(return_img=True))


def _screen_xy(view, asset_id: str) -> QPoint:  # noqa: ANN001
    """Where a device's centre appears in the interactor widget (Qt logical pixels)."""
    p = next(x for x in view.scene.placed if x.asset == asset_id)
    ren = view.plotter.renderer
    ren.SetWorldPoint(p.x, p.y, 3.0, 1.0)
    ren.WorldToDisplay()
    x, y, _ = ren.GetDisplayPoint()
    ratio = view.plotter.interactor.devicePixelRatioF()
    h = view.plotter.interactor.height() * ratio
    return QPoint(int(x / ratio), int((h - y) / ratio))


def test_live_3d_view_renders_the_yard(live_window):
    win, _ = live_window
    img = _frame(win.yard)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    # Not a blank or single-colour frame: the yard's equipment is drawn.
    flat = img.reshape(-1, img.shape[2])[:, :3]
    assert len(np.unique(flat // 16, axis=0)) > 8
    assert flat.std() > 10


def test_breaker_opened_recolours_the_3d_view(live_window):
    win, plant = live_window
    from app.ui.yard3d import layout as L
    from app.ui.yard3d import scene as S

    sc = win.yard.scene
    k = sc.index["F1_Q0"]
    assert (win.yard.state.part[k] == L.CLOSED).all()
    plant.operate("F1_Q0", False)
    feed(win, snapshot_of(plant))
    assert (win.yard.state.part[k] == L.OPEN).all()
    head = (sc.device_of_cell == k) & (sc.part_of_cell == S.PART)
    assert (sc.devices.cell_data["rgb"][head] == L.OPEN).all()


def _view(win, alarms) -> None:  # noqa: ANN001
    from app.alarms.engine import AlarmView
    from app.station import clock

    win.yard.alarm_markers(AlarmView(time=clock.now(), rows=tuple(alarms), transitions=(),
                                     counts={}, by_priority={}, flood=False, new_in_window=0))


def test_alarms_show_markers_and_a_trip_flag(live_window):
    from app.alarms.engine import AlarmState
    from app.ui.yard3d import layout as L

    from .test_yard3d import row

    win, _ = live_window
    view = win.yard
    red = L.PRIORITY[1].astype(int)

    def reds() -> int:
        img = _frame(view)[:, :, :3].astype(int)
        return int((np.abs(img - red).sum(axis=2) < 30).sum())

    assert reds() == 0 and "markers1-labels" not in view.plotter.actors
    _view(win, [row("ICT1", "analog", 1, tag="ICT1.LOADING"), row("TR2H_Q0", "trip", 1)])
    assert "markers1-labels" in view.plotter.actors and "trips-labels" in view.plotter.actors
    assert (view.state.body[view.scene.index["ICT1"]] == L.PRIORITY[1]).all()
    assert reds() > 200
    _view(win, [row("ICT1", "analog", 1, tag="ICT1.LOADING"),
                row("TR2H_Q0", "trip", 1, AlarmState.ACKED)])
    assert "trips-labels" not in view.plotter.actors and "markers1-labels" in view.plotter.actors
    _view(win, [])
    assert "markers1-labels" not in view.plotter.actors and reds() == 0


def test_selection_follows_between_3d_and_diagram(live_window, qtbot):
    win, _ = live_window
    view = win.yard
    # Diagram → 3D: the device the operator clicks is boxed in the yard, the camera flies to
    # its bay.
    win.sld.items_by_asset["ICT1"].setSelected(True)
    assert view.selected == "ICT1" and view.highlighted == "ICT1"
    assert view.focus_bay == "ICT1H" and "selection" in view.plotter.actors
    qtbot.waitUntil(view.settled, timeout=120_000)
    focal, _pos = view.camera()
    assert np.allclose(focal, view.scene.bay_view("ICT1H")[0])
    # The alarm list's selection (a relay's alarm) selects that bay's breaker here.
    win.alarms.alarm_selected.emit("F3_21")
    assert view.highlighted == "F3_Q0" and view.focus_bay == "F3"
    # 3D → diagram: a click on a device in the yard selects it on the diagram.
    view.overview()
    qtbot.waitUntil(view.settled, timeout=120_000)
    target = "ICT2"
    pos = _screen_xy(view, target)
    widget = view.plotter.interactor
    assert widget.rect().contains(pos), (pos, widget.rect())
    with qtbot.waitSignal(view.device_selected, timeout=10_000) as sig:
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    assert sig.args == [target]
    assert win.sld.items_by_asset[target].isSelected()
    assert view.highlighted == target


def test_yard_screenshot_at_full_hd(live_window, qtbot, tmp_path):
    """A frame an operator would look at: the whole yard with an overload and a trip."""
    from app.ui.yard3d import layout as L

    from .test_yard3d import row

    win, plant = live_window
    plant.operate("TR2H_Q0", False)
    feed(win, snapshot_of(plant))
    _view(win, [row("ICT1", "analog", 1, tag="ICT1.LOADING"), row("TR2H_Q0", "trip", 1),
                row("F3_21", "protection", 2)])
    win.yard.select_device("F2_Q0")
    qtbot.waitUntil(win.yard.settled, timeout=120_000)
    win.yard.overview()
    qtbot.waitUntil(win.yard.settled, timeout=120_000)
    img = _frame(win.yard)
    win.yard.plotter.screenshot(str(tmp_path / "yard.png"))
    if os.environ.get("GRIDTWIN_SHOT_DIR"):  # the README's picture: make shots
        win.yard.plotter.screenshot(os.path.join(os.environ["GRIDTWIN_SHOT_DIR"], "yard3d.png"))
    assert (tmp_path / "yard.png").stat().st_size > 10_000
    orange = L.PRIORITY[2].astype(int)
    assert (np.abs(img[:, :, :3].astype(int) - orange).sum(axis=2) < 30).sum() > 50
