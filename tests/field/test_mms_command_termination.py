"""IEC 61850 command termination over MMS, against a field-sim child process: the client
process registers the termination handler and sends the termination (with the
LastApplError's AddCause) up the pipe, so a failed operate ends at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.field.iec61850.poller import MmsPoller
from app.field.sim.control import ControlClient
from app.runtime.fieldsim import FieldSimProcess
from app.station.frame import Comm
from app.station.points import POS_OPEN, build_point_table


@pytest.fixture(scope="module")
def pts(station):
    return build_point_table(station)


@pytest.fixture
def sim():
    s = FieldSimProcess(seed=5).start()
    yield s
    s.stop()


async def _until(mms, pred, timeout_s=15.0):
    """Scan (which also collects the terminations) until ``pred()`` or the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ps = await mms.scan_once()
        if pred(ps):
            return ps
        await asyncio.sleep(0.05)
    return None


def test_positive_and_negative_terminations_arrive_over_the_pipe(sim, pts):
    mms = MmsPoller(pts, *sim.addresses["mms"])
    row = pts.row("F2_Q0.POS")

    async def go():
        try:
            out = {}
            assert (await mms.select("F2_Q0", False)).ok
            assert (await mms.operate("F2_Q0", False)).ok
            out["moved"] = await _until(mms, lambda ps: mms.termination("F2_Q0") is not None
                                        and ps.values[list(ps.rows).index(row)] == POS_OPEN)
            out["plus"] = mms.termination("F2_Q0")
            # Operating it open again: the IED accepts the operate, then its control handler
            # refuses (already there): a negative termination, AddCause position-reached.
            assert (await mms.select("F2_Q0", False)).ok
            op = await mms.operate("F2_Q0", False)
            assert op.ok and mms.termination("F2_Q0") is None  # cleared by the new operate
            t0 = time.monotonic()
            await _until(mms, lambda ps: mms.termination("F2_Q0") is not None)
            out["minus"], out["minus_s"] = mms.termination("F2_Q0"), time.monotonic() - t0
            return out
        finally:
            mms.close()

    out = asyncio.run(go())
    # Both ends stop cleanly after their control handlers were used: the libraries'
    # subscribers own their handlers, and deleting them twice used to kill the process
    # on its way out (SIGSEGV) — which nobody saw, the stop having been asked for.
    assert mms._chan.exit_code == 0
    sim.stop()
    assert sim.exit_code == 0
    assert out["moved"] is not None
    assert out["plus"].ok and "command termination +" in out["plus"].message
    minus = out["minus"]
    assert not minus.ok and minus.add_cause == "position-reached"
    assert "LastApplError" in minus.message and out["minus_s"] < 5


def test_a_stuck_breaker_blocks_its_ied_but_never_the_scan(sim, pts):
    with ControlClient(*sim.addresses["control"]) as c:
        c.call("inject", kind="breaker_stuck", params={"asset": "F3_Q0"})
    mms = MmsPoller(pts, *sim.addresses["mms"])

    async def go():
        try:
            assert (await mms.select("F3_Q0", False)).ok
            assert (await mms.operate("F3_Q0", False)).ok
            # The operate waits for its termination (the IED gives up after 20 s): another
            # command to the same IED is refused, while every IED keeps being scanned.
            busy = await mms.select("F3_Q9", False)
            scans = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.0:
                scans.append(await mms.scan_once())
                await asyncio.sleep(0.05)
            other = await mms.select("F4_Q0", False)  # another IED: not affected
            await mms.cancel("F4_Q0")
            return busy, scans, other
        finally:
            mms.close()

    busy, scans, other = asyncio.run(go())
    assert not busy.ok and busy.add_cause == "command-already-in-execution"
    assert "F3_Q0 is still executing" in busy.message
    assert len(scans) >= 10 and all(c.state == Comm.OK for c in scans[-1].comm.values())
    assert other.ok
