"""``gridtwin run``: start the HMI on the simulated station (or attach to a running one).

By default it starts ``gridtwin field-sim`` as a child process and polls it over Modbus TCP
and IEC 61850 MMS, exactly as it would poll a real station. ``--field HOST:PORT`` attaches to
a station already running (Modbus at that address, MMS at ``--mms``). ``--headless`` runs on
Qt's offscreen platform for ``--duration`` seconds and saves ``--screenshot`` at the end; it
exits with status 1 when no live data reached the window by then (a smoke test for ops and CI).

Users: on a display the HMI asks who is there — the "create the administrator" dialog on the
first run (no users yet), the login dialog otherwise; cancelling leaves viewer rights.
``--headless`` never opens a dialog: it runs with nobody logged in (viewer) unless ``--user
NAME`` is given, with the password in ``$GRIDTWIN_PASSWORD``.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from app.station import quality as Q

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """What ``gridtwin run`` was asked for (its command line: :mod:`app.cli.run`)."""

    station: str | None = None
    field: str | None = None
    """HOST:PORT of a running station's Modbus RTU; None starts the simulated station."""
    mms: str | None = None
    period: float = 0.1
    speed: float = 1.0
    data_dir: str | None = None
    db: str | None = None
    no_historian: bool = False
    no_3d: bool = False
    headless: bool = False
    duration: float = 10.0
    screenshot: str | None = None
    settings: str | None = None
    trend: tuple[str, ...] = ()
    user: str | None = None
    session_timeout: float = 15.0
    lockout: object | None = None
    """An :class:`app.control.users.LockoutPolicy` (None: the default policy)."""
    historian_options: dict = dc_field(default_factory=dict)
    """:func:`app.historian.open_historian` keyword arguments (retention, InfluxDB)."""


class StartError(RuntimeError):
    """The HMI could not start (the message says why, for the operator). ``code`` is the
    exit status: 2 for bad input, 1 for a part that would not start."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class _AuditWithoutEventCopy:
    """Alarm actions are already logged as events by the alarm service: audit them without a
    second copy in the event log."""

    def __init__(self, audit) -> None:  # noqa: ANN001
        self.audit = audit

    def record(self, **entry: object) -> None:
        self.audit.record(**entry, mirror=False)


def freeze_heap() -> None:
    """Everything built so far lives as long as the HMI: keep it out of the garbage
    collector's full passes, which otherwise stall every thread (the GUI's included) for
    40-230 ms each on the ~200,000 objects of a running HMI."""
    gc.collect()
    gc.freeze()


class Hmi:
    """Everything ``gridtwin run`` starts — window, pipeline, control runtime, stores and (when
    it started one) the field-sim — so it can all be stopped in one place, in order."""

    def __init__(self, win, pipeline, control, audit, historian, engine,  # noqa: ANN001
                 app=None, sim=None) -> None:  # noqa: ANN001
        self.win, self.pipeline, self.control = win, pipeline, control
        self.audit, self.historian, self.engine = audit, historian, engine
        self.app, self.sim = app, sim

    def start(self) -> None:
        freeze_heap()
        self.win.show()
        self.pipeline.start()

    def close(self) -> None:
        """Close the window (stops control), then the pipeline, the audit log, the stores,
        and last the field-sim (the MMS client process goes before the server)."""
        self.win.close()
        self.pipeline.stop()
        self.control.stop()
        self.audit.close()
        if self.historian is not None:
            self.historian.close()
        self.engine.dispose()
        if self.sim is not None:
            self.sim.stop()


def build_hmi(station, points, *, modbus: tuple[str, int],  # noqa: ANN001
              mms: tuple[str, int] | None, period_s: float = 0.1,
              data_dir: str | None = None, db_url: str | None = None,
              record_history: bool = True, historian_options: dict | None = None,
              settings=None, yard3d: bool = True,  # noqa: ANN001
              session_timeout_min: float = 15.0, lockout=None,  # noqa: ANN001
              confirm_timeout_s: float = 20.0,
              select_timeout_s: float = 30.0, idle_check_ms: int = 1000) -> Hmi:
    """Everything ``gridtwin run`` wires together, not yet started (:meth:`Hmi.start`). Users,
    the audit log and the alarm rules live in the configuration store, also without history.
    Whatever this opened is closed again if a later part fails."""
    import datetime as dt

    from app.alarms.rules import rules_for_station
    from app.control.audit import DbAudit
    from app.control.passwords import DEFAULT_POLICY
    from app.control.userdb import DbUsers, open_store
    from app.control.users import Accounts
    from app.runtime.control import ControlRuntime
    from app.runtime.pipeline import Pipeline
    from app.runtime.sources import ProtocolFrameSource
    from app.ui.main_window import MainWindow

    historian = engine = audit = None
    try:
        if record_history:
            historian = _open_historian(station, points, data_dir, db_url,
                                        historian_options or {})
        engine = historian.engine if historian is not None else \
            open_store(station.station.id, data_dir=data_dir, db_url=db_url)
        audit = DbAudit(engine, events=historian)
        accounts = Accounts(DbUsers(engine), dt.timedelta(minutes=session_timeout_min),
                            lockout=lockout, passwords=DEFAULT_POLICY.with_context(
                                station.station.id, station.station.name))
        # Rules from the configuration store (seeded on first open); a bad rule is logged
        # and skipped, never a reason not to start.
        rules = rules_for_station(station, points, engine)
        source = ProtocolFrameSource(points, modbus=modbus, mms=mms, period_s=period_s)
        pipeline = Pipeline(station, points, source, historian, rules=rules,
                            audit=_AuditWithoutEventCopy(audit),
                            circuit_path=_active_circuit(station, engine, data_dir))
        control = ControlRuntime(station, pipeline, accounts, audit,
                                 confirm_timeout_s=confirm_timeout_s,
                                 select_timeout_s=select_timeout_s)
        win = MainWindow(station, points, pipeline=pipeline, settings=settings, yard3d=yard3d,
                         control=control, idle_check_ms=idle_check_ms)
    except BaseException:
        if audit is not None:
            audit.close()
        if historian is not None:
            historian.close()
        if engine is not None:
            engine.dispose()
        raise
    if historian is not None:
        _wire_backfill(win, historian)
        win.attach_historian(historian)
    if rules.problems:
        win.statusBar().showMessage(f"{len(rules.problems)} alarm rule(s) refused and skipped: "
                                    f"{rules.problems[0]}", 30_000)
    return Hmi(win, pipeline, control, audit, historian, engine)


def build(args: RunOptions) -> Hmi:
    """``gridtwin run``'s start-up from its arguments: the Qt application, the station (or
    the field-sim started as a child process), then :func:`build_hmi`; the window is built
    but not shown. Raises :class:`StartError`; anything started is stopped again."""
    if not 0.1 <= args.period <= 5.0:
        raise StartError("--period must be between 0.1 and 5 seconds")
    if args.user and args.headless and not os.environ.get("GRIDTWIN_PASSWORD"):
        raise StartError("--user with --headless needs the password in $GRIDTWIN_PASSWORD")
    if args.field:  # a bad address is one line and exit status 2, before anything starts
        from app.field.sim.runner import AddressError, parse_addr

        try:
            field_addrs = parse_addr(args.field, "--field"), \
                (parse_addr(args.mms, "--mms") if args.mms else None)
        except AddressError as exc:
            raise StartError(str(exc)) from None
    qt_args = sys.argv[:1] + (["-platform", "offscreen"] if args.headless else [])
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.runtime.fieldsim import FieldSimError, FieldSimProcess
    from app.station import load_station
    from app.station.points import build_point_table
    from app.ui import theme

    station = load_station(args.station)
    points = build_point_table(station)
    app = QApplication.instance() or QApplication(qt_args)
    app.setApplicationName("GridTwin")
    theme.apply(app)

    if args.settings:
        settings = QSettings(args.settings, QSettings.Format.IniFormat)
    elif args.headless:  # scripted runs neither use nor change the operator's saved layout
        from app.scratch import scratch_file  # (a throw-away file, removed at exit)

        settings = QSettings(str(scratch_file("hmi.ini")), QSettings.Format.IniFormat)
    else:
        settings = None
    sim = None
    try:
        if args.field:
            modbus, mms = field_addrs
        else:
            # The station starts while the window is built (its ports are ours to choose);
            # nothing polls it before it says it serves.
            sim = FieldSimProcess(station=args.station, speed=args.speed).launch()
            modbus, mms = sim.addresses["modbus"], sim.addresses.get("mms")
        hmi = build_hmi(station, points, modbus=modbus, mms=mms, period_s=args.period,
                        data_dir=args.data_dir, db_url=args.db,
                        record_history=not args.no_historian,
                        historian_options=args.historian_options, settings=settings,
                        yard3d=not args.no_3d, session_timeout_min=args.session_timeout,
                        lockout=args.lockout)
        if sim is not None:
            try:
                sim.wait_ready()
            except FieldSimError as exc:
                hmi.close()
                raise StartError(str(exc), code=1) from None
    except BaseException:
        if sim is not None:
            sim.stop()
        raise
    hmi.app, hmi.sim = app, sim
    for tag in args.trend:
        if not hmi.win.trends.add_tag(tag):
            log.warning("--trend: no point '%s'", tag)
            print(f"gridtwin: --trend: no point '{tag}'", file=sys.stderr)
    return hmi


def run(args: RunOptions, on_started=None) -> int:  # noqa: ANN001
    """Run the HMI until its window closes. ``on_started(app, window, pipeline, sim)``, when
    given, is called once everything runs (the HMI benchmark installs its probes there)."""
    from PySide6.QtCore import QTimer

    try:
        hmi = build(args)
    except StartError as exc:
        print(f"gridtwin: {exc}", file=sys.stderr)
        return exc.code
    app, win = hmi.app, hmi.win
    password = os.environ.get("GRIDTWIN_PASSWORD")
    failed: list[str] = []
    try:
        hmi.start()
        if on_started is not None:
            on_started(app, win, hmi.pipeline, hmi.sim)
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
                # A headless run is how ops and CI check a station: with no live data at
                # the end (nothing polled, or every device lost) it says so and fails.
                snap = hmi.pipeline.last_snapshot if hmi.pipeline is not None else None
                if snap is None or not Q.good_mask(snap.frame.quality).any():
                    print(f"gridtwin: no live data from the station after {args.duration:g} s "
                          "(see the log above)", file=sys.stderr)
                    failed.append("no live data")
                if args.screenshot:
                    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
                    win.grab().save(args.screenshot)
                    print(f"screenshot saved to {args.screenshot}")
                win.close()
                app.quit()

            QTimer.singleShot(int(args.duration * 1000), finish)
        code = app.exec()
        if "no live data" in failed:
            return 1
        return 2 if failed else code
    finally:
        hmi.close()


def _open_historian(station, points, data_dir, db_url, options):  # noqa: ANN001, ANN202
    try:
        from app.historian import open_historian
    except ImportError:
        log.warning("no historian available: running without history")
        return None
    return open_historian(station, points, data_dir=data_dir, db_url=db_url, **options)


def _active_circuit(station, engine, data_dir):  # noqa: ANN001, ANN202
    """The circuit the twin compiles: the configuration store's active DSS version."""
    from app.historian import active_circuit

    return active_circuit(station, engine, data_dir_path=data_dir)


def _wire_backfill(win, historian) -> None:  # noqa: ANN001
    from app.runtime.backfill import BackfillService

    win._backfill = BackfillService(historian, win.trends, parent=win)
