"""GOOSE between the two ends of a veth pair in a network namespace of the test's own."""

from __future__ import annotations

import pytest

from app.field.iec61850.goose import (
    PROT_DATASET,
    GoCb,
    GooseError,
    GooseInterfaceError,
    RetransmissionPolicy,
    check_interface,
    gocb_for,
    station_gocbs,
)
from tests.netns import veth_namespace

CHILD = "tests/field/goose_child.py"
TRIP = "GTL2PROT/LLN0$GO$gcbTrip"


@pytest.fixture
def ns():
    yield from veth_namespace()


@pytest.fixture(scope="module")
def burst():
    gen = veth_namespace()
    ns = next(gen)
    try:
        yield ns.run_json(CHILD, "burst", ns.a, ns.b)
    finally:
        gen.close()


def test_control_blocks_of_the_station(station):
    gocbs = station_gocbs(station)
    refs = [g.gocb_ref for g in gocbs]
    assert "GTL2PROT/LLN0$GO$gcbTrip" in refs and len(set(refs)) == len(refs)
    assert len({g.app_id for g in gocbs}) == len(gocbs)
    g = gocbs[0]
    assert g.mac[:4] == (0x01, 0x0C, 0xCD, 0x01) and g.mac_text.startswith("01-0C-CD-01-")
    assert g.dataset_ref.endswith("PROT/LLN0$DSTrip")
    assert [n for n, _ in g.members][:4] == ["PTRC1.Tr.general", "RBRF1.Str.general",
                                             "RBRF1.OpIn.general", "RBRF1.OpEx.general"]
    relay_bays = {a.bay for a in station.assets_of_type("relay")}
    assert {g.ied for g in gocbs} == {f"GT{b}" for b in relay_bays}


def test_burst_doubles_to_the_heartbeat():
    p = RetransmissionPolicy(2.0, 1000.0)
    assert [p.interval_ms(k) for k in range(11)] == [2, 4, 8, 16, 32, 64, 128, 256, 512,
                                                      1000, 1000]
    with pytest.raises(GooseError, match="t_min_ms"):
        RetransmissionPolicy(0.0, 1000.0)


def test_bad_configuration_is_named():
    with pytest.raises(GooseError, match="member 'X' has kind 'blob'"):
        GoCb("GTL2", 0x1001, (1, 12, 205, 1, 0, 1), (("X", "blob"),))
    with pytest.raises(GooseError, match="appId 0x4000"):
        GoCb("GTL2", 0x4000, (1, 12, 205, 1, 0, 1))


def test_a_missing_interface_is_refused_with_its_name():
    with pytest.raises(GooseInterfaceError, match="'gt-nosuch0'.*no such network interface"):
        check_interface("gt-nosuch0")
    with pytest.raises(GooseInterfaceError, match="not a network interface name"):
        check_interface("../etc")


def test_trip_received_with_gocb_stnum_and_sqnum(burst):
    assert burst["ok"], burst
    assert not burst["unchanged_sent"]  # the same values again are no new state
    rx = burst["received"]
    assert len(rx) == burst["subscribed_sent"]
    assert {m["gocb"] for m in rx} == {TRIP, "GTICT2PROT/LLN0$GO$gcbTrip"}  # not GTNOTSUB
    l2 = [m for m in rx if m["gocb"] == TRIP]
    # stNum: 1 at start, 2 the trip with BF initiation, 3 the re-trip
    firsts = {m["st_num"]: m for m in l2 if m["sq_num"] == 0}
    assert sorted(firsts) == [1, 2, 3]
    trip = firsts[2]
    assert trip["values"]["PTRC1.Tr.general"] is True
    assert trip["values"]["RBRF1.Str.general"] is True
    assert trip["values"]["RBRF1.OpIn.general"] is False
    assert trip["values"]["PTRC1.Tr.q"] == 0
    assert trip["time"] == "2030-06-01T05:30:00.020+00:00" == trip["values"]["PTRC1.Tr.t"]
    assert firsts[3]["values"]["RBRF1.OpIn.general"] is True
    assert firsts[3]["time"] == "2030-06-01T05:30:00.170+00:00"
    # sqNum counts the retransmissions of each state, in order, without a gap
    for st in (1, 2, 3):
        sq = [m["sq_num"] for m in l2 if m["st_num"] == st]
        assert sq == list(range(len(sq)))
    assert len([m for m in l2 if m["st_num"] == 3]) > 5
    # every repetition carries the same values
    assert all(m["values"] == firsts[m["st_num"]]["values"] for m in l2)


def test_retransmissions_follow_the_burst(burst):
    sent = [s for s in burst["sent"] if s["gocb"] == TRIP and s["st"] == 3]
    at = [s["at_ms"] for s in sent]
    gaps = [round(b - a, 6) for a, b in zip(at, at[1:], strict=False)]
    assert at[0] == 170.0
    assert gaps[:10] == [2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
    assert [s["ttl_ms"] for s in sent[:3]] == [4, 8, 16]
    st2 = [s for s in burst["sent"] if s["gocb"] == TRIP and s["st"] == 2]
    assert [s["at_ms"] for s in st2] == [20, 22, 26, 34, 50, 82, 146]  # cut by the re-trip


def test_no_raw_socket_permission_is_named(ns):
    r = ns.run(CHILD, "refuse", ns.a, prefix=("setpriv", "--bounding-set", "-net_raw"))
    if "setpriv" in r.stderr and r.returncode != 0 and "error" not in r.stdout:
        pytest.skip(f"setpriv refused: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    assert f"no permission to open a raw socket on {ns.a} (needs CAP_NET_RAW)" in r.stdout


def test_a_missing_interface_in_the_namespace(ns):
    out = ns.run_json(CHILD, "refuse", "eth0")
    assert out["iface"] == "eth0" and "no such network interface" in out["error"]
    assert ns.a in out["error"]  # the interfaces that do exist are listed


def test_dataset_has_the_time_of_change():
    assert PROT_DATASET[-1] == ("PTRC1.Tr.t", "utc")
    g = gocb_for(4, "GTF1")
    assert g.app_id == 0x1005 and g.mac == (1, 12, 205, 1, 0, 5)


def test_bench_goose_on_loopback_counts_each_message_once(ns):
    """On loopback a raw socket sees each frame twice (going out, coming in): the receiver
    drops the second copy (same stNum and sqNum), so the bench's 500 changes are 500
    messages, each with its latency (the figures are the bench's; none asserted here)."""
    import json
    import subprocess

    subprocess.run(["ip", "-n", ns.name, "link", "set", "lo", "up"], check=True, timeout=30)
    r = ns.run("-m", "app.cli", "bench", "goose", "--iface", "lo", "--json")
    assert r.returncode == 0, r.stderr
    fig = json.loads(r.stdout)
    assert fig["iface"] == "lo" and fig["latency_ms"]["n"] == 500
    assert 0 < fig["latency_ms"]["p50"] <= fig["latency_ms"]["p99"]


def test_bench_goose_names_a_refused_interface():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "app.cli", "bench", "goose", "--iface",
                        "gt-nosuch0"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "'gt-nosuch0'" in r.stderr and "no such network interface" in r.stderr
