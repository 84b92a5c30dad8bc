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
from dataclasses import dataclass
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


class StartError(RuntimeError):
    """The HMI could not start (the message says why, for the operator). ``code`` is the
    exit status: 2 for bad input, 1 for a part that would not start."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Hmi:
    """Everything ``gridtwin run`` starts, so it can all be stopped in one place."""

    app: object
    window: object
    pipeline: object
    historian: object | None
    sim: object | None

    def start(self) -> None:
        self.window.show()
        self.pipeline.start()

    def stop(self) -> None:
        """Stop every worker, flush the historian, stop the field-sim (in that order)."""
        self.pipeline.stop()
        if self.historian is not None:
            self.historian.close()
        if self.sim is not None:
            self.sim.stop()


def build(args: argparse.Namespace) -> Hmi:
    """Start the station (or attach to one), the historian and the pipeline, and build the
    window (not shown yet). Anything already started is stopped again if a later part fails.
    Raises :class:`StartError`."""
    if not 0.1 <= args.period <= 5.0:
        raise StartError("--period must be between 0.1 and 5 seconds")
    qt_args = sys.argv[:1] + (["-platform", "offscreen"] if args.headless else [])
    from PySide6.QtCore import QSettings
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

    sim = historian = None
    try:
        if args.field:
            from app.field.sim.runner import parse_addr

            modbus = parse_addr(args.field, "--field")
            mms = parse_addr(args.mms, "--mms") if args.mms else None
        else:
            try:
                sim = FieldSimProcess(station=args.station, speed=args.speed).start()
            except FieldSimError as exc:
                raise StartError(str(exc), code=1) from None
            modbus, mms = sim.addresses["modbus"], sim.addresses.get("mms")
        if not args.no_historian:
            historian = _open_historian(station, points, args)
        from app.alarms.rules import rules_for_station

        # Rules from the configuration store (seeded on first open); a bad rule is logged
        # and skipped, never a reason not to start.
        rules = rules_for_station(station, points, historian.engine if historian else None)
        source = ProtocolFrameSource(points, modbus=modbus, mms=mms, period_s=args.period)
        pipeline = Pipeline(station, points, source, historian, rules=rules,
                            circuit_path=_active_circuit(station, historian, args))
        if args.settings:
            settings = QSettings(args.settings, QSettings.Format.IniFormat)
        elif args.headless:  # scripted runs neither use nor change the operator's layout
            import tempfile

            settings = QSettings(str(Path(tempfile.mkdtemp(prefix="gridtwin-")) / "hmi.ini"),
                                 QSettings.Format.IniFormat)
        else:
            settings = None
        win = MainWindow(station, points, pipeline=pipeline, settings=settings,
                         yard3d=not args.no_3d)
    except BaseException:
        if historian is not None:
            historian.close()
        if sim is not None:
            sim.stop()
        raise
    if historian is not None:
        _wire_backfill(win, historian)
        win.attach_historian(historian)
    if rules.problems:
        win.statusBar().showMessage(f"{len(rules.problems)} alarm rule(s) refused and skipped: "
                                    f"{rules.problems[0]}", 30_000)
    for tag in args.trend:
        if not win.trends.add_tag(tag):
            log.warning("--trend: no point '%s'", tag)
            print(f"gridtwin: --trend: no point '{tag}'", file=sys.stderr)
    return Hmi(app, win, pipeline, historian, sim)


def run(args: argparse.Namespace, on_started=None) -> int:  # noqa: ANN001
    """Run the HMI until its window closes. ``on_started(app, window, pipeline, sim)``, when
    given, is called once everything runs (the HMI benchmark installs its probes there)."""
    from PySide6.QtCore import QTimer

    try:
        hmi = build(args)
    except StartError as exc:
        print(f"gridtwin: {exc}", file=sys.stderr)
        return exc.code
    app, win = hmi.app, hmi.window
    try:
        hmi.start()
        if on_started is not None:
            on_started(app, win, hmi.pipeline, hmi.sim)
        if args.headless:
            def finish() -> None:
                if args.screenshot:
                    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
                    win.grab().save(args.screenshot)
                    print(f"screenshot saved to {args.screenshot}")
                win.close()
                app.quit()

            QTimer.singleShot(int(args.duration * 1000), finish)
        return app.exec()
    finally:
        hmi.stop()


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
