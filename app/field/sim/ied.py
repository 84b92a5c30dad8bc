"""The bay IEDs' own logic: their interlocks, and how they take a select and an operate.

In the real station each bay's controller (CSWI/XCBR/XSWI) refuses an operation its own
interlocks forbid, whoever sends it. The simulated ones do the same, against the plant's true
state, for every path a command arrives by — the IEC 61850 MMS servers' select-before-operate
(:mod:`app.field.iec61850.server`, through :meth:`PlantSimulator.select` and ``operate``), the
RTU's Modbus command coils (:mod:`app.field.rtu.server`) and the simulator's control channel.

The interlocks (the station's IL-1 to IL-5, :mod:`app.control.interlocks`, checked again here
as the IED sees the plant):

* a breaker does not operate with its SF6 density below the lockout stage (AddCause
  blocked-by-health);
* a disconnector does not move with its bay breaker closed or moving — except a bus
  disconnector during a bus transfer: the bay's other bus disconnector closed and the whole
  bus coupler closed and still (the buses are paralleled: no voltage across it);
* a disconnector does not close next to a closed earth switch;
* an earth switch does not close on a live node, nor next to a closed disconnector.

Which switch is a bay's breaker, its bus disconnectors and their bus, the earth switch next
to a disconnector, the coupler — the same :class:`~app.station.bays.BayTopology` the station
interlocks read.

Why here, in the simulator, and not in :mod:`app.field.iec61850`: this logic runs on the
plant's true state (positions in the circuit, switches in travel, gas densities) under the
plant's lock, and the Modbus RTU path needs it as much as the MMS one; the protocol packages
stay free of plant physics and merely carry its answer (a
:class:`~app.station.commands.ControlResult` with its AddCause) onto their wire. With real
IEDs this module does not run at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection

from app.field.sim.switchgear import Switchgear
from app.station.bays import BayTopology
from app.station.commands import (
    ADD_CAUSE_BLOCKED_BY_HEALTH,
    ADD_CAUSE_BLOCKED_BY_INTERLOCKING,
    ADD_CAUSE_POSITION_REACHED,
    ADD_CAUSE_UNKNOWN,
    ControlResult,
)
from app.twin import TwinEngine

log = logging.getLogger(__name__)


class BayIeds:
    """Every bay IED's interlocks and command handling, on the simulated plant."""

    def __init__(self, topology: BayTopology, engine: TwinEngine, switchgear: Switchgear,
                 devices: Collection[str]) -> None:
        self.topology = topology
        self.engine = engine
        self.switchgear = switchgear
        self.devices = frozenset(devices)
        self._lost_by: dict[str, str] = {}  # injection key → device

    # ------------------------------------------------------------------ answering
    @property
    def comm_lost(self) -> frozenset[str]:
        """Devices (bays) not answering."""
        return frozenset(self._lost_by.values())

    def lose(self, key: str, device: str) -> None:
        """Stop ``device`` answering until every ``lose`` of it is undone by ``answer``."""
        if device not in self.devices:
            raise ValueError(f"no device '{device}' (devices are bay ids, e.g. F1, ICT1H)")
        self._lost_by[key] = device

    def answer(self, key: str) -> None:
        self._lost_by.pop(key, None)

    def forget_injections(self) -> None:
        self._lost_by.clear()

    # ------------------------------------------------------------------ interlocks
    def refusal(self, asset_id: str, close: bool) -> ControlResult | None:
        """The bay IED's own interlocks: a negative answer (why, with its AddCause) if it
        would refuse this operation now, None if it would allow it."""
        topo, sg, e = self.topology, self.switchgear, self.engine
        a = topo.switches.get(asset_id)
        if a is None:
            return ControlResult(False, ADD_CAUSE_UNKNOWN,
                                 f"{asset_id} is not a switching device")
        if a.type == "breaker":
            lockout = sg.sf6_lockout(a.id)
            if lockout is not None:
                return ControlResult(False, ADD_CAUSE_BLOCKED_BY_HEALTH, lockout)
            return None
        if a.type == "isolator":
            bay_cb = topo.breaker(a.bay)
            under_load = bay_cb is not None and (sg.is_closed(bay_cb.id)
                                                 or sg.is_moving(bay_cb.id))
            if under_load and not self._bus_transfer_allowed(a.id):
                return _interlocked(f"{a.id}: bay breaker {bay_cb.id} is closed")
            if close:
                for es in topo.earth_switches_next_to(a.id):
                    if sg.is_closed(es.id):
                        return _interlocked(f"{a.id}: earth switch {es.id} is closed")
            return None
        if a.type == "earth_switch" and close:
            node = topo.earthed_node(a.id)
            if e.energised_buses()[e.bus_index(node)]:
                return _interlocked(f"{a.id}: {node.upper()} is live")
            for iso in topo.disconnectors_next_to(a.id):
                if sg.is_closed(iso.id):
                    return _interlocked(f"{a.id}: disconnector {iso.id} is closed")
        return None

    def check_interlock(self, asset_id: str, close: bool) -> str | None:
        """Why the bay IED would refuse this operation now, or None."""
        r = self.refusal(asset_id, close)
        return None if r is None else r.message

    def _bus_transfer_allowed(self, asset_id: str) -> bool:
        """A bus disconnector may move under load while the bay's other bus disconnector and
        the whole bus coupler are closed (the buses are paralleled: no voltage across it)."""
        topo, sg = self.topology, self.switchgear
        others = topo.other_bus_disconnectors(asset_id)
        if not any(sg.is_closed(s.id) for s in others):
            return False
        coupler = topo.bay_coupler(asset_id)
        return bool(coupler) and all(sg.is_closed(s.id) and not sg.is_moving(s.id)
                                     for s in coupler)

    # ------------------------------------------------------------------ commands
    def select(self, asset_id: str, close: bool) -> ControlResult:
        """The IED's check at select (SBO with enhanced security): its interlocks only."""
        r = self.refusal(asset_id, close)
        if r is not None:
            log.info("%s %s select refused by bay interlock: %s", asset_id,
                     "close" if close else "open", r.message)
            return r
        return ControlResult(True, "", f"{asset_id} selected")

    def operate(self, asset_id: str, close: bool, now: dt.datetime, origin: str
                ) -> ControlResult:
        """Start an operation as the bay IED would; the position follows after the
        device's travel time. Refusals carry an IEC 61850 AddCause."""
        sg = self.switchgear
        a = self.topology.switches.get(asset_id)
        if a is None:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{asset_id} is not a switch")
        if a.bay in self.comm_lost:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{a.bay} is not answering")
        if sg.is_moving(a.id):
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{a.id} is already moving")
        if sg.is_closed(a.id) == close:
            return ControlResult(False, ADD_CAUSE_POSITION_REACHED,
                                 f"{a.id} is already {'closed' if close else 'open'}")
        refused = self.refusal(a.id, close)
        if refused is not None:
            log.info("%s %s refused by bay interlock: %s", a.id,
                     "close" if close else "open", refused.message)
            return refused
        if not close and a.id in sg.stuck:
            # Fails to open: the trip coil is energised, the mechanism does not move.
            log.info("%s accepted open but is stuck closed", a.id)
            return ControlResult(True, "", f"{a.id} operate accepted")
        sg.start(a, close, now)
        log.info("%s %s by %s", a.id, "closing" if close else "opening", origin)
        return ControlResult(True, "", f"{a.id} {'closing' if close else 'opening'}")


def _interlocked(message: str) -> ControlResult:
    return ControlResult(False, ADD_CAUSE_BLOCKED_BY_INTERLOCKING, message)
