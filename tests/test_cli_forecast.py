"""``gridtwin forecast`` through app.cli.main: table, JSON, determinism, bad input."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from app.cli import main

FAST = ["--horizon-hours", "24", "--lookback-hours", "48", "--backtest-days", "2",
        "--steps", "30"]


def _csv(path, days: int = 14, minutes: int = 60):  # noqa: ANN001, ANN202
    rng = np.random.default_rng(2)
    per_day = 24 * 60 // minutes
    t0 = dt.datetime(2021, 2, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    lines = ["time,station_load_mw,temp_c"]
    for i in range(days * per_day):
        v = 200 + 50 * np.sin(2 * np.pi * i / per_day) + rng.normal(0, 3)
        lines.append(f"{(t0 + dt.timedelta(minutes=minutes * i)).isoformat()},{v:.3f},25")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_forecast_json_has_every_figure_and_same_seed_same_figures(tmp_path, capsys):
    p = _csv(tmp_path / "load.csv")
    assert main(["forecast", "--csv", str(p), *FAST, "--seed", "3", "--json"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert a["period_minutes"] == 60 and a["horizon_steps"] == 24 and a["train_s"] > 0
    assert a["value"] == "station_load_mw" and a["backtest_days"] == 2
    assert a["origins"] == ["2021-02-13T00:00:00+05:30", "2021-02-14T00:00:00+05:30"]
    for m in ("nbeats", "naive_day", "naive_week"):
        assert a["models"][m]["mape_pct"] > 0 and a["models"][m]["mae"] > 0
    assert main(["forecast", "--csv", str(p), *FAST, "--seed", "3", "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert b["models"] == a["models"]
    assert main(["forecast", "--csv", str(p), *FAST, "--seed", "4", "--json"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert c["models"]["nbeats"] != a["models"]["nbeats"]
    assert c["models"]["naive_week"] == a["models"]["naive_week"]


def test_forecast_table(tmp_path, capsys):
    p = _csv(tmp_path / "load.csv", minutes=30)
    assert main(["forecast", "--csv", str(p), *FAST, "--kind", "interpretable"]) == 0
    out = capsys.readouterr().out
    assert "every 30 min" in out and "N-BEATS" in out and "naive, previous week" in out


@pytest.mark.parametrize(("edit", "message"), [
    (lambda lines: lines[:10] + lines[11:], "line 11: gap of 1 missing sample(s) after line 10"),
    (lambda lines: lines[:10] + [lines[9]] + lines[10:], "line 11: duplicate time"),
    (lambda lines: lines[:10] + ["x,1,2"] + lines[11:], "line 11: column 'time': 'x' is not"),
])
def test_bad_csv_is_one_line_and_exit_2(tmp_path, capsys, edit, message):
    p = _csv(tmp_path / "load.csv")
    p.write_text("\n".join(edit(p.read_text().splitlines())) + "\n")
    assert main(["forecast", "--csv", str(p), *FAST]) == 2
    err = capsys.readouterr().err
    assert err == f"gridtwin: {p}: {message}" + err.split(message, 1)[1]
    assert err.count("\n") == 1 and message in err


def test_bad_options_exit_2(tmp_path, capsys):
    p = _csv(tmp_path / "load.csv")
    assert main(["forecast", "--csv", str(p), "--horizon-hours", "24",
                 "--lookback-hours", "36"]) == 2
    assert "not a multiple of the horizon" in capsys.readouterr().err
    assert main(["forecast", "--csv", str(p), "--backtest-days", "30"]) == 2
    assert "30 needed" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ex:
        main(["forecast", "--csv", str(p), "--seed", "-1"])
    assert ex.value.code == 2
