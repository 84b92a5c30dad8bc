"""Screenshots of the live HMI with a fault staged, at a chosen screen size.

``python -m app.ui.screenshots OUT.png --size 1366x768`` builds the HMI as ``gridtwin run``
does (compose, then assemble) on the plant simulator in-process, stages the faults an
operator must see at a glance — a breaker that opened without a command (a trip), the ICT
overload it leaves behind, a bay whose communication is lost — lets the alarms settle and saves the window.
For a 4K screen run it with ``QT_SCALE_FACTOR=2`` and ``--size 1920x1080`` (the window is
then 3840×2160 device pixels, as a 4K monitor at 200 % shows it). The README's screenshots
are made this way; the tests call :func:`capture` on their own HMI.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.field.sim.plant import PlantSimulator
    from app.ui.main_window import MainWindow

log = logging.getLogger(__name__)

#: The faults staged: (what, how). Each must be obvious on the overview without reading.
FAULTS = ("ICT2H_Q0 opened without a command (a trip)",
          "ICT1 overloaded: it carries both ICTs' load, doubled",
          "bay F3 communication lost")


def stage_faults(plant: PlantSimulator) -> None:
    """A trip, the overload it leaves on the other ICT, and a lost bay (in-process plant)."""
    plant.inject("transformer_overload", asset="ICT1", factor=2.0)
    plant.operate("ICT2H_Q0", False)
    plant.inject("comm_lost", device="F3")


def capture(win: MainWindow, path: str | Path) -> Path:
    """Save the window as it is (device pixels) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not win.grab().save(str(path)):
        raise OSError(f"{path}: could not write the screenshot")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m app.ui.screenshots")
    ap.add_argument("out")
    ap.add_argument("--size", default="1920x1080", help="window size WxH (logical pixels)")
    ap.add_argument("--settle", type=float, default=12.0, help="seconds of scans before")
    ap.add_argument("--bay", help="show this bay's display (and its breaker's faceplate)")
    args = ap.parse_args(argv)
    try:
        w, h = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        print(f"gridtwin: --size: expected WxH, got {args.size!r}", file=sys.stderr)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.field.sim.plant import PlantSimulator
    from app.runtime.compose import FieldSpec, compose
    from app.runtime.sources import PlantFrameSource
    from app.station import clock, load_station
    from app.station.points import build_point_table
    from app.ui import theme
    from app.ui.app import assemble

    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.apply(app)
    station = load_station()
    points = build_point_table(station)
    plant = PlantSimulator(station, seed=2, start=clock.now(), tick_s=0.2)
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "hmi.ini"), QSettings.Format.IniFormat)
        rt = compose(station, points, field=FieldSpec(source=PlantFrameSource(plant, 0.2)))
        hmi = assemble(rt, settings=settings, yard3d=False, control=False)
        try:
            hmi.win.resize(w, h)
            hmi.start()
            QTimer.singleShot(2000, lambda: stage_faults(plant))
            if args.bay:
                QTimer.singleShot(int(args.settle * 1000) - 1500,
                                  lambda: hmi.win.open_bay(args.bay, f"{args.bay}_Q0"))
            saved: list[Path] = []

            def shoot() -> None:  # before quitting: quit() closes the windows first
                saved.append(capture(hmi.win, args.out))
                app.quit()

            QTimer.singleShot(int(args.settle * 1000), shoot)
            app.exec()
            size = hmi.win.size() * hmi.win.devicePixelRatio()
            print(f"screenshot saved to {saved[0]} ({size.width()}×{size.height()} px)")
        finally:
            hmi.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
