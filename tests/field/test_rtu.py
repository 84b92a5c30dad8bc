"""The station RTU over Modbus TCP: map, server, poller, failures, a third-party client."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import struct
import subprocess
import threading

import numpy as np
import pytest

from app.field.commstate import CommPolicy
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
from app.station import quality as Q
from app.station.frame import Comm
from app.station.points import POS_CLOSED, POS_OPEN


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


#: A device LOST at the first scan it fails (no hold-off), OK at its first good reply.
AT_ONCE = CommPolicy(stale_s=0.001, comm_loss_s=0.002, recover_s=0.0)
#: Hold-off and hysteresis, short enough for a test.
SHORT = CommPolicy(stale_s=0.1, comm_loss_s=0.3, recover_s=0.1)


def poll(rig, **kw) -> ModbusPoller:
    return ModbusPoller(rig.plant.points, "127.0.0.1", rig.port, **kw)


# ------------------------------------------------------------------ the map
def test_map_covers_every_point_deterministically(station):
    from app.station.points import build_point_table

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
    from app.station.points import build_point_table

    pts = build_point_table(station)
    m = build_register_map(pts)
    entries = list(m.entries)
    f = next(i for i, e in enumerate(entries) if e.type == "float32")
    nxt = entries[f + 1]
    from dataclasses import replace

    entries[f + 1] = replace(nxt, address=entries[f].address + 1)  # overlaps the float
    with pytest.raises(MapError, match=f"point {nxt.point} .* overlaps {entries[f].point}"):
        validate(RegisterMap((), tuple(entries)))
    lines = m.to_csv().splitlines()

    def load(rows):
        return load_map_csv("\n".join([lines[0], *rows]) + "\n", pts)

    # The same address twice, in the file: both lines named.
    dup = lines[2].split(",")
    dup[0] = lines[5].split(",")[0]  # another real point, at line 2's address
    with pytest.raises(MapError, match=rf"line 3: point {dup[0]} .* same address as "
                                       rf"{lines[2].split(',')[0]} \(line 2\)"):
        load([lines[2], ",".join(dup)])
    # A float overlapping the next one.
    a = lines[1].split(",")
    b = lines[2].split(",")
    b[4] = str(int(a[4]) + 1)
    with pytest.raises(MapError, match=rf"line 3: point {b[0]} .* overlaps {a[0]}"):
        load([lines[1], ",".join(b)])
    with pytest.raises(MapError, match="line 2: point X.NOPE .* the station has no such point"):
        load(["X.NOPE,kV,1,04 input register,0,float32,big-endian (ABCD),1.0,value"])
    with pytest.raises(MapError, match="line 2: point ICT1.HOT_SPOT .* needs a float32"):
        load(["ICT1.HOT_SPOT,degC,3,04 input register,0,uint16,,1.0,value"])
    with pytest.raises(MapError, match="line 2: point ICT1.HOT_SPOT .* word order 'middle'"):
        load(["ICT1.HOT_SPOT,degC,3,04 input register,0,float32,middle,1.0,value"])
    with pytest.raises(MapError, match="line 2: point P: bad field"):
        load(["P,kV,x,04 input register,0,float32,,1,value"])
    with pytest.raises(MapError, match="line 3: point ICT1.HOT_SPOT .* already mapped at "
                                       "line 2"):
        load(["ICT1.HOT_SPOT,degC,3,04 input register,0,float32,big-endian (ABCD),1,value",
              "ICT1.HOT_SPOT,degC,4,04 input register,0,float32,big-endian (ABCD),1,value"])
    assert len(load_map_csv(m.to_csv(), pts).entries) == len(m.entries)


def test_a_map_file_that_cannot_be_read_names_the_file(station, tmp_path):
    from app.field.rtu.map import read_map_file
    from app.station.points import build_point_table

    pts = build_point_table(station)
    with pytest.raises(MapError, match="nope.csv: cannot read"):
        read_map_file(tmp_path / "nope.csv", pts)
    bad = tmp_path / "bad.csv"
    bad.write_text("point,unit\nA,kV\n")
    with pytest.raises(MapError, match=r"bad.csv: line 1: the header lacks address"):
        read_map_file(bad, pts)


def test_word_order_and_scale_from_the_map_decode_right(station):
    from app.field.rtu.codec import StationDecoder, encode_registers
    from app.station.points import build_point_table

    pts = build_point_table(station)
    text = ("point,unit,device_id,function,address,type,word_order,scale,role\n"
            "ICT1.HOT_SPOT,degC,9,04 input register,10,float32,little-endian (CDAB),1.0,value\n"
            "ICT1.TOP_OIL,degC,9,04 input register,20,float32,big-endian (ABCD),0.1,value\n"
            "ICT1.TOP_OIL,,9,04 input register,30,uint16,,1,quality\n")
    m = load_map_csv(text, pts)
    (d,) = m.devices
    assert d.device == "ICT1H" and d.device_id == 9
    assert d.ir_blocks == ((10, 2), (20, 2), (30, 1))  # unmapped gaps are not read
    values = np.zeros(len(pts))
    values[pts.row("ICT1.HOT_SPOT")], values[pts.row("ICT1.TOP_OIL")] = 71.5, 55.0
    q = np.zeros(len(pts), dtype=np.uint16)
    q[pts.row("ICT1.TOP_OIL")] = 0x82
    regs = encode_registers(d, values, q)
    hi, lo = struct.unpack(">HH", struct.pack(">f", 71.5))
    assert (regs[10], regs[11]) == (lo, hi)  # CDAB: low word first
    assert struct.unpack(">f", struct.pack(">HH", regs[20], regs[21]))[0] == \
        pytest.approx(550.0)  # raw = value / scale
    dec = StationDecoder([d])
    dec.regs[:] = regs
    fl, cn, _st, qq = dec.decode()
    np.testing.assert_allclose(fl, [71.5, 55.0])
    assert list(qq) == [0x82] and len(cn) == 0


def test_the_station_encoder_gives_what_each_device_encodes(station):
    """The RTU server encodes the whole station at once each tick; it must give exactly what
    each device's own encoding gives — generated map, and one with CDAB, scales and gaps."""
    from app.field.rtu.codec import StationEncoder, encode_bits, encode_registers, pack_bits
    from app.station.points import build_point_table

    pts = build_point_table(station)
    plant = PlantSimulator(station, seed=3)
    plant.inject("sensor_fail", point="ICT1.TOP_OIL")
    snap = plant.step(0.1)
    text = ("point,unit,device_id,function,address,type,word_order,scale,role\n"
            "ICT1.HOT_SPOT,degC,9,04 input register,10,float32,little-endian (CDAB),1.0,value\n"
            "ICT1.TOP_OIL,degC,9,04 input register,20,float32,big-endian (ABCD),0.1,value\n"
            "ICT1.TOP_OIL,,9,04 input register,30,uint16,,1,quality\n")
    for m in (build_register_map(pts), load_map_csv(text, pts)):
        ir, di = StationEncoder(m.devices).encode(snap.values, snap.quality)
        assert len(ir) == len(di) == len(m.devices)
        for d, regs, bits in zip(m.devices, ir, di, strict=True):
            np.testing.assert_array_equal(regs, encode_registers(d, snap.values, snap.quality))
            expected = pack_bits(encode_bits(d, snap.values))
            assert bits.dtype == expected.dtype == np.uint16
            np.testing.assert_array_equal(bits, expected)


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


def test_a_command_is_confirmed_by_a_later_scan(rig):
    """The write path as the control service uses it: command out, position back in a scan."""
    p = poll(rig)
    row = rig.plant.points.row("F1_Q0.POS")

    async def go():
        try:
            before = await p.scan_once()
            r = await p.write_command("F1_Q0", False)
            seen = []
            for _ in range(20):
                rig.step(0.05)  # the plant moves the breaker (60 ms) …
                ps = await p.scan_once()  # … and a later scan reports it
                seen.append(ps.values[list(ps.rows).index(row)])
                if seen[-1] == POS_OPEN:
                    break
            return before, r, seen
        finally:
            p.close()

    before, r, seen = asyncio.run(go())
    assert before.values[list(before.rows).index(row)] == POS_CLOSED
    assert r.ok and seen[-1] == POS_OPEN
    assert len(seen) >= 1


def test_a_map_loaded_from_csv_polls_the_rtu_identically(rig):
    pts = rig.plant.points
    generated = build_register_map(pts)
    loaded = load_map_csv(generated.to_csv(), pts)
    rig.step()
    a, b = poll(rig), poll(rig, register_map=loaded)

    async def go():
        try:
            return await a.scan_once(), await b.scan_once()
        finally:
            a.close()
            b.close()

    pa, pb = asyncio.run(go())
    assert [d.ir_blocks for d in a.devices] == [d.ir_blocks for d in b.devices]
    np.testing.assert_array_equal(pa.rows, pb.rows)
    np.testing.assert_array_equal(pa.values, pb.values)
    np.testing.assert_array_equal(pa.quality, pb.quality)
    assert {k: c.state for k, c in pa.comm.items()} == {k: c.state for k, c in pb.comm.items()}
    assert all(c.state == Comm.OK for c in pb.comm.values())


def test_packed_status_registers_and_discrete_inputs_say_the_same(rig):
    """Each device's input registers end with its discrete inputs packed 16 to a register;
    the poller reads the status from there (one request fewer per device). A map without
    the packed rows (a real RTU that has none) reads the discrete inputs instead — with the
    same result, a breaker in travel and a failed position sensor included."""
    pts = rig.plant.points
    rig.plant.inject("sensor_fail", point="F2_Q0.POS")
    rig.plant.operate("F1_Q0", False)
    rig.step(0.02)  # F1_Q0 still travelling
    generated = build_register_map(pts)
    lines = generated.to_csv().splitlines()
    unpacked = load_map_csv("\n".join(x for x in lines if ",packed" not in x) + "\n", pts)
    assert all(d.packed_addr >= 0 and not d.polls_di for d in generated.devices
               if d.di_count)
    assert all(d.polls_di for d in unpacked.devices if d.di_count)
    assert sum(d.requests() for d in generated.devices) < \
        sum(d.requests() for d in unpacked.devices)
    a, b = poll(rig), poll(rig, register_map=unpacked)
    from pymodbus.client import AsyncModbusTcpClient

    async def go():
        c = AsyncModbusTcpClient("127.0.0.1", port=rig.port)
        await c.connect()
        try:
            d = generated.device("L1")
            regs = await c.read_input_registers(d.packed_addr, count=d.packed_words,
                                                device_id=d.device_id)
            bits = await c.read_discrete_inputs(0, count=d.di_count, device_id=d.device_id)
            return await a.scan_once(), await b.scan_once(), regs.registers, bits.bits
        finally:
            c.close()
            a.close()
            b.close()

    pa, pb, regs, bits = asyncio.run(go())
    from app.field.rtu.codec import unpack_bits

    d = generated.device("L1")
    assert list(unpack_bits(np.array(regs), d.di_count)) == list(bits[:d.di_count])
    np.testing.assert_array_equal(pa.values, pb.values)
    np.testing.assert_array_equal(pa.quality, pb.quality)
    rows = list(pa.rows)
    from app.station.points import POS_INTERMEDIATE

    assert pa.values[rows.index(pts.row("F1_Q0.POS"))] == POS_INTERMEDIATE
    assert Q.describe(int(pa.quality[rows.index(pts.row("F2_Q0.POS"))])) == "invalid|failure"


def test_a_packed_row_that_does_not_fit_is_refused_naming_the_line(station):
    from app.station.points import build_point_table

    pts = build_point_table(station)
    lines = build_register_map(pts).to_csv().splitlines()
    packed = next(x for x in lines if ",packed" in x)
    unit = packed.split(",")[2]
    mine = [x for x in lines[1:] if x.split(",")[2] == unit and ",packed" not in x]

    def load(rows):
        return load_map_csv("\n".join([lines[0], *rows]) + "\n", pts)

    n = len(mine)
    with pytest.raises(MapError, match=rf"line {n + 3}: point DI_PACKED .* has its packed "
                                       rf"discrete inputs at line {n + 2}"):
        load([*mine, packed, packed.replace(f",{packed.split(',')[4]},", ",9000,")])
    with pytest.raises(MapError, match="line 2: point DI_PACKED .* no discrete inputs"):
        load([packed])
    with pytest.raises(MapError, match="packed discrete inputs are a row named DI_PACKED"):
        load([*mine, packed.replace(",uint16,", ",float32,")])


# ------------------------------------------------------------------ failures
def test_a_device_not_answering_is_flagged_alone(rig, caplog):
    p = poll(rig, policy=AT_ONCE)

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


def _states(frame, state: Comm) -> bool:  # noqa: ANN001
    return all(c.state == state for c in frame.comm.values())


async def scan_until_lost(p, tries: int = 100):  # noqa: ANN001, ANN201
    """Scan until every device is LOST. The state follows from the time since the last good
    reply, and a refused connection answers in microseconds: a fixed number of scans can all
    fall inside comm_loss_s (it did, once in CI), so scan until the time has passed."""
    for _ in range(tries):
        frame = await p.scan_once()
        if _states(frame, Comm.LOST):
            return frame
        await asyncio.sleep(0.01)
    return frame


def test_rtu_gone_then_back(rig):
    """Server stopped mid-run: every device holds its values through the hold-off, turns
    SUSPECT (questionable|oldData) and then LOST (invalid|oldData) after comm_loss_s, never
    back and forth; nothing escapes the loop; server back on the same port: good data again
    by itself, within 5 s."""
    p = poll(rig, period_s=0.1, timeout_s=0.3, policy=SHORT)
    frames = []
    stop_flag = asyncio.Event()

    async def scenario():
        task = asyncio.create_task(p.run(frames.append, stop_flag))
        while len(frames) < 3:
            await asyncio.sleep(0.02)
        assert _states(frames[-1], Comm.OK)
        n0 = len(frames)
        await asyncio.to_thread(rig.stop_server)
        while not _states(frames[-1], Comm.LOST):
            await asyncio.sleep(0.02)
        lost_at = len(frames) - 1
        await asyncio.to_thread(rig.start)
        t0 = asyncio.get_running_loop().time()
        while not _states(frames[-1], Comm.OK):
            assert asyncio.get_running_loop().time() - t0 < 5.0, "no recovery within 5 s"
            rig.step()
            await asyncio.sleep(0.05)
        stop_flag.set()
        await task  # the loop ended normally: no exception escaped
        return n0, lost_at

    n0, lost_at = asyncio.run(scenario())
    order = {Comm.OK: 0, Comm.SUSPECT: 1, Comm.LOST: 2}
    for dev in frames[0].comm:
        seq = [order[f.comm[dev].state] for f in frames[n0 - 1:lost_at + 1]]
        assert seq == sorted(seq), (dev, seq)  # OK → SUSPECT → LOST, never back
    suspect = [f for f in frames[n0:lost_at] if _states(f, Comm.SUSPECT)]
    assert suspect and all(((f.quality & Q.VALIDITY_MASK) == Q.QUESTIONABLE).all()
                           and ((f.quality & Q.OLD_DATA) != 0).all() for f in suspect)
    assert (frames[lost_at].quality & Q.VALIDITY_MASK == Q.INVALID).all()
    np.testing.assert_array_equal(frames[lost_at].values, frames[n0 - 1].values)  # held
    assert lost_at - n0 <= 0.3 / 0.1 + 4  # comm_loss_s, plus a scan or two's slack


class HangingProxy:
    """A TCP relay in front of the RTU that can 'hang': it keeps every connection open and
    accepts new ones, but stops passing anything on, as a frozen RTU does."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.hung = threading.Event()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()
        self.conns: list[socket.socket] = []

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            try:
                up = socket.create_connection(self.target, timeout=2)
            except OSError:
                c.close()
                continue
            self.conns += [c, up]
            for a, b in ((c, up), (up, c)):
                t = threading.Thread(target=self._pump, args=(a, b), daemon=True)
                t.start()
                self.threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.1)
        while not self.stop.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            if not self.hung.is_set():
                try:
                    dst.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


def test_a_hung_rtu_is_found_not_answering_as_a_whole(rig, caplog):
    """Accepting but never answering: two devices that had answered time out in a row, the
    device that answered last is asked again and is silent too — the RTU is not answering:
    every device fails that scan with that cause, none is blamed for it, the connection is
    retried with backoff, and the devices go SUSPECT then LOST together (one log line each
    for all 29) and come back together. The request timeout follows the period (default
    min(1 s, max(0.3 s, 3 × period)))."""
    proxy = HangingProxy(rig.port)
    p = ModbusPoller(rig.plant.points, "127.0.0.1", proxy.port, period_s=0.1, policy=SHORT)
    assert p.timeout_s == pytest.approx(0.3)
    assert ModbusPoller(rig.plant.points, "h", 1, period_s=2.0).timeout_s == 1.0
    frames = []
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, logger="app.field.rtu.poller")

    async def scenario():
        task = asyncio.create_task(p.run(frames.append, stop))
        try:
            while not (frames and _states(frames[-1], Comm.OK)):
                await asyncio.sleep(0.02)
            n0 = len(frames)
            proxy.hung.set()
            while not _states(frames[-1], Comm.LOST):
                await asyncio.sleep(0.02)
            lost = frames[-1]
            proxy.hung.clear()
            while not _states(frames[-1], Comm.OK):
                rig.step()
                await asyncio.sleep(0.05)
            return n0, lost
        finally:
            stop.set()
            await task

    try:
        n0, lost = asyncio.run(scenario())
    finally:
        proxy.close()
    assert all("not answering" in c.last_error for c in lost.comm.values())
    assert p.link_stats[0].hung >= 1 and p.link_stats[0].probes >= 1
    assert all(s.timeouts <= 2 * p.link_stats[0].hung + 2 for s in p.stats.values())
    msgs = [r.getMessage() for r in caplog.records if r.name == "app.field.rtu.poller"
            and "communication" in r.getMessage()]
    (lost_line,) = [m for m in msgs if "lost" in m]
    assert "29 devices" in lost_line and "not answering" in lost_line
    (back_line,) = [m for m in msgs if "restored" in m]
    assert "29 devices" in back_line


def test_the_whole_rtu_lost_is_one_log_line_with_each_device_flagged(rig, caplog):
    p = poll(rig, timeout_s=0.3, policy=AT_ONCE)

    async def go():
        try:
            await p.scan_once()
            await asyncio.to_thread(rig.stop_server)
            lost = await scan_until_lost(p)
            await asyncio.to_thread(rig.start)
            for _ in range(100):
                back = await p.scan_once()
                if all(c.state == Comm.OK for c in back.comm.values()):
                    break
                await asyncio.sleep(0.05)
            return lost, back
        finally:
            p.close()

    caplog.set_level(logging.INFO, logger="app.field.rtu.poller")
    lost, back = asyncio.run(go())
    assert len(lost.comm) == 29 and all(c.state == Comm.LOST for c in lost.comm.values())
    msgs = [r.getMessage() for r in caplog.records if r.name == "app.field.rtu.poller"
            and "communication" in r.getMessage()]
    (lost_line,) = [m for m in msgs if "lost" in m]
    assert "communication lost with 29 devices (L1, " in lost_line and "(29 in all)" in lost_line
    assert all(c.state == Comm.OK for c in back.comm.values())
    (back_line,) = [m for m in msgs if "restored" in m]
    assert "restored with 29 devices" in back_line


# ------------------------------------------------------------------ third-party client
def _mbpoll(port: int, unit: int, ref: int, kind: str, count: int) -> list[float]:
    out = subprocess.run(
        ["mbpoll", "-m", "tcp", "-a", str(unit), "-r", str(ref), "-t", kind, "-B",
         "-c", str(count), "-1", "-p", str(port), "127.0.0.1"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = [float(x.split("]:", 1)[1].split()[0]) for x in out.stdout.splitlines()
           if x.strip().startswith("[")]
    assert len(got) == count, out.stdout
    return got


@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed")
def test_mbpoll_reads_float_blocks_from_a_running_field_sim(station):
    """A client we did not write (Debian's mbpoll) reads blocks of four float32 from several
    units of a running field-sim child process, using only the published map. The points are
    frozen first over the control channel (sensor_stuck), so mbpoll and our poller must agree
    exactly, and mbpoll reads their quality registers too: questionable|oldData."""
    from app.field.sim.control import ControlClient
    from app.runtime.fieldsim import FieldSimProcess
    from app.station.points import build_point_table

    pts = build_point_table(station)
    m = build_register_map(pts)
    floats = [e for e in m.entries if e.type == "float32" and e.role == "value"]
    blocks = []
    for start in ("ICT1.HOT_SPOT", "B400_M1.V", "F1_CT.P", "L1_Q0.SF6", "TR2.TOP_OIL"):
        i = next(k for k, e in enumerate(floats) if e.point == start)
        block = floats[i:i + 4]
        assert all(e.device_id == block[0].device_id for e in block)
        assert [e.address for e in block] == list(range(block[0].address,
                                                        block[0].address + 8, 2))
        blocks.append(block)
    assert len({b[0].device_id for b in blocks}) == len(blocks)  # five different units
    tags = [e.point for b in blocks for e in b]
    sim = FieldSimProcess(mms=False, seed=8).start()
    try:
        with ControlClient(*sim.addresses["control"]) as c:
            for t in tags:
                c.inject("sensor_stuck", point=t)
        p = ModbusPoller(pts, *sim.addresses["modbus"])

        async def frozen():
            try:
                for _ in range(100):
                    ps = await p.scan_once()
                    q = {pts.tags[r]: int(ps.quality[k]) for k, r in enumerate(ps.rows)}
                    if all(q[t] == Q.SENSOR_FROZEN for t in tags):
                        return {pts.tags[r]: float(ps.values[k]) for k, r in enumerate(ps.rows)}
                    await asyncio.sleep(0.05)
                raise AssertionError("the points never showed as frozen")
            finally:
                p.close()

        ours = asyncio.run(frozen())
        port = sim.addresses["modbus"][1]
        for block in blocks:
            unit, ref = block[0].device_id, block[0].address + 1  # mbpoll counts from 1
            want = [float(np.float32(ours[e.point])) for e in block]
            # As mbpoll shows them (six significant digits) …
            shown = _mbpoll(port, unit, ref, "3:float", 4)
            assert shown == pytest.approx(want, rel=5e-6, abs=1e-9), (block[0].point, shown)
            # … and bit for bit, from its raw registers (big-endian word order).
            raw = [int(v) for v in _mbpoll(port, unit, ref, "3", 8)]
            exact = [struct.unpack(">f", struct.pack(">HH", raw[2 * k], raw[2 * k + 1]))[0]
                     for k in range(4)]
            assert exact == want, block[0].point
            assert all(v != 0 for v in exact)
            qs = [m.entry(e.point, "quality").address + 1 for e in block]
            span = _mbpoll(port, unit, qs[0], "3", qs[-1] - qs[0] + 1)
            assert [span[q - qs[0]] for q in qs] == [float(Q.SENSOR_FROZEN)] * 4
    finally:
        sim.stop()


def test_record_polls_with_a_map_file_and_refuses_a_bad_one(station, tmp_path, capsys):
    from app.cli import main
    from app.station.points import build_point_table

    pts = build_point_table(station)
    good = tmp_path / "rtu.csv"
    good.write_text(build_register_map(pts).to_csv())
    bad = tmp_path / "bad.csv"
    lines = good.read_text().splitlines()
    bad.write_text("\n".join(lines[:3] + [lines[2].replace(lines[2].split(",")[0], "X.NOPE")])
                   + "\n")
    assert main(["record", "--map", str(bad), "--duration", "1",
                 "--data-dir", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: line 4: point X.NOPE" in err and "no such point" in err
    assert main(["record", "--map", str(good), "--duration", "2",
                 "--data-dir", str(tmp_path / "h")]) == 0
    assert "recorded" in capsys.readouterr().out
