"""Poll the bay IEDs over IEC 61850 MMS from the HMI's poller loop.

The MMS client itself runs in a child process (:mod:`app.field.iec61850.client`) so that no
blocking library call ever holds this process's GIL; this class sends it requests over a
pipe and awaits the answers on the asyncio loop (:class:`app.field.childproc.ChildChannel`:
a reader on the pipe, no extra thread).

Per scan: one data-set read per IED; values, IEC 61850 quality and the IED's own time
stamps. Each IED's outcome feeds its communication state (:mod:`app.field.commstate`: an IED
not answering turns SUSPECT, its points questionable|oldData, then LOST after ``comm_loss_s``,
invalid|oldData; back to OK after ``recover_s`` of good replies) — one log line per change,
and one for all of them when they go together (the field-sim gone); the child reconnects with
exponential backoff by itself. If the child process dies it is restarted. No exception
escapes :meth:`scan_once`. Between answers (a scan that does not wait for a late one),
:meth:`aged` gives the last answer with the states as they stand by now.

Controls: :meth:`select`, :meth:`operate`, :meth:`cancel` (SBO with enhanced security);
the IED's command termination comes up the pipe unasked and is read with the next reply;
:meth:`termination` gives it (thread-safe) for the last operate of a device.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from typing import cast

import numpy as np

from app.field.childproc import ChildChannel
from app.field.commstate import CommPolicy, CommTracker
from app.field.periodic import run_every
from app.field.rtu.poller import PartialScan
from app.station import quality as Q
from app.station.commands import ADD_CAUSE_UNKNOWN, ControlResult
from app.station.frame import CommState
from app.station.points import PointTable

log = logging.getLogger(__name__)

#: The client process's answer to a scan (MmsClientCore.scan): rows, values, quality words,
#: source times (ns), and per bay (answered, why not).
_ScanReply = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, tuple[bool, str]]]


class MmsPoller:
    PROTOCOL = "iec61850"

    def __init__(self, points: PointTable, host: str, port: int, *, period_s: float = 0.1,
                 station_path: str | None = None, reply_timeout_s: float = 10.0,
                 policy: CommPolicy | None = None) -> None:
        from app.field.iec61850.model import build_ieds
        from app.station import load_station

        self.points = points
        self.host, self.port, self.period_s = host, port, period_s
        self.station_path = station_path
        self.reply_timeout_s = reply_timeout_s
        self.ieds = build_ieds(load_station(station_path), points)
        self.rows = np.asarray([r for i in self.ieds for r in i.rows()], dtype=np.intp)
        n = len(self.rows)
        self._values, self._t_ns = np.zeros(n), np.zeros(n, np.int64)
        self._quality = np.full(n, Q.COMM_LOST, np.uint16)  # as read
        k, self._slices = 0, {}
        for i in self.ieds:
            m = len(i.rows())
            self._slices[i.bay] = np.arange(k, k + m, dtype=np.intp)
            k += m
        self.policy = policy or CommPolicy.for_period(period_s)
        self.tracker = CommTracker([i.bay for i in self.ieds], self.PROTOCOL, self.policy,
                                   log=log, what=f"IEC 61850 IEDs at {host}:{port}+",
                                   label={i.bay: f"{i.bay} ({i.ld})" for i in self.ieds},
                                   by_cause=False)
        args = ["-m", "app.field.iec61850.client", host, str(port)]
        if station_path:
            args += ["--station", str(station_path)]
        self._chan = ChildChannel(args, name="MMS client", reply_timeout_s=reply_timeout_s,
                                  on_event=self._on_event)
        self._chan.spawn()  # its imports and station model overlap the HMI's start-up
        self._terms: dict[str, ControlResult] = {}
        self._terms_lock = threading.Lock()

    @property
    def comm(self) -> dict[str, CommState]:
        """Each IED's communication state (as of the newest :meth:`scan_once` or
        :meth:`aged`)."""
        return self.tracker.states

    # ------------------------------------------------------------------ child process
    @property
    def _proc(self) -> subprocess.Popen[bytes] | None:
        """The child's process (tests stop and kill it)."""
        return self._chan.proc

    async def _ask(self, *req: object) -> object:
        return await self._chan.ask(*req)

    def close(self) -> None:
        self._chan.close()

    # ------------------------------------------------------------------ scanning
    async def scan_once(self) -> PartialScan:
        """Read every IED once. Never raises."""
        self.tracker.begin_scan()
        try:
            _rows, values, quality, t_ns, state = cast(_ScanReply, await self._ask("scan"))
            self._values, self._quality, self._t_ns = values, quality, t_ns
            t = time.monotonic()
            for bay, (ok, why) in state.items():
                self.tracker.observe(bay, ok, why, t)
        except Exception as exc:
            t = time.monotonic()
            for bay in self.tracker.devices:
                self.tracker.observe(bay, False, f"MMS client: {exc}", t)
        return self._partial()

    def aged(self) -> PartialScan:
        """The newest answer again, with each IED's state as it stands now (no new reply:
        its values are not fresh)."""
        self.tracker.begin_scan()
        return self._partial()

    def _partial(self) -> PartialScan:
        states = self.tracker.evaluate()
        return PartialScan(self.rows, self._values, self.tracker.quality(self._quality,
                                                                         self._slices),
                           self._t_ns, dict(states))

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
            ok, cause, msg = cast(tuple[bool, str, str], await self._ask(cmd, asset, close))
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
