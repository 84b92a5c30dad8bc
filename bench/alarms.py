"""``gridtwin bench alarms``: the alarm engine and the alarm list under a flood.

* ``eval_us`` — evaluating every rule (database rules plus station-file limits) and the
  digital alarms over all points for one scan (median; target ≤ 1,000);
* ``flood_us`` — one scan that raises 1,000 alarms at once;
* ``flood_stall_max_ms`` — the longest the GUI thread is busy updating the alarm list with
  those 1,000 alarms (offscreen; target ≤ 100).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time

import numpy as np

TARGETS = {"eval_us": 1000.0, "flood_stall_max_ms": 100.0}


def run(n: int = 2000) -> dict:
    from app.alarms.conditions import ConditionMonitor
    from app.alarms.engine import AlarmEngine
    from app.field import quality as Q
    from app.field.frame import ScanFrame
    from app.field.sim.plant import PlantSimulator
    from app.station import load_station

    st = load_station()
    plant = PlantSimulator(st, seed=1)
    types = {a.id: a.type for a in st.assets}
    eng = AlarmEngine(plant.points, [], asset_types=types)
    snaps = [plant.step(0.1) for _ in range(20)]
    t0 = dt.datetime.now(dt.UTC)
    frames = [ScanFrame(i, t0 + dt.timedelta(seconds=0.1 * i), plant.points,
                        snaps[i % 20].values, snaps[i % 20].quality, snaps[i % 20].t_source_ns,
                        {}) for i in range(n)]
    eng.evaluate(frames[0])
    times = []
    for f in frames[1:]:
        a = time.perf_counter_ns()
        eng.evaluate(f)
        times.append(time.perf_counter_ns() - a)
    eval_us = statistics.median(times) / 1000

    pt = plant.points
    v = snaps[-1].values.copy()
    q = snaps[-1].quality.copy()
    hi = np.flatnonzero(~np.isnan(pt.hi))
    lo = np.flatnonzero(~np.isnan(pt.lo) & np.isnan(pt.hi))
    v[hi], v[lo] = 1e9, -1e9
    rest = np.setdiff1d(np.arange(len(pt)), np.concatenate([hi, lo]))
    q[rest[: 1000 - len(hi) - len(lo)]] = Q.SENSOR_FAILED
    flood = ScanFrame(n + 1, frames[-1].t_acquired + dt.timedelta(seconds=0.1), pt, v, q,
                      snaps[-1].t_source_ns, {})
    a = time.perf_counter_ns()
    raised = eng.evaluate(flood)
    flood_us = (time.perf_counter_ns() - a) / 1000

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.ui.alarm_list import AlarmListDock

    app = QApplication.instance() or QApplication([])
    dock = AlarmListDock()
    dock.resize(1200, 500)
    dock.show()
    conds = ConditionMonitor(pt).evaluate(flood)
    a = time.perf_counter()
    dock.set_conditions(conds)
    app.processEvents()
    stall = (time.perf_counter() - a) * 1000
    dock.close()
    return {"points": len(pt), "rules": eng.rule_count, "eval_us": round(eval_us, 1),
            "flood_alarms": sum(t.after.name == "UNACK" for t in raised),
            "flood_us": round(flood_us, 1), "flood_rows": len(conds),
            "flood_stall_max_ms": round(stall, 1), "targets": TARGETS,
            "meets_targets": eval_us <= TARGETS["eval_us"]
            and stall <= TARGETS["flood_stall_max_ms"]}


def main(json_out: bool = False) -> int:
    r = run()
    if json_out:
        print(json.dumps(r, indent=2))
        return 0
    print("GridTwin alarm benchmark")
    print(f"  points / rules      {r['points']} / {r['rules']}")
    print(f"  eval_us             {r['eval_us']:10.1f}   target <= {TARGETS['eval_us']:.0f}")
    print(f"  flood               {r['flood_alarms']} alarms in one scan: {r['flood_us']:.0f} us")
    print(f"  flood_stall_max_ms  {r['flood_stall_max_ms']:10.1f}   target <= "
          f"{TARGETS['flood_stall_max_ms']:.0f}  ({r['flood_rows']} rows in the alarm list)")
    print(f"  meets targets       {'yes' if r['meets_targets'] else 'NO'}")
    return 0
