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
    qtbot.waitUntil(lambda: win.yard.mode != "probing", timeout=90_000)
    assert win.yard.mode == "live", win.yard.reason
    feed(win, snapshot_of(plant))
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
    from app.ui.yard3d import layout as S

    k = win.yard.scene.index["F1_Q0"]
    assert (win.yard.scene.colours[k] == S.CLOSED).all()
    plant.operate("F1_Q0", False)
    feed(win, snapshot_of(plant))
    assert (win.yard.scene.colours[k] == S.OPEN).all()


def test_selection_follows_between_3d_and_diagram(live_window, qtbot):
    win, _ = live_window
    from app.ui.yard3d import layout as S

    # Diagram → 3D: the device the operator clicks is highlighted in the yard.
    win.sld.items_by_asset["ICT1"].setSelected(True)
    assert win.yard.selected == "ICT1"
    assert (win.yard.scene.colours[win.yard.scene.index["ICT1"]] == S.SELECTED).all()
    # 3D → diagram: a click on a device in the yard selects it on the diagram.
    target = "ICT2"
    pos = _screen_xy(win.yard, target)
    widget = win.yard.plotter.interactor
    assert widget.rect().contains(pos), (pos, widget.rect())
    with qtbot.waitSignal(win.yard.device_selected, timeout=10_000) as sig:
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    assert sig.args == [target]
    assert win.sld.items_by_asset[target].isSelected()
