"""Frame sources for the poller thread.

:class:`ProtocolFrameSource` polls a station over its protocols — the RTU over Modbus TCP for
every point, and, when given, the bay IEDs over IEC 61850 MMS for the 400/220 kV bays — and
assembles one :class:`ScanFrame` per scan in point-table order.

``register_map`` polls the RTU with a map read from CSV (:func:`app.field.rtu.map.
read_map_file`) instead of the one generated from the station; ``modbus_timeout_s`` overrides
the request timeout (default ``min(1 s, max(0.3 s, 3 × period))``). The Modbus client runs in its own
process (:mod:`app.field.rtu.frontend`), as the MMS client does, so that a scan's ~60 round
trips do not queue for the GIL behind the HMI's other threads; ``modbus_in_process`` polls
from this process instead (tests that reach into the poller).

**Communication state.** Each path keeps a state per device with hold-off and hysteresis
(:mod:`app.field.commstate`; ``stale_s``, ``comm_loss_s``, ``recover_s`` set it, defaults
1 s, 3 s and 1 s at a 0.1 s period): a device is SUSPECT after ``stale_s`` without a good
reply (its points questionable|oldData), LOST after ``comm_loss_s`` (invalid|oldData), OK
again after good replies for ``recover_s``. The IEDs are read alongside the RTU, and a scan
waits for their answer at most 1.5 periods: a hung IED (connected, never answering) cannot hold
the frame up. A scan without their answer keeps each IED's last known state, aged to now
(:meth:`MmsPoller.aged <app.field.iec61850.poller.MmsPoller.aged>`) — so a late answer is
not a lost IED, and an IED that stays silent turns SUSPECT and LOST by the same rules as a
failed one.

**A bay over two paths.** A 400/220 kV bay is reached over the RTU (every point) and its IED
(its own points, and its controls). Its state is its worst path's, and its ``CommState`` says
which path is down and why (``protocol`` names the paths that are not OK, ``paths`` holds
each path's own state) — one comm alarm for the bay, and a bay whose IED is gone has no
control. As each path keeps its state between answers and has hysteresis, so has the bay: it
does not flap. Each point served by both comes from the path in the better state, the IED
while they are equal (its values carry its own time stamps and quality), so a bay whose IED
is lost still shows the RTU's good values.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from app.control.service import SELECT_TIMEOUT_S
from app.field.commstate import RANK, BayStates, CommPolicy
from app.field.periodic import run_every
from app.field.rtu.frontend import RemoteModbusPoller
from app.field.rtu.map import RegisterMap
from app.field.rtu.poller import ModbusPoller, PartialScan
from app.runtime.commander import PlantCommander, ProtocolCommander, Submit
from app.station import clock
from app.station import quality as Q
from app.station.commands import Commander
from app.station.frame import Comm, CommState, ScanFrame
from app.station.points import PointTable

if TYPE_CHECKING:
    from app.field.iec61850.poller import MmsPoller
    from app.field.sim.api import PlantSnapshot
    from app.field.sim.plant import PlantSimulator

_LOST = RANK[Comm.LOST]


class FrameSource(Protocol):
    """Produces ScanFrames on an asyncio loop (the poller thread) until ``stop`` is set, every
    ``period_s``; :meth:`close` releases its clients (also when it never ran);
    :meth:`commander` makes the write path to the field behind it (a source with none returns
    a :class:`~app.runtime.commander.NoCommandPath`)."""

    period_s: float

    async def run(self, emit: Callable[[ScanFrame], None], stop: asyncio.Event) -> None: ...

    def close(self) -> None: ...

    def commander(self, submit: Submit, *, select_timeout_s: float = SELECT_TIMEOUT_S
                  ) -> Commander:
        """The control service's write path to this source's field devices; ``submit`` runs
        a coroutine on the loop that runs :meth:`run` (the poller thread)."""
        ...


class ProtocolFrameSource:
    def __init__(self, points: PointTable, *, modbus: tuple[str, int],
                 mms: tuple[str, int] | None = None, period_s: float = 0.1,
                 register_map: RegisterMap | None = None,
                 modbus_timeout_s: float | None = None,
                 modbus_in_process: bool = False, stale_s: float | None = None,
                 comm_loss_s: float | None = None, recover_s: float | None = None) -> None:
        self.points = points
        self.period_s = period_s
        self.policy = CommPolicy.for_period(period_s, stale_s=stale_s,
                                            comm_loss_s=comm_loss_s, recover_s=recover_s)
        poller = ModbusPoller if modbus_in_process else RemoteModbusPoller
        self.modbus = poller(points, *modbus, period_s=period_s, timeout_s=modbus_timeout_s,
                             register_map=register_map, policy=self.policy)
        self.mms: MmsPoller | None = None
        if mms is not None:
            from app.field.iec61850.poller import MmsPoller

            self.mms = MmsPoller(points, *mms, period_s=period_s, policy=self.policy)
        #: How long a scan waits for the IEDs' answer after the RTU's; a later answer is used
        #: by the next scan. A hung IED (connected, never answering) must not hold up the
        #: whole frame.
        self.mms_budget_s = 1.5 * period_s
        self._mms_task: asyncio.Future | None = None
        self._mms_missed = 0  # scans in a row without the IEDs' answer
        n = len(points)
        self._values = np.zeros(n)
        self._quality = np.full(n, Q.COMM_LOST, dtype=np.uint16)
        self._t = np.zeros(n, dtype=np.int64)
        self._seq = 0
        self._bays = BayStates()
        self._dev_index = {d.id: k for k, d in enumerate(points.devices)}
        self._row_dev = np.asarray([self._dev_index.get(points.device_of[r], 0)
                                    for r in range(n)], dtype=np.intp)
        self._rtu_rows = np.zeros(n, dtype=bool)

    def _apply(self, ps: PartialScan) -> None:
        self._values[ps.rows] = ps.values
        self._quality[ps.rows] = ps.quality
        self._t[ps.rows] = ps.t_ns
        self._rtu_rows[ps.rows] = True

    async def _mms_answer(self, started: float) -> PartialScan | None:
        """The IEDs' newest answer if it comes within the budget, else None (the read goes on
        in the background and the next scan takes it)."""
        if self._mms_task is None:
            return None
        budget = max(0.0, self.mms_budget_s - (time.monotonic() - started))
        done, _ = await asyncio.wait({self._mms_task}, timeout=budget)
        if not done:
            self._mms_missed += 1
            return None
        task, self._mms_task = self._mms_task, None
        self._mms_missed = 0
        return task.result()  # MmsPoller.scan_once never raises

    def _ranks(self, comm: dict[str, CommState]) -> np.ndarray:
        r = np.full(len(self._dev_index), _LOST, dtype=np.int8)
        for dev, c in comm.items():
            k = self._dev_index.get(dev)
            if k is not None:
                r[k] = RANK[c.state]
        return r

    async def scan_once(self) -> ScanFrame:
        started = time.monotonic()
        if self.mms is not None and self._mms_task is None:
            self._mms_task = asyncio.ensure_future(self.mms.scan_once())
        mb = await self.modbus.scan_once()
        ms = None
        if self.mms is not None:
            ms = await self._mms_answer(started)
            if ms is None:
                ms = self.mms.aged()  # the IEDs' last known state, as it stands now
        self._apply(mb)
        paths: dict[str, list[CommState]] = {dev: [c] for dev, c in mb.comm.items()}
        if ms is not None:
            # Each point served by both paths from the one in the better state (the IED while
            # they are equal); a point the RTU does not serve always from the IED.
            dev = self._row_dev[ms.rows]
            ied = self._ranks(ms.comm)[dev]
            rtu = np.where(self._rtu_rows[ms.rows], self._ranks(mb.comm)[dev], _LOST + 1)
            use = ied <= rtu
            sel = ms.rows[use]
            self._values[sel] = ms.values[use]
            self._quality[sel] = ms.quality[use]
            self._t[sel] = ms.t_ns[use]
            for d, c in ms.comm.items():
                paths.setdefault(d, []).append(c)
        comm = {d: self._bays.combine(d, p) for d, p in paths.items()}
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

    def commander(self, submit: Submit, *, select_timeout_s: float = SELECT_TIMEOUT_S
                  ) -> ProtocolCommander:
        """IEC 61850 SBO through the MMS poller for the bays' switches, the RTU's command
        coils for the rest."""
        return ProtocolCommander(self.modbus, self.mms, submit,
                                 select_timeout_s=select_timeout_s)


class PlantFrameSource:
    """Frames straight from an in-process plant simulator (the trainer's offline drill and
    tests): the plant steps on the poller's loop every period; no protocol in between. A
    device the plant reports not answering has its points invalid|oldData and its state LOST.
    Subclasses change what a frame holds through :meth:`frame`."""

    def __init__(self, plant: PlantSimulator, period_s: float | None = None) -> None:
        self.plant = plant
        self.period_s = period_s or plant.tick_s
        self._seq = 0

    def now(self) -> dt.datetime:
        """The frame's acquisition time (the program's clock)."""
        return clock.now()

    def frame(self, snap: PlantSnapshot) -> ScanFrame:
        q = snap.quality
        now = self.now()
        if snap.comm_lost:
            q = q.copy()
            for d in snap.comm_lost:
                q[self.plant.points.device(d).points] = Q.COMM_LOST
        comm = {}
        for d in self.plant.points.devices:
            lost = d.id in snap.comm_lost
            comm[d.id] = CommState(d.id, "sim", Comm.LOST if lost else Comm.OK, now,
                                   "not answering" if lost else "")
        q = np.asarray(q)
        q.setflags(write=False)
        self._seq += 1
        return ScanFrame(self._seq, now, self.plant.points, snap.values, q, snap.t_source_ns,
                         comm)

    async def scan_once(self) -> ScanFrame:
        return self.frame(self.plant.step(self.period_s))

    async def run(self, emit: Callable[[ScanFrame], None], stop: asyncio.Event) -> None:
        await run_every(self.period_s, self.scan_once, emit, stop)

    def close(self) -> None:
        pass

    def commander(self, submit: Submit, *, select_timeout_s: float = SELECT_TIMEOUT_S
                  ) -> PlantCommander:
        """Straight to the plant, as its bay IEDs would take the command (no protocol, so
        nothing to submit to the loop and no reservation to time out)."""
        return PlantCommander(self.plant)
