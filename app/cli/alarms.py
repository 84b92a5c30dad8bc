"""CLI verbs for alarms: the rules in the configuration store and the performance report.

    gridtwin alarms rules     the alarm rules the HMI runs (seeding the store on first open),
                              with any rule refused and why
    gridtwin alarms report    the ISA-18.2 alarm-performance report from the stored events
                              (times in IST): alarms per 10 minutes, standing, top chattering,
                              chattering alarms the system shelved, most frequent

Severity is one vocabulary everywhere: Urgent, High, Medium, Low (priority 1-4).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from app.cli.history import add_common
from app.cli.output import table
from app.station import clock

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.station import Station
    from app.station.points import PointTable


def _store(args: argparse.Namespace) -> tuple[Station, PointTable, Engine]:
    from app.historian.db import create_db_engine, database_url, migrate
    from app.station import load_station
    from app.station.points import build_point_table

    st = load_station(args.station)
    pts = build_point_table(st)
    engine = create_db_engine(database_url(st.station.id, data_dir_path=args.data_dir,
                                           db_url=args.db))
    migrate(engine)
    return st, pts, engine


def cmd_alarms(args: argparse.Namespace) -> int:
    from app.alarms.engine import PRIORITY_NAME, rule_targets
    from app.alarms.report import format_report

    st, pts, engine = _store(args)
    try:
        if args.what == "rules":
            from app.alarms.rules import rules_for_station

            rs = rules_for_station(st, pts, engine)
            types = {a.id: a.type for a in st.assets}
            rows = []
            for r in rs.rules:
                n = len(rule_targets(pts, r, asset_types=types, aliases=rs.aliases,
                                     nominal=rs.nominal)) if r.enabled else 0
                rows.append({"rule_id": r.rule_id, "parameter": r.parameter,
                             "asset_type": r.asset_type, "condition": r.condition,
                             "threshold_value": r.threshold, "severity": r.severity,
                             "priority": r.effective_priority, "deadband": r.deadband,
                             "on_delay_s": r.on_delay_s, "off_delay_s": r.off_delay_s,
                             "enabled": r.enabled, "points": n})
            if args.json:
                print(json.dumps({"source": rs.source, "rules": rows,
                                  "aliases": {k: list(v) for k, v in rs.aliases.items()},
                                  "refused": list(rs.problems)}, indent=2))
                return 0
            print(f"{len(rows)} alarm rules from {rs.source}\n")
            shown = rows if args.all else [r for r in rows if ":" not in r["rule_id"]]
            print(table([(r["rule_id"], r["parameter"], r["asset_type"] or "-",
                           r["condition"], r["threshold_value"],
                           PRIORITY_NAME[r["priority"]], r["priority"],
                           r["deadband"], r["on_delay_s"], r["off_delay_s"],
                           r["enabled"], r["points"]) for r in shown],
                         ("rule", "parameter", "asset type", "cond", "threshold", "priority",
                          "prio", "deadband", "on s", "off s", "enabled", "points")))
            if not args.all:
                print(f"(and {len(rows) - len(shown)} station-file limits, TAG:hi / TAG:lo; "
                      "--all lists them)")
            for p in rs.problems:
                print(f"refused: {p}")
            return 0
        from app.alarms.report import report_from_store

        now = clock.now()
        rep = report_from_store(engine, now, args.hours)
        if args.json:
            print(json.dumps(rep, indent=2))
            return 0
        print(format_report(rep))
        return 0
    finally:
        engine.dispose()


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("alarms", help="alarm rules and the alarm-performance report",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("what", choices=("rules", "report"))
    add_common(sp)
    sp.add_argument("--hours", type=float, default=24.0, metavar="H",
                    help="report: the window, in hours back from now (default 24)")
    sp.add_argument("--all", action="store_true",
                    help="rules: list the station-file limits too")
    sp.add_argument("--json", action="store_true", help="print JSON for scripts")
    sp.set_defaults(func=cmd_alarms)
