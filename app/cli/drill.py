"""CLI verbs for the trainer's drills.

    gridtwin drill [SCENARIO] [--trainee NAME] [--speed N] [--from-snapshot FILE]
                   [--snapshot-every MIN] [--date YYYY-MM-DD] [--data-dir D] [--goose IFACE]
        the drill with its windows: the trainee's HMI (the same as `gridtwin run`, marked
        DRILL, on the in-process plant simulator) and the instructor station (run / freeze /
        resume, speed 0.5x-20x, snapshots and backtrack, live malfunctions, the trainee's
        actions as they are judged, the SOE, the COMTRADE records, Finish drill → score and
        debrief). Without SCENARIO a picker lists the scenarios. --from-snapshot starts from a
        snapshot saved by the instructor (its scenario; its day unless --date). The drill's
        folder DATA_DIR/drills/TRAINEE/SCENARIO-TIME holds its own configuration store (the
        trainee's account, the audit of their commands), the records and the debrief; nothing
        reaches the live station's historian. --screenshot DIR runs --duration seconds
        offscreen and saves trainee.png and instructor.png there.
    gridtwin drill run SCENARIO [options as above]
        the same as `gridtwin drill SCENARIO`
    gridtwin drill list [--json]
        the scenarios in scenarios/ (id, title, duration, events, expected actions)
    gridtwin drill run SCENARIO --headless [--speed N] [--actions FILE] [--report DIR]
                       [--date YYYY-MM-DD] [--data-dir D] [--goose IFACE] [--json]
        play a scenario on the in-process plant simulator, on simulated time (as fast as it
        goes, or N times real time), the trainee's actions from FILE; write the COMTRADE
        records, result.json and the debrief (report.html, report.pdf) into DIR (default:
        DATA_DIR/drills/TRAINEE/SCENARIO-TIME) and add the score to the trainee's results
        (DATA_DIR/drills/TRAINEE/results.jsonl). Nothing reaches the live historian.
        --goose IFACE: the bay IEDs publish their protection trips and breaker-failure
        initiation as IEC 61850 GOOSE on IFACE (raw Ethernet: root or CAP_NET_RAW), a
        subscriber on IFACE records them in the sequence of events.

SCENARIO is a scenario id, or a path to a scenario file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path

from app.cli.options import EXIT_INPUT, positive_float
from app.cli.output import table
from app.station import clock


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def cmd_list(args: argparse.Namespace) -> int:
    from app.training.scenario import list_scenarios

    scs = list_scenarios(args.folder)
    rows = [{"id": s.id, "title": s.title, "duration_s": s.duration_s,
             "events": len(s.events), "expected_actions": len(s.expect),
             "file": str(s.path)} for s in scs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(table([(r["id"], r["title"], r["duration_s"], r["events"], r["expected_actions"])
                 for r in rows], ("id", "title", "duration s", "events", "expected")))
    return 0


def cmd_drill(args: argparse.Namespace) -> int:
    """The drill with its windows (trainee's HMI and instructor station)."""
    from app.ui.drill.app import DrillOptions, run_drill

    if args.speed is not None and not 0.5 <= args.speed <= 20:
        print(f"gridtwin: --speed: {args.speed:g} outside 0.5-20 with the windows "
              "(--headless runs as fast as it goes)", file=sys.stderr)
        return EXIT_INPUT
    return run_drill(DrillOptions(
        scenario=getattr(args, "scenario", None), folder=args.folder, station=args.station,
        data_dir=args.data_dir, trainee=args.trainee, date=args.date,
        speed=args.speed or 1.0, from_snapshot=args.from_snapshot,
        snapshot_every_min=args.snapshot_every, no_3d=args.no_3d, goose=args.goose,
        screenshot=args.screenshot, duration=args.duration))


def cmd_run(args: argparse.Namespace) -> int:
    if not args.headless:
        return cmd_drill(args)
    from app.historian.db import data_dir
    from app.station import load_station
    from app.training.debrief import store_result, write_report
    from app.training.drill import DrillEngine
    from app.training.scenario import ActionScript, find_scenario, load_actions, load_scenario

    station = load_station(args.station)
    sc = load_scenario(find_scenario(args.scenario, args.folder), station)
    script = load_actions(args.actions) if args.actions else ActionScript()
    now = clock.now()
    day = args.date or now.date()
    root = data_dir(args.data_dir) / "drills"
    stamp = re.sub(r"[^0-9T]", "", now.strftime("%Y%m%dT%H%M%S"))
    out = Path(args.report) if args.report else root / script.trainee / f"{sc.id}-{stamp}"
    goose = None
    if args.goose:
        from app.training.drill_goose import DrillGoose

        goose = DrillGoose(args.goose)
    try:
        engine = DrillEngine(station, sc, day=day, out_dir=out, script=script, goose=goose)
        result = engine.run(speed=args.speed)
    finally:
        if goose is not None:
            goose.close()
    write_report(result, out, tz=station.station.timezone)
    store_result(result, root)
    d = result.as_dict()
    if args.json:
        d.pop("soe")
        d.pop("alarms")
        d["soe_count"] = len(result.soe)
        d["alarm_count"] = len(result.alarms)
        print(json.dumps(d, indent=2))
        return 0
    print(f"{sc.title} — trainee {script.trainee}: score {d['score']:g} / 100")
    print(f"{result.sim_s:.0f} simulated s in {result.wall_s:.1f} s "
          f"({result.speed_factor:.0f}x)\n")
    if d["actions"]:
        print(table([(a["at_s"], a["action"], a["asset"] or "-", a["verdict"],
                      a["reason"] or "-") for a in d["actions"]],
                    ("t s", "action", "asset", "verdict", "why")))
    missed = [e for e in d["expectations"] if e["verdict"] == "missed"]
    for e in missed:
        print(f"missed: {e['action']} {e['asset']} ({e['text']})")
    for r in d["records"]:
        print(f"record: {r['fault_type']} at {r['bus']} → {r['cfg']}")
    if result.goose is not None:
        g = result.goose
        print(f"GOOSE on {g['iface']}: {g['published']} published, {g['received']} received "
              f"({g['changes_received']} state changes in the SOE)")
    print(f"report: {d['report']}")
    return 0


class _Verbs(argparse._SubParsersAction):
    """``drill list`` and ``drill run`` as verbs; anything else is the SCENARIO of
    ``gridtwin drill SCENARIO`` (parsed as ``drill run SCENARIO``)."""

    class _AnyName(dict):
        def __contains__(self, key: object) -> bool:  # argparse's choice check passes
            return True

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)
        self.choices = self._AnyName()

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        assert isinstance(values, list)
        if values and values[0] not in self._name_parser_map:
            values = ["run", *values]
        super().__call__(parser, namespace, values, option_string)


def _window_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trainee", default="trainee", metavar="NAME",
                   help="the trainee's user name (default: trainee)")
    p.add_argument("--from-snapshot", metavar="FILE",
                   help="start from a snapshot file the instructor saved")
    p.add_argument("--snapshot-every", type=float, default=5.0, metavar="MIN",
                   help="automatic snapshots every MIN simulated minutes (0: off; default 5)")
    p.add_argument("--goose", metavar="IFACE", help="publish protection trips and BF "
                                                    "initiation as GOOSE on IFACE, and record "
                                                    "them (needs CAP_NET_RAW)")
    p.add_argument("--no-3d", action="store_true", help="without the 3D switchyard")
    p.add_argument("--screenshot", metavar="DIR",
                   help="run --duration s offscreen, save trainee.png and instructor.png")
    p.add_argument("--duration", type=positive_float, default=10.0, metavar="S",
                   help="with --screenshot: wall seconds before the screenshots (default 10)")


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("drill", help="the trainer's drills: the drill HMI with the instructor "
                                      "station, scenarios, headless runs, scores",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.register("action", "drill_verbs", _Verbs)
    sp.add_argument("--folder", metavar="DIR", help="scenario folder (default: scenarios/)")
    sp.add_argument("--station", metavar="FILE", help="station file")
    sp.add_argument("--data-dir", help="where drills are stored (default: $GRIDTWIN_DATA_DIR "
                                       "or the user's data folder)/drills")
    sp.add_argument("--date", type=_date, metavar="YYYY-MM-DD",
                    help="the simulated day (default: today)")
    sp.add_argument("--speed", type=positive_float, metavar="N",
                    help="simulated seconds per wall second (windows: 0.5-20, default 1)")
    _window_options(sp)
    sp.set_defaults(func=cmd_drill, scenario=None)
    verbs = sp.add_subparsers(dest="drill_verb", metavar="list|run|SCENARIO", required=False,
                              action="drill_verbs")

    ls = verbs.add_parser("list", help="the scenarios")
    ls.add_argument("--folder", metavar="DIR", help="scenario folder (default: scenarios/)")
    ls.add_argument("--json", action="store_true", help="print JSON for scripts")
    ls.set_defaults(func=cmd_list)

    run = verbs.add_parser("run", help="play a scenario (with the windows, or --headless)")
    run.add_argument("scenario", help="scenario id or file")
    run.add_argument("--headless", action="store_true", help="no window: simulated time, "
                                                              "scripted trainee")
    run.add_argument("--speed", type=positive_float, metavar="N",
                     help="simulated seconds per wall second (default: as fast as it goes "
                          "headless, 1 with the windows; 0.5-20 with the windows)")
    run.add_argument("--actions", metavar="FILE", help="the trainee's actions (TOML)")
    run.add_argument("--report", metavar="DIR", help="where the records and debrief go")
    run.add_argument("--date", type=_date, metavar="YYYY-MM-DD",
                     help="the simulated day (default: today)")
    run.add_argument("--folder", metavar="DIR", help="scenario folder (default: scenarios/)")
    run.add_argument("--station", metavar="FILE", help="station file")
    run.add_argument("--data-dir", help="where drills are stored (default: $GRIDTWIN_DATA_DIR "
                                        "or the user's data folder)/drills")
    run.add_argument("--json", action="store_true", help="print JSON for scripts")
    _window_options(run)
    run.set_defaults(func=cmd_run)
