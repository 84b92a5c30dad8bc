"""A drill with GOOSE: trips and breaker-failure initiation published by the bay IEDs and
recorded in the SOE (in a network namespace of the test's own, over a veth pair)."""

from __future__ import annotations

import json
import re

import pytest

from app.cli import main
from tests.netns import veth_namespace

# The seed's breaker failure, shortened: line-2's breaker stuck on an LG fault at 30 s.
SCENARIO = """\
[scenario]
id = "bf-short"
title = "Breaker failure, short"
duration_s = 90
scan_s = 1.0
seed = 14

[initial]
time_of_day = "11:00"
load_pct = 90

[[event]]
id = "fault"
kind = "fault"
at_s = 30
bus = "l2_t"
type = "LG"
stuck = ["L2_Q0"]

[[expect]]
id = "reset"
action = "reset"
after = "fault"
within_s = 120
"""
ACTIONS = 'trainee = "asha"\n[[action]]\nat_s = 60\naction = "reset"\n'
MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


@pytest.fixture(scope="module")
def ns():
    yield from veth_namespace()


@pytest.fixture
def files(tmp_path):
    sc = tmp_path / "bf.toml"
    sc.write_text(SCENARIO, encoding="utf-8")
    acts = tmp_path / "acts.toml"
    acts.write_text(ACTIONS, encoding="utf-8")
    return sc, acts


def goose_entries(soe):
    return [e for e in soe if e["source"] == "GOOSE"]


def flags(text):
    return dict(re.findall(r"(Tr|BFI/Str|OpIn|OpEx)=(\d)", text))


def test_cli_drill_run_with_goose(ns, files, tmp_path):
    sc, acts = files
    rep = tmp_path / "rep"
    r = ns.run("-m", "app.cli", "drill", "run", str(sc), "--headless", "--goose", ns.a,
               "--actions", str(acts), "--report", str(rep), "--data-dir",
               str(tmp_path / "data"), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    g = d["goose"]
    assert g["iface"] == ns.a and g["gocbs"] > 10
    assert g["published"] == g["received"] > g["gocbs"] * 80  # heartbeats at T0 = 1 s
    soe = json.loads((rep / "result.json").read_text())["soe"]
    gs = goose_entries(soe)
    assert all(e["kind"] == "goose" and MS.match(e["time"]) for e in gs)
    trip = next(e for e in soe if e["kind"] == "trip" and e["source"] == "L2_21M1")
    # the line IED's trip (the BF initiation of L2_Q0) at the relay's trip instant
    l2 = [e for e in gs if e["text"].startswith("GTL2PROT/LLN0$GO$gcbTrip")]
    assert l2[0]["t_s"] == trip["t_s"] and l2[0]["time"] == trip["time"]
    assert flags(l2[0]["text"])["Tr"] == "1" and "stNum 2 sqNum 0" in l2[0]["text"]
    # the busbar IED's breaker-failure function: started, re-trip, back-up trip
    bb = [e for e in gs if e["text"].startswith("GTBUS400PROT/LLN0$GO$gcbTrip")]
    assert [(f["BFI/Str"], f["OpIn"], f["OpEx"]) for f in map(flags, (e["text"] for e in bb))
            ][:3] == [("1", "0", "0"), ("1", "1", "0"), ("1", "1", "1")]
    assert bb[0]["t_s"] == trip["t_s"]
    retrip = next(e for e in soe if e["kind"] == "retrip")
    backup = next(e for e in soe if e["kind"] == "bf_backup_trip")
    assert bb[1]["t_s"] == retrip["t_s"] and bb[2]["t_s"] == backup["t_s"]
    st = [int(re.search(r"stNum (\d+)", e["text"]).group(1)) for e in bb]
    assert st == list(range(2, 2 + len(st)))  # one stNum per state change
    # the trainee's reset at 60 s: every flag of the busbar IED drops, a new state
    assert bb[-1]["t_s"] == 60.0 and set(flags(bb[-1]["text"]).values()) == {"0"}


def test_drill_goose_across_the_veth_pair_and_backtrack(ns, files, tmp_path):
    sc, acts = files
    out = ns.run_json("tests/training/drill_goose_child.py", ns.a, ns.b, str(sc), str(acts),
                      str(tmp_path / "out"))
    g = out["goose"]
    assert g["sub_iface"] == ns.b and g["published"] == g["received"]
    first = goose_entries(out["first_soe"])
    assert any(e["text"].startswith("GTL2PROT") and flags(e["text"])["Tr"] == "1"
               for e in first)
    # after the backtrack to 45 s the same link runs on: the IEDs' states are published again
    # as the replay reaches them, stNum counting on from where it was (no restart)
    def trips(soe):
        return [e for e in goose_entries(soe) if e["text"].startswith("GTL2PROT")
                and flags(e["text"])["Tr"] == "1"]

    def st(e):
        return int(re.search(r"stNum (\d+)", e["text"]).group(1))

    before, after = trips(out["first_soe"]), trips(out["soe"])
    assert len(before) == len(after) == 1 and after[0]["t_s"] == before[0]["t_s"] == 30.02
    assert st(after[0]) > st(before[0])
    # the busbar IED's BF flags latched at 45 s: the backtrack puts them back to 0
    back = [e for e in goose_entries(out["soe"]) if e["t_s"] == 0.0]
    assert back and all(set(flags(e["text"]).values()) == {"0"} for e in back)


def test_cli_goose_on_a_missing_interface(files, tmp_path, capsys):
    sc, _ = files
    rc = main(["drill", "run", str(sc), "--headless", "--goose", "gt-nosuch0", "--report",
               str(tmp_path / "r"), "--data-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("gridtwin: GOOSE on 'gt-nosuch0': no such "
                                               "network interface")


def test_the_windowed_drill_takes_goose_too_and_names_a_missing_interface(files, tmp_path,
                                                                          capsys):
    """``gridtwin drill SCENARIO --goose IFACE`` (the trainee's HMI and the instructor) links
    its engine to GOOSE as the headless run does: a missing interface is refused before any
    window opens, in one line."""
    sc, _ = files
    rc = main(["drill", str(sc), "--goose", "gt-nosuch0", "--data-dir", str(tmp_path / "d"),
               "--screenshot", str(tmp_path / "shots"), "--duration", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("gridtwin: GOOSE on 'gt-nosuch0': no such "
                                               "network interface")
    assert not (tmp_path / "shots").exists()
