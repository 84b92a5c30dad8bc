"""Frame sources for the poller thread.

:class:`ProtocolFrameSource` polls a station over its protocols — the RTU over Modbus TCP for
every point, and, when given, the bay IEDs over IEC 61850 MMS for the 400/220 kV bays (whose
values, quality and time stamps from the IED then take precedence) — and assembles one
:class:`ScanFrame` per scan in point-table order.

``register_map`` polls the RTU with a map read from CSV (:func:`app.field.rtu.map.
read_map_file`) instead of the one generated from the station; ``modbus_timeout_s`` overrides
the request timeout (default ``min(1 s, 1.5 × period)``). The Modbus client runs in its own
process (:mod:`app.field.rtu.frontend`), as the MMS client does, so that a scan's ~90 round
trips do not queue for the GIL behind the HMI's other threads; ``modbus_in_process`` polls
from this process instead (tests that reach into the poller).

The IEDs are read alongside the RTU, and a scan waits for them at most 1.5 periods: a hung IED
(connected, never answering) cannot hold the frame up. Until they answer, their bays' points
come from the RTU, and after two scans without an answer the IEDs are reported lost.

A bay's communication state is lost when either of its paths is: the RTU (which serves every
point) or its IED (which serves its own points and carries its controls).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np

from app.field.periodic import run_every
from app.field.rtu.frontend import RemoteModbusPoller
from app.field.rtu.map import RegisterMap
from app.field.rtu.poller import ModbusPoller, PartialScan
from app.station import clock
from app.station import quality as Q
from app.station.frame import Comm, CommState, ScanFrame
from app.station.points import PointTable

log = logging.getLogger(__name__)


class ProtocolFrameSource:
    def __init__(self, points: PointTable, *, modbus: tuple[str, int],
                 mms: tuple[str, int] | None = None, period_s: float = 0.1,
                 register_map: RegisterMap | None = None,
                 modbus_timeout_s: float | None = None,
                 modbus_in_process: bool = False) -> None:
        self.points = points
        self.period_s = period_s
        poller = ModbusPoller if modbus_in_process else RemoteModbusPoller
        self.modbus = poller(points, *modbus, period_s=period_s,
                             timeout_s=modbus_timeout_s, register_map=register_map)
        self.mms = None
        if mms is not None:
            from app.field.iec61850.poller import MmsPoller

            self.mms = MmsPoller(points, *mms, period_s=period_s)
        #: How long a scan waits for the IEDs' answer after the RTU's; a later answer is used
        #: by the next scan. A hung IED (connected, never answering) must not hold up the
        #: whole frame: its bay's points come from the RTU meanwhile.
        self.mms_budget_s = 1.5 * period_s
        self._mms_task: asyncio.Future | None = None
        self._mms_missed = 0
        self._mms_answered = False  # until the IEDs first answer they are "connecting"
        n = len(points)
        self._values = np.zeros(n)
        self._quality = np.full(n, Q.COMM_LOST, dtype=np.uint16)
        self._t = np.zeros(n, dtype=np.int64)
        self._seq = 0

    def _apply(self, ps: PartialScan) -> None:
        self._values[ps.rows] = ps.values
        self._quality[ps.rows] = ps.quality
        self._t[ps.rows] = ps.t_ns

    async def _mms_answer(self, started: float) -> PartialScan | None:
        """The IEDs' newest answer if it comes within the budget, else None (the read goes on
        in the background and the next scan takes it)."""
        if self._mms_task is None:
            return None
        budget = max(0.0, self.mms_budget_s - (time.monotonic() - started))
        done, _ = await asyncio.wait({self._mms_task}, timeout=budget)
        if not done:
            self._mms_missed += 1
            if self._mms_missed == 2 and self._mms_answered:
                log.warning("IEC 61850 IEDs: no answer for %d scans; their bays' points come "
                            "from the RTU until they answer", self._mms_missed)
            return None
        task, self._mms_task = self._mms_task, None
        if self._mms_missed >= 2 and self._mms_answered:
            log.info("IEC 61850 IEDs answer again")
        self._mms_missed = 0
        self._mms_answered = True
        return task.result()  # MmsPoller.scan_once never raises

    def _late_mms_comm(self) -> dict[str, CommState]:
        now = clock.now()
        why = f"no answer within {2 * self.mms_budget_s:.2g} s"
        return {c.device: CommState(c.device, c.protocol, Comm.LOST, now, why)
                for c in self.mms.comm.values()}

    async def scan_once(self) -> ScanFrame:
        started = time.monotonic()
        if self.mms is not None and self._mms_task is None:
            self._mms_task = asyncio.ensure_future(self.mms.scan_once())
        mb = await self.modbus.scan_once()
        ms = await self._mms_answer(started) if self.mms is not None else None
        self._apply(mb)
        comm: dict[str, CommState] = dict(mb.comm)
        if ms is not None:
            # The IED is authoritative for its own points while it answers.
            ok = np.array([ms.comm[self.points.device_of[r]].state == Comm.OK
                           for r in ms.rows], dtype=bool)
            sel = ms.rows[ok]
            self._values[sel] = ms.values[ok]
            self._quality[sel] = ms.quality[ok]
            self._t[sel] = ms.t_ns[ok]
            for dev, c in ms.comm.items():
                # A path that is down is the bay's news, even while the other one still
                # brings its values: with the RTU gone the RTU-only points are lost (one comm
                # alarm for the bay, not one per point); with the IED gone its controls are.
                if c.state != Comm.OK or dev not in comm:
                    comm[dev] = c
        elif self.mms is not None and self._mms_missed >= 2 and self._mms_answered:
            comm.update(self._late_mms_comm())
        self._seq += 1
        v, q, t = self._values.copy(), self._quality.copy(), self._t.copy()
        for a in (v, q, t):
            a.setflags(write=False)
        return ScanFrame(self._seq, clock.now(), self.points, v, q, t, comm)

    async def run(self, emit: Callable[[ScanFrame], None], stop: asyncio.Event) -> None:
        try:
            await run_every(self.period_s, self.scan_once, emit, stop)
        finally:
            self.close()

    def close(self) -> None:
        if self._mms_task is not None:
            self._mms_task.cancel()
            self._mms_task = None
        self.modbus.close()
        if self.mms is not None:
            self.mms.close()
