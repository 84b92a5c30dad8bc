"""The bay IEDs over IEC 61850 MMS, served by a field-sim child process (the client and the
server never share a process: pyiec61850's blocking calls keep the GIL)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from app.field.iec61850.client import (
    _value_and_error,
    open_association,
    probe_reference,
)
from app.field.iec61850.model import build_ieds
from app.field.iec61850.poller import MmsPoller
from app.field.sim.control import ControlClient
from app.runtime.fieldsim import FieldSimProcess
from app.runtime.sources import ProtocolFrameSource
from app.station import clock
from app.station import quality as Q
from app.station.frame import Comm
from app.station.points import POS_OPEN, build_point_table


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
            await asyncio.gather(mms.scan_once(), src.scan_once())  # both clients up first
            return await mms.scan_once(), await src.scan_once()  # then back to back
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
    # The same station seen over Modbus: the same values, within what the two reads being up
    # to a plant tick or two apart allows — fresh instrument noise on both (5 sigma of the
    # difference of two readings) and the loads' drift (0.5 %) — and float32.
    from app.field.sim.plant import PlantSimulator

    mb = frame.values[ms.rows]
    ok = good & (np.abs(mb) > 1)
    sigma = PlantSimulator(station).noise_sigma(frame.values)[ms.rows]
    tol = 5 * np.sqrt(2) * sigma + 0.005 * np.abs(mb)
    off = ok & (np.abs(ms.values - mb) > tol)
    assert not off.any(), [(pts.tags[r], float(ms.values[k]), float(mb[k]), float(tol[k]))
                           for k, r in enumerate(rows) if off[k]]
    # The IED's own time stamps are recent.
    now_ns = clock.time_ns()
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


def test_a_breaker_at_sf6_lockout_is_refused_at_select_for_its_health(sim, pts):
    with ControlClient(*sim.addresses["control"]) as c:
        c.inject("sf6_leak", asset="F2_Q0", bar_per_h=36_000.0)  # empty within a second
    mms = MmsPoller(pts, *sim.addresses["mms"])
    rtu = ProtocolFrameSource(pts, modbus=sim.addresses["modbus"])  # the RTU serves SF6

    async def go():
        try:
            locked = False
            for _ in range(100):
                frame = await rtu.scan_once()
                locked = frame.values[pts.row("F2_Q0.SF6_LOCK")] == 1.0
                if locked:
                    break
                await asyncio.sleep(0.05)
            return locked, await mms.select("F2_Q0", False)
        finally:
            mms.close()
            rtu.close()

    locked, r = run(go())
    assert locked
    assert not r.ok and r.add_cause == "blocked-by-health"


def test_hundreds_of_controls_never_hang_the_field_sim(sim, pts):
    """The check handler runs in libiec61850's server thread under its model lock while the
    plant thread updates the model: with the lock taken through SWIG (holding the GIL) the
    field-sim deadlocked within a few hundred selects. Every one must be answered."""
    mms = MmsPoller(pts, *sim.addresses["mms"])

    async def go():
        try:
            causes = []
            for k in range(600):
                r = await mms.select("F2_Q9" if k % 2 else "L1_Q8", k % 2 == 0)
                causes.append(r.add_cause)
                if k % 100 == 0:
                    await mms.scan_once()
            return causes, await mms.scan_once()
        finally:
            mms.close()

    causes, last = run(go())
    assert set(causes) == {"blocked-by-interlocking"}, causes.index("unknown")
    assert all(c.state == Comm.OK for c in last.comm.values())


def test_one_ied_lost_then_back(sim, pts):
    from tests.field.test_rtu import AT_ONCE

    mms = MmsPoller(pts, *sim.addresses["mms"], policy=AT_ONCE)

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


def test_report_control_blocks_point_at_the_data_set(sim):
    import pyiec61850 as L

    host, port = sim.addresses["mms"]
    con, why, _ = open_association(L, host, port, probe=probe_reference("GTL1"))
    assert con is not None, why
    try:
        for ref, buffered in (("GTL1/LLN0.BR.brcbAll01", True),
                              ("GTL1/LLN0.RP.urcbAll01", False)):
            rcb, err = _value_and_error(L.IedConnection_getRCBValues(con, ref, None))
            assert err == L.IED_ERROR_OK and rcb is not None, ref
            assert L.ClientReportControlBlock_getDataSetReference(rcb) == "GTL1/LLN0$DSAll"
            assert L.ClientReportControlBlock_isBuffered(rcb) == buffered
            L.ClientReportControlBlock_destroy(rcb)
    finally:
        L.IedConnection_close(con)
        L.IedConnection_destroy(con)


@pytest.mark.parametrize("rcb,buffered", [("GTICT1H/LLN0.BR.brcbAll01", True),
                                          ("GTICT1H/LLN0.RP.urcbAll01", False)])
def test_reports_are_delivered_to_a_subscriber(sim, station, pts, rcb, buffered):
    """A client enables a report control block on a running field-sim and receives reports
    of the whole data set (its own process: see tests/field/report_client.py)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    ied = next(i for i in build_ieds(station, pts) if i.bay == "ICT1H")
    host, port = sim.addresses["mms"]
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "tests.field.report_client", host,
                          str(port + ied.index), ied.ld, rcb, "3"],
                         capture_output=True, text=True, timeout=60, cwd=root)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert "error" not in r, r
    assert r["buffered"] is buffered and r["rpt_id"] == f"{ied.ld}/LLN0.{rcb.split('.')[-1][:-2]}"
    reps = r["reports"]
    assert len(reps) == 3, r
    for rep in reps:
        assert "error" not in rep, rep
        assert rep["rcb"] == rcb and rep["data_set"] == f"{ied.ld}/LLN0$DSAll"
        assert rep["size"] == len(ied.members)
        included = [k for k, x in enumerate(rep["reasons"]) if x != "not-included"]
        assert included, rep["reasons"]
        assert {rep["reasons"][k] for k in included} <= {"data-change", "integrity",
                                                          "quality-change", "data-update"}
        assert {rep["types"][k] for k in included} == {"structure"}  # data objects, FC MX/ST
    seqs = [rep["seq"] for rep in reps]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


class _RacyLibrary:
    """Stands in for pyiec61850: every connect says OK, but the first ``bad`` associations
    fail their first request with CONNECTION_LOST, as libiec61850's connect race does."""

    IED_ERROR_OK, IED_ERROR_NOT_CONNECTED, IED_ERROR_CONNECTION_LOST = 0, 1, 3
    IED_ERROR_TIMEOUT, IEC61850_FC_ST = 20, 0

    def __init__(self, bad: int, connect_error: int = 0) -> None:
        self.bad, self.connect_error = bad, connect_error
        self.made, self.closed, self.destroyed, self.probes = 0, 0, 0, []

    def IedConnection_create(self):  # noqa: N802
        self.made += 1
        return f"con{self.made}"

    def IedConnection_setConnectTimeout(self, con, ms): ...  # noqa: N802
    def IedConnection_setRequestTimeout(self, con, ms): ...  # noqa: N802

    def IedConnection_connect(self, con, host, port):  # noqa: N802
        return self.connect_error

    def IedConnection_readInt32Value(self, con, ref, fc):  # noqa: N802
        self.probes.append((con, ref, fc))
        return [0, 3 if self.made <= self.bad else 0]

    def IedConnection_close(self, con):  # noqa: N802
        self.closed += 1

    def IedConnection_destroy(self, con):  # noqa: N802
        self.destroyed += 1


def test_an_association_dropped_after_connect_is_replaced_at_once():
    lib = _RacyLibrary(bad=2)
    con, why, dropped = open_association(lib, "127.0.0.1", 10102, probe="GTL1/LLN0.Mod.stVal")
    assert con == "con3" and why == "" and dropped == 2
    assert lib.closed == lib.destroyed == 2  # the two dead ones, not the good one
    assert lib.probes[-1] == ("con3", "GTL1/LLN0.Mod.stVal", 0)
    # Bounded: an IED whose associations always drop is reported, with the cause.
    lib = _RacyLibrary(bad=99)
    con, why, dropped = open_association(lib, "h", 1, probe="X/LLN0.Mod.stVal", attempts=3)
    assert con is None and dropped == 3 and lib.made == 3 and lib.destroyed == 3
    assert "association lost on its first request" in why and "3 times" in why
    # A refused connect is not retried: the IED is simply not there.
    lib = _RacyLibrary(bad=0, connect_error=1)
    con, why, dropped = open_association(lib, "h", 1, probe="X/LLN0.Mod.stVal")
    assert con is None and lib.made == 1 and "connect to h:1 failed" in why


def test_every_association_to_a_running_ied_is_usable(sim, station, pts):
    """Without the probe about 1 connect in 20 here returns an association whose first
    request fails with error 3; with it, each of these associations serves its request."""
    import pyiec61850 as L

    host, port = sim.addresses["mms"]
    ieds = [i.ld for i in build_ieds(station, pts)][:2]
    for k in range(120):
        ld = ieds[k % 2]
        con, why, _ = open_association(L, host, port + k % 2, probe=probe_reference(ld))
        assert con is not None, why
        try:
            ds, err = _value_and_error(
                L.IedConnection_readDataSetValues(con, f"{ld}/LLN0.DSAll", None))
            assert err == L.IED_ERROR_OK and ds is not None, (k, ld, err)
            L.ClientDataSet_destroy(ds)
        finally:
            L.IedConnection_close(con)
            L.IedConnection_destroy(con)



_REBUILD = """
import gc
from app.station import load_station
from app.field.sim.plant import PlantSimulator
from app.field.iec61850.server import MmsIedServer
plant = PlantSimulator(load_station())
for _ in range(3):
    srv = MmsIedServer(plant, "127.0.0.1", {port})
    srv.start()
    srv.stop()
    del srv
    gc.collect()
print("rebuilt")
"""


def test_servers_can_be_destroyed_and_rebuilt_in_one_process(tmp_path):
    """Each control subscriber deletes its check and operate handlers itself: the server
    hands them over, so destroying an IED server does not free them a second time (that
    was a SIGSEGV on every destroy). In a child process, so a crash fails this test only."""
    import subprocess
    import sys

    from app.field.childproc import ROOT, describe_exit
    from app.runtime.fieldsim import MMS_PORT_BLOCK, free_port_block

    port = free_port_block(MMS_PORT_BLOCK)  # one port per bay IED, below the ephemeral range
    r = subprocess.run([sys.executable, "-c", _REBUILD.format(port=port)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{describe_exit(r.returncode)}: {r.stderr[-2000:]}"
    assert "rebuilt" in r.stdout


def test_describe_exit_names_the_signal():
    from app.field.childproc import describe_exit

    assert describe_exit(-11) == "died of SIGSEGV"
    assert describe_exit(0) == "exited with code 0" and describe_exit(None) == "is still running"
