"""Where each switching device sits: a bay's breaker, bus and line disconnectors, earth
switches, and the bus couplers — the topology that interlocking reasons about.

One place for both layers that interlock: the station's own checks before a command is sent
(:mod:`app.control.interlocks`) and the bay IEDs' checks when it arrives
(:mod:`app.field.sim.ied`). Each used to derive it on its own.

The station description says which bay a switch belongs to and what type it is; which two
circuit buses it joins comes from the circuit, as ``switch_ends`` (asset id → (bus 1, bus 2),
lower case), made once by :func:`app.twin.topology.switch_ends`. With both, in a double-bus
bay (Indian EHV practice, names as in ``circuits/station.toml``):

* the **breaker** (Q0) is the bay's one breaker;
* its **bus disconnectors** (Q1, Q2) are the disconnectors with one end on a busbar's bus —
  their **bus side**;
* its **line disconnector** (Q9) is a disconnector with no end on a busbar;
* an **earth switch** (Q8) earths the node at its first end, and the disconnectors *next to
  it* are the bay's disconnectors with an end on that node;
* the **bus coupler** at a voltage level is the switches of the ``coupler`` bays at that
  level (one coupler a level in our stations).

Only data: it knows nothing of positions. The checks themselves — which position forbids
what — stay with each layer, which reads positions its own way (the station from a scan's
measured positions with their quality, the IED from its own switchgear).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from app.station.model import Asset, Station


def bay_breakers(station: Station) -> dict[str, Asset]:
    """Each bay's breaker (Q0), by bay id: what needs no circuit to know (a bay instrument
    measures the current through it)."""
    out: dict[str, Asset] = {}
    for a in station.assets_of_type("breaker"):
        out.setdefault(a.bay, a)
    return out


class BayTopology:
    """The switching topology of ``station``, given each switch's circuit buses."""

    def __init__(self, station: Station, switch_ends: Mapping[str, tuple[str, str]]) -> None:
        self.station = station
        self.switches: dict[str, Asset] = {a.id: a for a in station.switches()}
        missing = [s for s in self.switches if s not in switch_ends]
        if missing:
            raise ValueError(f"switch_ends: no circuit buses for {', '.join(missing)}")
        self.ends: dict[str, tuple[str, str]] = {
            s: (switch_ends[s][0].lower(), switch_ends[s][1].lower()) for s in self.switches}
        #: Busbar bus (lower case) → the busbar asset on it.
        self.busbar_of_bus: dict[str, str] = {
            a.bus.lower(): a.id for a in station.assets_of_type("busbar") if a.bus}
        self.busbar_buses: frozenset[str] = frozenset(self.busbar_of_bus)
        bays: dict[str, list[Asset]] = {}
        for a in self.switches.values():
            bays.setdefault(a.bay, []).append(a)
        self._bays = {b: tuple(s) for b, s in bays.items()}
        self._breakers = bay_breakers(station)

    # ------------------------------------------------------------------ one bay
    def bay_switches(self, bay: str) -> tuple[Asset, ...]:
        """The bay's switching devices, in station-file order."""
        return self._bays.get(bay, ())

    def breaker(self, bay: str) -> Asset | None:
        """The bay's breaker (Q0), if it has one."""
        return self._breakers.get(bay)

    def earth_switches(self, bay: str) -> tuple[Asset, ...]:
        return tuple(s for s in self.bay_switches(bay) if s.type == "earth_switch")

    def bus_disconnectors(self, bay: str) -> tuple[Asset, ...]:
        """The bay's disconnectors to a busbar (Q1, Q2)."""
        return tuple(s for s in self.bay_switches(bay)
                     if s.type == "isolator" and self.bus_side(s.id) is not None)

    def line_disconnectors(self, bay: str) -> tuple[Asset, ...]:
        """The bay's disconnectors with no end on a busbar (Q9)."""
        return tuple(s for s in self.bay_switches(bay)
                     if s.type == "isolator" and self.bus_side(s.id) is None)

    # ------------------------------------------------------------------ one switch
    def bus_side(self, switch_id: str) -> str | None:
        """The busbar bus a switch has an end on (a bus disconnector's bus), or None."""
        return next((b for b in self.ends[switch_id] if b in self.busbar_buses), None)

    def other_bus_disconnectors(self, switch_id: str) -> tuple[Asset, ...]:
        """The other bus disconnectors of a bus disconnector's bay (empty for any other
        switch): the way a bus transfer parallels the buses."""
        if self.bus_side(switch_id) is None:
            return ()
        a = self.switches[switch_id]
        return tuple(s for s in self.bus_disconnectors(a.bay) if s.id != switch_id)

    def shares_node(self, a: str, b: str) -> bool:
        """Whether two switches have a circuit bus in common."""
        return bool(set(self.ends[a]) & set(self.ends[b]))

    def earthed_node(self, earth_switch_id: str) -> str:
        """The node (circuit bus) an earth switch earths."""
        return self.ends[earth_switch_id][0]

    def earth_switches_next_to(self, switch_id: str) -> tuple[Asset, ...]:
        """The earth switches of a switch's bay that share a node with it."""
        a = self.switches[switch_id]
        return tuple(es for es in self.earth_switches(a.bay) if self.shares_node(es.id, a.id))

    def disconnectors_next_to(self, earth_switch_id: str) -> tuple[Asset, ...]:
        """The disconnectors of an earth switch's bay with an end on the node it earths."""
        a = self.switches[earth_switch_id]
        node = self.earthed_node(earth_switch_id)
        return tuple(s for s in self.bay_switches(a.bay)
                     if s.type == "isolator" and node in self.ends[s.id])

    # ------------------------------------------------------------------ the station
    def coupler_switches(self, voltage_kv: float) -> tuple[Asset, ...]:
        """The switches of the bus coupler(s) at this voltage level (empty: none)."""
        return tuple(s for b in self.station.bays if b.kind == "coupler"
                     and b.voltage_kv == voltage_kv for s in self.bay_switches(b.id))

    def bay_coupler(self, switch_id: str) -> tuple[Asset, ...]:
        """The coupler switches at the voltage level of a switch's bay."""
        return self.coupler_switches(self.station.bay(self.switches[switch_id].bay).voltage_kv)

    def busbar_zone(self, bus: str, is_closed: Callable[[str], bool]) -> list[str]:
        """The breakers joined to ``bus`` through closed disconnectors (its busbar
        protection zone), given each switch's position; never through another busbar."""
        seen, zone, todo = {bus}, [], [bus]
        while todo:
            b = todo.pop()
            for sid, (b1, b2) in self.ends.items():
                if b not in (b1, b2):
                    continue
                s = self.switches[sid]
                other = b2 if b == b1 else b1
                if s.type == "breaker":
                    if is_closed(sid) and sid not in zone:
                        zone.append(sid)
                elif s.type == "isolator" and is_closed(sid) and other not in seen and \
                        other not in self.busbar_buses:
                    seen.add(other)
                    todo.append(other)
        return zone
