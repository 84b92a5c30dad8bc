"""CLI verb for load forecasting.

    gridtwin forecast --csv FILE   rolling-origin backtest of N-BEATS against the seasonal
                                   naive forecasts (same time previous day, previous week)

The CSV has a header, an ISO 8601 time column and a value column, evenly spaced at 15, 30 or
60 min (see :mod:`ml.forecast.series` for how the columns are chosen; ``--time-col`` and
``--value-col`` name them). The model is trained on everything before the backtest; then
from 00:00 of each of the last ``--backtest-days`` days (in the time zone the timestamps
carry) it forecasts ``--horizon-hours`` from the ``--lookback-hours`` before. Prints MAPE and
MAE per model; ``--json`` for scripts. A bad file is one line naming the file and line, exit
status 2. The same ``--seed`` gives the same figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from app.cli.options import non_negative_int, positive_float, positive_int

if TYPE_CHECKING:
    from ml.forecast.model import TrainConfig

EXIT_INPUT = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    sp = subparsers.add_parser(
        "forecast", help="N-BEATS load forecast backtest against seasonal naive",
        description="Train N-BEATS on a load series and backtest it day by day against the "
                    "seasonal naive forecasts (same time previous day and previous week): "
                    "MAPE and MAE per model.")
    sp.add_argument("--csv", required=True, metavar="FILE",
                    help="load series: header row, ISO 8601 time column, value column "
                         "(.csv or .csv.gz)")
    sp.add_argument("--time-col", metavar="NAME", help="the time column (default: the first "
                    "named like a time, else the first holding ISO 8601 times)")
    sp.add_argument("--value-col", metavar="NAME",
                    help="the value column (default: the first other numeric column)")
    sp.add_argument("--horizon-hours", type=positive_float, default=24.0, metavar="H",
                    help="forecast horizon (default 24)")
    sp.add_argument("--lookback-hours", type=positive_float, default=168.0, metavar="H",
                    help="input window, a multiple of the horizon (default 168)")
    sp.add_argument("--backtest-days", type=positive_int, default=7, metavar="N",
                    help="days at the end of the series to backtest (default 7)")
    sp.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    sp.add_argument("--kind", choices=("generic", "interpretable"), default="interpretable",
                    help="N-BEATS configuration (default interpretable)")
    sp.add_argument("--steps", type=positive_int, metavar="N",
                    help="training iterations (default: the model's own, see "
                         "ml.forecast.model.TrainConfig)")
    sp.add_argument("--members", type=positive_int, default=1, metavar="N",
                    help="an ensemble of N networks, forecasting their mean (default 1)")
    sp.add_argument("--json", action="store_true", help="print JSON for scripts")
    sp.set_defaults(func=cmd_forecast)


def _train_config(args: argparse.Namespace) -> TrainConfig:
    from ml.forecast.model import TrainConfig

    steps = {"steps": args.steps} if args.steps else {}
    return TrainConfig(seed=args.seed, members=args.members, **steps)


def cmd_forecast(args: argparse.Namespace) -> int:
    from ml.forecast.backtest import backtest
    from ml.forecast.series import load_csv

    try:
        series = load_csv(args.csv, time_col=args.time_col, value_col=args.value_col)
        r = backtest(series, horizon_hours=args.horizon_hours,
                     lookback_hours=args.lookback_hours, backtest_days=args.backtest_days,
                     model_kind=args.kind, train=_train_config(args))
    except ValueError as exc:
        print(f"gridtwin: {exc}", file=sys.stderr)
        return EXIT_INPUT
    out = {"csv": str(args.csv), "value": series.value_name, "seed": args.seed,
           "kind": args.kind, "members": args.members, **r.as_dict()}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.csv}: {len(series)} samples of {series.value_name} every "
          f"{r.period_minutes} min; N-BEATS ({args.kind}, seed {args.seed}) trained on "
          f"{r.train_samples} in {r.train_s:.1f} s")
    print(f"backtest: {len(r.origins)} day(s) from {r.origin_times[0]}, horizon "
          f"{r.horizon_steps} steps, lookback {r.lookback_steps}\n")
    names = {"nbeats": "N-BEATS", "naive_day": "naive, previous day",
             "naive_week": "naive, previous week"}
    w = max(len(n) for n in names.values())
    print(f"{'model':<{w}}  {'MAPE %':>8}  {'MAE':>10}")
    print(f"{'-' * w}  {'-' * 8}  {'-' * 10}")
    for k, s in r.scores.items():
        print(f"{names[k]:<{w}}  {s.mape_pct:>8.3f}  {s.mae:>10.3f}")
    return 0
