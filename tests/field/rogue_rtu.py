"""A rogue station RTU for the tests: a Modbus TCP server written on raw frames.

It serves the station's register map from a plant simulator's snapshots, as the field-sim's
RTU does, for every unit — except that units given a *mode* misbehave in that way on every
request. 127.0.0.1, a free port, its own event loop on its own thread; always :meth:`stop` it
(the tests use it as a context manager).
"""

from __future__ import annotations

import asyncio
import random
import struct
import threading
from collections import Counter

import numpy as np

from app.field.rtu.codec import StationEncoder, unpack_bits
from app.field.rtu.map import build_register_map

#: How a misbehaving unit answers a read (``fc`` 04/02 …).
MODES = {
    "ok": "answers correctly",
    "wrong_function": "a 0x03 reply to an 0x04 read (0x01 to 0x02), the data otherwise right",
    "wrong_unit": "the reply carries the next unit id",
    "wrong_tid": "the reply carries the next transaction id",
    "tid_zero": "the reply carries transaction id 0",
    "short_count": "half the registers asked for, byte count and length to match",
    "oversized_count": "a byte count of 250, the right data, the MBAP length fitting the data",
    "oversized_frame": "byte count 250 and an MBAP length to match, but only the right data",
    "extra_data": "the right byte count, 4 bytes more data, the MBAP length fitting all",
    "garbage": "16 random bytes",
    "silence": "nothing at all",
    "exception": "exception 0x0B (gateway target device failed to respond)",
    "exception_wrong_fc": "an exception reply for another function (0x83 to an 0x04 read)",
    "drop": "the connection closed",
    "protocol_id": "a protocol id of 1",
    "bad_length": "an MBAP length of 0",
    "trailing": "the right reply with 3 bytes more in the same segment",
    "late": "the right reply, after 0.5 s",
    "duplicate": "the right reply, and the same again 20 ms later (a gateway's late copy)",
}

_MBAP = struct.Struct(">HHHB")


class RogueRtu:
    def __init__(self, points, plant=None, *, modes: dict[int, str] | None = None,  # noqa: ANN001
                 seed: int = 7) -> None:
        self.map = build_register_map(points)
        self._enc = StationEncoder(self.map.devices)
        self._by_unit = {d.device_id: k for k, d in enumerate(self.map.devices)}
        self.modes: dict[int, str] = dict(modes or {})
        self.requests: Counter[int] = Counter()
        self.connections = 0
        self._rng = random.Random(seed)
        self._writers: set[asyncio.StreamWriter] = set()
        self._ir: list[np.ndarray] = []
        self._di: list[np.ndarray] = []
        if plant is not None:
            self.update(plant.snapshot())
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="rogue-rtu",
                                        daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self.loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]

    def __enter__(self) -> RogueRtu:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def update(self, snap) -> None:  # noqa: ANN001
        """Serve a new plant snapshot (any thread: references are swapped)."""
        ir, packed = self._enc.encode(snap.values, snap.quality)
        self._ir = ir
        self._di = [unpack_bits(w, d.di_count) if d.di_count else np.zeros(0, bool)
                    for w, d in zip(packed, self.map.devices, strict=True)]

    def set_mode(self, unit: int, mode: str) -> None:
        assert mode in MODES, mode
        self.modes[unit] = mode

    def stop(self) -> None:
        async def shut() -> None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await self._server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    # ------------------------------------------------------------------ serving
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readexactly(7)
                tid, _pid, length, unit = _MBAP.unpack(head)
                pdu = await reader.readexactly(length - 1)
                self.requests[unit] += 1
                mode = self.modes.get(unit, "ok")
                if mode == "silence":
                    continue
                if mode == "drop":
                    return
                out = self._reply(tid, unit, pdu, mode)
                if mode == "late":
                    self.loop.call_later(0.5, _write_quietly, writer, out)
                    continue
                if mode == "duplicate":
                    self.loop.call_later(0.02, _write_quietly, writer, out)
                writer.write(out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _answer(self, unit: int, pdu: bytes) -> bytes:
        """The correct reply PDU."""
        fc = pdu[0]
        k = self._by_unit.get(unit)
        if k is None:
            return bytes((fc | 0x80, 0x0B))
        if fc in (3, 4):
            addr, count = struct.unpack(">HH", pdu[1:5])
            regs = self._ir[k][addr:addr + count] if fc == 4 else np.zeros(count, np.uint16)
            if len(regs) != count:
                return bytes((fc | 0x80, 0x02))
            return bytes((fc, 2 * count)) + np.asarray(regs, ">u2").tobytes()
        if fc == 2:
            addr, count = struct.unpack(">HH", pdu[1:5])
            bits = self._di[k][addr:addr + count]
            if len(bits) != count:
                return bytes((fc | 0x80, 0x02))
            packed = np.packbits(bits, bitorder="little").tobytes()
            return bytes((fc, len(packed))) + packed
        if fc == 5:
            return pdu[:5]
        return bytes((fc | 0x80, 0x01))

    def _reply(self, tid: int, unit: int, pdu: bytes, mode: str) -> bytes:
        body = self._answer(unit, pdu)
        fc = pdu[0]
        pid, length = 0, None
        if mode == "wrong_function" and not body[0] & 0x80:
            body = bytes((3 if fc == 4 else 1 if fc == 2 else fc ^ 0x07,)) + body[1:]
        elif mode == "wrong_unit":
            unit = unit % 247 + 1
        elif mode == "wrong_tid":
            tid = tid % 0xFFFF + 1
        elif mode == "tid_zero":
            tid = 0
        elif mode == "short_count" and body[0] in (2, 3, 4):
            n = (body[1] // 2) & ~1
            body = bytes((body[0], n)) + body[2:2 + n]
        elif mode == "oversized_count" and body[0] in (2, 3, 4):
            body = bytes((body[0], 250)) + body[2:]
        elif mode == "oversized_frame" and body[0] in (2, 3, 4):
            body, length = bytes((body[0], 250)) + body[2:], 1 + 2 + 250
        elif mode == "extra_data":
            body = body + b"\x00\x01\x02\x03"
        elif mode == "garbage":
            return bytes(self._rng.randrange(256) for _ in range(16))
        elif mode == "exception":
            body = bytes((fc | 0x80, 0x0B))
        elif mode == "exception_wrong_fc":
            body = bytes(((3 if fc == 4 else fc ^ 0x07) | 0x80, 0x0B))
        elif mode == "protocol_id":
            pid = 1
        elif mode == "bad_length":
            length = 0
        out = _MBAP.pack(tid, pid, len(body) + 1 if length is None else length, unit) + body
        return out + (b"\xde\xad\xbe" if mode == "trailing" else b"")


def _write_quietly(writer: asyncio.StreamWriter, data: bytes) -> None:
    if not writer.is_closing():
        writer.write(data)
