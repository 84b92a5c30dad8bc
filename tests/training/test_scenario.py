"""Scenario and trainee-action files: the shipped library, and one clear line per bad file."""

from __future__ import annotations

import datetime as dt

import pytest

from app.training.scenario import (
    ScenarioFileError,
    find_scenario,
    list_scenarios,
    load_actions,
    load_scenario,
    scenarios_dir,
)

SHIPPED = {"overvoltage-400kv", "ict-overload", "frequency-49-2", "breaker-failure",
           "busbar-fault", "line-fault-distance", "dga-developing", "comm-loss",
           "vt-fuse-failure"}

GOOD = """\
[scenario]
id = "t1"
title = "A test"
duration_s = 120

[initial]
time_of_day = "06:15"
load_pct = 80
open = ["BR4_Q0"]

[[event]]
id = "ov"
kind = "inject"
at_s = 10
fault = "overvoltage"
params = { pu = 1.1 }

[[event]]
id = "msg"
kind = "message"
when = "B400_M1.V > 430"
text = "high"

[[event]]
id = "later"
kind = "clear"
after = "close BR4_Q0"
at_s = 5
target = "ov"

[[expect]]
id = "r"
action = "close"
asset = "BR4_Q0"
after = "ov"
within_s = 60
"""


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_the_shipped_library_loads_against_the_station(station):
    found = {s.id: s for s in list_scenarios()}
    assert SHIPPED <= set(found)
    for sid in SHIPPED:
        sc = load_scenario(found[sid].path, station)
        assert sc.title and sc.duration_s > 0
        assert sc.events, sid
    assert find_scenario("busbar-fault") == scenarios_dir() / "busbar-fault.toml"


def test_a_good_file_reads_as_written(tmp_path, station):
    sc = load_scenario(write(tmp_path, GOOD), station)
    assert sc.id == "t1" and sc.initial.time_of_day == dt.time(6, 15)
    assert sc.initial.open == ("BR4_Q0",) and sc.initial.load_pct == 80
    ov, msg, later = sc.events
    assert ov.timed and ov.params == {"pu": 1.1} and ov.line == 11
    assert msg.when is not None and str(msg.when) == "B400_M1.V > 430" and msg.when.met(431)
    assert not msg.when.met(float("nan"))
    assert later.after == "close BR4_Q0" and later.target == "ov"
    assert sc.expect[0].verb == "close BR4_Q0" and sc.expect[0].within_s == 60


@pytest.mark.parametrize(("old", "new", "line", "field", "words"), [
    ('at_s = 10\n', 'at_s = "soon"\n', 14, "event[1].at_s", "finite number"),
    ('kind = "message"', 'kind = "explode"', 20, "event[2].kind", "not an event kind"),
    ('when = "B400_M1.V > 430"', 'when = "B400_M1.V is high"', 21, "event[2].when",
     "not a condition"),
    ('time_of_day = "06:15"', 'time_of_day = "25:00"', 7, "initial.time_of_day",
     "not a time of day"),
    ('target = "ov"', 'target = "msg"', 29, "event[3].target", "not the id of an inject"),
    ('after = "ov"\nwithin', 'after = "nothing"\nwithin', 35, "expect[1].after",
     "not an event id"),
    ('within_s = 60', 'within_s = -1', 36, "expect[1].within_s", "greater than 0"),
    ('duration_s = 120', 'duration_s = 120\ncolour = "red"', 5, "scenario.colour",
     "unknown field"),
    ('id = "msg"', 'id = "ov"', 19, "event[2].id", "used twice"),
    ('asset = "BR4_Q0"', 'asset = "NOPE_Q0"', 34, "expect[1].asset", "not a breaker"),
    ('fault = "overvoltage"', 'fault = "meteor"', 15, "event[1].fault", "not a fault kind"),
    ('"B400_M1.V > 430"', '"B400_M1.NOPE > 430"', 21, "event[2].when", "not a point"),
])
def test_a_bad_file_is_one_line_naming_file_line_and_field(tmp_path, station, old, new, line,
                                                           field, words):
    assert old in GOOD
    p = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ScenarioFileError) as ei:
        load_scenario(p, station)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{p}, line {line}: field '{field}': "), msg
    assert words in msg
    assert (ei.value.line, ei.value.field) == (line, field)


def test_broken_toml_and_a_missing_title_name_the_line(tmp_path):
    p = write(tmp_path, '[scenario]\ntitle = "x"\nduration_s = = 3\n')
    with pytest.raises(ScenarioFileError, match=r", line 3: not valid TOML"):
        load_scenario(p)
    p = write(tmp_path, '[scenario]\nid = "x"\n')
    with pytest.raises(ScenarioFileError, match=r"line 1: field 'scenario': 'title' is required"):
        load_scenario(p)


def test_an_unknown_scenario_lists_the_known_ones():
    with pytest.raises(ScenarioFileError, match="no scenario 'nope'.*busbar-fault"):
        find_scenario("nope")


def test_actions_file_and_its_errors(tmp_path):
    p = write(tmp_path, 'trainee = "asha"\n[[action]]\nat_s = 40\naction = "close"\n'
              'asset = "BR4_Q0"\n[[action]]\nat_s = 5\naction = "reset"\n', "a.toml")
    script = load_actions(p)
    assert script.trainee == "asha" and script.role == "operator"
    assert [a.verb for a in script.actions] == ["reset", "close BR4_Q0"]
    p = write(tmp_path, '[[action]]\nat_s = 40\naction = "close"\n', "b.toml")
    with pytest.raises(ScenarioFileError, match=r"b.toml, line 1: field 'action\[1\]': 'asset' is "
                                                 "required for 'close'"):
        load_actions(p)
    p = write(tmp_path, 'role = "admin"\n', "c.toml")
    with pytest.raises(ScenarioFileError, match=r"c.toml, line 1: field 'role': 'admin' is not"):
        load_actions(p)
