"""GOOSE benchmarks (raw Ethernet: run as root or with CAP_NET_RAW).

* ``latency_ms`` — p50 / p99 from ``GoosePublisher.change`` returning to the subscriber's
  decoded message (the receiver's own thread, polling every 1 ms), over ``n`` state changes
  of one GoCB, publisher and subscriber in one process on ``iface`` (default ``lo``).
* ``drill`` — the ``breaker-failure`` scenario (900 s, 22 GoCBs heart-beating every second)
  played headless with and without GOOSE on ``iface``: speed factors and messages.

``gridtwin bench goose [--iface IFACE] [--drill] [--json]`` (or ``python -m bench.goose [IFACE]
[--drill]``) prints the figures. A refused interface (none such, down, no CAP_NET_RAW) is one
line naming it, exit 2.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory


def latency_ms(iface: str = "lo", n: int = 500) -> dict[str, float]:
    from app.field.iec61850.goose import GoosePublisher, GooseReceiver, gocb_for

    g = gocb_for(0, "GTBENCH")
    t0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    lat = []
    with GooseReceiver(iface, [g]) as rx, GoosePublisher(iface, g) as pub:
        rx.start()
        for k in range(n):
            at = t0 + dt.timedelta(milliseconds=k)
            sent_ns = time.monotonic_ns()
            pub.change([k % 2 == 0, False, False, False, 0, at], at)
            if not rx.wait_for(k + 1, 2.0):
                raise RuntimeError(f"message {k} not received on {iface}")
            msg = rx.drain()[-1]
            lat.append((msg.received_ns - sent_ns) / 1e6)
    lat.sort()
    return {"n": n, "p50": round(statistics.median(lat), 3),
            "p99": round(lat[int(0.99 * (n - 1))], 3)}


def drill(iface: str = "lo") -> dict[str, object]:
    from app.station import load_station
    from app.training.drill import DrillEngine
    from app.training.drill_goose import DrillGoose
    from app.training.scenario import find_scenario, load_scenario

    station = load_station()
    sc = load_scenario(find_scenario("breaker-failure"), station)
    out: dict[str, object] = {"scenario": sc.id, "sim_s": sc.duration_s}
    with TemporaryDirectory() as tmp:
        res = DrillEngine(station, sc, day=dt.date(2030, 6, 1), out_dir=Path(tmp)).run()
        out["speed_factor"] = round(res.speed_factor, 1)
        goose = DrillGoose(iface)
        try:
            res = DrillEngine(station, sc, day=dt.date(2030, 6, 1), out_dir=Path(tmp),
                              goose=goose).run()
        finally:
            goose.close()
        out["speed_factor_goose"] = round(res.speed_factor, 1)
        out["goose"] = res.goose
    return out


def main(json_out: bool = True, iface: str = "lo", with_drill: bool = False) -> int:
    from app.field.iec61850.goose import GooseError, GooseInterfaceError

    try:
        figures: dict[str, object] = {"iface": iface, "latency_ms": latency_ms(iface)}
        if with_drill:
            figures["drill"] = drill(iface)
    except (GooseInterfaceError, GooseError) as exc:
        print(f"gridtwin: bench goose: {exc}", file=sys.stderr)
        return 2
    if json_out:
        print(json.dumps(figures, indent=2))
    else:
        lat = figures["latency_ms"]
        print(f"{'iface':28s} {iface}")
        print(f"{'latency_ms p50 / p99':28s} {lat['p50']} / {lat['p99']}  (n = {lat['n']})")
        if with_drill:
            d = figures["drill"]
            print(f"{'drill':28s} {d['scenario']}, {d['sim_s']:g} s simulated")
            print(f"{'speed_factor':28s} {d['speed_factor']}")
            print(f"{'speed_factor_goose':28s} {d['speed_factor_goose']}")
            print(f"{'goose':28s} {d['goose']}")
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    raise SystemExit(main(iface=args[0] if args else "lo", with_drill="--drill" in sys.argv))
