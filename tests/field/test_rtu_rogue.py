"""A rogue RTU: one unit misbehaves in every way we know of, its neighbours on the same
connection answer correctly. The poller must take nothing bad for good data, keep the
healthy units OK with fresh values throughout, flag the bad one with the right cause, count
it, and log a bounded number of lines — in process and through the front-end process."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from app.field.commstate import CommPolicy
from app.field.rtu.poller import ModbusPoller
from app.field.sim.plant import PlantSimulator
from app.runtime.sources import ProtocolFrameSource
from app.station import quality as Q
from app.station.frame import Comm
from tests.field.rogue_rtu import MODES, RogueRtu

#: Short times, so a bad unit is LOST within a few scans and the tests never wait long.
FAST = CommPolicy(stale_s=0.05, comm_loss_s=0.15, recover_s=0.1)
BAD_UNIT = 5

#: mode → (text in the bad unit's last_error, its counter that must have counted it)
EXPECTED = {
    "wrong_function": ("reply function code 0x03 to a 0x04 request", "function_code"),
    "wrong_unit": ("reply from unit 6 to a request for unit 5", "unit_id"),
    "wrong_tid": ("protocol error: reply with transaction id", "transaction_id"),
    "tid_zero": ("reply with transaction id 0 to request", "transaction_id"),
    "short_count": ("byte count", "byte_count"),
    "oversized_count": ("byte count 250", "byte_count"),
    "oversized_frame": ("incomplete reply", "truncated"),
    "extra_data": ("protocol error", None),
    "garbage": ("protocol error", None),
    "silence": ("timeout: no reply within 0.1 s", "timeouts"),
    "exception": ("exception 0x0B gateway target device failed to respond", "exceptions"),
    "exception_wrong_fc": ("exception function code 0x83 to a 0x04 request", "function_code"),
    "drop": ("connection dropped under its request", "disconnects"),
    "protocol_id": ("reply with protocol id 1, not 0", "protocol_id"),
    "bad_length": ("reply with an MBAP length of 0", "length"),
    "trailing": ("3 bytes after a", "length"),
    "late": ("timeout: no reply within 0.1 s", "timeouts"),
    "duplicate": ("a late or repeated reply", "transaction_id"),
}


def test_every_rogue_mode_has_its_expectation():
    assert set(EXPECTED) == set(MODES) - {"ok"}


def _counted(stats, what: str | None) -> int:  # noqa: ANN001
    if what is None:
        return stats.protocol_error_count
    if what in ("timeouts", "exceptions", "disconnects"):
        return getattr(stats, what)
    return stats.protocol_errors.get(what, 0)


def _check_healthy(ps, snap, devices, slices) -> None:  # noqa: ANN001
    """Every device but the bad one OK, with the snapshot's values and quality."""
    for d in devices:
        assert ps.comm[d.device].state == Comm.OK, (d.device, ps.comm[d.device])
        sl = slices[d.device]
        rows = ps.rows[sl]
        np.testing.assert_allclose(ps.values[sl], snap.values[rows].astype(np.float32),
                                   rtol=1e-7, atol=0, err_msg=d.device)
        np.testing.assert_array_equal(ps.quality[sl], snap.quality[rows], err_msg=d.device)


def _no_tracebacks(caplog) -> None:  # noqa: ANN001
    assert not [r for r in caplog.records if r.name.startswith("asyncio")], \
        [r.getMessage() for r in caplog.records if r.name.startswith("asyncio")]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_a_rogue_unit_costs_that_unit_only(station, mode, caplog):
    caplog.set_level(logging.INFO)
    plant = PlantSimulator(station, seed=5)
    pts = plant.points
    with RogueRtu(pts, plant) as rtu:
        p = ModbusPoller(pts, "127.0.0.1", rtu.port, timeout_s=0.1, policy=FAST)
        bad = p.map.by_id(BAD_UNIT)
        healthy = [d for d in p.devices if d is not bad]
        slices = {d.device: np.flatnonzero(np.isin(p.rows, d.rows)) for d in p.devices}

        async def go():
            out, lost_at = [], None
            try:
                for k in range(120):
                    if k == 2:
                        rtu.set_mode(BAD_UNIT, mode)
                    snap = plant.step(0.1)
                    rtu.update(snap)
                    ps = await p.scan_once()
                    out.append((snap, ps))
                    if lost_at is None and ps.comm[bad.device].state == Comm.LOST:
                        lost_at = k
                    if lost_at is not None and k >= lost_at + 5:
                        break
                return out, lost_at
            finally:
                p.close()

        scans, lost_at = asyncio.run(go())
    assert lost_at is not None, f"{mode}: the bad unit never LOST"
    for snap, ps in scans:  # the neighbours on the same connection: OK and fresh throughout
        _check_healthy(ps, snap, healthy, slices)
    last = scans[-1][1]
    c = last.comm[bad.device]
    text, counter = EXPECTED[mode]
    assert c.state == Comm.LOST and text in c.last_error, c
    # Its points: the last good values kept, invalid|oldData — never the rogue's data. (A
    # unit that repeats its replies sends right data too, and a scan may take it before the
    # repeat shows.)
    sl = slices[bad.device]
    if mode != "duplicate":
        np.testing.assert_array_equal(last.values[sl], scans[1][1].values[sl])
    flags = Q.INVALID | Q.OLD_DATA
    assert ((last.quality[sl] & Q.VALIDITY_MASK) == Q.INVALID).all()
    assert ((last.quality[sl] & flags) == flags).all()
    stats = p.stats
    assert _counted(stats[bad.device], counter) >= 1, stats[bad.device]
    assert stats[bad.device].replies_ok == 2 or mode == "duplicate"
    for d in healthy:
        s = stats[d.device]
        assert (s.replies_ok, s.exceptions, s.protocol_error_count, s.timeouts,
                s.disconnects, s.reconnects) == (len(scans), 0, 0, 0, 0, 0), (d.device, s)
    # Bounded logging: the bad unit's episode is at most two lines (suspect, lost), no line
    # names a healthy device after start-up, and nothing was logged per reply.
    mine = [r.getMessage() for r in caplog.records if r.name == "app.field.rtu.poller"]
    about_bad = [m for m in mine if f"device {bad.device} (id 5)" in m]
    assert 1 <= len(about_bad) <= 2, mine
    assert len(mine) <= 2 + len(about_bad), mine  # + "connected", "established"
    _no_tracebacks(caplog)


def test_two_silent_units_side_by_side_do_not_look_like_a_hung_rtu(station):
    """Two neighbours going silent at once is what a hung RTU looks like for a moment: the
    rest wait one scan, the next asks the unit that answered last first, its reply blames
    the two — and every other unit stays OK (a policy whose stale time, as the default's,
    is longer than a scan with two timeouts in it)."""
    plant = PlantSimulator(station, seed=6)
    pts = plant.points
    policy = CommPolicy(stale_s=0.5, comm_loss_s=1.0, recover_s=0.1)
    with RogueRtu(pts, plant) as rtu:
        p = ModbusPoller(pts, "127.0.0.1", rtu.port, timeout_s=0.1, policy=policy)
        bad = {p.map.by_id(5).device, p.map.by_id(6).device}
        healthy = [d for d in p.devices if d.device not in bad]
        slices = {d.device: np.flatnonzero(np.isin(p.rows, d.rows)) for d in p.devices}

        async def go():
            out = []
            try:
                for k in range(2000):
                    if k == 2:
                        rtu.set_mode(5, "silence")
                        rtu.set_mode(6, "silence")
                    snap = plant.step(0.1)
                    rtu.update(snap)
                    out.append((snap, await p.scan_once()))
                    if all(out[-1][1].comm[d].state == Comm.LOST for d in bad):
                        return out
                return out
            finally:
                p.close()

        scans = asyncio.run(go())
    for snap, ps in scans:
        _check_healthy(ps, snap, healthy, slices)
    assert all(scans[-1][1].comm[d].state == Comm.LOST for d in bad)
    assert all("timeout" in scans[-1][1].comm[d].last_error for d in bad)
    assert sum(s.hung for s in p.link_stats) == 0  # suspected once, never concluded


def test_a_bad_unit_recovers_with_hysteresis_once_it_behaves(station, caplog):
    caplog.set_level(logging.INFO, logger="app.field.rtu.poller")
    plant = PlantSimulator(station, seed=7)
    pts = plant.points
    with RogueRtu(pts, plant, modes={BAD_UNIT: "wrong_function"}) as rtu:
        p = ModbusPoller(pts, "127.0.0.1", rtu.port, timeout_s=0.1, policy=FAST)
        dev = p.map.by_id(BAD_UNIT).device

        async def go():
            states = []
            try:
                # misbehaving until it is lost (scans 20 ms apart, so the hold-off's time
                # passes whatever the machine's speed), then behaving until it is back
                for behave in (False, True):
                    if behave:
                        rtu.set_mode(BAD_UNIT, "ok")
                    for _ in range(300):
                        rtu.update(plant.step(0.1))
                        states.append((behave, (await p.scan_once()).comm[dev].state))
                        if states[-1][1] == (Comm.OK if behave else Comm.LOST):
                            break
                        await asyncio.sleep(0.02)
                return states
            finally:
                p.close()

        states = asyncio.run(go())
    assert states[0][1] == Comm.CONNECTING
    bad = [st for behave, st in states if not behave]
    good = [st for behave, st in states if behave]
    assert bad[-1] == Comm.LOST and Comm.OK not in bad
    assert good[-1] == Comm.OK and len(good) >= 2  # hysteresis: not on the first good reply
    lines = [r.getMessage() for r in caplog.records if f"device {dev} " in r.getMessage()]
    assert len(lines) == 2 and "lost" in lines[0] and "restored" in lines[1], lines


def test_the_front_end_as_the_hmi_runs_it_isolates_rogue_units(station, caplog):
    """Through the frame source, with the Modbus client in its own process (two connections):
    five units misbehave at once, each its own way, spread over both connections, then
    behave. The others stay OK with fresh values throughout; each bad one is lost with its
    cause, then restored, logged at most three lines; the counts reach this process."""
    caplog.set_level(logging.INFO)
    plant = PlantSimulator(station, seed=8)
    pts = plant.points
    modes = {3: "wrong_function", 5: "garbage", 9: "oversized_count", 16: "silence",
             22: "drop"}
    causes = {3: "function code 0x03", 5: "protocol error", 9: "byte count 250",
              16: "timeout", 22: "connection dropped"}
    with RogueRtu(pts, plant) as rtu:
        src = ProtocolFrameSource(pts, modbus=("127.0.0.1", rtu.port), period_s=0.1,
                                  modbus_timeout_s=0.1, stale_s=0.5, comm_loss_s=1.0,
                                  recover_s=0.1)
        m = src.modbus.map
        bad = {u: m.by_id(u).device for u in modes}
        healthy = [d for d in m.devices if d.device_id not in modes]

        async def go():
            seen, lost = [], None
            try:
                for k in range(5000):
                    if k == 3:
                        for u, mode in modes.items():
                            rtu.set_mode(u, mode)
                    snap = plant.step(0.1)
                    rtu.update(snap)
                    f = await src.scan_once()
                    seen.append((snap, f))
                    if lost is None and all(f.comm[b].state == Comm.LOST for b in bad.values()):
                        lost = f
                        for u in modes:
                            rtu.set_mode(u, "ok")
                    if lost is not None and all(f.comm[b].state == Comm.OK
                                                for b in bad.values()):
                        break
                return seen, lost
            finally:
                src.close()

        seen, lost = asyncio.run(go())
    assert lost is not None, "the bad units were never all LOST"
    for snap, f in seen[2:]:
        for d in healthy:
            assert f.comm[d.device].state == Comm.OK, (f.seq, d.device, f.comm[d.device])
            np.testing.assert_allclose(f.values[d.rows],
                                       snap.values[d.rows].astype(np.float32), rtol=1e-7,
                                       atol=0, err_msg=d.device)
            assert (f.quality[d.rows] == snap.quality[d.rows]).all()
    for u, dev in bad.items():
        assert causes[u] in lost.comm[dev].last_error, (u, lost.comm[dev])
        assert seen[-1][1].comm[dev].state == Comm.OK
    msgs = [r.getMessage() for r in caplog.records if r.name == "app.field.rtu.poller"
            and "established" not in r.getMessage()]
    for u, dev in bad.items():
        about = [x for x in msgs if f"device {dev} (id {u})" in x
                 or (f" {dev}," in x or f"({dev}," in x or f" {dev})" in x)]
        assert len(about) <= 3, about
    assert not [x for x in msgs if any(f"device {d.device} " in x for d in healthy)], msgs
    st = src.modbus.stats
    assert st[bad[3]].protocol_errors.get("function_code")
    assert st[bad[5]].protocol_error_count and st[bad[9]].protocol_errors.get("byte_count")
    assert st[bad[16]].timeouts and st[bad[22]].disconnects
    links = src.modbus.link_stats
    assert len(links) == 2 and sum(x.connects for x in links) >= 2 + 3  # resynchronised
    assert all(st[d.device].protocol_error_count == st[d.device].timeouts == 0
               for d in healthy)
    _no_tracebacks(caplog)


def test_what_the_pymodbus_client_lets_through_our_master_refuses(station, caplog):
    """Why the poller has its own master: pymodbus 3.16's client returns a 0x03 reply to an
    0x04 read, and a reply with transaction id 0, as good answers, and an oversized byte
    count makes it raise inside asyncio's data_received — a logged traceback and the
    connection dropped. (If a pymodbus upgrade fixes these, this test says so.)"""
    from pymodbus.client import AsyncModbusTcpClient

    from app.field.rtu.master import ModbusTcpMaster, ProtocolError

    caplog.set_level(logging.ERROR, logger="asyncio")
    plant = PlantSimulator(station, seed=9)
    took, refused, dropped = {}, {}, {}
    for mode in ("wrong_function", "tid_zero", "oversized_count"):
        with RogueRtu(plant.points, plant, modes={BAD_UNIT: mode}) as rtu:
            async def go(port: int = rtu.port):
                c = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.3, retries=0,
                                         reconnect_delay=0)
                m = ModbusTcpMaster("127.0.0.1", port, 0.3)
                await c.connect()
                await m.connect()
                try:
                    try:
                        r = await c.read_input_registers(0, count=10, device_id=BAD_UNIT)
                        ok = not r.isError() and len(r.registers) == 10
                    except Exception:  # noqa: BLE001 - how it fails is the point
                        ok = False
                    gone = not c.connected
                    with pytest.raises(ProtocolError) as exc:
                        await m.read_input_registers(BAD_UNIT, 0, 10)
                    return ok, gone, exc.value.kind
                finally:
                    c.close()
                    m.close()

            took[mode], dropped[mode], refused[mode] = asyncio.run(go())
    assert took == {"wrong_function": True, "tid_zero": True, "oversized_count": False}
    assert dropped["oversized_count"]
    assert refused == {"wrong_function": "function_code", "tid_zero": "transaction_id",
                       "oversized_count": "byte_count"}
    assert any("data_received() call failed" in r.getMessage() for r in caplog.records
               if r.name == "asyncio")
