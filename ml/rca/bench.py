"""The RCA benchmark: milliseconds per :func:`ml.rca.engine.analyse` call on the reference
station, for ``gridtwin bench ml`` (``bench/ml.py`` calls :func:`bench_rca` and prints or
returns its figures; target ``rca_ms`` ≤ 100).

The calls alternate between two alarms with a full context: a breaker trip amid a
stuck-breaker sequence and unrelated alarms (event correlation and history), and a
transformer's hot-spot alarm (DGA, thermal over a 24 h history at one sample a minute, event
correlation and history), with a few hundred past incidents.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time

from app.station.loader import load_station
from ml.rca.engine import RcaContext, analyse
from ml.rca.events import StationEvent, topology_from_station
from ml.rca.history import Incident, Signature, term
from ml.rca.result import Trigger
from ml.rca.thermal import ThermalInputs, expected_temperatures

_T0 = dt.datetime(2026, 1, 15, 6, 0, tzinfo=dt.UTC)
_KINDS = (("trip", None, "breaker"), ("protection", "zone_operated", "relay"),
          ("protection", "breaker_failure_operated", "relay"), ("limit", "hot_spot_c", "ict"),
          ("limit", "top_oil_c", "ict"), ("limit", "voltage_kv", "busbar"),
          ("invalid", None, "ct"), ("comm_lost", None, "bay"), ("analog", "gas_c2h2_ppm", "ict"),
          ("status", "cooler_running", "ict"), ("limit", "current_a", "ct"))


def _context(seed: int, incidents: int) -> tuple[list[Trigger], RcaContext]:
    rng = random.Random(seed)
    station = load_station()
    topo = topology_from_station(station)

    def at(s: float) -> dt.datetime:
        return _T0 + dt.timedelta(seconds=s)

    events = [StationEvent(at(0.0), "L1_21M1", "protection", quantity="zone_operated"),
              StationEvent(at(0.2), "BB400_87B", "protection",
                           quantity="breaker_failure_operated")]
    events += [StationEvent(at(0.3), b, "trip") for b in ("L2_Q0", "ICT1H_Q0", "ICT2H_Q0",
                                                           "BC4_Q0", "BR4_Q0")]
    cts = [a.id for a in station.assets_of_type("ct")]
    for _ in range(60):
        ct = rng.choice(cts)
        events.append(StationEvent(at(rng.uniform(-30, 10)), ct, "limit", tag=f"{ct}.I_A",
                                   quantity="current_a", value=rng.uniform(1000, 2000)))
    n = 24 * 60
    t = [_T0.timestamp() - 60.0 * (n - 1 - i) for i in range(n)]
    load = [0.6 + 0.3 * rng.random() for _ in range(n)]
    amb = [30.0 + 5 * rng.random() for _ in range(n)]
    top, hot = expected_temperatures(t, load, amb)
    thermal = ThermalInputs(tuple(t), tuple(load), tuple(amb), tuple(x + 12 for x in top),
                            tuple(x + 15 for x in hot), coolers_running=(False, True))
    dga = tuple((_T0 - dt.timedelta(days=7 * k),
                 {"H2": 100 / (k + 1), "CH4": 200 / (k + 1), "C2H6": 50, "C2H4": 400 / (k + 1),
                  "C2H2": 2, "CO": 300, "CO2": 3000}) for k in range(6))
    past = []
    for i in range(incidents):
        terms = {term(*rng.choice(_KINDS)): rng.choice((1.0, 2.0)) for _ in range(4)}
        past.append(Incident(_T0 - dt.timedelta(days=rng.uniform(1, 1500)), rng.choice(cts),
                             "ct", Signature(terms), f"finding {i}", None, f"incident {i}"))
    ctx = RcaContext(topology=topo, events=tuple(events), thermal={"ICT1": thermal},
                     dga={"ICT1": dga}, age_years={"ICT1": 12.0}, incidents=tuple(past))
    triggers = [Trigger("alarm", "ICT2H_Q0", at(0.3), asset_type="breaker", alarm_kind="trip"),
                Trigger("alarm", "ICT1", at(0.0), asset_type="ict", tag="ICT1.HOT_SPOT",
                        alarm_kind="analog", quantity="hot_spot_c", value=hot[-1] + 15)]
    return triggers, ctx


def bench_rca(*, calls: int = 200, seed: int = 0, incidents: int = 300) -> dict[str, float]:
    """Time ``calls`` analyses; returns ``{"rca_ms": median, "rca_p99_ms": 99th percentile,
    "rca_max_ms": …}`` (wall time per analysis, milliseconds), the same of the process's CPU
    time (``rca_cpu_ms``, ``rca_cpu_p99_ms``: what the analysis costs whatever else the
    machine runs) and ``rca_calls``."""
    triggers, ctx = _context(seed, incidents)
    analyse(triggers[0], ctx)  # warm-up (imports, caches)
    wall, cpu = [], []
    for i in range(calls):
        t0, c0 = time.perf_counter(), time.process_time()
        result = analyse(triggers[i % len(triggers)], ctx)
        wall.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
        if result.failures:
            raise RuntimeError(f"RCA benchmark: analysers failed: {dict(result.failures)}")
    wall.sort()
    cpu.sort()
    p99 = min(calls - 1, int(0.99 * calls))
    return {"rca_ms": statistics.median(wall), "rca_p99_ms": wall[p99], "rca_max_ms": wall[-1],
            "rca_cpu_ms": statistics.median(cpu), "rca_cpu_p99_ms": cpu[p99],
            "rca_calls": float(calls)}


if __name__ == "__main__":  # pragma: no cover
    print(bench_rca())
