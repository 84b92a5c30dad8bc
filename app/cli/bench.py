"""``gridtwin bench …``: the benchmarks under ``bench/``, printing figures and ratios (and
JSON with ``--json``). Speed targets live there, never in timed unit tests."""

from __future__ import annotations

import argparse
import sys

from app.cli.options import (
    EXIT_INPUT,
    non_negative_int,
    positive_float,
    positive_int,
    station_and_json,
)

BENCHES = ("twin", "field", "historian", "alarms", "hmi", "reliability", "ml", "drill", "goose")


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "twin":
        from bench.twin import main as bench_twin

        return bench_twin(json_out=args.json, repeat=args.repeat, station=args.station)
    if args.what == "field":
        from bench.field import main as bench_field

        return bench_field(json_out=args.json, repeat=min(args.repeat, 100))
    if args.what == "historian":
        from bench.historian import main as bench_historian

        return bench_historian(json_out=args.json, minutes=args.minutes,
                               realtime_s=args.realtime, data_dir=args.data_dir)
    if args.what == "alarms":
        from bench.alarms import main as bench_alarms

        return bench_alarms(json_out=args.json)
    if args.what == "reliability":
        from bench.reliability import main as bench_reliability

        return bench_reliability(json_out=args.json, runs=max(1, min(args.repeat, 5)))
    if args.what == "ml":
        from bench.ml import main as bench_ml

        return bench_ml(json_out=args.json, repeat=args.repeat, station=args.station)
    if args.what == "drill":
        from bench.drill import main as bench_drill

        return bench_drill(json_out=args.json)
    if args.what == "goose":
        from bench.goose import main as bench_goose

        return bench_goose(json_out=args.json, iface=args.iface, with_drill=args.drill)
    if args.what == "hmi":
        from bench.hmi import main as bench_hmi

        return bench_hmi(json_out=args.json, duration_s=args.duration, flood=args.flood,
                         study=args.study, analytics=args.analytics, train=args.train)
    print(f"unknown benchmark '{args.what}'", file=sys.stderr)
    return EXIT_INPUT


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("bench", help="benchmarks: figures and ratios",
                        description="Run a benchmark and print its figures and ratios.")
    sp.add_argument("what", choices=BENCHES, help="which benchmark")
    station_and_json(sp)
    sp.add_argument("--repeat", type=positive_int, default=2000,
                    help="runs per figure (median taken)")
    sp.add_argument("--duration", type=positive_float, default=60.0, metavar="S",
                    help="hmi: seconds of steady state to measure (default 60)")
    sp.add_argument("--flood", type=non_negative_int, default=0, metavar="N",
                    help="hmi: fail N sensors at once half-way through (an alarm flood)")
    sp.add_argument("--study", action="store_true",
                    help="hmi: run N-1 on the live state over and over while measuring")
    sp.add_argument("--analytics", action="store_true",
                    help="hmi: run the inference worker with a trained model (trains a small "
                         "one first)")
    sp.add_argument("--train", action="store_true",
                    help="hmi: with the inference worker, run Train model… over and over "
                         "while measuring")
    sp.add_argument("--minutes", type=positive_float, default=30.0,
                    help="historian: simulated minutes of 10 Hz data to ingest (default 30)")
    sp.add_argument("--realtime", type=positive_float, default=15.0, metavar="S",
                    help="historian: seconds of sustained real-time ingest (default 15)")
    sp.add_argument("--data-dir", help="historian: where its scratch databases go (default: "
                                       "a temporary folder, removed afterwards)")
    sp.add_argument("--iface", default="lo", metavar="IFACE",
                    help="goose: the network interface to publish and subscribe on (default "
                         "lo; raw Ethernet needs root or CAP_NET_RAW)")
    sp.add_argument("--drill", action="store_true",
                    help="goose: also play the breaker-failure drill with and without GOOSE")
    sp.set_defaults(func=cmd_bench)
