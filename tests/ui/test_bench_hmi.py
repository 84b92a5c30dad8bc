"""``gridtwin bench hmi`` runs end to end on a short window and reports every figure (the
targets themselves are the benchmark's business, not a unit test's)."""

from __future__ import annotations

import math

from bench.hmi import TARGETS, run


def test_bench_hmi_reports_every_figure(qapp):
    r = run(duration_s=3.0)
    assert r["points"] >= 2500 and r["trended"] == 20
    assert {"Alarms", "Events", "Trends"} <= set(r["docks_open"])
    for k in TARGETS:
        assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] > 0, (k, r[k])
    # a 10 Hz scan over 3 s: the rate is taken between the frames, so it is not biased low
    assert 5.0 < r["scan_hz"] < 15.0 and r["polled_hz"] > 5.0
    assert r["latency_p50_ms"] <= r["latency_p95_ms"] <= r["latency_p99_ms"]
    assert r["historian"] == "ok" and r["skipped_frames"] >= 0
    assert "GUI (main)" in r["cpu_pct"] and "poller" in r["cpu_pct"]
    assert r["gui_ms_per_call"] and set(r["missed"]) <= set(TARGETS)
