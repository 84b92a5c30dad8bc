"""``gridtwin run``: start the HMI on the simulated station (or attach to a running one).

By default it starts ``gridtwin field-sim`` as a child process and polls it over Modbus TCP
and IEC 61850 MMS, exactly as it would poll a real station. ``--field HOST:PORT`` attaches to
a station already running (Modbus at that address, MMS at ``--mms``). ``--headless`` runs on
Qt's offscreen platform for ``--duration`` seconds and saves ``--screenshot`` at the end.

Users: on a display the HMI asks who is there — the "create the administrator" dialog on the
first run (no users yet), the login dialog otherwise; cancelling leaves viewer rights.
``--headless`` never opens a dialog: it runs with nobody logged in (viewer) unless ``--user
NAME`` is given, with the password in ``$GRIDTWIN_PASSWORD``.
"""

from __future__ import annotations

import argparse
import logging
import os
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
    p.add_argument("--user", metavar="NAME",
                   help="log in as NAME at start, with the password from the environment "
                        "variable GRIDTWIN_PASSWORD (never an argument); without it a display "
                        "shows the login dialog and --headless runs as viewer")
    p.add_argument("--session-timeout", type=float, default=15.0, metavar="MIN",
                   help="lock the controls after this many minutes without input "
                        "(default 15)")


class Hmi:
    """The running HMI: window, pipeline, control runtime and stores (see :func:`build_hmi`)."""

    def __init__(self, win, pipeline, control, audit, historian, engine) -> None:  # noqa: ANN001
        self.win, self.pipeline, self.control = win, pipeline, control
        self.audit, self.historian, self.engine = audit, historian, engine

    def close(self) -> None:
        """Close the window (stops control), then the pipeline, the audit log, the stores."""
        self.win.close()
        self.pipeline.stop()
        self.control.stop()
        self.audit.close()
        if self.historian is not None:
            self.historian.close()
        self.engine.dispose()


def build_hmi(station, points, *, modbus: tuple[str, int],  # noqa: ANN001
              mms: tuple[str, int] | None, period_s: float = 0.1,
              data_dir: str | None = None, db_url: str | None = None,
              record_history: bool = True, settings=None, yard3d: bool = True,  # noqa: ANN001
              session_timeout_min: float = 15.0, confirm_timeout_s: float = 20.0,
              select_timeout_s: float = 30.0, idle_check_ms: int = 1000) -> Hmi:
    """Everything ``gridtwin run`` wires together, not yet started (``hmi.pipeline.start()``).
    Users and the audit log live in the configuration store, also without history."""
    import datetime as dt

    from app.control.audit import DbAudit
    from app.control.userdb import DbUsers, open_store
    from app.control.users import Accounts
    from app.runtime.control import ControlRuntime
    from app.runtime.pipeline import Pipeline
    from app.runtime.sources import ProtocolFrameSource
    from app.ui.main_window import MainWindow

    historian = None
    if record_history:
        historian = _open_historian(station, points, data_dir, db_url)
    engine = historian.engine if historian is not None else \
        open_store(station.station.id, data_dir=data_dir, db_url=db_url)
    audit = DbAudit(engine, events=historian)
    accounts = Accounts(DbUsers(engine), dt.timedelta(minutes=session_timeout_min))
    source = ProtocolFrameSource(points, modbus=modbus, mms=mms, period_s=period_s)
    pipeline = Pipeline(station, points, source, historian)
    control = ControlRuntime(station, pipeline, accounts, audit,
                             confirm_timeout_s=confirm_timeout_s,
                             select_timeout_s=select_timeout_s)
    win = MainWindow(station, points, pipeline=pipeline, settings=settings, yard3d=yard3d,
                     control=control, idle_check_ms=idle_check_ms)
    if historian is not None:
        _wire_backfill(win, historian)
    return Hmi(win, pipeline, control, audit, historian, engine)


def run(args: argparse.Namespace) -> int:
    qt_args = sys.argv[:1]
    if args.headless:
        qt_args += ["-platform", "offscreen"]
    if not 0.1 <= args.period <= 5.0:
        print("gridtwin: --period must be between 0.1 and 5 seconds", file=sys.stderr)
        return 2
    if args.session_timeout <= 0:
        print("gridtwin: --session-timeout must be more than 0 minutes", file=sys.stderr)
        return 2
    password = os.environ.get("GRIDTWIN_PASSWORD")
    if args.user and args.headless and not password:
        print("gridtwin: --user with --headless needs the password in $GRIDTWIN_PASSWORD",
              file=sys.stderr)
        return 2
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.field.points import build_point_table
    from app.runtime.fieldsim import FieldSimError, FieldSimProcess
    from app.station import load_station
    from app.ui import theme

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

    settings = QSettings(args.settings, QSettings.Format.IniFormat) if args.settings else None
    hmi = None
    code = 0
    try:
        hmi = build_hmi(station, points, modbus=modbus, mms=mms, period_s=args.period,
                        data_dir=args.data_dir, db_url=args.db,
                        record_history=not args.no_historian, settings=settings,
                        yard3d=not args.no_3d, session_timeout_min=args.session_timeout)
        win = hmi.win
        for tag in args.trend:
            if not win.trends.add_tag(tag):
                print(f"gridtwin: --trend: no point '{tag}'", file=sys.stderr)
        win.show()
        hmi.pipeline.start()
        failed: list[str] = []
        if args.user and password:
            def logged_in(_session, error) -> None:  # noqa: ANN001
                if error is None:
                    return
                print(f"gridtwin: --user {args.user}: {error}", file=sys.stderr)
                if args.headless:
                    failed.append(str(error))
                    app.exit(2)
                else:
                    win._login_dialog(args.user)

            win.login_as(args.user, password, logged_in)
        elif not args.headless:
            if args.user:
                QTimer.singleShot(0, lambda: win._login_dialog(args.user))
            else:
                QTimer.singleShot(0, win.start_login)
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
        if failed:
            code = 2
    finally:
        if hmi is not None:
            hmi.close()
        if sim is not None:
            sim.stop()
    return code


def _open_historian(station, points, data_dir, db_url):  # noqa: ANN001, ANN202
    try:
        from app.historian import open_historian
    except ImportError:
        log.warning("no historian available: running without history")
        return None
    return open_historian(station, points, data_dir=data_dir, db_url=db_url)


def _wire_backfill(win, historian) -> None:  # noqa: ANN001
    from app.runtime.backfill import BackfillService

    win._backfill = BackfillService(historian, win.trends, parent=win)
