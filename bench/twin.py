"""``gridtwin bench twin``: the twin engine's scan-cycle and study costs.

Figures (medians over many runs):

* ``raw_solve_us`` — ``Solution.Solve()`` alone on the compiled station;
* ``scan_cycle_us`` — one scan as the runtime's solver makes it on the engine: every
  switching device's measured position (85; unchanged positions cost a look-up), every
  measured load's P and Q (the station has 8 loads, each metered at its bay: 16 values),
  both grid infeeds' in-service state, every OLTC tap (4), the frequency; solve; build the
  frozen ``TwinState``;
* ``scan_over_raw`` — their ratio: what the engine's bookkeeping costs over OpenDSS;
* ``solver_scan_us`` — the whole twin side of a real scan: ``SolverService.solve`` on a
  ScanFrame from the plant simulator (the engine scan above, plus the measurement mapping,
  line-loss compensation and residuals of every electrical point);
* ``switch_solve_us`` — open or close a breaker and re-solve (Y matrix rebuilt);
* ``fault_study_s`` — every bus × 3ph/LG/LL/LLG faults with every breaker's current
  (superposition on the solved network; ``fault_study_snapshot_s`` the same study with one
  OpenDSS solve per fault, for comparison);
* ``fault_table_ms`` — the whole-station table from FaultStudy mode.

Targets on a 2-core machine: ``scan_cycle_us`` ≤ 1000, ``fault_study_s`` ≤ 0.5.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

TARGETS = {"scan_cycle_us": 1000.0, "fault_study_s": 0.5}
STUDY_RUNS = 25  # medians of the whole-study figures


def _median_us(fn, repeat: int) -> float:  # noqa: ANN001
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1000.0


def _median_s(fn, runs: int) -> float:  # noqa: ANN001
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def run(repeat: int = 2000, station: str | None = None, study_runs: int = STUDY_RUNS) -> dict:
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
    switches = [(a.element, engine.is_closed(a.element)) for a in st.switches() if a.element]
    loads = list(engine.load_names)
    k = [0]

    def scan() -> None:
        # The calls SolverService.solve makes on the engine each scan, in its order.
        f = noise[k[0] % 64]
        k[0] += 1
        for element, closed in switches:
            engine.set_switch(element, closed)
        for i, name in enumerate(loads):
            engine.set_load(name, p0[i] * f[i], q0[i] * f[i])
        for src in engine.source_names:
            engine.set_source_in_service(src, True)
        for t, tap in taps:
            engine.set_tap(t, tap)
        engine.set_frequency(50.0 + 0.01 * (f[0] - 1.0))
        engine.solve()

    scan_us = _median_us(scan, repeat)
    n_set = 2 * len(loads) + len(engine.source_names) + len(taps) + 1

    solver_us = _solver_scan_us(st, max(200, repeat // 4))

    brk = next(a.element for a in st.assets_of_type("breaker") if a.bay == "F1")
    state = [True]

    def switch() -> None:
        state[0] = not state[0]
        engine.set_switch(brk, state[0])
        d.Solution.Solve()

    switch_us = _median_us(switch, max(200, repeat // 10))
    engine.set_switch(brk, True)
    engine.solve()

    breakers = [a.element for a in st.assets_of_type("breaker")]
    n_faults = len(fault_study(engine, breakers=breakers))  # warm-up (first BLAS call)
    fs = _median_s(lambda: fault_study(engine, breakers=breakers), study_runs)
    fs_snap = _median_s(lambda: fault_study(engine, breakers=breakers, method="snapshot"),
                        max(3, study_runs // 5))
    tt = _median_s(lambda: station_fault_levels(engine), study_runs)
    return {
        "buses": len(engine.bus_names),
        "branches": len(engine.branch_names),
        "loads_per_scan": len(loads),
        "setpoints_per_scan": n_set,
        "switch_positions_per_scan": len(switches),
        "raw_solve_us": round(raw, 2),
        "scan_cycle_us": round(scan_us, 2),
        "scan_over_raw": round(scan_us / raw, 2),
        "solver_scan_us": round(solver_us, 2),
        "switch_solve_us": round(switch_us, 2),
        "faults": n_faults,
        "fault_study_s": round(fs, 4),
        "fault_study_snapshot_s": round(fs_snap, 4),
        "fault_table_ms": round(tt * 1000, 3),
        "study_runs": study_runs,
        "targets": TARGETS,
        "meets_targets": scan_us <= TARGETS["scan_cycle_us"] and fs <= TARGETS["fault_study_s"],
    }


def _solver_scan_us(station_obj, repeat: int) -> float:  # noqa: ANN001
    """``SolverService.solve`` on frames recorded from the plant simulator."""
    import datetime as dt

    from app.field.sim.plant import PlantSimulator
    from app.runtime.solver import SolverService
    from app.station.frame import ScanFrame

    plant = PlantSimulator(station_obj, seed=3,
                           start=dt.datetime(2026, 11, 25, 13, 0, tzinfo=dt.UTC))
    solver = SolverService(station_obj, plant.points)
    frames = []
    for _ in range(16):
        snap = plant.step(0.1)
        frames.append(ScanFrame(seq=snap.seq, t_acquired=snap.timestamp, points=plant.points,
                                values=snap.values, quality=snap.quality,
                                t_source_ns=snap.t_source_ns, comm={}))
    for f in frames:  # settle the twin's source voltages and loss compensation
        solver.solve(f)
    k = [0]

    def one() -> None:
        solver.solve(frames[k[0] % len(frames)])
        k[0] += 1

    return _median_us(one, repeat)


def main(json_out: bool = False, repeat: int = 2000, station: str | None = None) -> int:
    r = run(repeat=repeat, station=station)
    if json_out:
        print(json.dumps(r, indent=2))
        return 0
    print("GridTwin twin-engine benchmark (medians)")
    print(f"  circuit             {r['buses']} buses, {r['branches']} branches")
    print(f"  raw_solve_us        {r['raw_solve_us']:10.2f}")
    print(f"  scan_cycle_us       {r['scan_cycle_us']:10.2f}   target <= "
          f"{TARGETS['scan_cycle_us']:.0f}  ({r['loads_per_scan']} loads P+Q, "
          f"{r['setpoints_per_scan']} setpoints, {r['switch_positions_per_scan']} switch "
          "positions + solve + state)")
    print(f"  scan_over_raw       {r['scan_over_raw']:10.2f}")
    print(f"  solver_scan_us      {r['solver_scan_us']:10.2f}   (SolverService.solve on a "
          "field frame, with residuals)")
    print(f"  switch_solve_us     {r['switch_solve_us']:10.2f}")
    print(f"  fault_study_s       {r['fault_study_s']:10.4f}   target <= "
          f"{TARGETS['fault_study_s']}  ({r['faults']} faults, median of {r['study_runs']})")
    print(f"  fault_study_snapshot_s {r['fault_study_snapshot_s']:7.4f}   (one OpenDSS solve "
          "per fault)")
    print(f"  fault_table_ms      {r['fault_table_ms']:10.3f}")
    print(f"  meets targets       {'yes' if r['meets_targets'] else 'NO'}")
    return 0
