"""The Modbus poller in its own process: the HMI's front-end to the station RTU.

:class:`RemoteModbusPoller` has the interface of :class:`~app.field.rtu.poller.ModbusPoller`
(``scan_once``, ``write_command``, ``devices``, ``comm``, ``stats``, ``link_stats``,
``close``), and is what the HMI's frame source uses. The real poller runs in a child process
(``python -m app.field.rtu.frontend``) on its own asyncio loop; the HMI's poller thread sends it
``("scan",)`` once a period and waits on the pipe. Why: a scan is 60 request/reply round
trips (87 without packed status registers), each of which in the HMI's process must win the
GIL back from the GUI, solver and historian threads (see :mod:`app.field.childproc`); in its
own process a scan takes what the RTU takes.

The front-end keeps :data:`CONNECTIONS` connections to the RTU. The child is configured by
its first message (the point table, the register map, address, period and timeout), so a
map read from CSV polls the same way. It answers each scan *raw*
(:class:`~app.field.rtu.poller.RawScan`: values and quality as read, each device's outcome
and cause, the per-device statistics): the communication state machine
(:mod:`app.field.commstate`) runs here, in the parent, so it goes on without a break when the
front-end itself fails. Everything the in-process poller guarantees still holds — replies
validated, a device's fault costs that device only, its state moves SUSPECT → LOST with
hold-off and back with hysteresis, one log line per change (state changes are logged here,
the child's own lines — a connection up — are logged here too, under
``app.field.rtu.poller``) — and so does this: a scan waits for the front-end's answer at most
``answer_budget_s`` (``max(1 s, 4 × timeout)``): on a loaded host a slow answer is taken by
the next scan while the devices' states age meanwhile; a front-end that dies fails every
device on that scan (cause "Modbus front-end …"), one silent for ``reply_timeout_s``
(``max(10 s, 8 × timeout)``) is killed, and a new one is started in the background while
scans go on; the devices' states follow the same rules as for any other failure.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import numpy as np

from app.field.childproc import ChildChannel, ChildServer
from app.field.commstate import CommPolicy, CommTracker
from app.field.rtu.map import RegisterMap, build_register_map
from app.field.rtu.poller import (
    DeviceStats,
    LinkStats,
    ModbusPoller,
    PartialScan,
    RawScan,
    check_timing,
    default_timeout_s,
    track_scan,
)
from app.station import quality as Q
from app.station.commands import ADD_CAUSE_UNKNOWN, ControlResult
from app.station.frame import CommState
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
                 register_map: RegisterMap | None = None,
                 policy: CommPolicy | None = None,
                 reply_timeout_s: float | None = None) -> None:
        check_timing(period_s, timeout_s)
        self.points = points
        self.host, self.port, self.period_s = host, port, period_s
        self.timeout_s = default_timeout_s(period_s) if timeout_s is None else timeout_s
        self.map = register_map or build_register_map(points)
        self.devices = list(self.map.devices)
        self.rows = np.concatenate([d.rows for d in self.devices]) if self.devices else \
            np.empty(0, np.intp)
        n = len(self.rows)
        self._names = [d.device for d in self.devices]
        pos = {int(r): k for k, r in enumerate(self.rows)}
        self._slices = {d.device: np.asarray([pos[int(r)] for r in d.rows], dtype=np.intp)
                        for d in self.devices}
        self.policy = policy or CommPolicy.for_period(period_s)
        self.tracker = CommTracker(
            self._names, self.PROTOCOL, self.policy, log=log,
            what=f"modbus RTU {host}:{port}",
            label={d.device: f"{d.device} (id {d.device_id})" for d in self.devices})
        self._raw = RawScan(self.rows, np.zeros(n), np.full(n, Q.COMM_LOST, np.uint16),
                            np.zeros(n, np.int64), np.full(len(self.devices), -1, np.int8), {})
        #: How long a scan waits for the front-end's answer; a later answer is taken by the
        #: next scan, and meanwhile the devices' states age (app.field.commstate): on a loaded
        #: host a slow front-end is not a dead one.
        self.answer_budget_s = max(1.0, 4.0 * self.timeout_s)
        #: A front-end that has not answered for this long is killed and started again.
        self.reply_timeout_s = max(10.0, 8.0 * self.timeout_s) if reply_timeout_s is None \
            else reply_timeout_s
        self._chan = ChildChannel(
            ["-m", "app.field.rtu.frontend"], name="Modbus front-end",
            init=("init", points, self.map, host, port, period_s, self.timeout_s),
            reply_timeout_s=self.reply_timeout_s)
        self._chan.spawn()  # its imports overlap the HMI's start-up
        self._starting: asyncio.Future | None = None
        self._pending: asyncio.Future[object] | None = None  # the scan asked for, not yet answered
        self._answered = False
        self.scans = 0
        self.late = 0  # scans that went on without the front-end's answer

    @property
    def comm(self) -> dict[str, CommState]:
        """Each device's communication state after the newest scan."""
        return self.tracker.states

    @property
    def stats(self) -> dict[str, DeviceStats]:
        """Each device's counters, as the front-end last reported them (they restart from
        zero with a new front-end process)."""
        return dict(self._raw.stats)

    @property
    def link_stats(self) -> list[LinkStats]:
        """Each connection's counters, as the front-end last reported them."""
        return list(self._raw.links)

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
        """Every device's values, quality and state, from the front-end; within
        :attr:`answer_budget_s` (a later answer is the next scan's). Never raises."""
        why = await self._ready()
        r = self._raw
        if why is None:
            if self._pending is None:
                self._pending = asyncio.ensure_future(self._chan.ask("scan"))
            done, _ = await asyncio.wait({self._pending}, timeout=self.answer_budget_s)
            if not done:  # slow, not (yet) dead: no news, the states follow from time
                self.late += 1
                late = f"Modbus front-end: no answer within {self.answer_budget_s:g} s"
                none = RawScan(r.rows, r.values, r.quality, r.t_ns,
                               np.full(len(self._names), -1, np.int8),
                               dict.fromkeys(self._names, late), r.stats, r.links)
                return track_scan(self.tracker, self._names, none, self._slices)
            task, self._pending = self._pending, None
            try:
                self._raw = RawScan(self.rows, *cast(tuple, task.result()))
                self._answered = True
                self.scans += 1
                return track_scan(self.tracker, self._names, self._raw, self._slices)
            except (ConnectionError, RuntimeError) as exc:
                why = self._why(exc)
        # the front-end is down: every device failed this scan
        failed = RawScan(r.rows, r.values, r.quality, r.t_ns,
                         np.zeros(len(self._names), np.int8), dict.fromkeys(self._names, why),
                         r.stats, r.links)
        return track_scan(self.tracker, self._names, failed, self._slices)

    async def write_command(self, asset_id: str, close: bool) -> ControlResult:
        """Pulse the device's open or close command coil (through the front-end)."""
        if await self._ready() is not None:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, "Modbus front-end not running")
        try:
            return cast(ControlResult, await self._chan.ask("command", asset_id, close))
        except (ConnectionError, RuntimeError) as exc:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"command not delivered: {exc}")

    def close(self) -> None:
        for f in (self._starting, self._pending):
            if f is not None:
                f.cancel()
        self._starting = self._pending = None
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
            raw = loop.run_until_complete(poller.scan_raw())
            return (raw.values, raw.quality, raw.t_ns, raw.outcome, raw.why, poller.stats,
                    poller.link_stats)
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
