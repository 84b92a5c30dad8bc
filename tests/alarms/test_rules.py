"""Alarm rules from the configuration store: seeded once from the rule file and the station
limits, edited there, bad rules refused by name and field without stopping anything."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from sqlalchemy import select, update

from app.alarms.engine import AlarmEngine
from app.alarms.rules import read_rule_file, rule_file, rules_for_station
from app.cli import main
from app.historian.db import create_db_engine, migrate
from app.historian.models import AlarmRule as AlarmRuleRow
from app.station import clock
from app.station.points import build_point_table


@pytest.fixture
def points(station):
    return build_point_table(station)


@pytest.fixture
def db(tmp_path):
    eng = create_db_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    migrate(eng)
    yield eng
    eng.dispose()


def stored(db):
    with db.connect() as con:
        return {r.rule_id: r for r in con.execute(select(AlarmRuleRow))}


def test_the_rule_file_maps_the_seed_parameters(station):
    aliases, records, problems = read_rule_file(rule_file(station))
    assert problems == []
    assert aliases["voltage"] == ("voltage_kv",) and aliases["temperature"] == ("top_oil_c",)
    assert {r["condition"] for r in records} >= {"range", ">", "<"}


def test_first_open_seeds_the_store_then_the_store_rules(station, points, db):
    rs = rules_for_station(station, points, db)
    assert rs.problems == () and rs.source.startswith("sqlite")
    rows = stored(db)
    n_limits = sum(1 for k in rows if k.endswith((":hi", ":lo")))
    assert n_limits > 400 and "SEED-VOLTAGE" in rows and rows["SEED-VOLTAGE"].condition == "range"
    assert len(rs.rules) == len(rows)
    # The store is now the configuration: an engineer's edit is what runs next time, and
    # the seed is not written again.
    with db.begin() as con:
        con.execute(update(AlarmRuleRow).where(AlarmRuleRow.rule_id == "ICT1.TOP_OIL:hi")
                    .values(threshold_value=70.0, on_delay_s=3.0))
        con.execute(update(AlarmRuleRow).where(AlarmRuleRow.rule_id == "SEED-HARMONICS")
                    .values(enabled=False))
    rs2 = rules_for_station(station, points, db)
    assert len(stored(db)) == len(rows)
    by_id = {r.rule_id: r for r in rs2.rules}
    assert by_id["ICT1.TOP_OIL:hi"].threshold == 70.0 and by_id["ICT1.TOP_OIL:hi"].on_delay_s == 3
    eng = AlarmEngine(points, rs2.rules, asset_types={a.id: a.type for a in station.assets},
                      aliases=rs2.aliases, nominal=rs2.nominal)
    assert not any(k.endswith(":SEED-HARMONICS") for k in eng._keys)


@pytest.mark.parametrize("row,field", [
    ({"parameter": "wind_chill"}, "field 'parameter'"),
    ({"condition": "~="}, "field 'condition'"),
    ({"threshold_value": "eighty"}, "field 'threshold_value'"),
    ({"severity": "apocalyptic"}, "field 'severity'"),
    ({"asset_type": "spaceship"}, "field 'asset_type'"),
    ({"deadband": -1.0}, "field 'deadband'"),
    ({"priority": 7}, "field 'priority'"),
    ({"condition": "range", "parameter": "top_oil_c"}, "field 'condition'"),
])
def test_a_bad_rule_is_refused_by_name_and_field_and_skipped(station, points, db, caplog,
                                                              row, field):
    rules_for_station(station, points, db)  # seed
    bad = {"rule_id": "BAD-1", "asset_type": None, "parameter": "top_oil_c", "condition": ">",
           "threshold_value": 90.0, "severity": "high", "deadband": 0.0, "on_delay_s": 0.0,
           "off_delay_s": 0.0, "priority": None, "enabled": True, **row}
    with db.begin() as con:  # raw SQL: SQLite stores text in a REAL column as it comes
        con.exec_driver_sql(f"INSERT INTO alarm_rules ({', '.join(bad)}) VALUES "
                            f"({', '.join('?' * len(bad))})", tuple(bad.values()))
    with caplog.at_level(logging.ERROR, logger="app.alarms.rules"):
        rs = rules_for_station(station, points, db)
    assert len(rs.problems) == 1
    msg = rs.problems[0]
    assert "rule BAD-1" in msg and field in msg and "skipped" in msg
    assert "BAD-1" in caplog.text and field in caplog.text
    assert "BAD-1" not in {r.rule_id for r in rs.rules}
    assert len(rs.rules) == len(stored(db)) - 1  # every other rule still runs
    AlarmEngine(points, rs.rules, asset_types={a.id: a.type for a in station.assets},
                aliases=rs.aliases, nominal=rs.nominal)


def test_a_broken_rule_file_still_leaves_the_station_limits(station_copy, tmp_path):
    from app.station import load_station

    (station_copy.parent / "alarm_rules.toml").write_text(
        "[parameters]\nvoltage = ['voltage_kv']\n[[rules]]\nrule_id = 'X'\nparameter = \n")
    st = load_station(station_copy)
    pts = build_point_table(st)
    rs = rules_for_station(st, pts)
    assert len(rs.problems) == 1 and "alarm_rules.toml" in rs.problems[0]
    assert "line 5" in rs.problems[0]
    assert len(rs.rules) > 400  # the limits
    (station_copy.parent / "alarm_rules.toml").write_text(
        "[[rules]]\nrule_id = 'Y'\nparameter = 'top_oil_c'\ncondition = '>'\n"
        "threshold_value = 80\nseverity = 'high'\ncolour = 'red'\n")
    rs = rules_for_station(st, pts)
    assert rs.problems == (f"{station_copy.parent / 'alarm_rules.toml'}: rule Y: field "
                           "'colour': unknown field (use rule_id, asset_type, parameter, "
                           "condition, threshold_value, severity, deadband, on_delay_s, "
                           "off_delay_s, priority, enabled)",)


def test_cli_rules_and_report(tmp_path, capsys, station, points):
    d = str(tmp_path)
    assert main(["alarms", "rules", "--data-dir", d]) == 0
    out = capsys.readouterr().out
    assert "SEED-VOLTAGE" in out and "range" in out and "station-file limits" in out
    assert main(["alarms", "rules", "--data-dir", d, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["refused"] == [] and {r["rule_id"] for r in doc["rules"]} >= {"SEED-TEMPERATURE"}
    seed_v = next(r for r in doc["rules"] if r["rule_id"] == "SEED-VOLTAGE")
    assert seed_v["points"] == 72 and seed_v["priority"] == 2

    # Stored alarm events: 12 annunciations in one 10-minute period, one chattering alarm.
    from app.historian import open_historian

    hist = open_historian(station, points, data_dir=d)
    now = clock.now()
    t0 = int((now - dt.timedelta(minutes=25)).timestamp() * 1000)
    rows = []
    for k in range(12):
        rows.append({"event_type": "alarm", "tag": f"P{k}:hi", "severity": "high",
                     "message": "m", "time_ms": t0 + k * 1000, "before": "normal",
                     "after": "unacknowledged"})
    for k in range(4):
        rows.append({"event_type": "alarm", "tag": "CH:hi", "severity": "low", "message": "m",
                     "time_ms": t0 + 60_000 + k * 10_000, "before": "normal",
                     "after": "unacknowledged"})
        rows.append({"event_type": "alarm", "tag": "CH:hi", "severity": "low", "message": "m",
                     "time_ms": t0 + 65_000 + k * 10_000, "before": "unacknowledged",
                     "after": "returned-to-normal unacknowledged"})
    hist.add_events(rows)
    hist.close()
    assert main(["alarms", "report", "--hours", "1", "--data-dir", d, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["alarms"] == 16 and rep["per_10min_max"] == 16
    assert rep["pct_10min_over_10"] == pytest.approx(100 / 6, abs=0.01)
    assert rep["top_chattering"] == [["CH:hi", 4]] and rep["most_frequent"][0] == ["CH:hi", 4]
    assert len(rep["standing"]) == 12  # the P alarms were never cleared
    assert main(["alarms", "report", "--hours", "1", "--data-dir", d]) == 0
    assert "top chattering" in capsys.readouterr().out
    assert main(["alarms", "report", "--hours", "0", "--data-dir", d]) == 2


def test_a_store_that_cannot_be_read_falls_back_to_the_file(station, points, tmp_path):
    eng = create_db_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")  # never migrated
    try:
        rs = rules_for_station(station, points, eng)
    finally:
        eng.dispose()
    assert len(rs.problems) == 1 and "alarm_rules cannot be read" in rs.problems[0]
    assert rs.source.endswith("alarm_rules.toml") and len(rs.rules) > 400


def test_priorities_come_from_the_priority_matrix(station, points, db):
    """Rationalised priorities: ICT loading >= 100 % urgent (90 % high), Grid Code voltage
    band high, IEC 60076-7 thermal stages, SF6 low high and lockout urgent."""
    from app.alarms.rules import read_settings

    cfg = read_settings(rule_file(station))
    assert cfg.problems == ()
    assert cfg.priority("severe", "5-15 min") == 1 and cfg.priority("minor", "> 30 min") == 4
    prio = {r.rule_id: r.effective_priority for r in rules_for_station(station, points, db).rules}
    assert prio["ICT1.LOADING:hi"] == 1 and prio["ICT-LOADING-90"] == 2
    assert prio["B220_M1.V:lo"] == 2 and prio["B33_A.V:lo"] == 2
    assert prio["HOT-SPOT-140"] == 1 and prio["HOT-SPOT-120"] == 2 and prio["TOP-OIL-115"] == 1
    assert prio["ICT1.C2H2:hi"] == 3 and prio["ICT1.TOP_OIL:hi"] == 3
    assert cfg.indication_priority["sf6_lockout"] == 1
    assert cfg.indication_priority["sf6_low_alarm"] == 2
    assert cfg.comm_loss_s == 5.0 and cfg.chatter_shelve_min == 10.0
    assert stored(db)["ICT1.LOADING:hi"].severity == "urgent"


def test_bad_settings_are_named_and_defaults_used(tmp_path):
    from app.alarms.rules import read_settings

    f = tmp_path / "alarm_rules.toml"
    f.write_text('[limit_priority]\n"loading_pct:hi" = ["dire", "now"]\n'
                 '[communication]\ncomm_loss_s = -1\n[indication_priority]\nsf6_lockout = 7\n',
                 encoding="utf-8")
    cfg = read_settings(f)
    assert len(cfg.problems) == 3
    assert any("limit_priority.loading_pct:hi" in p for p in cfg.problems)
    assert any("communication.comm_loss_s: -1" in p for p in cfg.problems)
    assert cfg.comm_loss_s is None and cfg.limit_priority("loading_pct", "hi") == 2
    assert cfg.indication_priority["sf6_lockout"] == 1


def test_a_store_seeded_before_the_matrix_takes_its_priorities(station, points, db):
    """Station-limit rules stored without a priority (an older store) run with the matrix's;
    an engineer's explicit priority stays."""
    rules_for_station(station, points, db)
    with db.begin() as con:
        con.execute(update(AlarmRuleRow).where(AlarmRuleRow.rule_id.like("%:hi"))
                    .values(priority=None, severity="high"))
        con.execute(update(AlarmRuleRow).where(AlarmRuleRow.rule_id == "ICT2.LOADING:hi")
                    .values(priority=3))
    prio = {r.rule_id: r.effective_priority for r in rules_for_station(station, points, db).rules}
    assert prio["ICT1.LOADING:hi"] == 1 and prio["ICT2.LOADING:hi"] == 3
    assert prio["ICT1.C2H2:hi"] == 3
