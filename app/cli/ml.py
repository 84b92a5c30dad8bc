"""CLI verbs for the anomaly models and the load forecaster: models are data.

    gridtwin ml train anomaly [--simulate HOURS | --from ISO --to ISO] [--kind iforest|autoencoder|both]
                              [--seed N] [--data-dir DIR] [--json]
    gridtwin ml train forecast [--simulate HOURS | --from ISO --to ISO] [--steps N] [--seed N]
                               [--data-dir DIR] [--json]
    gridtwin ml list [--json]       anomaly versions, then the forecaster's with held-out MAPEs
    gridtwin ml evaluate anomaly --seed N --days D [--model FILE | --data-dir DIR] [--json]

Training and the registry are :mod:`app.analytics.training` and :mod:`app.analytics.registry`;
the evaluation on unseen faults :mod:`app.analytics.evaluation`. This module only parses and
prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from app.cli.options import EXIT_INPUT, positive_float, station_and_json
from app.cli.output import table


def _iso(text: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date-time "
                                         "(e.g. 2025-03-03T06:00+05:30)") from None
    if t.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +05:30)")
    return t


def _int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return n


def _station(args: argparse.Namespace):  # noqa: ANN202 — Station, imported lazily
    from app.station import load_station

    return load_station(args.station) if args.station else load_station()


def register(subparsers: argparse._SubParsersAction) -> None:
    sp = subparsers.add_parser("ml", help="anomaly models and the load forecaster",
                               description="Train, list and evaluate the anomaly models and "
                                           "train the day-ahead station-load forecaster "
                                           "(versioned in the station's ml_models table).")
    sub = sp.add_subparsers(dest="ml_what", metavar="WHAT", required=True)

    tr = sub.add_parser("train", help="train the anomaly models and register a version",
                        description="Train the anomaly models from HOURS of the healthy plant "
                                    "simulator at speed, or from a historian window, and "
                                    "register them as the next, active version.")
    tr.add_argument("what", choices=("anomaly", "forecast"),
                    help="anomaly: the detectors; forecast: the day-ahead station-load "
                         "forecaster (N-BEATS, 168 h -> 24 h; needs at least 360 h of load)")
    src = tr.add_mutually_exclusive_group(required=True)
    src.add_argument("--simulate", type=positive_float, metavar="HOURS",
                     help="simulated hours of the healthy plant to train on")
    src.add_argument("--from", dest="t_from", type=_iso, metavar="ISO",
                     help="historian window start (with --to)")
    tr.add_argument("--to", dest="t_to", type=_iso, metavar="ISO", help="historian window end")
    tr.add_argument("--kind", choices=("iforest", "autoencoder", "both"), default="both")
    tr.add_argument("--seed", type=_int, default=0, help="random seed (default 0)")
    tr.add_argument("--step", type=positive_float, default=60.0, metavar="S",
                    help="seconds between training scans (default 60)")
    tr.add_argument("--epochs", type=_int, default=20, help="autoencoder epochs (default 20)")
    tr.add_argument("--steps", type=_int, default=None,
                    help="forecast: training steps (default the forecaster's, 1000)")
    tr.add_argument("--data-dir", help="data folder (default: $GRIDTWIN_DATA_DIR or the user's)")
    tr.add_argument("--db", help="configuration store URL (default: SQLite in the data folder)")
    station_and_json(tr)
    tr.set_defaults(func=cmd_train)

    ls = sub.add_parser("list", help="the registered anomaly models")
    ls.add_argument("--data-dir", help="data folder")
    ls.add_argument("--db", help="configuration store URL")
    station_and_json(ls)
    ls.set_defaults(func=cmd_list)

    ev = sub.add_parser("evaluate", help="evaluate on faults the models never saw",
                        description="Run the plant simulator at speed for D simulated days "
                                    "with every anomaly-producing fault kind injected at "
                                    "random times and assets drawn from the seed; report "
                                    "precision, recall and F1 per kind and overall, false "
                                    "alarms per asset-day and lead time over the first "
                                    "threshold alarm.")
    ev.add_argument("what", choices=("anomaly",))
    ev.add_argument("--seed", type=_int, required=True)
    ev.add_argument("--days", type=positive_float, required=True)
    ev.add_argument("--step", type=positive_float, default=60.0, metavar="S",
                    help="simulated seconds between scans (default 60)")
    where = ev.add_mutually_exclusive_group()
    where.add_argument("--model", metavar="FILE", help="a model file (default: the active "
                                                       "version of the registry)")
    where.add_argument("--data-dir", help="data folder of the registry")
    ev.add_argument("--db", help="configuration store URL")
    station_and_json(ev)
    ev.set_defaults(func=cmd_evaluate)


def _progress(quiet: bool):  # noqa: ANN202
    last = [-1]

    def show(frac: float, msg: str) -> None:
        pct = int(frac * 100)
        if not quiet and pct != last[0] and sys.stderr.isatty():
            print(f"\r{pct:3d} % {msg[:60]:60s}", end="", file=sys.stderr, flush=True)
        last[0] = pct

    return show


def cmd_train_forecast(args: argparse.Namespace) -> int:
    """``ml train forecast``: the station-load forecaster from the historian's load over
    --from/--to, or --simulate HOURS of the plant simulator's; a new version in ml_models."""
    from app.analytics.forecast_models import register_forecast
    from app.analytics.loadforecast import historian_series, simulated_series, train
    from app.station import clock

    st = _station(args)
    show = _progress(args.json)
    if args.t_from is not None:
        from app.historian import open_historian
        from app.station.points import build_point_table

        if args.t_to <= args.t_from:
            print("gridtwin: --to must be after --from", file=sys.stderr)
            return EXIT_INPUT
        reader = open_historian(st, build_point_table(st), data_dir=args.data_dir,
                                db_url=args.db, start_writer=False)
        try:
            series = historian_series(reader, st, args.t_to,
                                      (args.t_to - args.t_from).total_seconds() / 86400)
        finally:
            reader.close()
    else:
        series = simulated_series(st, clock.now(), args.simulate / 24, seed=args.seed,
                                  progress=lambda f: show(0.5 * f, "simulating the load"))
    trained = train(series, seed=args.seed, steps=args.steps,
                    progress=lambda f: show(0.5 + 0.5 * f, "training N-BEATS"))
    rec = register_forecast(args.data_dir, st, trained)
    if sys.stderr.isatty() and not args.json:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps({"version": rec.version, "source": rec.source,
                          "window": [rec.window_start, rec.window_end],
                          "metrics": rec.metrics, "file": rec.file_path,
                          "sha256": rec.sha256}, indent=2, default=str))
        return 0
    m = rec.metrics
    print(f"load forecaster v{rec.version} ({rec.source}), window {rec.window_start} – "
          f"{rec.window_end}")
    print(f"  held-out day-ahead MAPE: N-BEATS {m['nbeats_mape_pct']:.2f} %, last week's "
          f"{m['naive_week_mape_pct']:.2f} % (ratio "
          f"{m['nbeats_mape_pct'] / m['naive_week_mape_pct']:.2f}), yesterday's "
          f"{m['naive_day_mape_pct']:.2f} %")
    print(f"  {rec.file_path} sha256 {rec.sha256[:16]}…")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.what == "forecast":
        return cmd_train_forecast(args)
    from app.analytics import registry
    from app.analytics.training import train
    from app.runtime.solver import SolverService

    if (args.t_from is None) != (args.t_to is None):
        print("gridtwin: --from and --to go together", file=sys.stderr)
        return EXIT_INPUT
    st = _station(args)
    reader = None
    if args.t_from is not None:
        from app.historian import open_historian
        from app.station.points import build_point_table

        reader = open_historian(st, build_point_table(st), data_dir=args.data_dir,
                                db_url=args.db)
    try:
        res = train(args.data_dir, st, solver_factory=SolverService,
                    simulate_hours=args.simulate,
                    window=(args.t_from, args.t_to) if args.t_from else None, reader=reader,
                    kinds=registry.SHORT_KINDS[args.kind], seed=args.seed, step_s=args.step,
                    ae_epochs=args.epochs, db_url=args.db, progress=_progress(args.json))
    finally:
        if reader is not None:
            reader.close()
    if sys.stderr.isatty() and not args.json:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(res.as_dict(), indent=2, default=str))
        return 0
    print(f"anomaly model v{res.version}: {', '.join(r.kind for r in res.records)} — "
          f"{res.scans} scans, window {res.window[0]} – {res.window[1]}")
    for r in res.records:
        print(f"  {r.kind}: {r.file_path} sha256 {r.sha256[:16]}…")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from app.analytics import registry
    from app.analytics.forecast_models import MODEL_TYPE, list_forecasts

    st = _station(args)
    engine = registry.open_store(args.data_dir, st, db_url=args.db)
    recs = registry.list_models(args.data_dir, st, engine=engine)
    fcs = list_forecasts(args.data_dir, st, engine=engine)
    if args.json:
        print(json.dumps([r.as_dict() for r in recs]
                         + [{"version": f.version, "kind": MODEL_TYPE, "source": f.source,
                             "window_start": f.window_start, "window_end": f.window_end,
                             "metrics": f.metrics, "file_path": f.file_path,
                             "sha256": f.sha256, "created_at": f.created_at,
                             "active": k == 0} for k, f in enumerate(fcs)],
                         indent=2, default=str))
        return 0
    if not recs:
        print(f"no anomaly model: {registry.HOW_TO_TRAIN}")
    else:
        print(table([[r.version, r.kind, "yes" if r.active else "", r.source,
                      f"{r.window_start or ''} – {r.window_end or ''}", r.sha256[:12],
                      r.created_at[:19]] for r in recs],
                    ["version", "kind", "active", "source", "training window", "sha256",
                     "created"]))
    if not fcs:
        print("no load forecaster: train one with `gridtwin ml train forecast --simulate "
              "2016` (12 weeks) or on the historian's load (--from/--to)")
        return 0
    print()
    print(table([[f.version, "yes" if k == 0 else "", f.source,
                  f"{f.metrics.get('nbeats_mape_pct', float('nan')):.2f}",
                  f"{f.metrics.get('naive_week_mape_pct', float('nan')):.2f}",
                  f"{f.metrics.get('naive_day_mape_pct', float('nan')):.2f}",
                  f.sha256[:12], f.created_at[:19]] for k, f in enumerate(fcs)],
                ["forecaster", "in use", "source", "MAPE %", "last week %", "yesterday %",
                 "sha256", "created"]))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from app.analytics import registry
    from app.analytics.evaluation import evaluate
    from app.runtime.solver import SolverService

    st = _station(args)
    if args.model:
        loaded = registry.load_file(args.model, st)
    else:
        got = registry.load_active(args.data_dir, st, db_url=args.db)
        if got is None:
            print(f"gridtwin: no active anomaly model: {registry.HOW_TO_TRAIN}", file=sys.stderr)
            return EXIT_INPUT
        loaded = got
    out = evaluate(loaded.models, st, seed=args.seed, days=args.days, step_s=args.step,
                   solver_factory=SolverService, progress=_progress(args.json))
    if sys.stderr.isatty() and not args.json:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    print(f"{loaded.describe()} on seed {args.seed}, {args.days:g} simulated day(s): "
          f"F1 {out['f1']:.3f} (target ≥ {out['targets']['f1']:g}, ratio "
          f"{out['f1'] / out['targets']['f1']:.2f}), precision {out['precision']:.3f}, "
          f"recall {out['recall']:.3f}")
    print(f"false alarms per asset-day {out['false_alarms_per_asset_day']:.2f} (target ≤ "
          f"{out['targets']['false_alarms_per_asset_day']:g})")
    print(table([[k, r["faults"], r["detected"], r["precision"], r["recall"], r["f1"],
                  r["delay_s"] if r["delay_s"] is not None else "-",
                  r["lead_s"] if r["lead_s"] is not None else "-"]
                 for k, r in out["per_kind"].items()],
                ["kind", "faults", "detected", "precision", "recall", "F1", "delay s",
                 "lead s"]))
    return 0
