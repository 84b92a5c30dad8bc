"""`gridtwin bench historian --json`: a short run reports every figure (no timing asserted;
the targets live in the benchmark)."""

from __future__ import annotations

import json

from app.cli import main


def test_bench_historian_json_keys(tmp_path, capsys):
    assert main(["bench", "historian", "--json", "--minutes", "0.2", "--realtime", "1",
                 "--data-dir", str(tmp_path)]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("ingest_over_raw", "ingest_ms_per_frame", "compact_ms_per_frame",
                "raw_ms_per_frame", "compression_ratio", "bytes_per_point_day", "week_gb",
                "writer_cpu_pct", "query_24h_ms", "query_30d_ms"):
        assert isinstance(r[key], int | float) and r[key] >= 0, key
    assert r["points"] >= 2500 and r["frames"] == 120
    assert r["ingest_over_raw"] > 0 and r["compression_ratio"] > 1
    assert r["query_24h_source"] == "samples" and 1000 <= r["query_24h_points_out"] <= 2000
    assert r["query_30d_source"] == "hourly" and r["query_30d_points_out"] > 0
    assert set(r["targets"]) == {"ingest_over_raw", "query_24h_ms", "query_30d_ms", "week_gb"}
    assert isinstance(r["meets_targets"], bool) and r["data_dir"] == str(tmp_path)
    assert (tmp_path / "h" / "GT-KA-400.sqlite").exists()  # --data-dir keeps the databases
