"""The communication state machine: hold-off, hysteresis, quality, a bay over two paths.

Times are given explicitly (seconds on a monotonic scale), so these tests never wait."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from app.field.commstate import BayStates, CommPolicy, CommPolicyError, CommTracker
from app.station import quality as Q
from app.station.frame import Comm, CommState

log = logging.getLogger("tests.commstate")
POLICY = CommPolicy(stale_s=1.0, comm_loss_s=3.0, recover_s=1.0)


def tracker(devices=("A", "B"), policy=POLICY) -> CommTracker:  # noqa: ANN001
    return CommTracker(devices, "modbus", policy, log=log, what="test RTU")


def scan(tr: CommTracker, t: float, **outcomes: object) -> dict[str, Comm]:
    """One scan at ``t``: ``A=True`` a good reply, ``A="why"`` a failure, absent: not asked."""
    tr.begin_scan()
    for dev, o in outcomes.items():
        tr.observe(dev, o is True, "" if o is True else str(o), t)
    return {d: c.state for d, c in tr.evaluate(t).items()}


def test_connecting_until_the_first_reply_then_ok_at_once():
    tr = tracker()
    assert scan(tr, 0.1, A="refused") == {"A": Comm.CONNECTING, "B": Comm.CONNECTING}
    assert scan(tr, 0.2, A=True, B="refused") == {"A": Comm.OK, "B": Comm.CONNECTING}
    assert scan(tr, 3.1, A=True, B="refused")["B"] == Comm.CONNECTING  # first asked at 0.2
    assert scan(tr, 3.2, A=True, B="refused")["B"] == Comm.LOST  # never answered in 3 s
    assert tr.states["B"].last_error == "refused"
    assert scan(tr, 100.0, A=True)["A"] == Comm.OK
    late = tracker(("C",))
    assert scan(late, 50.0)["C"] == Comm.CONNECTING  # never asked yet (a client starting)


def test_one_missed_reply_changes_nothing_a_silence_turns_suspect_then_lost():
    tr = tracker(("A",))
    scan(tr, 0.0, A=True)
    states = []
    for k in range(1, 35):  # every poll fails from here
        t = k / 10
        states.append((t, scan(tr, t, A="timeout: no reply within 0.15 s")["A"]))
    first = {s: t for t, s in reversed(states)}
    assert first[Comm.SUSPECT] == 1.0 and first[Comm.LOST] == 3.0
    assert all(s == Comm.OK for t, s in states if t < 1.0)
    assert tr.states["A"].last_error == "timeout: no reply within 0.15 s"


def test_recovery_needs_an_unbroken_run_of_good_replies_for_recover_s():
    tr = tracker(("A",))
    scan(tr, 0.0, A=True)
    scan(tr, 3.0, A="gone")
    assert tr.states["A"].state == Comm.LOST
    assert scan(tr, 3.1, A=True)["A"] == Comm.LOST  # answering again: not yet
    assert "answering again" in tr.states["A"].last_error
    assert scan(tr, 3.6, A=True)["A"] == Comm.LOST
    assert scan(tr, 3.7, A="again")["A"] == Comm.LOST  # the run is broken …
    assert scan(tr, 3.8, A=True)["A"] == Comm.LOST
    assert scan(tr, 4.7, A=True)["A"] == Comm.LOST  # … and starts again at 3.8
    assert scan(tr, 4.8, A=True)["A"] == Comm.OK
    assert tr.states["A"].last_error == ""


def test_a_device_answering_one_poll_in_three_never_flaps():
    """The issue's flapping bay, on one path: replies come and go every few scans."""
    tr = tracker(("A",))
    seen = []
    for k in range(300):  # 30 s at 10 Hz
        seen.append(scan(tr, k / 10, A=True if k % 3 == 0 else "timeout")["A"])
    changes = sum(a != b for a, b in zip(seen, seen[1:], strict=False))
    assert changes <= 1 and tr.transitions <= 2, (changes, tr.transitions)


def test_a_device_turned_suspect_by_time_alone_needs_a_fresh_run_to_recover():
    """No failure seen, only silence (a path whose answers stopped coming): its replies
    before the silence do not count towards recovery."""
    tr = tracker(("A",))
    for k in range(20):
        scan(tr, k / 10, A=True)
    assert scan(tr, 3.0)["A"] == Comm.SUSPECT  # nothing since 1.9 s
    assert scan(tr, 3.1, A=True)["A"] == Comm.SUSPECT  # one reply after: not yet
    assert scan(tr, 4.2, A=True)["A"] == Comm.OK


def test_not_asked_is_not_a_failure_only_time_counts():
    tr = tracker(("A",))
    scan(tr, 0.0, A=True)
    assert scan(tr, 0.9)["A"] == Comm.OK  # deferred / in backoff: no observation
    assert scan(tr, 1.0)["A"] == Comm.SUSPECT
    assert tr.states["A"].last_error == "no good reply for 1 s"
    assert scan(tr, 3.0)["A"] == Comm.LOST


def test_quality_follows_the_state_keeping_the_last_values_detail_bits():
    tr = tracker(("A", "B"))
    raw = np.array([Q.GOOD, Q.INVALID | Q.FAILURE, Q.GOOD, Q.GOOD], dtype=np.uint16)
    slices = {"A": np.array([0, 1]), "B": np.array([2, 3])}
    scan(tr, 0.0, A=True, B=True)
    np.testing.assert_array_equal(tr.quality(raw, slices), raw)  # OK: as read
    scan(tr, 1.5, A="timeout", B=True)
    q = tr.quality(raw, slices)
    assert Q.describe(int(q[0])) == "questionable|oldData"
    assert Q.describe(int(q[1])) == "questionable|failure|oldData"
    assert (q[2:] == Q.GOOD).all()
    scan(tr, 3.0, A="timeout", B=True)
    assert Q.describe(int(tr.quality(raw, slices)[0])) == "invalid|oldData"
    scan(tr, 3.1, A=True, B=True)  # fresh again, not yet trusted: invalid, not old
    assert Q.describe(int(tr.quality(raw, slices)[0])) == "invalid"
    fresh = tracker(("A", "B"))
    assert (fresh.quality(np.full(4, Q.COMM_LOST, np.uint16), slices) == Q.COMM_LOST).all()


def test_state_changes_are_logged_once_each_for_all_devices_together(caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    tr = tracker(("A", "B", "C"))
    scan(tr, 0.0, A=True, B=True, C=True)
    for k in range(1, 60):  # the RTU gone for 6 s …
        scan(tr, k / 10, A="RTU not reachable", B="RTU not reachable", C="RTU not reachable")
    for k in range(60, 90):  # … and back
        scan(tr, k / 10, A=True, B=True, C=True)
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == [
        "test RTU: communication established with 3 devices (A, B, C)",
        "test RTU: communication suspect with 3 devices (A, B, C): RTU not reachable",
        "test RTU: communication lost with 3 devices (A, B, C): RTU not reachable",
        "test RTU: communication restored with 3 devices (A, B, C)"], msgs
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.INFO, logging.INFO, logging.WARNING, logging.INFO]


def test_policy_defaults_scale_with_the_period_and_bad_ones_are_refused():
    assert CommPolicy.for_period(0.1) == CommPolicy(1.0, 3.0, 1.0)
    assert CommPolicy.for_period(2.0) == CommPolicy(4.0, 6.0, 1.0)
    assert CommPolicy.for_period(0.1, comm_loss_s=5, recover_s=0.5) == CommPolicy(1.0, 5, 0.5)
    with pytest.raises(CommPolicyError, match="comm_loss_s 0.05 s is shorter than the scan "
                                              "period 0.1 s"):
        CommPolicy.for_period(0.1, comm_loss_s=0.05)
    with pytest.raises(CommPolicyError, match="comm_loss_s 0.5 s: from stale_s"):
        CommPolicy(stale_s=1.0, comm_loss_s=0.5)
    with pytest.raises(ValueError, match="recover_s -1"):
        CommPolicy(recover_s=-1)


def _cs(dev: str, proto: str, state: Comm, why: str = "") -> CommState:
    import datetime as dt

    return CommState(dev, proto, state, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), why)


def test_a_bay_takes_its_worst_path_and_says_which_and_why():
    bays = BayStates()
    rtu, ied = _cs("F1", "modbus", Comm.OK), _cs("F1", "iec61850", Comm.LOST, "connect failed")
    c = bays.combine("F1", [rtu, ied])
    assert c.state == Comm.LOST and c.protocol == "iec61850"
    assert c.last_error == "iec61850 lost: connect failed" and c.paths == (rtu, ied)
    since = c.since
    again = bays.combine("F1", [rtu, _cs("F1", "iec61850", Comm.LOST, "other cause")])
    assert again.since == since  # same state: the bay has not changed
    both = bays.combine("F1", [_cs("F1", "modbus", Comm.SUSPECT, "timeout"), ied])
    assert both.state == Comm.LOST and both.protocol == "modbus+iec61850"
    assert both.last_error == "modbus suspect: timeout; iec61850 lost: connect failed"
    ok = bays.combine("F1", [rtu, _cs("F1", "iec61850", Comm.OK)])
    assert ok.state == Comm.OK and ok.protocol == "modbus+iec61850" and ok.last_error == ""
    assert ok.since != since
    one = bays.combine("T1", [_cs("T1", "modbus", Comm.SUSPECT, "timeout")])
    assert (one.state, one.protocol, one.last_error) == (Comm.SUSPECT, "modbus", "timeout")
