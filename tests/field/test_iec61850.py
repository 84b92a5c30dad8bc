"""The bay IEDs over IEC 61850 MMS, served by a field-sim child process (the client and the
server never share a process: pyiec61850's blocking calls keep the GIL)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from app.field import quality as Q
from app.field.frame import Comm
from app.field.iec61850.model import build_ieds
from app.field.iec61850.poller import MmsPoller
from app.field.points import POS_OPEN, build_point_table
from app.field.sim.control import ControlClient
from app.runtime.fieldsim import FieldSimProcess
from app.runtime.sources import ProtocolFrameSource


@pytest.fixture(scope="module")
def pts(station):
    return build_point_table(station)


@pytest.fixture
def sim():
    s = FieldSimProcess(seed=21).start()
    yield s
    s.stop()


def run(coro):
    return asyncio.run(coro)


def test_model_has_a_logical_device_per_bay_with_the_required_nodes(station, pts):
    ieds = build_ieds(station, pts)
    bays = {d.id for d in pts.devices if d.protocol == "mms"}
    assert {i.bay for i in ieds} == bays
    f1 = next(i for i in ieds if i.bay == "F1")
    assert f1.ld == "GTF1" and {"LLN0", "LPHD1", "XCBR1", "XSWI1", "CSWI1", "MMXU1"} <= set(f1.lns)
    assert {(m.ln, m.do) for m in f1.members} >= {("XCBR1", "Pos"), ("MMXU1", "TotW"),
                                                   ("MMXU1", "TotVAr"), ("MMXU1", "Hz"),
                                                   ("MMXU1", "PhV"), ("MMXU1", "A")}
    ict = next(i for i in ieds if i.bay == "ICT1H")
    assert {"YPTR1", "STMP1", "SIML1", "YLTC1"} <= set(ict.lns)
    rows = [r for i in ieds for r in i.rows()]
    assert len(rows) == len(set(rows))  # every point served once
    switches = {a.id for a in station.switches() if a.bay in bays}
    assert {s.asset for i in ieds for s in i.switches} == switches


def test_values_quality_and_time_from_the_ieds(sim, pts, station):
    with ControlClient(*sim.addresses["control"]) as c:
        c.inject("sensor_fail", point="ICT1.TOP_OIL")
        c.inject("sensor_stuck", point="ICT2.HOT_SPOT")
    time.sleep(0.3)
    mms = MmsPoller(pts, *sim.addresses["mms"])
    src = ProtocolFrameSource(pts, modbus=sim.addresses["modbus"])

    async def go():
        try:
            return await mms.scan_once(), await src.scan_once()
        finally:
            mms.close()
            src.close()

    ms, frame = run(go())
    assert all(c.state == Comm.OK for c in ms.comm.values())
    rows = list(ms.rows)
    q = {pts.tags[r]: int(ms.quality[k]) for k, r in enumerate(rows)}
    assert Q.describe(q["ICT1.TOP_OIL"]) == "invalid|failure"
    assert Q.describe(q["ICT2.HOT_SPOT"]) == "questionable|oldData"
    good = ms.quality == Q.GOOD
    assert good.sum() == len(rows) - 2
    # The same station seen over Modbus: the same values (a few ms apart, float32).
    mb = frame.values[ms.rows]
    ok = good & (np.abs(mb) > 1)
    np.testing.assert_allclose(ms.values[ok], mb[ok], rtol=0.02)
    # The IED's own time stamps are recent.
    now_ns = time.time_ns()
    assert (np.abs(now_ns - ms.t_ns[good]) < 30e9).all()


def test_select_before_operate_with_the_ieds_own_interlocks(sim, pts):
    mms = MmsPoller(pts, *sim.addresses["mms"])

    async def go():
        try:
            iso = await mms.select("F2_Q9", False)  # under a closed breaker
            es = await mms.select("L1_Q8", True)  # onto a live line
            sel = await mms.select("F2_Q0", False)
            op = await mms.operate("F2_Q0", False)
            for _ in range(50):
                ps = await mms.scan_once()
                if ps.values[list(ps.rows).index(pts.row("F2_Q0.POS"))] == POS_OPEN:
                    return iso, es, sel, op, True
                await asyncio.sleep(0.1)
            return iso, es, sel, op, False
        finally:
            mms.close()

    iso, es, sel, op, moved = run(go())
    assert not iso.ok and iso.add_cause == "blocked-by-interlocking"
    assert not es.ok and es.add_cause == "blocked-by-interlocking"
    assert sel.ok and op.ok and moved


def test_one_ied_lost_then_back(sim, pts):
    mms = MmsPoller(pts, *sim.addresses["mms"])

    async def go():
        try:
            await mms.scan_once()
            with ControlClient(*sim.addresses["control"]) as c:
                fid = c.inject("comm_lost", device="F3")
                await asyncio.sleep(0.4)
                lost = await mms.scan_once()
                c.clear(fid)
            t0 = time.monotonic()
            while True:
                back = await mms.scan_once()
                if back.comm["F3"].state == Comm.OK or time.monotonic() - t0 > 5:
                    return lost, back
                await asyncio.sleep(0.1)
        finally:
            mms.close()

    lost, back = run(go())
    assert lost.comm["F3"].state == Comm.LOST
    assert sum(c.state == Comm.LOST for c in lost.comm.values()) == 1
    f3 = [k for k, r in enumerate(lost.rows) if pts.device_of[r] == "F3"]
    assert (lost.quality[f3] & Q.VALIDITY_MASK == Q.INVALID).all()
    assert back.comm["F3"].state == Comm.OK


def test_field_sim_killed_then_restarted(sim, pts):
    src = ProtocolFrameSource(pts, modbus=sim.addresses["modbus"], mms=sim.addresses["mms"],
                              period_s=0.1)
    src.modbus.timeout_s = 0.3

    async def go():
        try:
            ok = await src.scan_once()
            sim.kill()
            frames = [await src.scan_once() for _ in range(2)]
            await asyncio.to_thread(sim.start)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 5:
                again = await src.scan_once()
                if all(c.state == Comm.OK for c in again.comm.values()):
                    break
                await asyncio.sleep(0.1)
            return ok, frames[-1], again, time.monotonic() - t0
        finally:
            src.close()

    ok, lost, again, took = run(go())
    assert all(c.state == Comm.OK for c in ok.comm.values()) and ok.good().all()
    assert all(c.state == Comm.LOST for c in lost.comm.values())
    assert not lost.good().any()
    assert all(c.state == Comm.OK for c in again.comm.values()), took
    assert again.good().all()


def test_report_control_blocks_point_at_the_data_set(sim):
    import pyiec61850 as L

    host, port = sim.addresses["mms"]
    con = L.IedConnection_create()
    try:
        assert L.IedConnection_connect(con, host, port) == L.IED_ERROR_OK
        for ref, buffered in (("GTL1/LLN0.BR.brcbAll01", True),
                              ("GTL1/LLN0.RP.urcbAll01", False)):
            from app.field.iec61850.client import _value_and_error

            rcb, err = _value_and_error(L.IedConnection_getRCBValues(con, ref, None))
            assert err == L.IED_ERROR_OK and rcb is not None, ref
            assert L.ClientReportControlBlock_getDataSetReference(rcb) == "GTL1/LLN0$DSAll"
            assert L.ClientReportControlBlock_isBuffered(rcb) == buffered
            L.ClientReportControlBlock_destroy(rcb)
    finally:
        L.IedConnection_close(con)
        L.IedConnection_destroy(con)
