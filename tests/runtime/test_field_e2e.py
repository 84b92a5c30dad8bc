"""End to end over real protocols: field-sim as a child process, polled like a station."""

from __future__ import annotations

import asyncio

import pytest

from app.field.frame import Comm
from app.field.points import POS_OPEN
from app.field.sim.control import ControlClient
from app.runtime.fieldsim import FieldSimProcess
from app.runtime.sources import ProtocolFrameSource


@pytest.fixture
def fieldsim():
    sim = FieldSimProcess(mms=False).start()
    yield sim
    sim.stop()


def test_frames_from_a_running_field_sim(fieldsim, station):
    from app.field.points import build_point_table

    pts = build_point_table(station)
    src = ProtocolFrameSource(pts, modbus=fieldsim.addresses["modbus"])

    async def go():
        try:
            f1 = await src.scan_once()
            with ControlClient(*fieldsim.addresses["control"]) as c:
                c.call("operate", asset="F3_Q0", close=False)
            for _ in range(50):
                f2 = await src.scan_once()
                if f2.values[pts.row("F3_Q0.POS")] == POS_OPEN:
                    break
                await asyncio.sleep(0.1)
            return f1, f2
        finally:
            src.close()

    f1, f2 = asyncio.run(go())
    assert all(c.state == Comm.OK for c in f1.comm.values())
    assert f1.good().all()
    assert 380 < f1.values[pts.row("B400_M1.V")] < 420
    assert f2.values[pts.row("F3_Q0.POS")] == POS_OPEN


def test_killing_the_field_sim_is_seen_and_survived(fieldsim, station):
    from app.field.points import build_point_table

    pts = build_point_table(station)
    src = ProtocolFrameSource(pts, modbus=fieldsim.addresses["modbus"], period_s=0.1)
    src.modbus.timeout_s = 0.3

    async def go():
        try:
            ok = await src.scan_once()
            fieldsim.kill()  # SIGKILL mid-run
            lost = [await src.scan_once() for _ in range(2)][-1]
            return ok, lost
        finally:
            src.close()

    ok, lost = asyncio.run(go())
    assert all(c.state == Comm.OK for c in ok.comm.values())
    assert all(c.state == Comm.LOST for c in lost.comm.values())
    assert not lost.good().any()
