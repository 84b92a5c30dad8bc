"""``gridtwin bench hmi`` runs end to end on a short window and reports every figure (the
targets themselves are the benchmark's business, not a unit test's).

In its own process, as it is run: like ``gridtwin run`` it owns the process's Qt
application for its lifetime and freezes the heap it built, so a second HMI built later in
the same process would not be measuring (or testing) what a user gets."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from bench.hmi import TARGETS

ROOT = Path(__file__).resolve().parents[2]


def test_bench_hmi_reports_every_figure():
    out = subprocess.run([sys.executable, "-m", "app.cli", "bench", "hmi", "--duration", "3",
                          "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout)
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
    assert isinstance(r["meets_targets"], bool)
