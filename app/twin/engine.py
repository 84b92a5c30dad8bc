"""The twin engine: one OpenDSS circuit in its own context.

Each :class:`TwinEngine` owns an OpenDSS context (``opendssdirect.NewContext()``), so several
engines live in one process — the solver thread's, a fault study's, the plant simulator's —
without sharing state. An engine is not itself thread-safe: one thread drives it at a time.

Reads are in bulk (the ``All…`` array calls) through index maps built once per compile, so a
full scan cycle — set the measured loads, solve, build the frozen :class:`TwinState` — costs a
few hundred microseconds on the station circuit.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from app.twin.dsslib import opendssdirect
from app.twin.state import Totals, TwinState, frozen
from app.twin.topology import Topology

log = logging.getLogger(__name__)

SQRT3 = math.sqrt(3.0)


class CircuitError(RuntimeError):
    """A circuit that OpenDSS refuses, with the file and OpenDSS's own message."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        self.dss_message = message
        super().__init__(f"{path}: {message}")


class TwinEngine:
    """Compile, switch, set measured loads, solve and read a :class:`TwinState`."""

    def __init__(self, circuit: str | Path, *, base_frequency_hz: float = 50.0) -> None:
        self._dss = opendssdirect.NewContext()
        self._dss.Basic.AllowEditor(False)
        self.base_frequency_hz = base_frequency_hz
        self.frequency_hz = base_frequency_hz
        self.circuit_path = Path(circuit)
        self.compile(self.circuit_path)

    # ------------------------------------------------------------------ compile
    @property
    def dss(self):  # noqa: ANN201 - the opendssdirect context, for studies in this package
        return self._dss

    def compile(self, path: str | Path) -> None:
        """Compile the circuit file; a file OpenDSS refuses raises :class:`CircuitError`."""
        path = Path(path)
        if not path.is_file():
            raise CircuitError(path, "circuit file not found")
        d = self._dss
        try:
            d.Text.Command("Clear")
            # Must precede New Circuit: after it, elements keep a 60 Hz base.
            d.Text.Command(f"Set DefaultBaseFreq={self.base_frequency_hz:g}")
            d.Text.Command(f'Redirect "{path.resolve()}"')
        except opendssdirect.DSSException as exc:
            raise CircuitError(path, _dss_message(exc)) from None
        try:
            nbuses = d.Circuit.NumBuses()
        except opendssdirect.DSSException:
            nbuses = 0
        if nbuses == 0:
            raise CircuitError(path, "no circuit defined (no 'New Circuit' in the file)")
        if abs(d.Solution.Frequency() - self.base_frequency_hz) > 1e-9:
            raise CircuitError(path, f"circuit solves at {d.Solution.Frequency()} Hz, "
                               f"expected {self.base_frequency_hz} Hz")
        self.circuit_path = path
        self._fault_elements_ready = False
        self._solve_raw()
        self._build_index()

    # ------------------------------------------------------------------ index
    def _build_index(self) -> None:
        d = self._dss
        self.bus_names: tuple[str, ...] = tuple(d.Circuit.AllBusNames())
        self._bus_ix = {b.lower(): i for i, b in enumerate(self.bus_names)}
        nb = len(self.bus_names)
        base = np.zeros(nb)
        for i, b in enumerate(self.bus_names):
            d.Circuit.SetActiveBus(b)
            base[i] = d.Bus.kVBase() * SQRT3
        self.bus_base_kv = frozen(base)
        self._base_v_ln = base * 1000.0 / SQRT3

        self._map_nodes()

        # Power-delivery elements: offsets into the flattened All* arrays.
        self.branch_names: tuple[str, ...] = tuple(d.PDElements.AllNames())
        self._branch_ix = {n.lower(): i for i, n in enumerate(self.branch_names)}
        nterm = np.asarray(d.PDElements.AllNumTerminals(), dtype=np.intp)
        ncond = np.asarray(d.PDElements.AllNumConductors(), dtype=np.intp)
        nphase = np.asarray(d.PDElements.AllNumPhases(), dtype=np.intp)
        width = nterm * ncond
        starts = np.concatenate(([0], np.cumsum(width)[:-1])).astype(np.intp)
        self._pd_len = int(width.sum())
        self._pd_starts = starts
        # Terminal-1 phase conductors, padded to 3 with -1.
        t1 = np.full((len(starts), 3), -1, dtype=np.intp)
        for i, (s, p) in enumerate(zip(starts, nphase, strict=True)):
            for k in range(min(int(p), 3)):
                t1[i, k] = s + k
        self._t1 = t1
        self._t1_mask = t1 >= 0
        self._t1_safe = np.where(self._t1_mask, t1, 0)

        # Connectivity for energisation: PD elements joining two different buses.
        edges: list[tuple[int, int, int]] = []
        closed = np.ones(len(self.branch_names), dtype=bool)
        self._switch_elements: set[str] = set()
        for i, name in enumerate(self.branch_names):
            d.Circuit.SetActiveElement(name)
            buses = [b.partition(".") for b in d.CktElement.BusNames()]
            if name.lower().startswith("line."):
                d.Lines.Name(name.split(".", 1)[1])
                if d.Lines.IsSwitch():
                    self._switch_elements.add(name.lower())
            closed[i] = not any(d.CktElement.IsOpen(t + 1, 0)
                                for t in range(d.CktElement.NumTerminals()))
            if len(buses) >= 2:
                b1, b2 = buses[0][0].lower(), buses[1][0].lower()
                nodes2 = [n for n in buses[1][2].split(".") if n]
                grounded = bool(nodes2) and all(n == "0" for n in nodes2)
                if b1 != b2 and not grounded:
                    edges.append((i, self._bus_ix[b1], self._bus_ix[b2]))
        self._closed = closed

        sources = []
        for name in d.Vsources.AllNames():
            d.Circuit.SetActiveElement(f"Vsource.{name}")
            sources.append(self._bus_ix[d.CktElement.BusNames()[0].partition(".")[0].lower()])
        self.source_names: tuple[str, ...] = tuple(f"Vsource.{n}" for n in d.Vsources.AllNames())
        self._source_keys = {n.split(".", 1)[1].lower(): n.split(".", 1)[1]
                             for n in self.source_names}
        self._topology = Topology(nb, edges, sources)
        self._source_on = np.ones(len(sources), dtype=bool)

        self.transformer_names: tuple[str, ...] = tuple(
            f"Transformer.{n}" for n in d.Transformers.AllNames())
        self._tx_branch = np.asarray([self._branch_ix[n.lower()] for n in self.transformer_names],
                                     dtype=np.intp)
        self._tx_ix = {n.lower(): i for i, n in enumerate(self.transformer_names)}
        self._tap_limits = {}
        for n in self.transformer_names:
            d.Transformers.Name(n.split(".", 1)[1])
            self._tap_limits[n.lower()] = (d.Transformers.MinTap(), d.Transformers.MaxTap())

        self.load_names: tuple[str, ...] = tuple(f"Load.{n}" for n in d.Loads.AllNames())
        self._load_ix = {n.lower(): i for i, n in enumerate(self.load_names)}
        load_bus = []
        for n in self.load_names:
            d.Circuit.SetActiveElement(n)
            load_bus.append(self._bus_ix[d.CktElement.BusNames()[0].partition(".")[0].lower()])
        self._load_bus = frozen(np.asarray(load_bus, dtype=np.intp))

        self._bus_ix_ro = MappingProxyType(self._bus_ix)
        self._branch_ix_ro = MappingProxyType(self._branch_ix)
        self._tx_ix_ro = MappingProxyType(self._tx_ix)
        self.element_names: tuple[str, ...] = tuple(d.Circuit.AllElementNames())

    def _map_nodes(self) -> None:
        """Map OpenDSS's node list onto our fixed bus rows.

        OpenDSS rebuilds its node list when the topology changes after an element has been
        disabled (a grid infeed taken out), so the map is refreshed after every switching
        or source change, always onto the bus rows fixed at compile time.
        """
        node_bus, node_ph, keep = [], [], []
        for k, node in enumerate(self._dss.Circuit.AllNodeNames()):
            bus, _, ph = node.partition(".")
            phase = int(ph) if ph else 1
            row = self._bus_ix.get(bus.lower())
            if row is not None and 1 <= phase <= 3:
                keep.append(k)
                node_bus.append(row)
                node_ph.append(phase - 1)
        self._node_keep = np.asarray(keep, dtype=np.intp)
        self._node_bus = np.asarray(node_bus, dtype=np.intp)
        self._node_ph = np.asarray(node_ph, dtype=np.intp)
        self._n_nodes = self._dss.Circuit.NumNodes()
        self._nodes_dirty = False

    # ------------------------------------------------------------------ control
    def has_element(self, element: str) -> bool:
        return element.lower() in {e.lower() for e in self.element_names}

    def branch_index(self, element: str) -> int:
        """Row of a branch element in ``TwinState`` arrays (case-insensitive)."""
        return self._branch(element)

    def bus_index(self, bus: str) -> int:
        try:
            return self._bus_ix[bus.lower()]
        except KeyError:
            raise KeyError(f"no bus '{bus}' in the circuit") from None

    def is_switch(self, element: str) -> bool:
        return element.lower() in self._switch_elements

    def is_closed(self, element: str) -> bool:
        return bool(self._closed[self._branch(element)])

    def set_switch(self, element: str, closed: bool) -> bool:
        """Open or close a switching element (breaker, isolator, earth switch, or any branch).

        Returns True when the state changed. The next :meth:`solve` rebuilds the Y matrix.
        """
        i = self._branch(element)
        if bool(self._closed[i]) == closed:
            return False
        d = self._dss
        d.Circuit.SetActiveElement(self.branch_names[i])
        if closed:
            for t in range(d.CktElement.NumTerminals()):
                d.CktElement.Close(t + 1, 0)
        else:
            d.CktElement.Open(1, 0)
        self._closed[i] = closed
        self._topology.invalidate()
        self._nodes_dirty = True
        return True

    def switch_states(self) -> dict[str, bool]:
        return {self.branch_names[self._branch_ix[n]]: bool(self._closed[self._branch_ix[n]])
                for n in sorted(self._switch_elements)}

    def set_load(self, load: str, p_mw: float, q_mvar: float | None = None) -> None:
        i = self._load_index(load)
        self._dss.Loads.Idx(i + 1)
        self._dss.Loads.kW(p_mw * 1000.0)
        if q_mvar is not None:
            self._dss.Loads.kvar(q_mvar * 1000.0)

    def set_loads(self, loads: Mapping[str, tuple[float, float]]) -> None:
        """Set measured loads: ``{load name: (p_mw, q_mvar)}``."""
        for name, (p, q) in loads.items():
            self.set_load(name, p, q)

    def set_loads_array(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> None:
        """Fast path: P and Q for every load, in ``load_names`` order."""
        L = self._dss.Loads
        for i in range(len(self.load_names)):
            L.Idx(i + 1)
            L.kW(float(p_mw[i]) * 1000.0)
            L.kvar(float(q_mvar[i]) * 1000.0)

    def load_setpoints(self) -> dict[str, tuple[float, float]]:
        out = {}
        L = self._dss.Loads
        for i, n in enumerate(self.load_names):
            L.Idx(i + 1)
            out[n] = (L.kW() / 1000.0, L.kvar() / 1000.0)
        return out

    def set_tap(self, transformer: str, tap_pu: float, winding: int = 2) -> None:
        """Set a transformer's tap (per unit of rated voltage) on ``winding``."""
        name = self._tx_name(transformer)
        lo, hi = self._tap_limits[name.lower()]
        T = self._dss.Transformers
        T.Name(name.split(".", 1)[1])
        if not lo - 1e-9 <= tap_pu <= hi + 1e-9:
            raise ValueError(f"{name}: tap {tap_pu} outside {lo}..{hi}")
        T.Wdg(winding)
        T.Tap(tap_pu)

    def tap(self, transformer: str, winding: int = 2) -> float:
        T = self._dss.Transformers
        T.Name(self._tx_name(transformer).split(".", 1)[1])
        T.Wdg(winding)
        return float(T.Tap())

    def set_source(self, source: str, *, pu: float | None = None,
                   angle_deg: float | None = None) -> None:
        """Set a grid equivalent's voltage (pu) and angle, e.g. from a measured line voltage."""
        V = self._dss.Vsources
        try:
            name = self._source_keys[source.split(".", 1)[-1].lower()]
        except KeyError:
            raise KeyError(f"no source '{source}'") from None
        V.Name(name)
        if pu is not None:
            if not 0.0 < pu < 2.0:
                raise ValueError(f"{source}: voltage {pu} pu is not plausible")
            V.PU(pu)
        if angle_deg is not None:
            V.AngleDeg(angle_deg)

    def set_source_in_service(self, source: str, in_service: bool) -> bool:
        """Take a grid equivalent out (its remote end tripped) or back; True if changed."""
        try:
            name = self._source_keys[source.split(".", 1)[-1].lower()]
        except KeyError:
            raise KeyError(f"no source '{source}'") from None
        k = [n.split(".", 1)[1] for n in self.source_names].index(name)
        if bool(self._source_on[k]) == in_service:
            return False
        self.command(f"Vsource.{name}.enabled={'yes' if in_service else 'no'}")
        self._source_on[k] = in_service
        self._topology.invalidate()
        self._nodes_dirty = True
        return True

    def source_in_service(self, source: str) -> bool:
        name = self._source_keys[source.split(".", 1)[-1].lower()]
        return bool(self._source_on[[n.split(".", 1)[1] for n in self.source_names].index(name)])

    def set_frequency(self, hz: float) -> None:
        """Record the measured grid frequency (the network solves at the base frequency)."""
        self.frequency_hz = hz

    # ------------------------------------------------------------------ solve
    def _solve_raw(self) -> None:
        self._dss.Solution.Solve()

    def solve(self, timestamp: dt.datetime | None = None) -> TwinState:
        """Solve the power flow and return the frozen state."""
        self._dss.Solution.Solve()
        return self.state(timestamp)

    def state(self, timestamp: dt.datetime | None = None) -> TwinState:
        d = self._dss
        converged = bool(d.Solution.Converged())
        iterations = int(d.Solution.Iterations())
        energised = self._topology.energised(self._closed, self._source_on)

        nb = len(self.bus_names)
        if self._nodes_dirty or d.Circuit.NumNodes() != self._n_nodes:
            self._map_nodes()
        volts = np.asarray(d.Circuit.AllBusVolts(), dtype=float)
        vc = volts[0::2] + 1j * volts[1::2]
        v = np.full((nb, 3), np.nan + 0j)
        v[self._node_bus, self._node_ph] = vc[self._node_keep]
        v[~energised] = 0.0
        vmag = np.abs(v)
        v_kv = vmag / 1000.0
        v_pu = vmag / self._base_v_ln[:, None]
        ang = np.degrees(np.angle(v))
        ang[~energised] = np.nan

        powers = np.asarray(d.PDElements.AllPowers(), dtype=float)
        currents = np.asarray(d.PDElements.AllCurrents(), dtype=float)
        if powers.size != 2 * self._pd_len:  # the element list changed under us
            self._build_index()
            return self.state(timestamp)
        sc = powers[0::2] + 1j * powers[1::2]
        icx = currents[0::2] + 1j * currents[1::2]
        s_ph = np.where(self._t1_mask, sc[self._t1_safe], 0.0)
        s_t1 = s_ph.sum(axis=1)
        i_ph = np.where(self._t1_mask, icx[self._t1_safe], np.nan)
        i_t1 = np.abs(i_ph)
        # Sum over every conductor of every terminal = the element's own losses.
        s_all = np.add.reduceat(sc, self._pd_starts) if len(sc) else sc
        loading = np.asarray(d.PDElements.AllPctNorm(False), dtype=float)

        txb = self._tx_branch
        taps = np.empty(len(self.transformer_names))
        T = d.Transformers
        for k, name in enumerate(self.transformer_names):
            T.Name(name.split(".", 1)[1])
            T.Wdg(2)
            taps[k] = T.Tap()

        nl = len(self.load_names)
        lp = np.empty(nl)
        lq = np.empty(nl)
        CE = d.CktElement
        for k, name in enumerate(self.load_names):
            d.Circuit.SetActiveElement(name)
            pw = CE.TotalPowers()
            lp[k], lq[k] = pw[0], pw[1]
        gen = d.Circuit.TotalPower()
        loss = d.Circuit.Losses()
        totals = Totals(
            generation_mw=-gen[0] / 1000.0, generation_mvar=-gen[1] / 1000.0,
            load_mw=float(lp.sum()) / 1000.0, load_mvar=float(lq.sum()) / 1000.0,
            losses_mw=loss[0] / 1e6, losses_mvar=loss[1] / 1e6,
        )
        return TwinState(
            timestamp=timestamp or dt.datetime.now(dt.UTC),
            converged=converged, iterations=iterations, frequency_hz=self.frequency_hz,
            bus_names=self.bus_names, bus_base_kv=self.bus_base_kv,
            v_kv_ln=frozen(v_kv), v_pu=frozen(v_pu), v_angle_deg=frozen(ang),
            energised=frozen(energised.copy()),
            branch_names=self.branch_names,
            p_mw=frozen(s_t1.real / 1000.0), q_mvar=frozen(s_t1.imag / 1000.0),
            i_a=frozen(i_t1), i_phasor=frozen(i_ph), s_phase_mva=frozen(s_ph / 1000.0),
            loading_pct=frozen(loading), closed=frozen(self._closed.copy()),
            transformer_names=self.transformer_names,
            transformer_loading_pct=frozen(loading[txb].copy()),
            transformer_losses_kw=frozen(s_all[txb].real.copy()),
            tap_pu=frozen(taps),
            load_names=self.load_names,
            load_p_mw=frozen(lp / 1000.0), load_q_mvar=frozen(lq / 1000.0),
            load_bus=self._load_bus,
            totals=totals,
            bus_ix=self._bus_ix_ro, branch_ix=self._branch_ix_ro, transformer_ix=self._tx_ix_ro,
        )

    def energised_buses(self) -> np.ndarray:
        return self._topology.energised(self._closed, self._source_on).copy()

    # ------------------------------------------------------------------ helpers
    def command(self, text: str) -> str:
        """Run one OpenDSS text command in this engine's context (for studies and tests)."""
        try:
            self._dss.Text.Command(text)
        except opendssdirect.DSSException as exc:
            raise CircuitError(self.circuit_path, _dss_message(exc)) from None
        return self._dss.Text.Result()

    def _branch(self, element: str) -> int:
        try:
            return self._branch_ix[element.lower()]
        except KeyError:
            raise KeyError(f"no branch element '{element}' in the circuit") from None

    def _load_index(self, load: str) -> int:
        key = load.lower() if "." in load else f"load.{load.lower()}"
        try:
            return self._load_ix[key]
        except KeyError:
            raise KeyError(f"no load '{load}' in the circuit") from None

    def _tx_name(self, transformer: str) -> str:
        key = transformer.lower() if "." in transformer else f"transformer.{transformer.lower()}"
        try:
            return self.transformer_names[self._tx_ix[key]]
        except KeyError:
            raise KeyError(f"no transformer '{transformer}' in the circuit") from None


def _dss_message(exc: Exception) -> str:
    msg = str(exc)
    # opendssdirect prefixes "(#code) "; keep OpenDSS's own words.
    return msg.strip()

