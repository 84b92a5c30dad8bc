"""CLI verbs for the historian: record, history, dss.

    gridtwin record      poll the station over Modbus TCP / IEC 61850 into the historian
    gridtwin history     trends, values at a time, events (tables or CSV)
    gridtwin dss         circuit model versions: list, add, diff, activate, roll back

Times on the command line are ISO 8601; without a zone they are IST (UTC+05:30), as the
control room reads them. ``--last 2h`` (s, m, h, d) is the same as ``--from now-2h``.

Time series go to the SQL database (SQLite in the data folder, or ``--db URL``) or, with
``--influx URL``, to InfluxDB (1.x HTTP API; InfluxDB 2.x through its v1 compatibility API,
where the database must exist as a bucket with a DBRP mapping). The token may also come from
``$GRIDTWIN_INFLUX_TOKEN``, a 1.x password (with ``--influx-user``) from
``$GRIDTWIN_INFLUX_PASSWORD``. Retention: ``--retention raw=7d,hourly=90d,daily=5y``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from typing import TYPE_CHECKING

from app.cli.options import int_at_least, positive_float, positive_int
from app.station import clock
from app.station.timezone import IST

if TYPE_CHECKING:
    import numpy as np

    from app.historian import HistorianBackend, HistorianOptions, HistorianStatus, Trend
    from app.historian.store import Retention
    from app.station import Station
    from app.station.points import PointTable


def parse_time(text: str, what: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not an ISO 8601 time "
                         "(e.g. 2026-11-25T14:30 or 2026-11-25T09:00Z)") from None
    return t if t.tzinfo else t.replace(tzinfo=IST)


def parse_span(text: str) -> dt.timedelta:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not m:
        raise ValueError(f"--last: {text!r} is not a span like 30s, 10m, 2h or 7d")
    n = float(m.group(1))
    return dt.timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)])


def _range(args: argparse.Namespace) -> tuple[dt.datetime, dt.datetime]:
    end = parse_time(args.to, "--to") if args.to else clock.now()
    if args.last:
        return end - parse_span(args.last), end
    start = parse_time(args.frm, "--from") if args.frm else end - dt.timedelta(hours=1)
    if start >= end:
        raise ValueError("--from must be before --to")
    return start, end


def retention_arg(text: str) -> Retention:
    """argparse type: ``raw=7d,hourly=90d,daily=5y`` → Retention."""
    from app.historian.store import Retention

    try:
        return Retention.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--retention: ")) from None


def add_backend_arguments(sp: argparse.ArgumentParser, *, retention: bool = True) -> None:
    """Where time series go (SQL or InfluxDB) and how long they are kept; for ``record`` and
    ``run`` (``history`` reads: no retention)."""
    if not retention:
        sp.set_defaults(retention=None)
    else:
        sp.add_argument("--retention", type=retention_arg, metavar="SPEC",
                        help="how long data is kept, e.g. raw=7d,hourly=90d,daily=5y "
                             "(units h, d, w, y; default raw 7 d, hourly 90 d, daily 5 y)")
    sp.add_argument("--influx", metavar="URL",
                    help="store time series in InfluxDB at URL (http://host:8086; 1.x API, "
                         "or 2.x's v1 compatibility API) instead of the SQL database")
    sp.add_argument("--influx-db", metavar="NAME", default="gridtwin",
                    help="InfluxDB database (2.x: the DBRP-mapped name; default gridtwin)")
    sp.add_argument("--influx-token", metavar="TOKEN",
                    help="InfluxDB 2.x API token (default $GRIDTWIN_INFLUX_TOKEN)")
    sp.add_argument("--influx-user", metavar="USER",
                    help="InfluxDB 1.x user (password from $GRIDTWIN_INFLUX_PASSWORD)")


def historian_options(args: argparse.Namespace) -> HistorianOptions:
    """open_historian() keyword arguments from the options of add_backend_arguments()."""
    from app.historian import HistorianOptions, InfluxSettings

    out = HistorianOptions()
    if args.retention is not None:
        out["retention"] = args.retention
    if args.influx:
        out["influx"] = InfluxSettings(
            args.influx, args.influx_db,
            token=args.influx_token or os.environ.get("GRIDTWIN_INFLUX_TOKEN") or None,
            username=args.influx_user,
            password=os.environ.get("GRIDTWIN_INFLUX_PASSWORD") if args.influx_user else None)
    return out


def _open(args: argparse.Namespace, *, writer: bool = True
          ) -> tuple[Station, PointTable, HistorianBackend]:
    from app.historian import open_historian
    from app.station import load_station
    from app.station.points import build_point_table

    st = load_station(args.station)
    pts = build_point_table(st)
    kw = historian_options(args)
    if not writer:
        kw["start_writer"] = False  # queries only: no writer thread, no housekeeping
    return st, pts, open_historian(st, pts, data_dir=args.data_dir, db_url=args.db, **kw)


def add_common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--station", help="station file")
    sp.add_argument("--data-dir", help="historian folder (default: $GRIDTWIN_DATA_DIR or the "
                                       "platform's data folder)")
    sp.add_argument("--db", metavar="URL", help="database URL instead of SQLite "
                                                "(postgresql+psycopg://user@host/db)")


def _version(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a version number (see 'gridtwin dss "
                         "list')") from None
    if n < 1:
        raise ValueError(f"{what}: {text!r} is not a version number (they start at 1)")
    return n


# ----------------------------------------------------------------------------- record
def cmd_record(args: argparse.Namespace) -> int:
    """Poll the station into the historian: the same composed pipeline as ``run`` (twin,
    sequence of events, alarms, historian), driven without Qt."""
    from app.field.rtu.map import read_map_file
    from app.field.sim.runner import parse_addr
    from app.runtime.compose import FieldSpec, StoreSpec, compose, drive
    from app.station import load_station
    from app.station.points import build_point_table

    # A bad address is one line and exit status 2 before anything is opened or started.
    modbus = parse_addr(args.field, "--field") if args.field else None
    mms = parse_addr(args.mms, "--mms") if args.field and args.mms else None
    st = load_station(args.station)
    pts = build_point_table(st)
    register_map = read_map_file(args.map, pts) if args.map else None
    rt = compose(st, pts,
                 field=FieldSpec(modbus=modbus, mms=mms, period_s=args.period, speed=args.speed,
                                 station_file=args.station, register_map=register_map,
                                 comm_loss_s=args.comm_loss_s),
                 store=StoreSpec(data_dir=args.data_dir, db_url=args.db,
                                 historian_options=historian_options(args)))
    hist = rt.historian
    assert hist is not None  # a store is given and history recorded: compose opened one
    try:
        t0 = time.monotonic()
        n = drive(rt, args.duration)
        print(f"recorded {n} scans of {len(pts)} points in "
              f"{time.monotonic() - t0:.1f} s into {hist.status.target}")
    finally:
        rt.close()
    s = hist.status
    ev = hist.config_store or hist  # events live in the SQL configuration store
    print(record_summary(s, ev.status))
    return 0 if s.ok else 1


def record_summary(s: HistorianStatus, events: HistorianStatus) -> str:
    """The last line of ``record``: what was kept and, truthfully, everything lost (frames
    dropped from a full queue, samples and events the database never took)."""
    return (f"historian: {'ok' if s.ok else 'DEGRADED: ' + s.last_error}; {s.frames} frames, "
            f"{s.samples_written} samples kept, {events.events_written} events stored; "
            f"lost: {s.dropped_frames} frames, {s.lost_samples} samples, "
            f"{events.lost_events} events")


# ----------------------------------------------------------------------------- history
def cmd_history(args: argparse.Namespace) -> int:
    st, pts, hist = _open(args, writer=False)
    try:
        if args.what == "trend":
            if not args.tags:
                raise ValueError("history trend: name at least one point (ASSET.POINT)")
            for t in args.tags:
                pts.row(t)
            a, b = _range(args)
            trends = hist.trend(args.tags, a, b, max_points=args.points)
            if args.csv:
                with open(args.csv, "w", newline="", encoding="utf-8") as fh:
                    hist.export_trend_csv(trends, fh)
                print(f"{sum(len(x.t_ns) for x in trends)} rows written to {args.csv}")
            elif args.json:
                print(json.dumps([_trend_json(x) for x in trends]))
            else:
                for x in trends:
                    print(f"{x.tag}: {len(x.t_ns)} samples from {x.source}")
                    for t, v in list(zip(x.t_ns.tolist(), x.value.tolist(), strict=True))[:20]:
                        print(f"  {dt.datetime.fromtimestamp(t / 1e9, IST):%d %b %H:%M:%S}"
                              f"  {v:.4g}")
        elif args.what == "value":
            if not args.tags or not args.at:
                raise ValueError("history value: give a point and --at TIME")
            from app.station import quality as Q

            at = parse_time(args.at, "--at")
            for tag in args.tags:
                pts.row(tag)
                r = hist.value_at(tag, at)
                if r is None:
                    print(f"{tag}: no data at {at.astimezone(IST):%d %b %Y %H:%M:%S} IST")
                else:
                    print(f"{tag} = {r[0]:.6g} {pts.unit[pts.row(tag)]} "
                          f"({Q.describe(r[1])}, sample of {r[2].astimezone(IST):%H:%M:%S.%f})")
        else:
            a, b = _range(args) if (args.frm or args.last or args.to) else (None, None)
            evs = hist.events(types=args.type, severities=args.severity, asset=args.asset,
                              start=a, end=b, text_contains=args.text, limit=args.limit)
            if args.csv:
                with open(args.csv, "w", newline="", encoding="utf-8") as fh:
                    hist.export_events_csv(evs, fh)
                print(f"{len(evs)} events written to {args.csv}")
            else:
                for e in evs:
                    t = dt.datetime.fromtimestamp(e.time_ms / 1000, IST)
                    print(f"{t:%d %b %H:%M:%S.%f}"[:-3] + f"  {e.event_type:8} {e.severity:8} "
                          f"{e.message}")
    finally:
        hist.close()
    return 0


def _trend_json(x: Trend) -> dict[str, object]:
    def nums(a: np.ndarray | None) -> list[float | None]:
        if a is None:
            return []
        return [None if v != v else v for v in a.tolist()]  # NaN (no value) → null

    out = {"point": x.tag, "source": x.source, "t_ms": (x.t_ns // 1_000_000).tolist(),
           "value": nums(x.value)}
    if x.bucket_t_ns is not None:
        out.update({"bucket_t_ms": (x.bucket_t_ns // 1_000_000).tolist(),
                    "vmin": nums(x.vmin), "vmax": nums(x.vmax), "vmean": nums(x.vmean),
                    "count": x.count.tolist()})
    else:
        out["quality"] = x.quality.tolist()
    return out


# ----------------------------------------------------------------------------- dss
def cmd_dss(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.historian.dss_versions import DssVersionError, DssVersionStore
    from app.twin.validate import validate_circuit_text

    st, _pts, hist = _open(args, writer=False)
    hist.close()
    assert hist.engine is not None  # no time-series backend chosen: the SQL store
    store = DssVersionStore(hist.engine)
    if args.action == "list":
        active = store.active()
        for v in store.versions():
            mark = "*" if active and v.version_id == active.version_id else " "
            print(f"{mark} {v.version_number:3d}  {v.created_at}  {v.created_by or '':10} "
                  f"{v.description or ''}")
    elif args.action == "add":
        if len(args.args) > 1:
            raise ValueError("dss add takes one circuit file")
        path = Path(args.args[0]) if args.args else st.circuit_path
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DssVersionError(f"{path}: no such circuit file") from None
        except UnicodeDecodeError:
            raise DssVersionError(f"{path}: not a text (UTF-8) circuit file") from None
        except OSError as exc:
            raise DssVersionError(f"{path}: cannot read it: {exc.strerror}") from None
        v = store.add(content, created_by=args.user,
                      description=args.note or f"from {path.name}")
        print(f"stored as version {v.version_number} (not active; 'gridtwin dss activate "
              f"{v.version_number}' validates and activates it)")
    elif args.action == "diff":
        if len(args.args) != 2:
            raise ValueError("dss diff needs two version numbers")
        sys.stdout.write(store.diff(_version(args.args[0], "dss diff"),
                                    _version(args.args[1], "dss diff")) or "no difference\n")
    elif args.action == "activate":
        if len(args.args) != 1:
            raise ValueError("dss activate needs a version number")
        v = store.activate(_version(args.args[0], "dss activate"), by=args.user,
                           validate=validate_circuit_text)
        print(f"version {v.version_number} validated and active")
    elif args.action == "rollback":
        v = store.rollback(by=args.user, validate=validate_circuit_text)
        print(f"rolled back: version {v.version_number} active")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("record", help="record the station into the historian",
                        description="Poll the station over Modbus TCP and IEC 61850 MMS (the "
                                    "simulated one, started as a child process, or --field) "
                                    "and record every point and the sequence of events.")
    add_common(sp)
    add_backend_arguments(sp)
    sp.add_argument("--field", metavar="HOST:PORT", help="a running station's Modbus RTU")
    sp.add_argument("--mms", metavar="HOST:PORT", help="its IEC 61850 base port")
    sp.add_argument("--map", metavar="FILE.csv",
                    help="the RTU's Modbus register map as CSV (the form `gridtwin modbus-map` "
                         "prints, e.g. edited for a real RTU); checked before polling starts")
    sp.add_argument("--duration", type=positive_float, default=60.0, metavar="S",
                    help="how long to record (default 60 s)")
    sp.add_argument("--comm-loss-s", type=positive_float, default=None, metavar="S",
                    help="seconds without a good reply before a device's communication-lost "
                         "alarm (default: alarm_rules.toml [communication], 5)")
    sp.add_argument("--period", type=positive_float, default=0.1, metavar="S",
                    help="scan period")
    sp.add_argument("--speed", type=positive_float, default=1.0,
                    help="simulated seconds per second for the started simulator")
    sp.set_defaults(func=cmd_record)

    sp = sub.add_parser("history", help="trends, values and events from the historian",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("what", choices=("trend", "value", "events"))
    sp.add_argument("tags", nargs="*", metavar="ASSET.POINT")
    add_common(sp)
    add_backend_arguments(sp, retention=False)
    sp.add_argument("--from", dest="frm", metavar="TIME")
    sp.add_argument("--to", metavar="TIME")
    sp.add_argument("--last", metavar="SPAN", help="e.g. 10m, 2h, 7d")
    sp.add_argument("--at", metavar="TIME", help="for 'value'")
    sp.add_argument("--points", type=int_at_least(2), default=2000,
                    help="at most this many per point (default 2000)")
    sp.add_argument("--type", action="append", help="event type (repeatable)")
    sp.add_argument("--severity", action="append", help="event severity (repeatable)")
    sp.add_argument("--asset", help="events of one asset")
    sp.add_argument("--text", help="events whose message contains this")
    sp.add_argument("--limit", type=positive_int, default=1000,
                    help="at most this many events (default 1000)")
    sp.add_argument("--csv", metavar="FILE", help="write CSV instead of a table")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_history)

    sp = sub.add_parser("dss", help="circuit model versions",
                        description="Circuit model versions: list; add [FILE] (default: the "
                                    "station's circuit); diff A B; activate N (validated by "
                                    "compiling and solving in a scratch engine first); rollback.")
    sp.add_argument("action", choices=("list", "add", "diff", "activate", "rollback"))
    sp.add_argument("args", nargs="*")
    add_common(sp)
    sp.add_argument("--user", default="engineer", help="who does it (audit log)")
    sp.add_argument("--note", help="description of the version")
    # The versions live in the SQL configuration store: no time-series backend to choose.
    sp.set_defaults(func=cmd_dss, retention=None, influx=None)
