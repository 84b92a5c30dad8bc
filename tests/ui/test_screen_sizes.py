"""Every screen size: the live HMI at 1366×768, 1920×1080 and 3840×2160 (and a 4K screen at
200 %), with a fault staged; screenshots written to tmp; nothing cut off, the window no
larger than its screen, diagram text readable or decluttered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QImage

from app.field.sim.plant import PlantSimulator
from app.runtime.sources import PlantFrameSource
from app.ui.main_window import MainWindow
from app.ui.screenshots import capture, stage_faults
from app.ui.sld.view import MIN_TEXT_PT

from .conftest import T0

ROOT = Path(__file__).resolve().parents[2]


def _inside(win: MainWindow, w) -> bool:  # noqa: ANN001
    """The widget is entirely inside the window (not cut off at its edge)."""
    top_left = w.mapTo(win, QPoint(0, 0))
    return QRect(QPoint(0, 0), win.size()).contains(QRect(top_left, w.size()))


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080), (3840, 2160)])
def test_the_hmi_at_each_screen_size(make_hmi, station, qtbot, tmp_path, monkeypatch, size):
    w, h = size
    screen = QRect(0, 0, w, h - 40)  # a task bar
    monkeypatch.setattr(MainWindow, "_available", lambda self: screen)
    plant = PlantSimulator(station, seed=2, start=T0, tick_s=0.1)
    hmi = make_hmi(PlantFrameSource(plant), control=False, size=(w + 200, h + 200))
    win = hmi.win
    win.fit_to_screen()
    assert win.width() <= w and win.height() <= h - 40  # never larger than the screen
    # The faults after the first scan: a breaker already open in the alarm engine's first
    # scan is a state, not an uncommanded opening (the test raced the pipeline's start).
    qtbot.waitUntil(lambda: win.last_snapshot is not None, timeout=30_000)
    stage_faults(plant)
    qtbot.waitUntil(lambda: "ICT2H_Q0" in win.sld.trip_flags, timeout=30_000)
    qtbot.waitUntil(lambda: win.sld.items_by_asset["F3_Q0"].state_name == "invalid",
                    timeout=30_000)
    # The clock and the trend export are on screen, not cut off.
    assert _inside(win, win.status.clock_label)
    from PySide6.QtWidgets import QPushButton

    export = next(b for b in win.trends.findChildren(QPushButton) if "CSV" in b.text())
    assert _inside(win, export)
    # Diagram text is either readable or hidden, at whatever the fit gives on this screen.
    sld = win.sld
    for t, size_pt in sld._labels:
        if t.isVisible():
            assert sld.text_pt(size_pt) * t.scale() >= MIN_TEXT_PT - 1e-6
    assert sld.markers and all(m.isVisible() for m in sld.markers.values())
    out = capture(win, tmp_path / f"hmi-{w}x{h}.png")
    img = QImage(str(out))
    assert (img.width(), img.height()) == (win.width(), win.height())
    win.activate_alarm("ICT2H_Q0")
    assert win.display == "bay:ICT2H"
    capture(win, tmp_path / f"bay-{w}x{h}.png")


def test_a_4k_screen_at_200_percent(tmp_path):
    """Under QT_SCALE_FACTOR=2 the window is 3840×2160 device pixels with the 1920×1080
    layout: the fonts and docks scale with it."""
    out = tmp_path / "hmi-4k.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR="2",
               PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "app.ui.screenshots", str(out), "--size",
                        "1920x1080", "--settle", "6"], env=env, capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    img = QImage(str(out))
    assert (img.width(), img.height()) == (3840, 2160)
