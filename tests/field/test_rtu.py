"""The station RTU over Modbus TCP: map, server, poller, failures, a third-party client."""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import subprocess
import threading

import numpy as np
import pytest

from app.field import quality as Q
from app.field.frame import Comm
from app.field.points import POS_OPEN
from app.field.rtu.map import (
    RESULT_INTERLOCK,
    MapError,
    RegisterMap,
    build_register_map,
    load_map_csv,
    validate,
)
from app.field.rtu.poller import ModbusPoller
from app.field.rtu.server import ModbusRtuServer
from app.field.sim.plant import PlantSimulator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rig:
    """A plant and its RTU server on their own event-loop thread; always stopped."""

    def __init__(self, station, port: int | None = None) -> None:
        self.plant = PlantSimulator(station, seed=12)
        self.port = port or free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: ModbusRtuServer | None = None
        self.start()

    def start(self) -> None:
        self.server = ModbusRtuServer(self.plant, "127.0.0.1", self.port)
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def stop_server(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
            self.server = None

    def step(self, dt_s: float = 0.1):
        snap = self.plant.step(dt_s)
        if self.server is not None:
            self.server.update(snap)
        return snap

    def close(self) -> None:
        self.stop_server()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def rig(station):
    r = Rig(station)
    yield r
    r.close()


def poll(rig, **kw) -> ModbusPoller:
    return ModbusPoller(rig.plant.points, "127.0.0.1", rig.port, **kw)


# ------------------------------------------------------------------ the map
def test_map_covers_every_point_deterministically(station):
    from app.field.points import build_point_table

    pts = build_point_table(station)
    a, b = build_register_map(pts), build_register_map(pts)
    assert a.to_csv() == b.to_csv()
    values = {e.point for e in a.entries if e.role == "value"}
    assert len(values) == len(pts) >= 2500
    assert len(a.devices) == len(pts.devices)
    for d in a.devices:
        assert all(n <= 125 for _, n in d.ir_blocks)
        # no 32-bit value is split across two reads
        end32 = 2 * (len(d.analog_rows) + len(d.counter_rows))
        assert all((s + n) % 2 == 0 or s + n >= end32 for s, n in d.ir_blocks)
    head = a.to_csv().splitlines()[0]
    assert head == "point,unit,device_id,function,address,type,word_order,scale,role"
    row = next(x for x in a.to_csv().splitlines() if x.startswith("ICT1.HOT_SPOT,"))
    assert ",04 input register," in row and "float32,big-endian (ABCD)" in row


def test_map_refuses_duplicates_and_overlaps_naming_the_point(station):
    from app.field.points import build_point_table

    m = build_register_map(build_point_table(station))
    entries = list(m.entries)
    f = next(i for i, e in enumerate(entries) if e.type == "float32")
    nxt = entries[f + 1]
    from dataclasses import replace

    entries[f + 1] = replace(nxt, address=entries[f].address + 1)  # overlaps the float
    with pytest.raises(MapError, match=f"point {nxt.point} .* overlaps {entries[f].point}"):
        validate(RegisterMap((), tuple(entries)))
    text = m.to_csv()
    lines = text.splitlines()
    dup = lines[2].split(",")
    dup[0] = "X.DUP"
    with pytest.raises(MapError, match="point X.DUP .* same address as"):
        load_map_csv("\n".join([lines[0], lines[1], lines[2], ",".join(dup)] + lines[3:5]))
    assert len(load_map_csv(text)) == len(m.entries)
    with pytest.raises(MapError, match="line 2: point"):
        load_map_csv(lines[0] + "\nP,kV,x,04 input register,0,float32,,1,value\n")


def test_cli_prints_the_map(capsys):
    from app.cli import main

    assert main(["modbus-map"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("point,unit,device_id,function") and out.count("\n") > 5000


# ------------------------------------------------------------------ values and controls
def test_every_point_arrives_with_its_quality(rig):
    rig.plant.inject("sensor_fail", point="ICT1.TOP_OIL")
    snap = rig.step()
    p = poll(rig)

    async def go():
        try:
            return await p.scan_once()
        finally:
            p.close()

    ps = asyncio.run(go())
    assert len(ps.rows) == len(rig.plant.points)
    assert all(c.state == Comm.OK for c in ps.comm.values())
    exp = snap.values[ps.rows].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(ps.values, exp, rtol=1e-7, atol=0)
    np.testing.assert_array_equal(ps.quality, snap.quality[ps.rows])
    i = list(ps.rows).index(rig.plant.points.row("ICT1.TOP_OIL"))
    assert Q.describe(int(ps.quality[i])) == "invalid|failure"


def test_command_coils_operate_and_refusals_say_why(rig):
    p = poll(rig)

    async def go():
        try:
            refused = await p.write_command("F1_Q1", False)  # disconnector under load
            ok = await p.write_command("F1_Q0", False)
            return refused, ok
        finally:
            p.close()

    refused, ok = asyncio.run(go())
    assert not refused.ok and refused.add_cause == "blocked-by-interlocking"
    assert "exception 0x04" in refused.message
    dm = rig.server.map.device("F1")
    assert rig.server._results[dm.device_id - 1][dm.switches.index("F1_Q1")] == RESULT_INTERLOCK
    assert ok.ok
    rig.step()
    assert rig.plant.position("F1_Q0") == POS_OPEN


# ------------------------------------------------------------------ failures
def test_a_device_not_answering_is_flagged_alone(rig, caplog):
    p = poll(rig)

    async def go():
        try:
            await p.scan_once()
            rig.plant.inject("comm_lost", device="F2")
            rig.step()
            return await p.scan_once(), await p.scan_once()
        finally:
            p.close()

    ps, ps2 = asyncio.run(go())
    assert ps.comm["F2"].state == Comm.LOST and "0x0B" in ps.comm["F2"].last_error
    assert all(c.state == Comm.OK for d, c in ps.comm.items() if d != "F2")
    rows = set(rig.plant.points.device("F2").points.tolist())
    mask = np.array([r in rows for r in ps.rows])
    assert (ps.quality[mask] == Q.COMM_LOST).all() and (ps.quality[~mask] == 0).all()
    lines = [r for r in caplog.records if r.name == "app.field.rtu.poller" and "F2" in r.getMessage()]
    assert len(lines) == 1  # one line per change, not per scan
    assert ps2.comm["F2"].state == Comm.LOST


class ShortReplyRtu:
    """A minimal Modbus TCP peer: well-formed replies, but short ones for one device."""

    def __init__(self, bad_device: int) -> None:
        self.bad = bad_device
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        conn = None
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
                break
            except TimeoutError:
                continue
        if conn is None:
            return
        conn.settimeout(0.2)
        buf = b""
        with conn:
            while not self.stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    return
                buf += data
                while len(buf) >= 12:
                    tid, _pid, _ln, unit, fc, addr, count = struct.unpack(">HHHBBHH", buf[:12])
                    buf = buf[12:]
                    if fc == 4:
                        n = count // 2 if unit == self.bad else count
                        pdu = struct.pack(">BB", fc, 2 * n) + b"\0\0" * n
                    else:
                        nbytes = (count + 7) // 8
                        pdu = struct.pack(">BB", fc, nbytes) + b"\0" * nbytes
                    conn.sendall(struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_short_reply_flags_only_that_device(station, caplog):
    from app.field.points import build_point_table

    pts = build_point_table(station)
    peer = ShortReplyRtu(bad_device=5)
    p = ModbusPoller(pts, "127.0.0.1", peer.port)

    async def go():
        try:
            return await p.scan_once()
        finally:
            p.close()

    try:
        ps = asyncio.run(go())
    finally:
        peer.close()
    bad = pts.devices[4].id
    assert ps.comm[bad].state == Comm.LOST and "short reply" in ps.comm[bad].last_error
    assert sum(c.state == Comm.LOST for c in ps.comm.values()) == 1


def test_rtu_gone_then_back(rig):
    """Server stopped mid-run: all devices LOST within two periods, nothing escapes the loop;
    server back on the same port: good data again within 5 s, by itself."""
    p = poll(rig, period_s=0.1, timeout_s=0.3)
    frames = []
    stop_flag = asyncio.Event()

    async def scenario():
        task = asyncio.create_task(p.run(frames.append, stop_flag))
        while len(frames) < 3:
            await asyncio.sleep(0.02)
        assert all(c.state == Comm.OK for c in frames[-1].comm.values())
        n0 = len(frames)
        await asyncio.to_thread(rig.stop_server)
        while len(frames) < n0 + 3:
            await asyncio.sleep(0.02)
        lost_at = next(k for k in range(n0, len(frames))
                       if all(c.state == Comm.LOST for c in frames[k].comm.values()))
        assert lost_at - n0 <= 2
        assert (frames[lost_at].quality & Q.VALIDITY_MASK == Q.INVALID).all()
        await asyncio.to_thread(rig.start)
        t0 = asyncio.get_running_loop().time()
        while not all(c.state == Comm.OK for c in frames[-1].comm.values()):
            assert asyncio.get_running_loop().time() - t0 < 5.0, "no recovery within 5 s"
            rig.step()
            await asyncio.sleep(0.05)
        stop_flag.set()
        await task  # the loop ended normally: no exception escaped

    asyncio.run(scenario())


# ------------------------------------------------------------------ third-party client
@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed")
def test_mbpoll_reads_the_station(rig):
    snap = rig.step()
    m = rig.server.map
    checks = ["ICT1.HOT_SPOT", "B400_M1.V", "F1_CT.P", "L1_Q0.SF6"]
    for tag in checks:
        e = m.entry(tag)
        out = subprocess.run(
            ["mbpoll", "-m", "tcp", "-a", str(e.device_id), "-r", str(e.address + 1),
             "-t", "3:float", "-B", "-c", "1", "-1", "-p", str(rig.port), "127.0.0.1"],
            capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        line = next(x for x in out.stdout.splitlines() if x.strip().startswith("["))
        got = float(line.split("]:", 1)[1].split()[0])
        want = float(np.float32(snap.values[rig.plant.points.row(tag)]))
        assert got == pytest.approx(want, rel=1e-5), (tag, out.stdout)
