"""``gridtwin bench reliability`` measures every figure it prints (one run)."""

from __future__ import annotations

import math


def test_bench_reliability_reports_every_figure():
    from bench.reliability import run

    r = run(runs=1)
    assert math.isfinite(r["recovery_s_worst"]) and r["recovery_s_worst"] > 0
    assert r["lost_detect_frames_worst"] >= 1
    assert 0 <= r["kill9_lost_s_worst"] < 30
    lines = r["log_lines"]
    assert lines["plant_overflow_100_steps"] <= 4  # one per asset and quantity, not per step
    assert lines["control_log_lines"] == 0 and lines["tracebacks"] == 0
