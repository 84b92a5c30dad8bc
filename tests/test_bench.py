"""The benchmark runs and reports its figures (no timing asserted here: see bench/)."""

from __future__ import annotations

from bench.twin import run


def test_bench_twin_reports_every_figure():
    r = run(repeat=20)
    for key in ("raw_solve_us", "scan_cycle_us", "scan_over_raw", "switch_solve_us",
                "fault_study_s", "fault_table_ms"):
        assert r[key] > 0, key
    assert r["faults"] == 4 * r["buses"]
    assert r["setpoints_per_scan"] >= 20
