"""gridtwin record / history / dss, end to end over the real protocols."""

from __future__ import annotations

import csv

from app.cli import main


def test_record_then_query(tmp_path, capsys):
    d = str(tmp_path)
    assert main(["record", "--duration", "4", "--data-dir", d]) == 0
    out = capsys.readouterr().out
    assert "recorded" in out and "historian: ok" in out
    assert main(["history", "trend", "B220_M1.V", "ICT1.LOADING", "--last", "10m",
                 "--data-dir", d, "--csv", str(tmp_path / "t.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert {r["point"] for r in rows} == {"B220_M1.V", "ICT1.LOADING"}
    assert all(200 < float(r["value"]) < 240 for r in rows if r["point"] == "B220_M1.V")
    assert main(["history", "events", "--data-dir", d, "--csv", str(tmp_path / "e.csv")]) == 0
    assert open(tmp_path / "e.csv").readline().startswith("time_utc,type,severity")


def test_dss_versions_from_the_cli(tmp_path, capsys, station):
    d = str(tmp_path)
    assert main(["dss", "add", "--data-dir", d, "--note", "as built"]) == 0
    broken = tmp_path / "broken.dss"
    broken.write_text(station.circuit_path.read_text().replace("New Line.F1_LINE",
                                                               "New Lime.F1_LINE"))
    assert main(["dss", "add", str(broken), "--data-dir", d]) == 0
    assert main(["dss", "activate", "1", "--data-dir", d]) == 0
    capsys.readouterr()
    assert main(["dss", "activate", "2", "--data-dir", d]) == 2
    err = capsys.readouterr().err
    assert "version 2 refused" in err and "lime" in err.lower()
    assert main(["dss", "list", "--data-dir", d]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("*   1") and listing[1].startswith("    2")


def test_bad_times_are_refused_clearly(tmp_path, capsys):
    assert main(["history", "trend", "B220_M1.V", "--from", "yesterday",
                 "--data-dir", str(tmp_path)]) == 2
    assert "--from: 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err
    assert main(["history", "trend", "B220_M1.V", "--last", "5 weeks",
                 "--data-dir", str(tmp_path)]) == 2
