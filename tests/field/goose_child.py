"""Child process of tests/field/test_goose.py, run inside the test's network namespace:
a publisher on one end of the veth pair, a receiver on the other; prints JSON."""

from __future__ import annotations

import datetime as dt
import json
import sys

from app.field.iec61850.goose import (
    GooseInterfaceError,
    GooseReceiver,
    RetransmissionPolicy,
    StationPublishers,
    gocb_for,
)

T0 = dt.datetime(2030, 6, 1, 5, 30, tzinfo=dt.UTC)  # a simulated instant, no wall clock


def burst(pub_if: str, sub_if: str) -> dict:
    g1, g2, other = gocb_for(0, "GTL2"), gocb_for(1, "GTICT2"), gocb_for(2, "GTNOTSUB")
    ms = dt.timedelta(milliseconds=1)
    with GooseReceiver(sub_if, [g1, g2]) as rx:
        rx.start()
        pubs = StationPublishers(pub_if, [g1, g2, other], RetransmissionPolicy(2.0, 1000.0))
        try:
            sent = []
            sent.append(pubs.change("GTL2", [False, False, False, False, 0, T0], T0))
            sent.append(pubs.change("GTNOTSUB", [True, False, False, False, 0, T0], T0))
            # the trip at +20 ms with breaker-failure initiation, the BF re-trip at +170 ms
            t_trip = T0 + 20 * ms
            sent += pubs.advance(t_trip)
            sent.append(pubs.change("GTL2", [True, True, False, False, 0, t_trip], t_trip))
            same = pubs.change("GTL2", [True, True, False, False, 0, t_trip], t_trip + ms)
            t_rt = T0 + 170 * ms
            sent += pubs.advance(t_rt)
            sent.append(pubs.change("GTL2", [True, True, True, False, 0, t_rt], t_rt))
            t_bu = T0 + 270 * ms
            sent += pubs.advance(t_bu)
            sent.append(pubs.change("GTICT2", [True, False, False, True, 0, t_bu], t_bu))
            sent += pubs.advance(T0 + 3000 * ms)
            subscribed = sum(p.sent for i, p in pubs.pubs.items() if i != "GTNOTSUB")
            ok = rx.wait_for(subscribed, 10.0)
        finally:
            pubs.close()
        msgs = rx.drain()
    return {"ok": ok, "unchanged_sent": same is not None, "subscribed_sent": subscribed,
            "sent": [{"gocb": f.gocb_ref, "st": f.st_num, "sq": f.sq_num,
                      "at_ms": (f.at - T0) / ms, "ttl_ms": f.ttl_ms} for f in sent if f],
            "received": [m.as_dict() for m in msgs]}


def refuse(iface: str) -> dict:
    try:
        GooseReceiver(iface, [gocb_for(0, "GTL2")])
    except GooseInterfaceError as exc:
        return {"error": str(exc), "iface": exc.iface}
    return {"error": None}


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    out = burst(*rest) if mode == "burst" else refuse(*rest)
    print(json.dumps(out))
