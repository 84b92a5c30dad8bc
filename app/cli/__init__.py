"""The ``gridtwin`` command line: one CLI, many verbs, one module per verb group.

    gridtwin run          the operator's HMI on the simulated station (or --field HOST:PORT)
    gridtwin field-sim    the simulated station: Modbus TCP + IEC 61850 MMS servers
    gridtwin modbus-map   the RTU's Modbus register map as CSV
    gridtwin record       poll the station into the historian (SQLite, or --db URL)
    gridtwin history      trends, values at a time, events from the historian; CSV export
    gridtwin dss          circuit model versions: list, add, diff, activate, rollback
    gridtwin alarms       alarm rules in the configuration store; the alarm-performance report
    gridtwin users        users and roles: add, list, passwd, role, disable, enable, unlock
    gridtwin audit        the audit log: commands, bypasses, logins, user changes; --verify
    gridtwin solve        power flow of the station: bus voltages, flows, totals
    gridtwin faults       short-circuit study (3ph, LG, LL, LLG) at every bus
    gridtwin contingency  N-1 outages against the Grid Code voltage bands
    gridtwin assets       the station's assets, nameplates and points
    gridtwin rca dga      DGA interpretation of laboratory results from a CSV file
    gridtwin health       asset health indices, 30-day forecasts, maintenance suggestions
    gridtwin ml           anomaly models: train, list (versions), evaluate on unseen faults
    gridtwin forecast     N-BEATS load forecast backtested against seasonal-naive baselines
    gridtwin drill        trainer's drills: list scenarios, run one headless, score, debrief
    gridtwin bench …      benchmarks (figures and ratios)

Every verb prints a readable table; ``--json`` prints the same for scripts. Errors in the
station or circuit file, a bad option or a bad line of an input file are printed as one line
naming the file (and line, field or column), and exit with status 2.

Each verb group is a module here with ``register(subparsers)``; :func:`main` is the entry
point (``[project.scripts]``, ``python -m app.cli``). Nothing outside this package imports it
(an import-linter contract): what a verb prints lives with what it prints (the alarm report's
text in :mod:`app.alarms.report`, say), and what the GUI needs it gets from the layers below.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app.cli import (
    alarms,
    bench,
    drill,
    field,
    forecast,
    health,
    history,
    ml,
    rca,
    run,
    twin,
    users,
)
from app.cli.options import EXIT_INPUT
from app.station import StationFileError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE = "gridtwin.log"


def log_to_file(*, verbose: bool = False) -> Path | None:
    """The packaged program's log: INFO and above (DEBUG with -v) appended to
    :func:`log_dir`/gridtwin.log (rotated at 5 MB, 3 kept) with the process id, while stderr
    keeps WARNING and above. Returns the file, or None (one warning) when it cannot be
    written — an unwritable log folder must not stop the station."""
    from logging.handlers import RotatingFileHandler

    path = log_dir() / LOG_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3,
                                      encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).warning("no log file at %s: %s", path, exc)
        return None
    handler.setFormatter(logging.Formatter(LOG_FORMAT.replace("%(levelname)s",
                                                              "[%(process)d] %(levelname)s")))
    root = logging.getLogger()
    level = logging.DEBUG if verbose else logging.INFO
    for h in root.handlers:  # the console stays as quiet as before
        if h.level == logging.NOTSET:
            h.setLevel(root.level)
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(min(root.level, level))
    return path


#: Verb groups, in the order ``gridtwin --help`` lists them.
VERB_GROUPS = (run, field, history, alarms, users, twin, rca, health, ml, forecast, drill,
               bench)


class _Version(argparse.Action):
    """``--version``: the commit is looked up only when asked for (it may run git)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[object] | None, option_string: str | None = None
                 ) -> None:
        from app.version import version_text

        print(version_text())
        parser.exit()


def log_dir() -> Path:
    """Where the packaged program writes its log: ``$GRIDTWIN_LOG_DIR``, else the platform's
    user log folder (Linux: ``~/.local/state/gridtwin/log``)."""
    env = os.environ.get("GRIDTWIN_LOG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_log_dir("gridtwin"))


def build_parser() -> argparse.ArgumentParser:
    from app.historian.db import data_dir

    frozen = getattr(sys, "frozen", False)
    p = argparse.ArgumentParser(
        prog="gridtwin",
        description="GridTwin: digital twin and HMI of an Indian EHV 400/220 kV substation.",
        epilog=f"Data (historian, configuration store, models): {data_dir()} (--data-dir, "
               f"$GRIDTWIN_DATA_DIR). Log: {log_dir() / LOG_FILE} ($GRIDTWIN_LOG_DIR)"
               f"{'' if frozen else ', written by the packaged program (here: stderr only)'}. "
               "`gridtwin VERB --help` tells more.")
    p.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    p.add_argument("--version", action=_Version, nargs=0,
                   help="print the version (and the commit it was built from) and exit")
    p.set_defaults(func=None)  # no verb: the help
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    for group in VERB_GROUPS:
        group.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from app.historian.db import HistorianError
    from app.historian.dss_versions import DssVersionError
    from app.twin.engine import CircuitError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format=LOG_FORMAT)
    if getattr(sys, "frozen", False):
        log_to_file(verbose=args.verbose)
    if args.func is None:
        parser.print_help()
        return EXIT_INPUT
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `gridtwin assets | head`: the reader has gone, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (StationFileError, CircuitError, HistorianError, DssVersionError) as exc:
        print(f"gridtwin: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyError as exc:
        print(f"gridtwin: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_INPUT
    except ValueError as exc:
        print(f"gridtwin: {exc}", file=sys.stderr)
        return EXIT_INPUT
