"""The benchmark runs and reports its figures (no timing asserted here: see bench/)."""

from __future__ import annotations

from bench.twin import STUDY_RUNS, run


def test_bench_twin_reports_every_figure():
    r = run(repeat=20, study_runs=3)
    for key in ("raw_solve_us", "scan_cycle_us", "scan_over_raw", "solver_scan_us",
                "switch_solve_us", "fault_study_s", "fault_study_snapshot_s", "fault_table_ms"):
        assert r[key] > 0, key
    assert r["faults"] == 4 * r["buses"]
    # What a real scan sets: every load's P and Q, both infeeds, every tap, the frequency.
    assert r["loads_per_scan"] == 8 and r["setpoints_per_scan"] == 2 * 8 + 2 + 4 + 1
    assert r["switch_positions_per_scan"] == 85
    assert r["study_runs"] == 3 and STUDY_RUNS >= 20


def test_bench_alarms_reports_every_figure():
    from bench.alarms import run as run_alarms

    r = run_alarms(n=50, runs=1)
    assert r["points"] >= 2500 and r["rules"] > 400 and r["refused_rules"] == 0
    assert r["eval_us"] > 0 and r["flood_stall_max_ms"] is not None
    (flood,) = r["flood_runs"]
    assert flood["ok"] and flood["rows"] >= 1000 and flood["events"] >= 2000


def test_bench_drill_reports_protection_timing_error():
    from bench.drill import model_err_pct, sequence_err_pct

    err, n = model_err_pct()
    assert n == 4 * 6 * 8 and 0 <= err < 100
    serr, sn, times = sequence_err_pct(tms_values=(0.1,))
    assert sn == 4 and len(times) == 4 and 0 <= serr < 100 and all(t > 0 for t in times)


def test_bench_ml_anomaly_reports_every_figure():
    from bench.ml_anomaly import run as run_ml

    r = run_ml(repeat=40, train_hours=1.0, live_s=8.0)
    for key in ("anomaly_scan_ms", "anomaly_scan_p99_ms", "anomaly_scan_cpu_ms", "extract_ms",
                "isolation_forest_ms", "autoencoder_ms", "explain_ms"):
        assert r[key] > 0, key
    assert r["anomaly_scan_p99_ms"] >= r["anomaly_scan_ms"]
    assert r["assets"] == 56 and r["classes"] == 6 and r["scans"] == 40
    assert r["features"]["transformer"] == 32 and r["features"]["breaker"] == 4
    assert set(r["train_s"]) == {"isolation_forest", "autoencoder"}


def test_bench_ml_reports_anomaly_and_rca_figures_with_ratios():
    from bench.ml import TARGETS
    from bench.ml import run as run_bench_ml

    r = run_bench_ml(repeat=30, train_hours=1.0, rca_calls=20, live_s=8.0, forecast_steps=5)
    for key in ("anomaly_scan_ms", "anomaly_scan_p99_ms", "rca_ms", "rca_p99_ms",
                "forecast_train_s", "forecast_infer_ms", "forecast_mape_pct"):
        assert r[key] > 0, key
    assert r["targets"] == TARGETS == {"anomaly_scan_ms": 5.0, "rca_ms": 100.0,
                                       "forecast_train_s": 120.0, "forecast_infer_ms": 10.0}
    assert r["forecast_series"].startswith("Victoria")
    assert r["ratios"]["rca_ms"] == round(r["rca_ms"] / 100.0, 3)
    assert r["rca_source"].startswith("ml.rca.")
