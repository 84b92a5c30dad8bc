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

from app.station import clock
from app.twin.dsslib import CffiApiUtil, DssContext, opendssdirect
from app.twin.state import OperatingPoint, Totals, TwinState, frozen
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
        # The same context through DSS-Python, whose array calls return numpy arrays
        # directly (opendssdirect builds Python lists first: ~7x slower for the All* reads).
        self._py = self._dss.to_dss_python()
        self._load_batch = None
        self.base_frequency_hz = base_frequency_hz
        self.frequency_hz = base_frequency_hz
        self.circuit_path = Path(circuit)
        self.compile(self.circuit_path)

    # ------------------------------------------------------------------ compile
    @property
    def dss(self) -> DssContext:
        """The opendssdirect context, for studies in this package."""
        return self._dss

    def compile(self, path: str | Path) -> None:
        """Compile the circuit file; a file OpenDSS refuses raises :class:`CircuitError`."""
        path = Path(path)
        if not path.is_file():
            raise CircuitError(path, "circuit file not found")
        d = self._dss
        self._drop_load_batch()  # it points at the load objects that Clear frees
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
        lines_at: dict[int, list[tuple[str, int]]] = {}  # bus → (line, its other bus)
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
            # Terminal 1 joins every other terminal (a three-winding transformer has three),
            # unless that terminal is wired to ground (an earth switch's far side).
            b1 = buses[0][0].lower()
            for other in buses[1:]:
                b2 = other[0].lower()
                nodes2 = [n for n in other[2].split(".") if n]
                grounded = bool(nodes2) and all(n == "0" for n in nodes2)
                if b1 != b2 and not grounded:
                    edges.append((i, self._bus_ix[b1], self._bus_ix[b2]))
                    if name.lower().startswith("line.") and \
                            name.lower() not in self._switch_elements:
                        a, b = self._bus_ix[b1], self._bus_ix[b2]
                        lines_at.setdefault(a, []).append((name, b))
                        lines_at.setdefault(b, []).append((name, a))
        self._closed = closed
        self._poles_set: set[int] = set()  # branches switched pole by pole (set_poles)

        sources = []
        for name in d.Vsources.AllNames():
            d.Circuit.SetActiveElement(f"Vsource.{name}")
            sources.append(self._bus_ix[d.CktElement.BusNames()[0].partition(".")[0].lower()])
        self.source_names: tuple[str, ...] = tuple(f"Vsource.{n}" for n in d.Vsources.AllNames())
        self._source_keys = {n.split(".", 1)[1].lower(): n.split(".", 1)[1]
                             for n in self.source_names}
        self._topology = Topology(nb, edges, sources)
        # A grid equivalent at the far end of exactly one line feeds the station through
        # it: that line, and the bus at its station end (where its CVT measures).
        self._source_line: dict[str, tuple[str, int]] = {}
        for key, bus in zip(self._source_keys, sources, strict=True):
            at = lines_at.get(bus, [])
            if len(at) == 1:
                self._source_line[key] = at[0]
        self._source_on = np.ones(len(sources), dtype=bool)
        V = d.Vsources
        pu = []
        for n in self.source_names:
            V.Name(n.split(".", 1)[1])
            pu.append(V.PU())
        self._source_pu = np.asarray(pu, dtype=float)

        self.transformer_names: tuple[str, ...] = tuple(
            f"Transformer.{n}" for n in d.Transformers.AllNames())
        self._tx_branch = np.asarray([self._branch_ix[n.lower()] for n in self.transformer_names],
                                     dtype=np.intp)
        self._tx_ix = {n.lower(): i for i, n in enumerate(self.transformer_names)}
        self._tap_limits = {}
        for n in self.transformer_names:
            d.Transformers.Name(n.split(".", 1)[1])
            self._tap_limits[n.lower()] = (d.Transformers.MinTap(), d.Transformers.MaxTap())
        self._read_taps()

        self.load_names: tuple[str, ...] = tuple(f"Load.{n}" for n in d.Loads.AllNames())
        self._load_ix = {n.lower(): i for i, n in enumerate(self.load_names)}
        load_bus = []
        for n in self.load_names:
            d.Circuit.SetActiveElement(n)
            load_bus.append(self._bus_ix[d.CktElement.BusNames()[0].partition(".")[0].lower()])
        self._load_bus = frozen(np.asarray(load_bus, dtype=np.intp))
        self._drop_load_batch()
        self._load_batch = _LoadBatch.create(self._dss, len(self.load_names))
        sp = self.load_setpoints()
        self._load_set = np.array([sp[n] for n in self.load_names], dtype=float).reshape(-1, 2)

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

    @property
    def switch_element_names(self) -> tuple[str, ...]:
        """Every switch element (``Line`` with ``switch=yes``), in branch order."""
        return tuple(n for n in self.branch_names if n.lower() in self._switch_elements)

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

    def set_poles(self, element: str, open_phases: str, terminal: int = 1) -> None:
        """Pole by pole: open the phases named in ``open_phases`` (a subset of "ABC") at one
        terminal of a branch and close the others (a single-pole trip, a pole stuck). The
        branch counts as closed for the network's topology while any pole conducts."""
        if set(open_phases) - set("ABC"):
            raise ValueError(f"{element}: poles {open_phases!r} (use a subset of ABC)")
        i = self._branch(element)
        d = self._dss
        d.Circuit.SetActiveElement(self.branch_names[i])
        for k, ph in enumerate("ABC"):
            if ph in open_phases:
                d.CktElement.Open(terminal, k + 1)
            else:
                d.CktElement.Close(terminal, k + 1)
        self._closed[i] = open_phases != "ABC"
        self._poles_set.add(i)
        self._topology.invalidate()
        self._nodes_dirty = True

    def switch_states(self) -> dict[str, bool]:
        return {self.branch_names[self._branch_ix[n]]: bool(self._closed[self._branch_ix[n]])
                for n in sorted(self._switch_elements)}

    def set_load(self, load: str, p_mw: float, q_mvar: float | None = None) -> None:
        i = self._load_index(load)
        self._dss.Loads.Idx(i + 1)
        self._dss.Loads.kW(p_mw * 1000.0)
        self._load_set[i, 0] = p_mw
        if q_mvar is not None:
            self._dss.Loads.kvar(q_mvar * 1000.0)
            self._load_set[i, 1] = q_mvar

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
        self._load_set[:, 0] = p_mw
        self._load_set[:, 1] = q_mvar

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
        if not lo - 1e-9 <= tap_pu <= hi + 1e-9:
            raise ValueError(f"{name}: tap {tap_pu} outside {lo}..{hi}")
        k = self._tx_ix[name.lower()]
        if winding == 2 and abs(self._taps[k] - tap_pu) < 1e-12:
            return  # unchanged: setting it again would only make OpenDSS rebuild its Y matrix
        T = self._dss.Transformers
        T.Name(name.split(".", 1)[1])
        T.Wdg(winding)
        T.Tap(tap_pu)
        if winding == 2:
            self._taps[k] = T.Tap()

    def _read_taps(self) -> None:
        """Cache every transformer's winding-2 tap: taps change only through :meth:`set_tap`
        (and :meth:`command`, which re-reads them), so a scan need not read them back."""
        T = self._dss.Transformers
        taps = np.empty(len(self.transformer_names))
        for k, name in enumerate(self.transformer_names):
            T.Name(name.split(".", 1)[1])
            T.Wdg(2)
            taps[k] = T.Tap()
        self._taps = taps

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
            self._source_pu[self._source_pos(source)] = pu
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

    def source_bus(self, source: str) -> int:
        """Row (in ``bus_names``) of the bus a grid equivalent sits on."""
        k = self._source_pos(source)
        return self._topology.sources[k]

    def source_line(self, source: str) -> str | None:
        """The line a grid equivalent feeds the station through (its remote end), if any."""
        key = self._source_key(source)
        hit = self._source_line.get(key.lower())
        return hit[0] if hit else None

    def source_entry_bus(self, source: str) -> int:
        """Row of the bus where a grid equivalent's infeed enters the station: the station end
        of its line, or the source's own bus when it sits at the station."""
        key = self._source_key(source)
        hit = self._source_line.get(key.lower())
        return hit[1] if hit else self.source_bus(source)

    def line_source(self, line: str) -> str | None:
        """The grid equivalent at the remote end of ``line`` (e.g. ``Line.L1_LINE``), if any."""
        for key, (name, _bus) in self._source_line.items():
            if name.lower() == line.lower():
                return f"Vsource.{self._source_keys[key]}"
        return None

    def _source_key(self, source: str) -> str:
        try:
            return self._source_keys[source.split(".", 1)[-1].lower()]
        except KeyError:
            raise KeyError(f"no source '{source}'") from None

    def _source_pos(self, source: str) -> int:
        name = self._source_key(source)
        return [n.split(".", 1)[1] for n in self.source_names].index(name)

    def source_in_service(self, source: str) -> bool:
        name = self._source_keys[source.split(".", 1)[-1].lower()]
        return bool(self._source_on[[n.split(".", 1)[1] for n in self.source_names].index(name)])

    def set_frequency(self, hz: float) -> None:
        """Record the measured grid frequency (the network solves at the base frequency)."""
        self.frequency_hz = hz

    def apply_state(self, state: TwinState | OperatingPoint) -> None:
        """Put this engine in the operating point of ``state`` (solved by this or another
        engine of the same circuit, or its :class:`OperatingPoint`): every branch's switching state — each terminal and pole
        closed, then those open in ``state`` opened, so pole-by-pole changes are undone too —
        every load, OLTC tap, grid equivalent (in service and voltage) and the frequency.
        Studies on the live station run on a scratch engine set from the solver's newest
        state; a study that switched things restores the engine it borrowed with it.
        :meth:`solve` afterwards."""
        if state.branch_names != self.branch_names or state.load_names != self.load_names:
            raise ValueError("the state is of another circuit (branches or loads differ)")
        d = self._dss
        want = np.asarray(state.closed, dtype=bool)
        # Only the branches that differ, or had poles switched one by one: touching the
        # others would make OpenDSS rebuild from a flat start and move the solution within
        # its tolerance, so that a restored engine would not repeat itself exactly.
        for i in sorted(set(np.flatnonzero(want != self._closed).tolist()) | self._poles_set):
            d.Circuit.SetActiveElement(self.branch_names[i])
            for t in range(d.CktElement.NumTerminals()):
                d.CktElement.Close(t + 1, 0)
            if not want[i]:
                d.CktElement.Open(1, 0)
        self._poles_set.clear()
        self._closed = want.copy()
        if not np.array_equal(self._load_set, state.load_set):  # set points, not what drew
            self.set_loads_array(state.load_set[:, 0], state.load_set[:, 1])
        for name, tap in zip(state.transformer_names, state.tap_pu, strict=True):
            self.set_tap(name, float(tap))
        for name, on, pu in zip(state.source_names, state.source_in_service, state.source_pu,
                                strict=True):
            self.set_source_in_service(name, bool(on))
            if abs(self._source_pu[self._source_pos(name)] - pu) > 1e-12:
                self.set_source(name, pu=float(pu))
        self.frequency_hz = state.frequency_hz
        self._topology.invalidate()
        self._nodes_dirty = True

    # ------------------------------------------------------------------ solve
    def _solve_raw(self) -> None:
        self._dss.Solution.Solve()

    def solve(self, timestamp: dt.datetime | None = None) -> TwinState:
        """Solve the power flow and return the frozen state."""
        self._dss.Solution.Solve()
        return self.state(timestamp)

    def solve_afresh(self, timestamp: dt.datetime | None = None) -> TwinState:
        """Solve from a fresh start (a direct solution, loads as admittances, as the initial
        guess). After a diverged solve left non-finite voltages, Newton iterations from them
        never recover, whatever the loads become; this does."""
        self._dss.Solution.SolveDirect()
        return self.solve(timestamp)

    def state(self, timestamp: dt.datetime | None = None) -> TwinState:
        d = self._dss
        converged = bool(d.Solution.Converged())
        iterations = int(d.Solution.Iterations())
        energised = self._topology.energised(self._closed, self._source_on)

        nb = len(self.bus_names)
        if self._nodes_dirty or d.Circuit.NumNodes() != self._n_nodes:
            self._map_nodes()
        C = self._py.ActiveCircuit
        volts = C.AllBusVolts
        vc = volts[0::2] + 1j * volts[1::2]
        v = np.full((nb, 3), np.nan + 0j)
        v[self._node_bus, self._node_ph] = vc[self._node_keep]
        v[~energised] = 0.0
        vmag = np.abs(v)
        v_kv = vmag / 1000.0
        v_pu = vmag / self._base_v_ln[:, None]
        ang = np.degrees(np.angle(v))
        ang[~energised] = np.nan

        pd = C.PDElements
        powers = pd.AllPowers
        currents = pd.AllCurrents
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
        loading = pd.AllPctNorm(False)

        txb = self._tx_branch
        taps = self._taps.copy()
        lpq = self._load_powers()
        lp, lq = lpq[:, 0], lpq[:, 1]
        gen = C.TotalPower
        loss = C.Losses
        totals = Totals(
            generation_mw=-gen[0] / 1000.0, generation_mvar=-gen[1] / 1000.0,
            load_mw=float(lp.sum()) / 1000.0, load_mvar=float(lq.sum()) / 1000.0,
            losses_mw=loss[0] / 1e6, losses_mvar=loss[1] / 1e6,
        )
        return TwinState(
            timestamp=timestamp or clock.now(),
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
            load_bus=self._load_bus, load_set=frozen(self._load_set.copy()),
            source_names=self.source_names, source_in_service=frozen(self._source_on.copy()),
            source_pu=frozen(self._source_pu.copy()),
            totals=totals,
            bus_ix=self._bus_ix_ro, branch_ix=self._branch_ix_ro, transformer_ix=self._tx_ix_ro,
        )

    def _drop_load_batch(self) -> None:
        if self._load_batch is not None:
            self._load_batch.dispose()
            self._load_batch = None

    def _load_powers(self) -> np.ndarray:
        """Every load's total (P kW, Q kvar), ``(nload, 2)``: one bulk call when the OpenDSS
        library offers it, else one element at a time (the same numbers)."""
        if self._load_batch is not None:
            pq = self._load_batch.total_powers()
            if pq is not None:
                return pq
        d = self._dss
        out = np.empty((len(self.load_names), 2))
        for k, name in enumerate(self.load_names):
            d.Circuit.SetActiveElement(name)
            out[k] = d.CktElement.TotalPowers()[:2]
        return out

    def energised_buses(self) -> np.ndarray:
        return self._topology.energised(self._closed, self._source_on).copy()

    # ------------------------------------------------------------------ helpers
    def command(self, text: str) -> str:
        """Run one OpenDSS text command in this engine's context (for studies and tests)."""
        try:
            self._dss.Text.Command(text)
        except opendssdirect.DSSException as exc:
            raise CircuitError(self.circuit_path, _dss_message(exc)) from None
        result = self._dss.Text.Result()
        self._read_taps()  # a command may have moved a tap or a load
        sp = self.load_setpoints()
        self._load_set[:] = [sp[n] for n in self.load_names]
        return result

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


class _LoadBatch:
    """Every load of the circuit as one DSS C-API batch, for reading all their powers in one
    call (``Alt_CEBatch_Get_TotalPowers``). Built per compile (the batch holds pointers to
    the circuit's load objects); None where the library lacks the batch API."""

    def __init__(self, api: CffiApiUtil, batch: object, count: int) -> None:
        """``batch``: the C-API's pointer to the batch (a cffi ``void**``)."""
        self._api, self._lib, self._ffi = api, api.lib, api.ffi
        self._batch = batch
        self._count = count

    @classmethod
    def create(cls, dss: DssContext, count: int) -> _LoadBatch | None:
        try:
            api = dss.CktElement._api_util
            ffi, lib = api.ffi, api.lib
            ptr = ffi.new("void***")
            dims = ffi.new("int32_t[4]")
            lib.Batch_CreateByClassS(ptr, dims, b"Load")
            if dims[0] != count:
                lib.Batch_Dispose(ptr[0])
                return None
            return cls(api, ptr[0], count)
        except (AttributeError, TypeError, opendssdirect.DSSException):
            return None

    def total_powers(self) -> np.ndarray | None:
        ffi = self._ffi
        res = ffi.new("double**")
        cnt = ffi.new("int32_t[4]")
        self._lib.Alt_CEBatch_Get_TotalPowers(res, cnt, self._batch, self._count)
        if cnt[0] != 2 * self._count:
            self._lib.DSS_Dispose_PDouble(res)
            return None
        out = np.frombuffer(ffi.buffer(res[0], cnt[0] * 8), dtype=np.float64).copy()
        self._lib.DSS_Dispose_PDouble(res)
        return out.reshape(self._count, 2)

    def dispose(self) -> None:
        if self._batch is not None:
            self._lib.Batch_Dispose(self._batch)
            self._batch = None


def _dss_message(exc: Exception) -> str:
    msg = str(exc)
    # opendssdirect prefixes "(#code) "; keep OpenDSS's own words.
    return msg.strip()

