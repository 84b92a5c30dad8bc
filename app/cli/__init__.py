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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridtwin",
        description="GridTwin: digital twin and HMI of an Indian EHV 400/220 kV substation.",
        epilog="Data and logs live in the user's data folder (--data-dir, $GRIDTWIN_DATA_DIR); "
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
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
