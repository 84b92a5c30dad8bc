"""``gridtwin bench ml [--json]``: the analytics' speed against the issue's targets.

* ``anomaly_scan_ms`` (median, target ≤ 5) and ``anomaly_scan_p99_ms`` — anomaly scoring of
  every asset for one scan, both model kinds, from :mod:`bench.ml_anomaly` (real scans of the
  plant simulator with the runtime's residuals and thermal-model temperatures; its parts —
  extraction, each model, an explanation — are reported too);
* ``rca_ms`` (median per alarm, target ≤ 100) and ``rca_p99_ms`` — the station's RCA entry
  point (``ml.rca.bench.bench_rca``: ``ml.rca.engine.analyse`` on alarms with a full context)
  when this tree has it; otherwise the DGA combined diagnosis of a transformer's analysis
  (``ml.rca.dga_combined.diagnose``), and ``rca_source`` says which was timed;
* ``forecast_train_s`` (target ≤ 120) and ``forecast_infer_ms`` (target ≤ 10) — N-BEATS
  trained on 12 weeks of a real public half-hourly series (the last window of
  :mod:`bench.forecast`) and one 24 h forecast, with its held-out day-ahead MAPE beside the
  previous-week naive's (``forecast_mape_pct``, ``forecast_naive_week_mape_pct``).

Figures are wall-clock medians on whatever else the machine is doing: ``load_avg`` says how
busy it was. ``bench hmi`` runs the HMI with the inference worker where the worker is wired in.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

TARGETS = {"anomaly_scan_ms": 5.0, "rca_ms": 100.0, "forecast_train_s": 120.0,
           "forecast_infer_ms": 10.0}


def _rca(calls: int) -> dict[str, Any]:
    try:
        from ml.rca.bench import bench_rca  # the RCA entry point's benchmark, when present
    except ImportError:
        bench_rca = None
    if bench_rca is not None:
        r = bench_rca(calls=calls)
        return {"rca_ms": round(r["rca_ms"], 3), "rca_p99_ms": round(r["rca_p99_ms"], 3),
                "rca_calls": int(r["rca_calls"]), "rca_source": "ml.rca.engine.analyse"}
    from ml.rca.dga_combined import diagnose

    samples = [{"h2": 40 + i % 7, "ch4": 80, "c2h6": 10, "c2h4": 300 + 3 * (i % 11),
                "c2h2": 10, "co": 200, "co2": 2000} for i in range(calls)]
    diagnose(samples[0])
    times = []
    for s in samples:
        a = time.perf_counter()
        diagnose(s)
        times.append((time.perf_counter() - a) * 1e3)
    times.sort()
    return {"rca_ms": round(statistics.median(times), 3),
            "rca_p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
            "rca_calls": calls,
            "rca_source": "ml.rca.dga_combined.diagnose (the RCA entry point is not in this "
                          "tree)"}


def _forecast(steps: int | None = None) -> dict[str, Any]:
    """N-BEATS on 12 weeks of a real public series (the last window of bench.forecast:
    Victoria's 2014 half-hourly demand): training time, one 24 h forecast, and its day-ahead
    MAPE over the window's held-out week against the previous-week naive."""
    from bench.forecast import WINDOWS
    from bench.forecast import run as run_forecast

    r = run_forecast(windows=(WINDOWS[-1],), steps=steps)
    return {"forecast_train_s": r["forecast_train_s"], "forecast_infer_ms": r["forecast_infer_ms"],
            "forecast_mape_pct": r["mape_nbeats_pct"],
            "forecast_naive_week_mape_pct": r["mape_naive_week_pct"],
            "forecast_series": r["series"]}


def run(repeat: int = 2000, train_hours: float = 6.0, rca_calls: int = 200,
        station: str | None = None, live_s: float = 60.0,
        forecast_steps: int | None = None) -> dict[str, Any]:
    from bench.ml_anomaly import run as run_anomaly

    out: dict[str, Any] = dict(run_anomaly(repeat=repeat, train_hours=train_hours,
                                           station=station, live_s=live_s))
    out.update(_rca(rca_calls))
    out.update(_forecast(forecast_steps))
    out["targets"] = TARGETS
    out["ratios"] = {k: round(out[k] / v, 3) for k, v in TARGETS.items()}
    out["ok"] = all(r <= 1.0 for r in out["ratios"].values())
    out["load_avg"] = round(os.getloadavg()[0], 2)
    return out


def main(json_out: bool = False, repeat: int = 2000, station: str | None = None) -> int:
    r = run(repeat=repeat, station=station)
    if json_out:
        print(json.dumps(r, indent=2))
        return 0
    t = TARGETS
    print(f"anomaly scan: {r['anomaly_scan_ms']:.2f} ms median, {r['anomaly_scan_p99_ms']:.2f}"
          f" ms p99 — target ≤ {t['anomaly_scan_ms']:g} ms, ratio "
          f"{r['ratios']['anomaly_scan_ms']:.2f} ({r['assets']} assets, {r['classes']} classes)")
    print(f"  extract {r['extract_ms']:.2f} ms, isolation forest {r['isolation_forest_ms']:.2f}"
          f" ms, autoencoder {r['autoencoder_ms']:.2f} ms, explain {r['explain_ms']:.2f} ms; "
          f"CPU {r['anomaly_scan_cpu_ms']:.2f} ms")
    print(f"RCA per alarm: {r['rca_ms']:.2f} ms median, {r['rca_p99_ms']:.2f} ms p99 — target"
          f" ≤ {t['rca_ms']:g} ms, ratio {r['ratios']['rca_ms']:.2f} ({r['rca_source']})")
    print(f"load forecast ({r['forecast_series']}, 12 weeks half-hourly): training "
          f"{r['forecast_train_s']:.1f} s (target ≤ {t['forecast_train_s']:g}, ratio "
          f"{r['ratios']['forecast_train_s']:.2f}), one 24 h forecast "
          f"{r['forecast_infer_ms']:.2f} ms (target ≤ {t['forecast_infer_ms']:g}, ratio "
          f"{r['ratios']['forecast_infer_ms']:.2f}); day-ahead MAPE {r['forecast_mape_pct']:.2f} "
          f"% against {r['forecast_naive_week_mape_pct']:.2f} % for last week's")
    print(f"load average {r['load_avg']:g} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m bench.ml",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--repeat", type=int, default=2000, help="anomaly scans to time")
    ap.add_argument("--station", default=None, help="station file (default: the bundled one)")
    a = ap.parse_args()
    raise SystemExit(main(json_out=a.json, repeat=a.repeat, station=a.station))
