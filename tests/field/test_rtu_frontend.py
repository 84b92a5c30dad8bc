"""The Modbus poller as the HMI runs it: several connections, in its own front-end process."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import time

import numpy as np
import pytest

from app.field.rtu.frontend import RemoteModbusPoller
from app.field.rtu.poller import ModbusPoller, _balance
from app.station import quality as Q
from app.station.frame import Comm
from app.station.points import build_point_table
from tests.field.test_rtu import AT_ONCE, Rig, scan_until_lost


@pytest.fixture
def rig(station):
    r = Rig(station)
    yield r
    r.close()


def _all_ok(ps) -> bool:  # noqa: ANN001
    return all(c.state == Comm.OK for c in ps.comm.values())


def test_the_point_table_survives_the_trip_to_a_child(station):
    pts = build_point_table(station)
    back = pickle.loads(pickle.dumps(pts))
    assert back.tags == pts.tags and back.row("ICT1.HOT_SPOT") == pts.row("ICT1.HOT_SPOT")
    assert not back.lo.flags.writeable and not back.devices[0].points.flags.writeable
    with pytest.raises(TypeError):
        back.index["X"] = 1  # still read-only


def test_two_connections_share_the_devices_and_read_what_one_reads(rig):
    snap = rig.step()
    one = ModbusPoller(rig.plant.points, "127.0.0.1", rig.port)
    two = ModbusPoller(rig.plant.points, "127.0.0.1", rig.port, connections=2)
    groups = _balance(two.devices, 2)
    assert all(groups) and sorted(d.device for g in groups for d in g) == \
        sorted(d.device for d in two.devices)
    cost = [sum(d.requests() for d in g) for g in groups]
    assert abs(cost[0] - cost[1]) <= 4, cost  # about equal requests each

    async def go():
        try:
            return await one.scan_once(), await two.scan_once()
        finally:
            one.close()
            two.close()

    a, b = asyncio.run(go())
    assert _all_ok(a) and _all_ok(b)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.quality, b.quality)
    exp = snap.values[b.rows].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(b.values, exp, rtol=1e-7, atol=0)
    with pytest.raises(ValueError, match="connections"):
        ModbusPoller(rig.plant.points, "127.0.0.1", rig.port, connections=0)


def test_the_front_end_polls_commands_and_logs_here(rig, caplog):
    """Values, quality and commands through the front-end process are those of the RTU; its
    log lines (connect, the whole RTU lost in one line, restored) are logged in this process."""
    rig.plant.inject("sensor_fail", point="ICT1.TOP_OIL")
    snap = rig.step()
    caplog.set_level(logging.INFO, logger="app.field.rtu.poller")
    p = RemoteModbusPoller(rig.plant.points, "127.0.0.1", rig.port, timeout_s=0.3,
                           policy=AT_ONCE)

    async def go():
        try:
            first = await p.scan_once()
            refused = await p.write_command("F1_Q1", False)  # disconnector under load
            ok = await p.write_command("F1_Q0", False)
            await asyncio.to_thread(rig.stop_server)
            lost = await scan_until_lost(p)
            await asyncio.to_thread(rig.start)
            for _ in range(100):
                back = await p.scan_once()
                if _all_ok(back):
                    break
                await asyncio.sleep(0.05)
            return first, refused, ok, lost, back
        finally:
            p.close()

    first, refused, ok, lost, back = asyncio.run(go())
    assert _all_ok(first) and len(first.rows) == len(rig.plant.points)
    exp = snap.values[first.rows].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(first.values, exp, rtol=1e-7, atol=0)
    i = list(first.rows).index(rig.plant.points.row("ICT1.TOP_OIL"))
    assert Q.describe(int(first.quality[i])) == "invalid|failure"
    assert not refused.ok and refused.add_cause == "blocked-by-interlocking"
    assert ok.ok
    assert all(c.state == Comm.LOST for c in lost.comm.values())
    assert _all_ok(back)
    msgs = [r.getMessage() for r in caplog.records if r.name == "app.field.rtu.poller"]
    assert any("connected (connection 1 of 2)" in m for m in msgs), msgs
    (lost_line,) = [m for m in msgs if "communication lost" in m]
    assert "29 devices" in lost_line
    assert p.pid is None  # closed: the child has gone


@pytest.mark.parametrize("how", ["killed", "frozen"])
def test_a_front_end_that_dies_or_hangs_loses_every_device_then_comes_back(rig, how):
    """SIGKILL, or SIGSTOP (a front-end that stops answering): that scan reports every device
    failed or silent — here LOST at once (a policy without hold-off), invalid|oldData —
    within the answer budget, nothing escapes; a front-end silent for the reply timeout is
    killed; a new one is started in the background and good data returns by itself. (The
    state machine runs in this process, so it goes on while the front-end is down.)"""
    p = RemoteModbusPoller(rig.plant.points, "127.0.0.1", rig.port, policy=AT_ONCE,
                           reply_timeout_s=2.0)
    assert p.answer_budget_s == pytest.approx(1.2)  # max(1 s, 4 × 0.3 s) at a 10 Hz scan
    other = RemoteModbusPoller(rig.plant.points, "h", 1)
    other.close()
    assert other.reply_timeout_s == 10.0  # max(10 s, 8 × 0.3 s)

    async def go():
        try:
            assert _all_ok(await p.scan_once())
            old = p.pid
            os.kill(old, signal.SIGKILL if how == "killed" else signal.SIGSTOP)
            t0 = time.monotonic()
            lost = await p.scan_once()
            took = time.monotonic() - t0
            t1 = time.monotonic()
            while not _all_ok(back := await p.scan_once()):
                assert time.monotonic() - t1 < 20, "no new front-end within 20 s"
                rig.step()
                await asyncio.sleep(0.1)
            return lost, took, old, back
        finally:
            p.close()

    lost, took, old, back = asyncio.run(go())
    assert all(c.state == Comm.LOST for c in lost.comm.values())
    assert "Modbus front-end" in next(iter(lost.comm.values())).last_error
    flags = Q.INVALID | Q.OLD_DATA
    assert ((lost.quality & flags) == flags).all()
    # Bounded by the answer budget (plus killing and reaping the child; slack for a busy box)
    assert took <= p.answer_budget_s + 2.0, took
    assert _all_ok(back)
    with pytest.raises(ProcessLookupError):  # the silent child was killed, not left behind
        os.kill(old, 0)


def test_a_front_end_that_cannot_start_says_why(rig, monkeypatch):
    """A child that fails at once (here: it cannot even be imported) is reported on the
    devices' communication state, with the reason, and retried — never an exception."""
    p = RemoteModbusPoller(rig.plant.points, "127.0.0.1", rig.port, policy=AT_ONCE)
    p._chan.reap()  # the one spawned at construction
    p._chan.args = ["-c", "import sys; sys.exit('no front-end here')"]
    p._chan.start_timeout_s = 5.0

    async def go():
        try:
            scans = [await p.scan_once()]
            # LOST once comm_loss_s has passed since the first failure: a time, not a count.
            scans.append(await scan_until_lost(p))
            return scans
        finally:
            p.close()

    scans = asyncio.run(go())
    for ps in scans:  # connecting, its first scan (the clock starts at the first failure)
        assert all(c.state in (Comm.CONNECTING, Comm.LOST) for c in ps.comm.values())
        assert "Modbus front-end process exited with code 1" in \
            next(iter(ps.comm.values())).last_error
    assert all(c.state == Comm.LOST for c in scans[-1].comm.values())
