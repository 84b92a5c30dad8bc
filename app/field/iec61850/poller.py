"""Poll the bay IEDs over IEC 61850 MMS from the HMI's poller loop.

The MMS client itself runs in a child process (:mod:`app.field.iec61850.client`) so that no
blocking library call ever holds this process's GIL; this class sends it requests over a
pipe and awaits the answers on the asyncio loop (:class:`app.field.childproc.ChildChannel`:
a reader on the pipe, no extra thread).

Per scan: one data-set read per IED; values, IEC 61850 quality and the IED's own time
stamps. An IED that does not answer turns LOST with its points invalid|oldData — one log line
per change, and one for all of them when they go together (the field-sim gone); the child
reconnects with exponential backoff by itself. If the child process dies it is restarted. No
exception escapes :meth:`scan_once`.

Controls: :meth:`select`, :meth:`operate`, :meth:`cancel` (SBO with enhanced security);
the IED's command termination comes up the pipe unasked and is read with the next reply;
:meth:`termination` gives it (thread-safe) for the last operate of a device.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import numpy as np

from app.field.childproc import ChildChannel
from app.field.commlog import log_changes
from app.field.periodic import run_every
from app.field.rtu.poller import PartialScan
from app.field.sim.api import ADD_CAUSE_UNKNOWN, ControlResult
from app.station import clock
from app.station import quality as Q
from app.station.frame import Comm, CommState
from app.station.points import PointTable

log = logging.getLogger(__name__)


class MmsPoller:
    PROTOCOL = "iec61850"

    def __init__(self, points: PointTable, host: str, port: int, *, period_s: float = 0.1,
                 station_path: str | None = None, reply_timeout_s: float = 10.0) -> None:
        from app.field.iec61850.model import build_ieds
        from app.station import load_station

        self.points = points
        self.host, self.port, self.period_s = host, port, period_s
        self.station_path = station_path
        self.reply_timeout_s = reply_timeout_s
        self.ieds = build_ieds(load_station(station_path), points)
        self.rows = np.asarray([r for i in self.ieds for r in i.rows()], dtype=np.intp)
        n = len(self.rows)
        self._last = PartialScan(self.rows, np.zeros(n), np.full(n, Q.COMM_LOST, np.uint16),
                                 np.zeros(n, np.int64), {})
        now = clock.now()
        self.comm = {i.bay: CommState(i.bay, self.PROTOCOL, Comm.CONNECTING, now)
                     for i in self.ieds}
        args = ["-m", "app.field.iec61850.client", host, str(port)]
        if station_path:
            args += ["--station", str(station_path)]
        self._chan = ChildChannel(args, name="MMS client", reply_timeout_s=reply_timeout_s,
                                  on_event=self._on_event)
        self._chan.spawn()  # its imports and station model overlap the HMI's start-up
        self._changes: list[tuple[str, Comm, Comm, str]] = []
        self._terms: dict[str, ControlResult] = {}
        self._terms_lock = threading.Lock()

    # ------------------------------------------------------------------ child process
    @property
    def _proc(self):  # noqa: ANN202 - the child's Popen (tests stop and kill it)
        return self._chan.proc

    async def _ask(self, *req: object) -> object:
        return await self._chan.ask(*req)

    def close(self) -> None:
        self._chan.close()

    # ------------------------------------------------------------------ scanning
    def _set_comm(self, bay: str, ok: bool, why: str) -> None:
        old = self.comm[bay]
        new = Comm.OK if ok else Comm.LOST
        if old.state != new:
            self._changes.append((bay, old.state, new, why))
            self.comm[bay] = CommState(bay, self.PROTOCOL, new, clock.now(), why)

    def _flush_log(self) -> None:
        if self._changes:
            log_changes(log, f"IEC 61850 IEDs at {self.host}:{self.port}+", self._changes,
                        {i.bay: f"{i.bay} ({i.ld})" for i in self.ieds}, by_cause=False)
            self._changes = []

    async def scan_once(self) -> PartialScan:
        """Read every IED once. Never raises."""
        try:
            rows, values, quality, t_ns, state = await self._ask("scan")
            for bay, (ok, why) in state.items():
                self._set_comm(bay, ok, why)
            self._last = PartialScan(rows, values, quality, t_ns, dict(self.comm))
        except Exception as exc:
            for bay in self.comm:
                self._set_comm(bay, False, f"MMS client: {exc}")
            q = self._last.quality.copy()
            q = (q & ~np.uint16(Q.VALIDITY_MASK)) | Q.COMM_LOST
            self._last = PartialScan(self._last.rows, self._last.values, q, self._last.t_ns,
                                     dict(self.comm))
        self._flush_log()
        return self._last

    async def run(self, emit: Callable[[PartialScan], None], stop: asyncio.Event) -> None:
        try:
            await run_every(self.period_s, self.scan_once, emit, stop)
        finally:
            self.close()

    # ------------------------------------------------------------------ controls
    def _on_event(self, event: tuple) -> None:
        if event[0] == "term":
            _, asset, ok, cause, detail = event
            with self._terms_lock:
                self._terms[asset] = ControlResult(bool(ok), "" if ok else cause,
                                                   f"{asset}: {detail}")
            if not ok:
                log.warning("IEC 61850 %s: negative command termination, AddCause %s", asset,
                            cause)

    def termination(self, asset: str) -> ControlResult | None:
        """The command termination of the last operate of ``asset`` once it has arrived
        (any thread)."""
        with self._terms_lock:
            return self._terms.get(asset)

    def switches(self) -> set[str]:
        return {sw.asset for ied in self.ieds for sw in ied.switches}

    async def _control(self, cmd: str, asset: str, close: bool) -> ControlResult:
        if cmd == "operate":
            with self._terms_lock:
                self._terms.pop(asset, None)
        try:
            ok, cause, msg = await self._ask(cmd, asset, close)
        except Exception as exc:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{cmd} not delivered: {exc}")
        return ControlResult(bool(ok), "" if ok else cause, f"{asset}: {msg}")

    async def select(self, asset: str, close: bool) -> ControlResult:
        return await self._control("select", asset, close)

    async def operate(self, asset: str, close: bool) -> ControlResult:
        return await self._control("operate", asset, close)

    async def cancel(self, asset: str) -> None:
        try:
            await self._ask("cancel", asset)
        except Exception as exc:
            log.warning("cancel of %s not delivered: %s", asset, exc)
