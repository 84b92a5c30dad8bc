"""CLI verb for asset health.

    gridtwin health [--asset ID] [--json]   every scored asset's health index (0-100) with its
                                            factors, a 30-day forecast with a band, remaining
                                            life; the work poor factors call for goes to the
                                            maintenance schedule (once per asset and factor)

The assessment is :mod:`app.analytics.health`; this module only prints.
"""

from __future__ import annotations

import argparse

from app.cli.history import add_common, parse_time
from app.cli.output import print_json, table
from app.station import clock
from app.station.timezone import IST


def register(subparsers: argparse._SubParsersAction) -> None:
    sp = subparsers.add_parser(
        "health", help="asset health indices, 30-day forecasts and maintenance suggestions",
        description="Health index (0-100, Good >= 85, Fair >= 70, Poor >= 50, else Very poor) "
                    "of every transformer, reactor, breaker, disconnector, instrument "
                    "transformer and surge arrester from its condition data in the historian "
                    "(DGA to IEEE C57.104, thermal ageing to IEC 60076-7, oil moisture, bushing "
                    "tan delta, tap-changer and breaker operations, contact wear, SF6 leak "
                    "rate, arrester leakage, age), the factors with their weights, a 30-day "
                    "forecast with a 95 %% band and the remaining life. Suggested maintenance "
                    "is written to the maintenance schedule, one open entry per asset and "
                    "factor (a rerun updates it).")
    add_common(sp)
    sp.add_argument("--asset", metavar="ID", help="one asset only")
    sp.add_argument("--at", metavar="TIME",
                    help="assess as of this time (ISO 8601, IST without a zone; default now)")
    sp.add_argument("--dry-run", action="store_true",
                    help="do not write suggestions to the maintenance schedule")
    sp.add_argument("--json", action="store_true",
                    help="print a JSON list: per asset asset, index, band, factors, "
                         "forecast_30d, remaining_life_years, suggestions")
    sp.set_defaults(func=cmd_health)


def cmd_health(args: argparse.Namespace) -> int:
    from app.analytics.health import assess, health_assets, store_suggestions
    from app.historian import open_historian
    from app.station import load_station
    from app.station.points import build_point_table

    at = parse_time(args.at, "--at") if args.at else clock.now()
    station = load_station(args.station)
    health_assets(station, args.asset)  # an unknown id: one line before opening anything
    hist = open_historian(station, build_point_table(station), data_dir=args.data_dir,
                          db_url=args.db, start_writer=False)
    try:
        results = assess(station, hist, at, asset_id=args.asset)
        added = updated = 0
        if not args.dry_run and hist.engine is not None:
            added, updated = store_suggestions(hist.engine,
                                               [s for h in results for s in h.suggestions])
    finally:
        hist.close()
    if args.json:
        print_json([h.as_dict() for h in results])
        return 0
    rows = []
    for h in results:
        i, f = h.index, h.forecast
        worst = i.worst
        rows.append((i.asset, i.asset_type, f"{i.index:.0f}", i.band,
                     f"{worst.name} {worst.score:.0f}" if worst else "",
                     f"{f.index[-1]:.0f} ({f.lo[-1]:.0f}-{f.hi[-1]:.0f})",
                     f"{f.remaining_life_years:.1f}", len(h.suggestions),
                     "age only" if len(i.factors) == 1 else ""))
    print(f"Asset health as of {at.astimezone(IST):%Y-%m-%d %H:%M} IST")
    print(table(rows, ("asset", "type", "index", "band", "worst factor", "in 30 d (95 %)",
                       "life (y)", "work", "note")))
    if args.dry_run:
        print("maintenance schedule not written (--dry-run)")
    else:
        print(f"maintenance schedule: {added} suggestion(s) added, {updated} updated")
    return 0
