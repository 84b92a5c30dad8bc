"""`gridtwin ml train | list | evaluate` through app.cli.main: a round trip in tmp_path and
bad input as one line with exit status 2."""

from __future__ import annotations

import json

import pytest

from app.cli import main


def test_train_then_list_then_evaluate(tmp_path, capsys):
    d = str(tmp_path)
    assert main(["ml", "list", "--data-dir", d]) == 0
    assert "no anomaly model: train one with `gridtwin ml train anomaly" in \
        capsys.readouterr().out
    assert main(["ml", "train", "anomaly", "--simulate", "1", "--step", "180", "--kind",
                 "iforest", "--seed", "5", "--data-dir", d, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["version"] == 1 and [m["kind"] for m in res["models"]] == ["isolation_forest"]
    assert main(["ml", "list", "--data-dir", d, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["version"], m["kind"], m["active"]) for m in listed] == \
        [(1, "isolation_forest", True)]
    assert listed[0]["sha256"] == res["models"][0]["sha256"]
    assert main(["ml", "list", "--data-dir", d]) == 0
    out = capsys.readouterr().out
    assert "isolation_forest" in out and "simulate 1h seed 5" in out
    assert main(["ml", "evaluate", "anomaly", "--seed", "9", "--days", "0.1", "--step", "180",
                 "--data-dir", d, "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert {"f1", "precision", "recall", "false_alarms_per_asset_day", "per_kind"} <= set(ev)


@pytest.mark.parametrize("argv,message", [
    (["ml", "train", "anomaly", "--simulate", "x"], "argument --simulate: 'x' is not a number"),
    (["ml", "train", "anomaly", "--simulate", "-2"],
     "argument --simulate: '-2': must be a number greater than 0"),
    (["ml", "train", "anomaly", "--from", "2025-03-03T00:00"],
     "argument --from: '2025-03-03T00:00' has no time zone (add Z or +05:30)"),
    (["ml", "train", "anomaly", "--from", "yesterday"],
     "argument --from: 'yesterday' is not an ISO date-time (e.g. 2025-03-03T06:00+05:30)"),
    (["ml", "evaluate", "anomaly", "--seed", "-1", "--days", "1"],
     "argument --seed: '-1' must not be negative"),
    (["ml", "train", "anomaly", "--simulate", "1", "--kind", "svm"],
     "argument --kind: invalid choice: 'svm'"),
])
def test_bad_options_are_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("gridtwin ml ")


def test_from_without_to_is_one_line(tmp_path, capsys):
    assert main(["ml", "train", "anomaly", "--from", "2025-03-03T00:00Z", "--data-dir",
                 str(tmp_path)]) == 2
    assert capsys.readouterr().err == "gridtwin: --from and --to go together\n"


def test_evaluate_without_a_model_says_how_to_train(tmp_path, capsys):
    assert main(["ml", "evaluate", "anomaly", "--seed", "1", "--days", "1", "--data-dir",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gridtwin: no active anomaly model: train")


def test_a_model_file_that_is_not_one_is_one_line(tmp_path, capsys):
    f = tmp_path / "junk.gtam"
    f.write_bytes(b"not a model")
    assert main(["ml", "evaluate", "anomaly", "--seed", "1", "--days", "1", "--model",
                 str(f)]) == 2
    err = capsys.readouterr().err
    assert err == f"gridtwin: {f}: not a GridTwin anomaly model file (bad magic)\n"


def test_train_forecast_from_the_simulator_then_list(tmp_path, capsys):
    """A forecaster from 16 simulated days (the least it trains on, plus a day), listed
    after the anomaly versions with its held-out MAPE beside the naive ones."""
    d = str(tmp_path)
    assert main(["ml", "train", "forecast", "--simulate", "384", "--steps", "5", "--seed",
                 "2", "--data-dir", d, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["version"] == 1 and res["source"] == "simulate 16 d seed 2"
    assert {"nbeats_mape_pct", "naive_day_mape_pct", "naive_week_mape_pct"} <= \
        set(res["metrics"])
    assert main(["ml", "list", "--data-dir", d, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["kind"], m["active"]) for m in listed] == [("nbeats_load", True)]
    assert main(["ml", "list", "--data-dir", d]) == 0
    out = capsys.readouterr().out
    assert "no anomaly model" in out and "forecaster" in out and "simulate 16 d" in out


def test_too_short_a_simulated_history_is_one_line(tmp_path, capsys):
    assert main(["ml", "train", "forecast", "--simulate", "48", "--data-dir",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "48 h of history; the forecaster needs 360 h" in err[0]
