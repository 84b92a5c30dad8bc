"""A Modbus TCP master that takes no reply on trust.

Why not pymodbus's client: pymodbus 3.16.1 (``framer/base.py``, ``framer/socket.py``,
``pdu/decoders.py``, ``pdu/register_message.py``, ``transaction/transaction.py``) checks a
reply's unit id and transaction id, but by *skipping* a frame that does not match (so a reply
for another unit or transaction shows as a timeout, cause unknown) and accepts transaction id
0 for any request; it never compares the reply's function code with the request's — a 0x03
reply to an 0x04 read decodes as holding registers and is returned as the answer, which is
how a wrong reply once reached the HMI as good data; it reads registers up to the byte count
and never compares the byte count with the count asked for, nor with the MBAP length; an
exception reply is taken whatever function code it carries; and a frame it cannot decode (an
oversized byte count, an unknown function code) raises ``ModbusIOException`` inside asyncio's
``data_received``, which the event loop logs as a "Fatal error: protocol.data_received() call
failed" traceback — one per reply — and then drops the connection, taking every other unit
on it down (a protocol id other than 0 instead stalls the buffer until the next request).

This master keeps one request outstanding per connection and checks every reply against its
request before a byte of it is used:

* the MBAP header: protocol id 0, a length of 2–254 bytes, nothing after the frame;
  a frame that repeats an answer already given on this connection (same transaction id and
  unit: a gateway forwarding a slave's late reply) is skipped and reported
  (:meth:`ModbusTcpMaster.take_repeats`) against the unit that sent it, and the request goes
  on waiting for its own reply;
* transaction id, unit id (device id), function code (the request's, or the request's
  | 0x80 for an exception reply of exactly 3 bytes);
* the byte count against the count asked for (2 × registers, ⌈bits / 8⌉) and against the
  frame's length; a coil write's echo: the same address, and a coil value (the value itself
  may differ: a momentary command coil, as the field-sim's, reads back "off" at once).

Anything else raises :class:`ProtocolError` with its ``kind`` (one of
:data:`PROTOCOL_ERRORS`) and closes the connection: after a bad frame nothing later on the
same stream can be attributed to a request with certainty, so the caller reconnects (on
loopback or a LAN that takes a millisecond) and the next unit starts on a clean stream. An
exception reply (the device answered, and refused) raises :class:`ExceptionReply` and keeps
the connection; no reply within the timeout raises :class:`ReplyTimeout` (``kind``
``"truncated"`` instead when part of a frame came) and a connection the peer closes under a
request :class:`ConnectionDropped`; both close the connection too. Nothing is ever raised
inside the event loop's callbacks: the protocol object only buffers bytes and wakes the
waiting request.
"""

from __future__ import annotations

import asyncio
import struct

import numpy as np

#: Kinds of :class:`ProtocolError`, in the order the checks run.
PROTOCOL_ERRORS = ("protocol_id", "length", "truncated", "transaction_id", "unit_id",
                   "function_code", "byte_count", "echo", "unsolicited")

_MBAP = struct.Struct(">HHHB")
_EXCEPTION_NAMES = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                    4: "server device failure", 5: "acknowledge", 6: "server device busy",
                    8: "memory parity error", 10: "gateway path unavailable",
                    11: "gateway target device failed to respond"}


class ModbusReplyError(Exception):
    """A request that did not get a usable reply. ``kind`` says which way."""

    kind = "error"


class ExceptionReply(ModbusReplyError):
    """The device answered with a Modbus exception response (the link is fine)."""

    kind = "exception"

    def __init__(self, function_code: int, code: int) -> None:
        self.function_code, self.code = function_code, code
        name = _EXCEPTION_NAMES.get(code, "")
        super().__init__(f"exception 0x{code:02X} {name}".rstrip())


class ProtocolError(ModbusReplyError):
    """A reply that does not answer the request it came for (the connection is closed)."""

    def __init__(self, kind: str, text: str) -> None:
        assert kind in PROTOCOL_ERRORS, kind
        self.kind = kind
        super().__init__(text)


class ReplyTimeout(ModbusReplyError, TimeoutError):
    kind = "timeout"


class ConnectionDropped(ModbusReplyError, ConnectionError):
    kind = "disconnect"


class _Stream(asyncio.Protocol):
    """Buffers what arrives and wakes the one waiting request; never raises."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._wake()

    def eof_received(self) -> bool:
        return False  # close our end too

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)


class ModbusTcpMaster:
    """One TCP connection to a Modbus TCP server (an RTU, a gateway); one request at a time
    (requests from several tasks queue on a lock)."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._stream: _Stream | None = None
        self._tid = 0
        self._lock = asyncio.Lock()
        self.last_unit = 0  # the unit of the last request answered (stale bytes are its)
        self._answered: dict[int, int] = {}  # transaction id → unit, of recent answers
        #: (unit, text) of replies that repeated an earlier answer on this connection, found
        #: and skipped since the caller last took them (:meth:`take_repeats`).
        self.repeats: list[tuple[int, str]] = []

    @property
    def connected(self) -> bool:
        s = self._stream
        return s is not None and not s.lost and s.transport is not None \
            and not s.transport.is_closing()

    async def connect(self) -> None:
        """Open the connection (raises OSError or TimeoutError)."""
        self.close()
        loop = asyncio.get_running_loop()
        _t, stream = await asyncio.wait_for(
            loop.create_connection(_Stream, self.host, self.port), self.timeout_s)
        self._stream = stream
        self._tid = 0
        self._answered.clear()

    def take_repeats(self) -> list[tuple[int, str]]:
        """The units that sent a late or repeated reply since the last call (each such frame
        was skipped, never taken for the reply it arrived in place of)."""
        out, self.repeats = self.repeats, []
        return out

    def close(self) -> None:
        """Drop the connection at once (anything in flight is discarded with it)."""
        s, self._stream = self._stream, None
        if s is not None and s.transport is not None:
            s.transport.abort()

    # ------------------------------------------------------------------ requests
    async def read_input_registers(self, unit: int, address: int, count: int) -> np.ndarray:
        return await self._read_registers(unit, 0x04, address, count)

    async def read_holding_registers(self, unit: int, address: int, count: int) -> np.ndarray:
        return await self._read_registers(unit, 0x03, address, count)

    async def read_discrete_inputs(self, unit: int, address: int, count: int) -> np.ndarray:
        """The inputs as a bool array of ``count``."""
        nbytes = (count + 7) // 8
        pdu = await self.request(unit, 0x02, struct.pack(">HH", address, count),
                                 byte_count=(nbytes, f"{count} discrete inputs"))
        raw = np.frombuffer(pdu, dtype=np.uint8, offset=2, count=nbytes)
        return np.unpackbits(raw, bitorder="little")[:count].astype(bool)

    async def write_coil(self, unit: int, address: int, value: bool) -> None:
        await self.request(unit, 0x05, struct.pack(">HH", address, 0xFF00 if value else 0),
                           echo=True)

    async def _read_registers(self, unit: int, fc: int, address: int,
                              count: int) -> np.ndarray:
        pdu = await self.request(unit, fc, struct.pack(">HH", address, count),
                                 byte_count=(2 * count, f"{count} registers"))
        return np.frombuffer(pdu, dtype=">u2", offset=2, count=count).astype(np.uint16)

    async def request(self, unit: int, fc: int, body: bytes, *,
                      byte_count: tuple[int, str] | None = None, echo: bool = False) -> bytes:
        """Send one request and return its reply's PDU (function code first), checked for
        transaction id, unit id and function code, and for ``byte_count`` (expected bytes,
        what they are) or, with ``echo``, that the reply repeats the request. Raises
        :class:`ModbusReplyError`; all but :class:`ExceptionReply` close the connection."""
        async with self._lock:
            try:
                pdu = await self._request(unit, fc, body)
                if byte_count is not None:
                    _check_byte_count(pdu, *byte_count)
                elif echo and (len(pdu) != 1 + len(body) or pdu[1:3] != body[:2]
                               or pdu[3:5] not in (b"\xff\x00", b"\x00\x00")):
                    # The address must be echoed; the value may read back as the coil is
                    # after the write (a momentary command coil echoes "off").
                    raise ProtocolError("echo", f"the reply echoes {pdu[1:].hex()} to "
                                                f"{body.hex()}")
                return pdu
            except ExceptionReply:
                raise
            except ModbusReplyError:
                self.close()
                raise

    async def _request(self, unit: int, fc: int, body: bytes) -> bytes:
        s = self._stream
        if s is None or not self.connected:
            raise ConnectionDropped("not connected")
        if s.buf:
            # Repeats of earlier answers are skipped (one still arriving, once it is whole,
            # below); anything else came unasked after the last reply.
            self._skip_repeats(s.buf)
            if s.buf and not self._repeat_head(s.buf):
                raise ProtocolError("unsolicited", f"{len(s.buf)} bytes arrived unasked "
                                                   f"after the reply from unit {self.last_unit}")
        self._tid = self._tid % 0xFFFF + 1  # 1…65535: a reply with id 0 never matches
        tid = self._tid
        s.transport.write(_MBAP.pack(tid, 0, len(body) + 2, unit) + bytes((fc,)) + body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        need = 7
        while True:
            buf = s.buf
            if len(buf) >= 7:
                r_tid, pid, length, r_unit = _MBAP.unpack_from(buf)
                if pid != 0:
                    raise ProtocolError("protocol_id", f"reply with protocol id {pid}, not 0 "
                                                       f"(bytes {bytes(buf[:8]).hex()})")
                if not 2 <= length <= 254:
                    raise ProtocolError("length", f"reply with an MBAP length of {length}")
                need = 6 + length
                if len(buf) >= need:
                    if r_tid != tid and self._answered.get(r_tid) == r_unit:
                        self._skip_repeats(buf)  # an earlier answer again: not ours
                        need = 7
                        continue
                    break
            if s.lost:
                raise ConnectionDropped(f"the RTU closed the connection "
                                        f"({len(buf)} bytes of a reply received)")
            left = deadline - loop.time()
            if left <= 0:
                if buf:
                    raise ProtocolError("truncated", f"incomplete reply: {len(buf)} of "
                                                     f"{need} bytes within {self.timeout_s:g} s")
                raise ReplyTimeout(f"no reply within {self.timeout_s:g} s")
            w = s.waiter = loop.create_future()
            timer = loop.call_at(deadline, _expire, w)
            try:
                await w
            finally:
                timer.cancel()
                s.waiter = None
        frame = bytes(buf[:need])
        del buf[:need]
        if buf:
            self._skip_repeats(buf)
            if buf and not self._repeat_head(buf):
                raise ProtocolError("length", f"{len(buf)} bytes after a {need}-byte reply "
                                              f"(the MBAP length does not fit the frame)")
        if r_tid != tid:
            raise ProtocolError("transaction_id", f"reply with transaction id {r_tid} to "
                                                  f"request {tid}")
        if r_unit != unit:
            raise ProtocolError("unit_id", f"reply from unit {r_unit} to a request for unit "
                                           f"{unit}")
        pdu = frame[7:]
        r_fc = pdu[0]
        if r_fc == fc | 0x80:
            if len(pdu) != 2:
                raise ProtocolError("length", f"an exception reply of {len(pdu)} bytes, not 2")
            self._answer(tid, unit)
            raise ExceptionReply(fc, pdu[1])
        if r_fc != fc:
            kind = "exception" if r_fc & 0x80 else "reply"
            raise ProtocolError("function_code", f"{kind} function code 0x{r_fc:02X} to a "
                                                 f"0x{fc:02X} request")
        self._answer(tid, unit)
        return pdu

    def _answer(self, tid: int, unit: int) -> None:
        self.last_unit = unit
        self._answered[tid] = unit
        if len(self._answered) > 1024:  # a few scans back
            del self._answered[next(iter(self._answered))]

    def _repeat_head(self, buf: bytearray) -> bool:
        """Whether ``buf`` starts with the header of an earlier answer's repeat."""
        if len(buf) < 7:
            return False
        r_tid, pid, _length, r_unit = _MBAP.unpack_from(buf)
        return pid == 0 and self._answered.get(r_tid) == r_unit

    def _skip_repeats(self, buf: bytearray) -> None:
        """Drop whole frames at the head of ``buf`` that repeat an earlier answer on this
        connection (same transaction id and unit), noting whose they were."""
        while len(buf) >= 7:
            r_tid, pid, length, r_unit = _MBAP.unpack_from(buf)
            if pid != 0 or self._answered.get(r_tid) != r_unit or len(buf) < 6 + length:
                return
            del buf[:6 + length]
            self.repeats.append((r_unit, f"a late or repeated reply (transaction id {r_tid}, "
                                         f"already answered)"))


def _expire(w: asyncio.Future) -> None:
    if not w.done():
        w.set_result(None)


def _check_byte_count(pdu: bytes, expected: int, what: str) -> None:
    if len(pdu) < 2 or pdu[1] != expected or len(pdu) != 2 + expected:
        got = pdu[1] if len(pdu) >= 2 else None
        raise ProtocolError("byte_count", f"byte count {got} with {len(pdu) - 2} data bytes "
                                          f"for {what} ({expected} bytes)")
