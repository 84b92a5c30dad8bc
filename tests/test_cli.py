"""The gridtwin command line: tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.cli import main


def run_json(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_solve_json(capsys):
    out = run_json(capsys, "solve")
    assert out["converged"] is True
    assert 300 <= out["total_load_mw"] <= 350 and out["losses_mw"] > 0
    b = {x["name"]: x for x in out["buses"]}
    assert {"name", "base_kv", "pu", "kv", "energised"} <= set(b["b400_m1"])
    assert b["b400_m1"]["base_kv"] == 400 and 0.95 <= b["b400_m1"]["pu"] <= 1.05
    assert all(x["energised"] for x in out["buses"])


def test_solve_table(capsys):
    assert main(["solve"]) == 0
    text = capsys.readouterr().out
    assert "converged" in text and "b220_m1" in text and "transformer.ict1" in text.lower()


def test_faults_json(capsys):
    out = run_json(capsys, "faults", "--bus", "B400_M1", "--type", "3ph")
    assert len(out) == 1
    assert {"bus", "base_kv", "type", "rf_ohm", "current_ka"} <= set(out[0])
    assert out[0]["current_ka"] == pytest.approx(45.0, rel=0.01)
    everything = run_json(capsys, "faults", "--rf", "5")
    assert {r["type"] for r in everything} == {"3ph", "LG", "LL", "LLG"}
    assert all(r["rf_ohm"] == 5.0 for r in everything)


def test_faults_breakers_and_table(capsys):
    out = run_json(capsys, "faults", "--bus", "B220_M1", "--type", "LG", "--breakers")
    assert "Line.ict1l_q0" in out[0]["breaker_currents_ka"]
    table = run_json(capsys, "faults", "--table")
    row = next(r for r in table if r["bus"] == "b400_m1")
    assert row["i3ph_ka"] == pytest.approx(45.0, rel=0.01)
    assert main(["faults", "--bus", "B33_A", "--type", "LL"]) == 0
    assert "b33_a" in capsys.readouterr().out


def test_contingency_json(capsys):
    out = run_json(capsys, "contingency")
    by = {r["outage"]: r for r in out}
    assert by["base case"]["secure"] and not by["ICT1"]["secure"]
    assert by["TR1"]["load_lost_mw"] == pytest.approx(23.0, rel=1e-3)


def test_assets_json_and_filter(capsys):
    out = run_json(capsys, "assets")
    assert len(out) >= 76
    a = next(x for x in out if x["id"] == "ICT1")
    assert a["nameplate"]["rated_mva"] == 315 and a["logical_node"] == "YPTR"
    breakers = run_json(capsys, "assets", "--type", "breaker")
    assert breakers and all(x["type"] == "breaker" for x in breakers)


def test_bad_station_file_gives_one_clear_line(capsys, station_copy):
    text = station_copy.read_text().replace('element = "Transformer.ICT1"',
                                            'element = "Transformer.NOPE"')
    station_copy.write_text(text)
    assert main(["solve", "--station", str(station_copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gridtwin: ") and "asset 'ICT1'" in err and "Transformer.NOPE" in err
    assert err.count("\n") == 1


def test_bad_arguments(capsys):
    assert main(["faults", "--bus", "NOWHERE", "--type", "3ph"]) == 2
    assert "no bus 'NOWHERE'" in capsys.readouterr().err
    assert main(["faults", "--rf", "-3", "--type", "LG", "--bus", "B400_M1"]) == 2
    assert "resistance" in capsys.readouterr().err


def test_console_script_help():
    r = subprocess.run([sys.executable, "-m", "app.cli", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0
    for verb in ("solve", "faults", "contingency", "assets", "bench"):
        assert verb in r.stdout


def test_assets_refuses_a_station_whose_circuit_check_fails(capsys, station_copy):
    """`assets` cross-checks against the circuit as `solve` does, with the same one line."""
    text = station_copy.read_text().replace('element = "Line.L2_Q0"',
                                            'element = "Transformer.ICT1"', 1)
    station_copy.write_text(text)
    for verb in ("assets", "solve"):
        assert main([verb, "--station", str(station_copy)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("gridtwin: ") and err.count("\n") == 1
        assert "asset 'L2_Q0'" in err and "field 'element'" in err and "Transformer.ICT1" in err


def test_version_names_the_release_and_the_commit(capsys):
    import subprocess

    from tests.conftest import ROOT

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out.strip()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=10", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert out.startswith("gridtwin 0.1.0")
    if head:  # a checkout: the commit is named
        assert f"(commit {head}" in out
