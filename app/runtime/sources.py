"""Frame sources for the poller thread.

:class:`ProtocolFrameSource` polls a station over its protocols — the RTU over Modbus TCP for
every point, and, when given, the bay IEDs over IEC 61850 MMS for the 400/220 kV bays (whose
values, quality and time stamps from the IED then take precedence) — and assembles one
:class:`ScanFrame` per scan in point-table order.

``register_map`` polls the RTU with a map read from CSV (:func:`app.field.rtu.map.
read_map_file`) instead of the one generated from the station; ``modbus_timeout_s`` overrides
the request timeout (default ``min(1 s, 1.5 × period)``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import numpy as np

from app.field import quality as Q
from app.field.frame import Comm, CommState, ScanFrame
from app.field.periodic import run_every
from app.field.points import PointTable
from app.field.rtu.map import RegisterMap
from app.field.rtu.poller import ModbusPoller, PartialScan


class ProtocolFrameSource:
    def __init__(self, points: PointTable, *, modbus: tuple[str, int],
                 mms: tuple[str, int] | None = None, period_s: float = 0.1,
                 register_map: RegisterMap | None = None,
                 modbus_timeout_s: float | None = None) -> None:
        self.points = points
        self.period_s = period_s
        self.modbus = ModbusPoller(points, *modbus, period_s=period_s,
                                   timeout_s=modbus_timeout_s, register_map=register_map)
        self.mms = None
        if mms is not None:
            from app.field.iec61850.poller import MmsPoller

            self.mms = MmsPoller(points, *mms, period_s=period_s)
        n = len(points)
        self._values = np.zeros(n)
        self._quality = np.full(n, Q.COMM_LOST, dtype=np.uint16)
        self._t = np.zeros(n, dtype=np.int64)
        self._seq = 0

    def _apply(self, ps: PartialScan) -> None:
        self._values[ps.rows] = ps.values
        self._quality[ps.rows] = ps.quality
        self._t[ps.rows] = ps.t_ns

    async def scan_once(self) -> ScanFrame:
        if self.mms is not None:
            mb, ms = await asyncio.gather(self.modbus.scan_once(), self.mms.scan_once())
        else:
            mb, ms = await self.modbus.scan_once(), None
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
                # A bay is reachable if either path reaches it; report the IED's state.
                if c.state == Comm.OK or comm.get(dev, c).state != Comm.OK:
                    comm[dev] = c
        self._seq += 1
        v, q, t = self._values.copy(), self._quality.copy(), self._t.copy()
        for a in (v, q, t):
            a.setflags(write=False)
        return ScanFrame(self._seq, dt.datetime.now(dt.UTC), self.points, v, q, t, comm)

    async def run(self, emit: Callable[[ScanFrame], None], stop: asyncio.Event) -> None:
        try:
            await run_every(self.period_s, self.scan_once, emit, stop)
        finally:
            self.close()

    def close(self) -> None:
        self.modbus.close()
        if self.mms is not None:
            self.mms.close()
