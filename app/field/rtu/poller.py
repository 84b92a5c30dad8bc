"""Poll the station RTU over Modbus TCP (runs on the HMI's poller asyncio loop).

One connection to the RTU (or ``connections`` of them, each polling its share of the devices
side by side: a gateway RTU serves several masters' connections at once, and the scan then
takes about 1/k of the time); per scan, every device's precomputed reads (125-register input
register blocks that never split a 32-bit value; the status from the packed copy of the
discrete inputs where the map has one, else discrete-input blocks), decoded with numpy.

Failures stay local and never escape the loop:

* a device that answers with an exception (0x0B: its bay is not answering) or a short/garbled
  reply: that device's points keep their last value with quality invalid|oldData, its
  communication state turns LOST — one log line per change — and other devices carry on;
* the connection lost (the RTU or field-sim gone): every device on it turns LOST on that scan
  (well within two periods), and the poller reconnects with exponential backoff (0.25 s doubling to
  4 s), so good data returns by itself once the RTU is back;
* an RTU that accepts requests but stops answering: each request gives up after
  ``timeout_s`` — by default ``min(1 s, 1.5 × period)`` — so a hung RTU is flagged within two
  scan periods too.

A fault that takes many devices down at once is logged once, naming them
(:mod:`app.field.commlog`); each device keeps its own communication state.

The RTU has no per-point time stamps: a value's source time is its reception time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from app.field.commlog import log_changes
from app.field.periodic import run_every
from app.field.rtu.codec import StationDecoder
from app.field.rtu.map import RESULT_ACCEPTED, RegisterMap, build_register_map
from app.field.sim.api import (
    ADD_CAUSE_BLOCKED_BY_INTERLOCKING,
    ADD_CAUSE_POSITION_REACHED,
    ADD_CAUSE_UNKNOWN,
    ControlResult,
)
from app.station import clock
from app.station import quality as Q
from app.station.frame import Comm, CommState
from app.station.points import PointTable

log = logging.getLogger(__name__)
# pymodbus logs every failed request with a dump of the last frames; the poller reports one
# line per device state change instead.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

_RESULT_CAUSE = {2: ADD_CAUSE_BLOCKED_BY_INTERLOCKING, 3: ADD_CAUSE_UNKNOWN,
                 4: ADD_CAUSE_POSITION_REACHED, 5: ADD_CAUSE_UNKNOWN}


@dataclass(frozen=True, slots=True)
class PartialScan:
    """One protocol's share of a scan: its rows, their values, quality and source times."""

    rows: np.ndarray
    values: np.ndarray
    quality: np.ndarray
    t_ns: np.ndarray
    comm: dict[str, CommState]


def default_timeout_s(period_s: float) -> float:
    """A request's timeout at a scan period: short enough that a hung RTU is flagged within two
    periods, never more than 1 s."""
    return min(1.0, 1.5 * period_s)


def check_timing(period_s: float, timeout_s: float | None) -> None:
    """Refuse a scan period outside 0.1–5 s or a request timeout outside 0–30 s."""
    if not 0.1 <= period_s <= 5.0:
        raise ValueError(f"scan period {period_s} s outside 0.1–5 s")
    if timeout_s is not None and not 0 < timeout_s <= 30:
        raise ValueError(f"request timeout {timeout_s} s outside 0–30 s")


class ModbusPoller:
    PROTOCOL = "modbus"

    def __init__(self, points: PointTable, host: str, port: int, *, period_s: float = 0.1,
                 timeout_s: float | None = None, devices: list[str] | None = None,
                 register_map: RegisterMap | None = None, connections: int = 1) -> None:
        check_timing(period_s, timeout_s)
        if not 1 <= connections <= 8:
            raise ValueError(f"{connections} connections: 1 to 8")
        self.points = points
        self.host, self.port = host, port
        self.period_s = period_s
        self.timeout_s = default_timeout_s(period_s) if timeout_s is None else timeout_s
        self.map = register_map or build_register_map(points)
        self.devices = [d for d in self.map.devices if devices is None or d.device in devices]
        self.rows = np.concatenate([d.rows for d in self.devices]) if self.devices else \
            np.empty(0, np.intp)
        self._pos = {int(r): k for k, r in enumerate(self.rows)}
        n = len(self.rows)
        self.values = np.zeros(n)
        self.quality = np.full(n, Q.COMM_LOST, dtype=np.uint16)
        self.t_ns = np.zeros(n, dtype=np.int64)
        now = clock.now()
        self.comm = {d.device: CommState(d.device, self.PROTOCOL, Comm.CONNECTING, now)
                     for d in self.devices}
        self._dev_slices = {d.device: np.asarray([self._pos[int(r)] for r in d.rows],
                                                 dtype=np.intp) for d in self.devices}
        self._index = {d.device: k for k, d in enumerate(self.devices)}
        self._dec = StationDecoder(self.devices)
        self._read_ok = np.zeros(len(self.devices), dtype=bool)

        def local(rows: np.ndarray) -> np.ndarray:
            return np.asarray([self._pos[int(r)] for r in rows], dtype=np.intp)

        self._apos, self._cpos = local(self._dec.analog_rows), local(self._dec.counter_rows)
        self._spos, self._qpos = local(self._dec.status_rows), local(self._dec.quality_rows)
        self._labels = {d.device: f"{d.device} (id {d.device_id})" for d in self.devices}
        self._changes: list[tuple[str, Comm, Comm, str]] = []
        self._links = [_Link() for _ in range(min(connections, max(1, len(self.devices))))]
        self._groups = _balance(self.devices, len(self._links))
        self._link_of = {d.device: k for k, g in enumerate(self._groups) for d in g}
        self.scans = 0

    # ------------------------------------------------------------------ connection
    async def _ensure_connected(self, link: _Link | None = None) -> bool:
        link = link or self._links[0]
        c = link.client
        if c is not None and c.connected:
            return True
        if time.monotonic() < link.next_connect:
            return False
        if c is None:
            c = link.client = AsyncModbusTcpClient(self.host, port=self.port,
                                                   timeout=self.timeout_s, retries=0,
                                                   reconnect_delay=0)
        try:
            ok = await c.connect()
        except (OSError, ModbusException) as exc:
            ok = False
            log.debug("modbus connect %s:%d: %s", self.host, self.port, exc)
        if ok:
            link.backoff = 0.25
            log.info("modbus RTU %s:%d connected%s", self.host, self.port,
                     f" (connection {self._links.index(link) + 1} of {len(self._links)})"
                     if len(self._links) > 1 else "")
            return True
        link.next_connect = time.monotonic() + link.backoff
        link.backoff = min(link.backoff * 2, 4.0)
        return False

    @property
    def _client(self) -> AsyncModbusTcpClient | None:
        return self._links[0].client

    def close(self) -> None:
        for link in self._links:
            link.close()

    # ------------------------------------------------------------------ scanning
    def _set_comm(self, device: str, state: Comm, error: str = "") -> None:
        """Change a device's state; the change is logged with the scan's others."""
        old = self.comm[device]
        if old.state != state:
            self._changes.append((device, old.state, state, error))
            self.comm[device] = CommState(device, self.PROTOCOL, state,
                                          clock.now(), error)

    def _flush_log(self) -> None:
        if self._changes:
            log_changes(log, f"modbus RTU {self.host}:{self.port}", self._changes, self._labels)
            self._changes = []

    def _lose(self, device: str, error: str) -> None:
        self._read_ok[self._index[device]] = False  # what it gave this scan is not used
        sl = self._dev_slices[device]
        self.quality[sl] = (self.quality[sl] & ~np.uint16(Q.VALIDITY_MASK)) | Q.COMM_LOST
        self._set_comm(device, Comm.LOST, error)

    async def _read_device(self, d, c: AsyncModbusTcpClient | None = None) -> None:  # noqa: ANN001
        """Read one device into the station buffers; decoding is done once a scan."""
        c = c or self._client
        k = self._index[d.device]
        a0, _ = self._dec.ir_slices[k]
        regs = self._dec.regs
        for a, n in d.ir_blocks:
            r = await c.read_input_registers(a, count=n, device_id=d.device_id)
            if r.isError():
                raise _DeviceError(_exception_text(r))
            if len(r.registers) != n:
                raise _DeviceError(f"short reply: {len(r.registers)} of {n} registers")
            regs[a0 + a:a0 + a + n] = r.registers
        b0, _ = self._dec.bit_slices[k]
        for a, n in (d.di_blocks if d.polls_di else ()):
            r = await c.read_discrete_inputs(a, count=n, device_id=d.device_id)
            if r.isError():
                raise _DeviceError(_exception_text(r))
            if len(r.bits) < n:
                raise _DeviceError(f"short reply: {len(r.bits)} of {n} bits")
            self._dec.bits[b0 + a:b0 + a + n] = r.bits[:n]
        sl = self._dev_slices[d.device]
        self.quality[sl] = Q.GOOD  # points without a quality register: good when read
        self.t_ns[sl] = clock.time_ns()
        self._read_ok[k] = True

    def _decode(self) -> None:
        """Every device read this scan, decoded at once into values and quality."""
        ok = self._read_ok
        if not ok.any():
            return
        dec = self._dec
        fl, cn, st, q = dec.decode()
        for vals, pos, devs, into in ((fl, self._apos, dec.analog_dev, self.values),
                                      (cn, self._cpos, dec.counter_dev, self.values),
                                      (st, self._spos, dec.status_dev, self.values),
                                      (q, self._qpos, dec.quality_dev, self.quality)):
            m = ok[devs]
            into[pos[m]] = vals[m]

    async def scan_once(self) -> PartialScan:
        """Read every device once (each connection its share, side by side). Never raises."""
        self._read_ok[:] = False
        if len(self._links) == 1:
            await self._scan_link(self._links[0], self._groups[0])
        else:
            await asyncio.gather(*(self._scan_link(link, g)
                                   for link, g in zip(self._links, self._groups, strict=True)))
        self._decode()
        self.scans += 1
        self._flush_log()
        return self._partial()

    async def _scan_link(self, link: _Link, devices: list) -> None:
        if not await self._ensure_connected(link):
            for d in devices:
                self._lose(d.device, f"RTU {self.host}:{self.port} not reachable")
            return
        for d in devices:
            try:
                await self._read_device(d, link.client)
                self._set_comm(d.device, Comm.OK)
            except _DeviceError as exc:
                self._lose(d.device, str(exc))
            except (TimeoutError, ModbusException, OSError) as exc:
                # The connection itself failed: its devices are lost until it reconnects.
                for dd in devices:
                    self._lose(dd.device, f"connection to RTU lost ({type(exc).__name__})")
                link.close()
                break
            except Exception as exc:  # a garbled reply must not kill the poller
                self._lose(d.device, f"bad reply: {exc}")

    def _partial(self) -> PartialScan:
        return PartialScan(self.rows, self.values.copy(), self.quality.copy(),
                           self.t_ns.copy(), dict(self.comm))

    async def run(self, emit: Callable[[PartialScan], None], stop: asyncio.Event) -> None:
        try:
            await run_every(self.period_s, self.scan_once, emit, stop)
        finally:
            self.close()

    # ------------------------------------------------------------------ controls
    async def write_command(self, asset_id: str, close: bool) -> ControlResult:
        """Pulse the device's open or close command coil; report the RTU's result code."""
        for d in self.devices:
            if asset_id in d.switches:
                break
        else:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{asset_id} has no Modbus command")
        link = self._links[self._link_of[d.device]]
        if not await self._ensure_connected(link):
            return ControlResult(False, ADD_CAUSE_UNKNOWN, "RTU not reachable")
        open_coil, close_coil, result_hr = d.commands[d.switches.index(asset_id)]
        try:
            w = await link.client.write_coil(close_coil if close else open_coil, True,
                                              device_id=d.device_id)
            if result_hr < 0:  # a map without result registers: the exception says it all
                return ControlResult(not w.isError(), "" if not w.isError() else
                                     ADD_CAUSE_UNKNOWN, f"{asset_id} command "
                                     + ("accepted" if not w.isError() else
                                        f"refused ({_exception_text(w)})"))
            r = await link.client.read_holding_registers(result_hr, count=1,
                                                          device_id=d.device_id)
        except (TimeoutError, ModbusException, OSError) as exc:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"command not delivered: {exc}")
        code = r.registers[0] if not r.isError() and r.registers else -1
        if not w.isError() and code == RESULT_ACCEPTED:
            return ControlResult(True, "", f"{asset_id} command accepted")
        return ControlResult(False, _RESULT_CAUSE.get(code, ADD_CAUSE_UNKNOWN),
                             f"{asset_id} command refused (result {code}"
                             + (f", {_exception_text(w)}" if w.isError() else "") + ")")


class _DeviceError(Exception):
    pass


class _Link:
    """One TCP connection to the RTU and its reconnect backoff."""

    def __init__(self) -> None:
        self.client: AsyncModbusTcpClient | None = None
        self.backoff = 0.25
        self.next_connect = 0.0

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def _balance(devices: list, k: int) -> list[list]:
    """Split devices over ``k`` connections with about equal requests each, in map order."""
    cost = [d.requests() for d in devices]
    total, groups, acc = sum(cost), [[] for _ in range(k)], 0
    for d, c in zip(devices, cost, strict=True):
        groups[min(k - 1, int(acc * k / max(total, 1)))].append(d)
        acc += c
    return groups


def _exception_text(r) -> str:  # noqa: ANN001
    code = getattr(r, "exception_code", None)
    names = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
             4: "server device failure", 6: "server busy",
             10: "gateway path unavailable", 11: "gateway target failed to respond"}
    if code is None:
        return str(r)
    return f"exception 0x{code:02X} {names.get(code, '')}".rstrip()
