"""The Modbus poller in its own process: the HMI's front-end to the station RTU.

:class:`RemoteModbusPoller` has the interface of :class:`~app.field.rtu.poller.ModbusPoller`
(``scan_once``, ``write_command``, ``devices``, ``comm``, ``close``), and is what the
HMI's frame source uses. The real poller runs in a child process (``python -m
app.field.rtu.frontend``) on its own asyncio loop; the HMI's poller thread sends it
``("scan",)`` once a period and waits on the pipe. Why: a scan is 60 request/reply round
trips (87 without packed status registers), each of which in the HMI's process must win the GIL back from the GUI, solver and
historian threads (see :mod:`app.field.childproc`); in its own process a scan takes what the
RTU takes.

The front-end keeps :data:`CONNECTIONS` connections to the RTU. The child is configured by
its first message (the point table, the register map, address,
period and timeout), so a map read from CSV polls the same way. Everything the in-process
poller guarantees still holds — a device that fails is LOST with its points invalid|oldData,
a lost connection is retried with backoff, one log line per change (logged in this process,
under ``app.field.rtu.poller``) — and so does this: if the front-end itself dies or stops
answering (within ``max(1 s, 4 × timeout)``) every device turns LOST on that scan, the child
is killed, and a new one is started in the background while scans go on reporting LOST.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from app.field.childproc import ChildChannel, ChildServer
from app.field.commlog import log_changes
from app.field.rtu.map import RegisterMap, build_register_map
from app.field.rtu.poller import ModbusPoller, PartialScan, check_timing, default_timeout_s
from app.field.sim.api import ADD_CAUSE_UNKNOWN, ControlResult
from app.station import clock
from app.station import quality as Q
from app.station.frame import Comm, CommState
from app.station.points import PointTable

log = logging.getLogger("app.field.rtu.poller")

#: TCP connections the front-end keeps to the RTU, each polling its share of the devices side
#: by side: a scan is request/reply bound (pymodbus on both ends), so two connections halve
#: it (station on this machine: ~50 → ~25 ms), which keeps it well inside a 100 ms period.
CONNECTIONS = 2


class RemoteModbusPoller:
    PROTOCOL = ModbusPoller.PROTOCOL

    def __init__(self, points: PointTable, host: str, port: int, *, period_s: float = 0.1,
                 timeout_s: float | None = None,
                 register_map: RegisterMap | None = None) -> None:
        check_timing(period_s, timeout_s)
        self.points = points
        self.host, self.port, self.period_s = host, port, period_s
        self.timeout_s = default_timeout_s(period_s) if timeout_s is None else timeout_s
        self.map = register_map or build_register_map(points)
        self.devices = list(self.map.devices)
        self.rows = np.concatenate([d.rows for d in self.devices]) if self.devices else \
            np.empty(0, np.intp)
        n = len(self.rows)
        now = clock.now()
        self.comm = {d.device: CommState(d.device, self.PROTOCOL, Comm.CONNECTING, now)
                     for d in self.devices}
        self._last = PartialScan(self.rows, np.zeros(n), np.full(n, Q.COMM_LOST, np.uint16),
                                 np.zeros(n, np.int64), dict(self.comm))
        self.reply_timeout_s = max(1.0, 4.0 * self.timeout_s)
        self._chan = ChildChannel(
            ["-m", "app.field.rtu.frontend"], name="Modbus front-end",
            init=("init", points, self.map, host, port, period_s, self.timeout_s),
            reply_timeout_s=self.reply_timeout_s)
        self._chan.spawn()  # its imports overlap the HMI's start-up
        self._starting: asyncio.Future | None = None
        self._answered = False
        self.scans = 0

    @property
    def pid(self) -> int | None:
        """The front-end process (tests stop and kill it)."""
        return self._chan.pid

    async def _ready(self) -> str | None:
        """None when the front-end is up; else why not (a start goes on in the background)."""
        if self._chan.ready:
            return None
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._chan.start())
            # The first start waits for the child (imports, map): the first frame is then
            # live, not "connecting". A restart goes on behind scans that report LOST.
            if not self._answered:
                await asyncio.wait({self._starting}, timeout=self._chan.start_timeout_s)
        if not self._starting.done():
            return "Modbus front-end restarting"
        task, self._starting = self._starting, None
        exc = task.exception()
        return None if exc is None else self._why(exc)

    def _why(self, exc: BaseException) -> str:
        return str(exc) if isinstance(exc, ConnectionError) else f"Modbus front-end: {exc}"

    async def scan_once(self) -> PartialScan:
        """Every device's values, quality and time, from the front-end. Never raises."""
        why = await self._ready()
        if why is None:
            try:
                rows, values, quality, t_ns, comm = await self._chan.ask("scan")
                self.comm = comm
                self._last = PartialScan(rows, values, quality, t_ns, dict(comm))
                self._answered = True
                self.scans += 1
                return self._last
            except (ConnectionError, RuntimeError) as exc:
                why = self._why(exc)
        return self._all_lost(why)

    def _all_lost(self, why: str) -> PartialScan:
        now = clock.now()
        changes = []
        for dev, c in self.comm.items():
            if c.state != Comm.LOST:
                changes.append((dev, c.state, Comm.LOST, why))
                self.comm[dev] = CommState(dev, self.PROTOCOL, Comm.LOST, now, why)
        if changes:
            log_changes(log, f"modbus RTU {self.host}:{self.port}", changes,
                        {d.device: f"{d.device} (id {d.device_id})" for d in self.devices})
        q = (self._last.quality & ~np.uint16(Q.VALIDITY_MASK)) | Q.COMM_LOST
        self._last = PartialScan(self._last.rows, self._last.values, q.astype(np.uint16),
                                 self._last.t_ns, dict(self.comm))
        return self._last

    async def write_command(self, asset_id: str, close: bool) -> ControlResult:
        """Pulse the device's open or close command coil (through the front-end)."""
        if await self._ready() is not None:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, "Modbus front-end not running")
        try:
            return await self._chan.ask("command", asset_id, close)
        except (ConnectionError, RuntimeError) as exc:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"command not delivered: {exc}")

    def close(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            self._starting = None
        self._chan.close()


def serve() -> None:
    """The child: configure a :class:`ModbusPoller` from the first message, then scan and
    command on request, on this process's own event loop."""
    server = ChildServer()
    loop = asyncio.new_event_loop()
    poller: ModbusPoller | None = None

    def handle(req: tuple) -> object:
        nonlocal poller
        cmd = req[0]
        if cmd == "init":
            _, points, register_map, host, port, period_s, timeout_s = req
            poller = ModbusPoller(points, host, port, period_s=period_s, timeout_s=timeout_s,
                                  register_map=register_map, connections=CONNECTIONS)
            return None
        if poller is None:
            raise RuntimeError("not configured")
        if cmd == "scan":
            ps = loop.run_until_complete(poller.scan_once())
            return ps.rows, ps.values, ps.quality, ps.t_ns, ps.comm
        if cmd == "command":
            return loop.run_until_complete(poller.write_command(req[1], req[2]))
        raise ValueError(f"unknown request {cmd!r}")

    try:
        server.run(handle)
    finally:
        if poller is not None:
            poller.close()
            loop.run_until_complete(asyncio.sleep(0))
        loop.close()


if __name__ == "__main__":
    serve()
