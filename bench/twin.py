"""``gridtwin bench twin``: the twin engine's scan-cycle and study costs.

Figures (medians over many runs):

* ``raw_solve_us`` — ``Solution.Solve()`` alone on the compiled station;
* ``scan_cycle_us`` — one scan: set every measured load (P and Q), both grid sources'
  voltages and every OLTC tap, solve, build the frozen ``TwinState``;
* ``scan_over_raw`` — their ratio: what the engine's bookkeeping costs over OpenDSS;
* ``switch_solve_us`` — open or close a breaker and re-solve (Y matrix rebuilt);
* ``fault_study_s`` — every bus × 3ph/LG/LL/LLG snapshot faults with breaker currents;
* ``fault_table_ms`` — the whole-station table from FaultStudy mode.

Targets on a 2-core machine: ``scan_cycle_us`` ≤ 1000, ``fault_study_s`` ≤ 0.5.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

TARGETS = {"scan_cycle_us": 1000.0, "fault_study_s": 0.5}


def _median_us(fn, repeat: int) -> float:  # noqa: ANN001
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1000.0


def run(repeat: int = 2000, station: str | None = None) -> dict:
    from app.twin import open_station
    from app.twin.faults import fault_study, station_fault_levels

    st, engine = open_station(station)
    engine.solve()
    d = engine.dss
    raw = _median_us(d.Solution.Solve, repeat)

    rng = np.random.default_rng(1)
    base = engine.load_setpoints()
    p0 = np.array([v[0] for v in base.values()])
    q0 = np.array([v[1] for v in base.values()])
    noise = rng.normal(1.0, 0.01, size=(64, len(p0)))
    taps = [(t, engine.tap(t)) for t in engine.transformer_names]
    k = [0]

    def scan() -> None:
        f = noise[k[0] % 64]
        k[0] += 1
        engine.set_loads_array(p0 * f, q0 * f)
        for src in engine.source_names:
            engine.set_source(src, pu=1.0 + 0.002 * (f[0] - 1.0))
        for t, tap in taps:
            engine.set_tap(t, tap)
        engine.solve()

    scan_us = _median_us(scan, repeat)
    n_set = 2 * len(p0) + len(engine.source_names) + len(taps)

    brk = next(a.element for a in st.assets_of_type("breaker") if a.bay == "F1")
    state = [True]

    def switch() -> None:
        state[0] = not state[0]
        engine.set_switch(brk, state[0])
        d.Solution.Solve()

    switch_us = _median_us(switch, max(200, repeat // 10))
    engine.set_switch(brk, True)

    breakers = [a.element for a in st.assets_of_type("breaker")]
    times = []
    n_faults = 0
    for _ in range(5):
        t0 = time.perf_counter()
        n_faults = len(fault_study(engine, breakers=breakers))
        times.append(time.perf_counter() - t0)
    fs = statistics.median(times)
    tt = []
    for _ in range(20):
        t0 = time.perf_counter()
        station_fault_levels(engine)
        tt.append(time.perf_counter() - t0)
    return {
        "buses": len(engine.bus_names),
        "branches": len(engine.branch_names),
        "setpoints_per_scan": n_set,
        "raw_solve_us": round(raw, 2),
        "scan_cycle_us": round(scan_us, 2),
        "scan_over_raw": round(scan_us / raw, 2),
        "switch_solve_us": round(switch_us, 2),
        "faults": n_faults,
        "fault_study_s": round(fs, 4),
        "fault_table_ms": round(statistics.median(tt) * 1000, 3),
        "targets": TARGETS,
        "meets_targets": scan_us <= TARGETS["scan_cycle_us"] and fs <= TARGETS["fault_study_s"],
    }


def main(json_out: bool = False, repeat: int = 2000, station: str | None = None) -> int:
    r = run(repeat=repeat, station=station)
    if json_out:
        print(json.dumps(r, indent=2))
        return 0
    print("GridTwin twin-engine benchmark (medians)")
    print(f"  circuit             {r['buses']} buses, {r['branches']} branches")
    print(f"  raw_solve_us        {r['raw_solve_us']:10.2f}")
    print(f"  scan_cycle_us       {r['scan_cycle_us']:10.2f}   target <= "
          f"{TARGETS['scan_cycle_us']:.0f}  ({r['setpoints_per_scan']} setpoints + solve + state)")
    print(f"  scan_over_raw       {r['scan_over_raw']:10.2f}")
    print(f"  switch_solve_us     {r['switch_solve_us']:10.2f}")
    print(f"  fault_study_s       {r['fault_study_s']:10.4f}   target <= "
          f"{TARGETS['fault_study_s']}  ({r['faults']} faults)")
    print(f"  fault_table_ms      {r['fault_table_ms']:10.3f}")
    print(f"  meets targets       {'yes' if r['meets_targets'] else 'NO'}")
    return 0
