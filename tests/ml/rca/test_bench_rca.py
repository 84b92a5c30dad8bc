from __future__ import annotations

from ml.rca.bench import bench_rca


def test_bench_rca_reports_its_figures() -> None:
    figures = bench_rca(calls=4, incidents=20)
    assert set(figures) == {"rca_ms", "rca_p99_ms", "rca_max_ms", "rca_cpu_ms",
                            "rca_cpu_p99_ms", "rca_calls"}
    assert 0 < figures["rca_cpu_ms"] <= figures["rca_cpu_p99_ms"]
    assert 0 < figures["rca_ms"] <= figures["rca_p99_ms"] <= figures["rca_max_ms"]
    assert figures["rca_calls"] == 4
