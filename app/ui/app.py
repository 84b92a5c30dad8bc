"""``gridtwin run``: start the HMI on the simulated station (or attach to a running one).

By default it starts ``gridtwin field-sim`` as a child process and polls it over Modbus TCP
and IEC 61850 MMS, exactly as it would poll a real station. ``--field HOST:PORT`` attaches to
a station already running (Modbus at that address, MMS at ``--mms``). ``--headless`` runs on
Qt's offscreen platform for ``--duration`` seconds and saves ``--screenshot`` at the end.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--station", help="station file (default: circuits/station.toml)")
    p.add_argument("--field", metavar="HOST:PORT",
                   help="attach to a running station's Modbus RTU instead of starting the "
                        "simulator")
    p.add_argument("--mms", metavar="HOST:PORT",
                   help="its IEC 61850 MMS server (with --field; default: none)")
    p.add_argument("--period", type=float, default=0.1, metavar="S",
                   help="scan period in seconds (0.1-5, default 0.1)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="simulated seconds per wall second for the started simulator")
    p.add_argument("--data-dir", help="where the historian keeps its files "
                                      "(default: $GRIDTWIN_DATA_DIR or the platform data folder)")
    p.add_argument("--db", metavar="URL", help="configuration store URL (postgresql://…)")
    p.add_argument("--no-historian", action="store_true", help="do not record history")
    p.add_argument("--no-3d", action="store_true", help="no 3D switchyard view")
    p.add_argument("--headless", action="store_true",
                   help="run offscreen (no display) for --duration seconds")
    p.add_argument("--duration", type=float, default=10.0, metavar="S",
                   help="with --headless: how long to run (default 10 s)")
    p.add_argument("--screenshot", metavar="FILE.png",
                   help="with --headless: save the main window here at the end")
    p.add_argument("--settings", metavar="FILE.ini", help="keep the window layout in this file")
    p.add_argument("--trend", action="append", default=[], metavar="ASSET.POINT",
                   help="start with this point trended (repeatable)")
    from app.cli_history import add_backend_arguments

    add_backend_arguments(p)  # --retention, --influx …


def run(args: argparse.Namespace) -> int:
    qt_args = sys.argv[:1]
    if args.headless:
        qt_args += ["-platform", "offscreen"]
    if not 0.1 <= args.period <= 5.0:
        print("gridtwin: --period must be between 0.1 and 5 seconds", file=sys.stderr)
        return 2
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.field.points import build_point_table
    from app.runtime.fieldsim import FieldSimError, FieldSimProcess
    from app.runtime.pipeline import Pipeline
    from app.runtime.sources import ProtocolFrameSource
    from app.station import load_station
    from app.ui import theme
    from app.ui.main_window import MainWindow

    station = load_station(args.station)
    points = build_point_table(station)
    app = QApplication.instance() or QApplication(qt_args)
    app.setApplicationName("GridTwin")
    theme.apply(app)

    sim = None
    if args.field:
        from app.field.sim.runner import parse_addr

        modbus = parse_addr(args.field, "--field")
        mms = parse_addr(args.mms, "--mms") if args.mms else None
    else:
        try:
            sim = FieldSimProcess(station=args.station, speed=args.speed).start()
        except FieldSimError as exc:
            print(f"gridtwin: {exc}", file=sys.stderr)
            return 1
        modbus, mms = sim.addresses["modbus"], sim.addresses.get("mms")

    historian = None
    if not args.no_historian:
        historian = _open_historian(station, points, args)
    source = ProtocolFrameSource(points, modbus=modbus, mms=mms, period_s=args.period)
    pipeline = Pipeline(station, points, source, historian,
                        circuit_path=_active_circuit(station, historian, args))
    settings = QSettings(args.settings, QSettings.Format.IniFormat) if args.settings else None
    win = MainWindow(station, points, pipeline=pipeline, settings=settings,
                     yard3d=not args.no_3d)
    if historian is not None:
        _wire_backfill(win, historian)
    for tag in args.trend:
        if not win.trends.add_tag(tag):
            print(f"gridtwin: --trend: no point '{tag}'", file=sys.stderr)
    win.show()
    pipeline.start()
    code = 0
    try:
        if args.headless:
            def finish() -> None:
                if args.screenshot:
                    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
                    win.grab().save(args.screenshot)
                    print(f"screenshot saved to {args.screenshot}")
                win.close()
                app.quit()

            QTimer.singleShot(int(args.duration * 1000), finish)
        code = app.exec()
    finally:
        pipeline.stop()
        if historian is not None:
            historian.close()
        if sim is not None:
            sim.stop()
    return code


def _open_historian(station, points, args):  # noqa: ANN001, ANN202
    try:
        from app.historian import open_historian
    except ImportError:
        log.warning("no historian available: running without history")
        return None
    from app.cli_history import historian_options

    return open_historian(station, points, data_dir=args.data_dir, db_url=args.db,
                          **historian_options(args))


def _active_circuit(station, historian, args):  # noqa: ANN001, ANN202
    """The circuit the twin compiles: the configuration store's active DSS version."""
    if historian is None or historian.engine is None:
        return station.circuit_path
    from app.historian import active_circuit

    return active_circuit(station, historian.engine, data_dir_path=args.data_dir)


def _wire_backfill(win, historian) -> None:  # noqa: ANN001
    from app.runtime.backfill import BackfillService

    win._backfill = BackfillService(historian, win.trends, parent=win)
