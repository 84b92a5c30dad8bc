"""``gridtwin run``: the operator's HMI (app.ui.app), from its command line.

Without ``--field`` it starts the simulated station as a child process and polls it over
Modbus TCP and IEC 61850 MMS, recording into the historian; ``--headless`` runs offscreen for
``--duration`` seconds (exit status 1 if no live data arrived) and saves ``--screenshot``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from app.cli.history import add_backend_arguments, historian_options
from app.cli.options import positive_float

if TYPE_CHECKING:
    from app.control.users import LockoutPolicy
    from app.ui.app import RunOptions


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--station", help="station file (default: circuits/station.toml)")
    p.add_argument("--field", metavar="HOST:PORT",
                   help="attach to a running station's Modbus RTU instead of starting the "
                        "simulator")
    p.add_argument("--mms", metavar="HOST:PORT",
                   help="its IEC 61850 MMS server (with --field; default: none)")
    p.add_argument("--period", type=float, default=0.1, metavar="S",
                   help="scan period in seconds (0.1-5, default 0.1)")
    p.add_argument("--comm-loss-s", type=positive_float, default=None, metavar="S",
                   help="seconds without a good reply before a device's communication-lost "
                        "alarm (default: alarm_rules.toml [communication], 5)")
    p.add_argument("--speed", type=positive_float, default=1.0,
                   help="simulated seconds per wall second for the started simulator")
    p.add_argument("--data-dir", help="where the historian keeps its files "
                                      "(default: $GRIDTWIN_DATA_DIR or the platform data folder)")
    p.add_argument("--db", metavar="URL", help="configuration store URL (postgresql://…)")
    p.add_argument("--no-historian", action="store_true", help="do not record history")
    p.add_argument("--no-3d", action="store_true", help="no 3D switchyard view")
    p.add_argument("--no-analytics", action="store_true",
                   help="do not run the inference worker (anomalies, root-cause analysis)")
    p.add_argument("--model", metavar="FILE",
                   help="anomaly model file to load instead of the registry's active version")
    p.add_argument("--headless", action="store_true",
                   help="run offscreen (no display) for --duration seconds")
    p.add_argument("--duration", type=positive_float, default=10.0, metavar="S",
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
    p.add_argument("--session-timeout", type=positive_float, default=15.0, metavar="MIN",
                   help="lock the controls after this many minutes without input "
                        "(default 15)")
    p.add_argument("--lockout", type=_lockout, default=None, metavar="SPEC",
                   help="failed-login lock-out, e.g. failures=5,lock=30s,max=15m,limit=100,"
                        "window=24h,source=10 (these are the defaults; any subset)")

    add_backend_arguments(p)  # --retention, --influx …


def _lockout(spec: str) -> LockoutPolicy:
    from app.control.users import LockoutPolicy

    try:
        return LockoutPolicy.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_options(args: argparse.Namespace) -> RunOptions:
    from app.ui.app import RunOptions

    return RunOptions(
        station=args.station, field=args.field, mms=args.mms, period=args.period,
        speed=args.speed, data_dir=args.data_dir, db=args.db, no_historian=args.no_historian,
        no_3d=args.no_3d, headless=args.headless, duration=args.duration,
        screenshot=args.screenshot, settings=args.settings, trend=tuple(args.trend),
        user=args.user, session_timeout=args.session_timeout, lockout=args.lockout,
        historian_options=historian_options(args), analytics=not args.no_analytics,
        model=args.model)


def cmd_run(args: argparse.Namespace) -> int:
    from app.ui.app import run  # the one import of the GUI: only this verb needs Qt

    return run(run_options(args))


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("run", help="the operator's HMI on the simulated station",
                        description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(sp)
    sp.set_defaults(func=cmd_run)
