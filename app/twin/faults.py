"""Short-circuit studies on a twin engine.

Two complementary studies:

* :func:`fault_study` — faults one bus and type at a time (3-phase, L-G, L-L, L-L-G) with a
  fault resistance, from the present load flow and switching state: fault current per phase
  and the current through every breaker.
* :func:`station_fault_levels` — OpenDSS's ``Set Mode=FaultStudy``: the Thevenin
  impedances of every bus in one pass, from which the whole-station table of 3-phase,
  single-line-to-ground, line-to-line and double-line-to-ground levels follows.

:func:`fault_study` works by superposition (the classical short-circuit method): OpenDSS's
own system admittance matrix of the solved network (lines, switches, transformers, sources'
Thevenin impedances, loads at their admittance) is inverted once per study, and every fault
is then the pre-fault state plus the response to the current drawn by the fault's admittance
— a few microseconds of linear algebra instead of a new OpenDSS solve with a rebuilt Y matrix
per fault. ``method="snapshot"`` keeps the direct way (a Fault element per case, solved by
OpenDSS with the loads iterated); the tests hold the two together.

Both are Qt-free jobs with a ``progress(done, total)`` callback and a cooperative ``cancel``
flag (any object with ``is_set()``, e.g. :class:`threading.Event`). Both leave the engine
as they found it: faults disabled, snapshot mode, re-solved.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from app.twin.engine import SQRT3, TwinEngine

FaultType = Literal["3ph", "LG", "LL", "LLG"]
FAULT_TYPES: tuple[FaultType, ...] = ("3ph", "LG", "LL", "LLG")

#: OpenDSS needs a non-zero fault resistance; 0.1 mΩ stands for a bolted fault.
MIN_RF_OHM = 1e-4

Progress = Callable[[int, int], None]


class Cancel(Protocol):
    def is_set(self) -> bool: ...


class Cancelled(RuntimeError):
    """Raised when a study's cancel flag was set; the engine is restored first."""


@dataclass(frozen=True, slots=True)
class FaultResult:
    bus: str
    base_kv: float
    type: FaultType
    rf_ohm: float
    energised: bool
    converged: bool
    current_ka: float
    """Largest fault-phase current, kA (0 for a dead bus)."""
    phase_currents_ka: Mapping[str, float]
    """Fault current per faulted phase ("A", "B", "C"), kA."""
    breaker_currents_ka: Mapping[str, float] = field(default_factory=dict)
    """Largest phase current through each breaker during the fault, kA."""

    def as_dict(self) -> dict:
        return {"bus": self.bus, "base_kv": self.base_kv, "type": self.type,
                "rf_ohm": self.rf_ohm, "energised": self.energised, "converged": self.converged,
                "current_ka": round(self.current_ka, 4),
                "phase_currents_ka": {k: round(v, 4) for k, v in self.phase_currents_ka.items()},
                "breaker_currents_ka": {k: round(v, 4)
                                        for k, v in self.breaker_currents_ka.items()}}


@dataclass(frozen=True, slots=True)
class FaultLevel:
    """One row of the whole-station fault-level table (bolted faults)."""

    bus: str
    base_kv: float
    energised: bool
    i3ph_ka: float
    islg_ka: float
    ill_ka: float
    illg_ka: float
    z1_ohm: complex
    z0_ohm: complex

    @property
    def mva3ph(self) -> float:
        return SQRT3 * self.base_kv * self.i3ph_ka

    def as_dict(self) -> dict:
        return {"bus": self.bus, "base_kv": self.base_kv, "energised": self.energised,
                "i3ph_ka": round(self.i3ph_ka, 4), "islg_ka": round(self.islg_ka, 4),
                "ill_ka": round(self.ill_ka, 4), "illg_ka": round(self.illg_ka, 4),
                "mva3ph": round(self.mva3ph, 1),
                "z1_ohm": [round(self.z1_ohm.real, 5), round(self.z1_ohm.imag, 5)],
                "z0_ohm": [round(self.z0_ohm.real, 5), round(self.z0_ohm.imag, 5)]}


_FAULT_ELEMENT = {"3ph": "gt_fault_3ph", "LG": "gt_fault_lg", "LL": "gt_fault_ll",
                  "LLG": "gt_fault_llg"}
_FAULT_PHASES = {"3ph": ("A", "B", "C"), "LG": ("A",), "LL": ("A", "B"), "LLG": ("A", "B")}


def _ensure_fault_elements(engine: TwinEngine) -> None:
    if engine._fault_elements_ready:
        return
    b = engine.bus_names[0]
    engine.command(f"New Fault.{_FAULT_ELEMENT['3ph']} bus1={b}.1.2.3 bus2={b}.0.0.0 phases=3 "
                   f"r={MIN_RF_OHM} enabled=no")
    engine.command(f"New Fault.{_FAULT_ELEMENT['LG']} bus1={b}.1 bus2={b}.0 phases=1 "
                   f"r={MIN_RF_OHM} enabled=no")
    engine.command(f"New Fault.{_FAULT_ELEMENT['LL']} bus1={b}.1 bus2={b}.2 phases=1 "
                   f"r={MIN_RF_OHM} enabled=no")
    engine.command(f"New Fault.{_FAULT_ELEMENT['LLG']} bus1={b}.1.2 bus2={b}.0.0 phases=2 "
                   f"r={MIN_RF_OHM} enabled=no")
    engine._fault_elements_ready = True


def _fault_command(ftype: FaultType, bus: str, rf: float) -> str:
    name = _FAULT_ELEMENT[ftype]
    r = max(rf, MIN_RF_OHM)
    if ftype == "3ph":
        return f"Edit Fault.{name} bus1={bus}.1.2.3 bus2={bus}.0.0.0 r={r} enabled=yes"
    if ftype == "LG":
        return f"Edit Fault.{name} bus1={bus}.1 bus2={bus}.0 r={r} enabled=yes"
    if ftype == "LL":
        return f"Edit Fault.{name} bus1={bus}.1 bus2={bus}.2 r={r} enabled=yes"
    return f"Edit Fault.{name} bus1={bus}.1.2 bus2={bus}.0.0 r={r} enabled=yes"


def fault_study(
    engine: TwinEngine,
    buses: Iterable[str] | None = None,
    types: Sequence[FaultType] = FAULT_TYPES,
    rf_ohm: float = 0.0,
    breakers: Sequence[str] | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    method: Literal["superposition", "snapshot"] = "superposition",
) -> list[FaultResult]:
    """Apply each fault type at each bus in turn and report the currents.

    ``breakers`` are the elements whose through-current is reported (default: every
    switching element). Dead buses are reported with zero current. ``method`` chooses
    superposition on the solved network (default, fast) or one OpenDSS snapshot solve per
    fault (see the module's docstring).
    """
    for t in types:
        if t not in FAULT_TYPES:
            raise ValueError(f"unknown fault type '{t}' (use one of {', '.join(FAULT_TYPES)})")
    if rf_ohm < 0 or not math.isfinite(rf_ohm):
        raise ValueError(f"fault resistance must be a finite value >= 0 ohm, got {rf_ohm}")
    if method not in ("superposition", "snapshot"):
        raise ValueError(f"unknown fault study method '{method}'")
    d = engine.dss
    bus_list = list(engine.bus_names) if buses is None else [_canonical_bus(engine, b)
                                                              for b in buses]
    brk = list(breakers) if breakers is not None else sorted(
        (n for n in engine.branch_names if engine.is_switch(n)), key=str.lower)
    brk_ix = np.asarray([engine._branch(b) for b in brk], dtype=np.intp)
    brk_names = [engine.branch_names[i] for i in brk_ix]

    if method == "snapshot":
        _ensure_fault_elements(engine)
    pre = engine.solve()  # the pre-fault load flow; index and topology current
    energised = engine.energised_buses()
    batch: dict[FaultType, tuple[dict[str, int], np.ndarray, np.ndarray]] = {}
    if method == "superposition":
        net = _Network(engine, energised, brk_ix)
        live = [b for b in bus_list if energised[engine._bus_ix[b.lower()]]]
        for ftype in dict.fromkeys(types):
            if live:
                ph, br = net.faults(live, ftype, rf_ohm)
                batch[ftype] = ({b: i for i, b in enumerate(live)}, ph, br)
    total = len(bus_list) * len(types)
    results: list[FaultResult] = []
    done = 0
    try:
        for bus in bus_list:
            bi = engine._bus_ix[bus.lower()]
            base_kv = float(engine.bus_base_kv[bi])
            for ftype in types:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("fault study cancelled")
                if not energised[bi]:
                    results.append(FaultResult(bus, base_kv, ftype, rf_ohm, False, True, 0.0,
                                               dict.fromkeys(_FAULT_PHASES[ftype], 0.0),
                                               dict.fromkeys(brk_names, 0.0)))
                elif method == "superposition":
                    row, ph, br = batch[ftype]
                    j = row[bus]
                    per_phase = dict(zip(_FAULT_PHASES[ftype], ph[j].tolist(), strict=True))
                    results.append(FaultResult(
                        bus=bus, base_kv=base_kv, type=ftype, rf_ohm=rf_ohm, energised=True,
                        converged=pre.converged, current_ka=max(per_phase.values()),
                        phase_currents_ka=per_phase,
                        breaker_currents_ka=dict(zip(brk_names, br[j].tolist(), strict=True))))
                else:
                    results.append(_one_fault(engine, bus, base_kv, ftype, rf_ohm, brk_ix,
                                              brk_names))
                done += 1
                if progress is not None:
                    progress(done, total)
    finally:
        if method == "snapshot":
            for name in _FAULT_ELEMENT.values():
                d.Text.Command(f"Edit Fault.{name} enabled=no")
            d.Solution.Solve()
    return results


@dataclass(frozen=True, slots=True, eq=False)
class FaultPhasors:
    """One fault's complex phasors, for protection and disturbance records.

    The same superposition as :func:`fault_study`, kept complex: currents are terminal-1
    phase currents in A (positive out of the busbar into the bay, as everywhere in the twin),
    voltages phase-to-neutral in V, phases A, B, C in columns. ``z1_ohm`` and ``z0_ohm``
    are the positive- and zero-sequence Thevenin impedances seen from the faulted bus (the
    network with its loads as pre-fault impedances); an open breaker carries 0 A.
    """

    bus: str
    base_kv: float
    type: FaultType
    rf_ohm: float
    energised: bool
    fault_a: Mapping[str, complex]
    """Fault current per faulted phase ("A", "B", "C"), A."""
    breakers: tuple[str, ...]
    pre_breaker_a: np.ndarray
    """``(nbreaker, 3)`` complex, A: before the fault."""
    fault_breaker_a: np.ndarray
    """``(nbreaker, 3)`` complex, A: during the fault."""
    voltage_buses: tuple[str, ...]
    pre_bus_v: np.ndarray
    """``(nbus, 3)`` complex, V phase-to-neutral: before the fault."""
    fault_bus_v: np.ndarray
    """``(nbus, 3)`` complex, V phase-to-neutral: during the fault."""
    z1_ohm: complex
    z0_ohm: complex

    @property
    def current_ka(self) -> float:
        """Largest fault-phase current, kA (as :attr:`FaultResult.current_ka`)."""
        return max((abs(x) for x in self.fault_a.values()), default=0.0) / 1000.0

    def breaker(self, element: str) -> tuple[np.ndarray, np.ndarray]:
        """(pre-fault, fault) phase currents of one breaker, A complex ``(3,)``."""
        k = [b.lower() for b in self.breakers].index(element.lower())
        return self.pre_breaker_a[k], self.fault_breaker_a[k]

    def voltages(self, bus: str) -> tuple[np.ndarray, np.ndarray]:
        """(pre-fault, fault) phase voltages of one bus, V complex ``(3,)``."""
        k = [b.lower() for b in self.voltage_buses].index(bus.lower())
        return self.pre_bus_v[k], self.fault_bus_v[k]


def fault_phasors(
    engine: TwinEngine,
    bus: str,
    ftype: FaultType,
    rf_ohm: float = 0.0,
    breakers: Sequence[str] | None = None,
    voltage_buses: Sequence[str] = (),
) -> FaultPhasors:
    """Complex currents and voltages of one fault (see :class:`FaultPhasors`).

    Solves the present switching state first; the engine is left as it was. A dead bus gives
    zero fault current and the pre-fault quantities unchanged.
    """
    if ftype not in FAULT_TYPES:
        raise ValueError(f"unknown fault type '{ftype}' (use one of {', '.join(FAULT_TYPES)})")
    if rf_ohm < 0 or not math.isfinite(rf_ohm):
        raise ValueError(f"fault resistance must be a finite value >= 0 ohm, got {rf_ohm}")
    name = _canonical_bus(engine, bus)
    vbuses = tuple(_canonical_bus(engine, b) for b in voltage_buses)
    brk = list(breakers) if breakers is not None else sorted(
        (n for n in engine.branch_names if engine.is_switch(n)), key=str.lower)
    brk_ix = np.asarray([engine._branch(b) for b in brk], dtype=np.intp)
    brk_names = tuple(engine.branch_names[i] for i in brk_ix)
    pre = engine.solve()
    energised = engine.energised_buses()
    net = _Network(engine, energised, brk_ix)
    bi = engine._bus_ix[name.lower()]
    base_kv = float(engine.bus_base_kv[bi])
    phases = _FAULT_PHASES[ftype]
    if not energised[bi]:
        pre_b, pre_v = net.prefault(vbuses)
        return FaultPhasors(name, base_kv, ftype, rf_ohm, False, dict.fromkeys(phases, 0j),
                            brk_names, pre_b, pre_b.copy(), vbuses, pre_v, pre_v.copy(),
                            0j, 0j)
    del pre
    r = net.phasors(name, ftype, rf_ohm, vbuses)
    return FaultPhasors(
        bus=name, base_kv=base_kv, type=ftype, rf_ohm=rf_ohm, energised=True,
        fault_a=dict(zip(phases, (complex(x) for x in r["fault_a"]), strict=True)),
        breakers=brk_names, pre_breaker_a=r["pre_breaker_a"],
        fault_breaker_a=r["fault_breaker_a"], voltage_buses=vbuses, pre_bus_v=r["pre_bus_v"],
        fault_bus_v=r["fault_bus_v"], z1_ohm=r["z1_ohm"], z0_ohm=r["z0_ohm"])


class _Network:
    """The solved network as a bus impedance matrix, for faults by superposition.

    Built from OpenDSS's system Y matrix and node voltages (both in Y-node order), restricted
    to the energised nodes (a dead island carries no fault current and would make Y
    singular), and inverted once. A fault at nodes F with fault admittance Yf draws
    ``I_f = Yf (1 + Z_FF Yf)^-1 V0_F``; every node then moves by ``-Z[:, F] I_f``, and a
    breaker's current is its own primitive admittance times its terminal voltages.
    """

    def __init__(self, engine: TwinEngine, energised: np.ndarray, brk_ix: np.ndarray) -> None:
        d = engine.dss
        names = [n.lower() for n in d.Circuit.YNodeOrder()]
        n = len(names)
        circuit = engine._py.ActiveCircuit  # numpy arrays straight from the library
        y = np.asarray(circuit.SystemY, dtype=float)
        ymat = (y[0::2] + 1j * y[1::2]).reshape(n, n)
        v = np.asarray(circuit.YNodeVarray, dtype=float)
        v0 = v[0::2] + 1j * v[1::2]
        live = np.fromiter((energised[engine._bus_ix[nm.partition(".")[0]]] for nm in names),
                           dtype=bool, count=n)
        node = {nm: k for k, nm in enumerate(names)}
        # OpenDSS keeps each load in Y at its nominal admittance and injects the difference
        # to its actual (constant-power) current. Fold that difference into Y as well, so the
        # loads are constant impedances at their pre-fault operating point and the pre-fault
        # state is an exact solution of the linear network that the faults are applied to.
        vext = np.append(v0, 0.0)
        for load in engine.load_names:
            d.Circuit.SetActiveElement(load)
            nodes = d.CktElement.NodeOrder()
            bus = d.CktElement.BusNames()[0].partition(".")[0].lower()
            idx = [node.get(f"{bus}.{k}", n) if k else n for k in nodes]
            m = len(idx)
            yp = np.asarray(d.CktElement.YPrim(), dtype=float)
            yprim = (yp[0::2] + 1j * yp[1::2]).reshape(m, m)
            cur = np.asarray(d.CktElement.Currents(), dtype=float)
            extra = (cur[0::2] + 1j * cur[1::2]) - yprim @ vext[idx]
            for k, j in enumerate(idx):
                if j < n and abs(v0[j]) > 1.0:
                    ymat[j, j] += extra[k] / v0[j]
        keep = np.flatnonzero(live)
        self._z = np.linalg.inv(ymat[np.ix_(keep, keep)])
        self._v0 = v0[keep]
        pos = {names[k]: i for i, k in enumerate(keep)}
        self._pos = pos
        dead = len(keep)  # index of a zero appended to the voltage vector: ground, dead nodes

        # Each reported breaker: its terminal-1 rows of Yprim and the node of every conductor.
        rows, cols = [], []
        ncond_max = 0
        for i in brk_ix:
            d.Circuit.SetActiveElement(engine.branch_names[i])
            nc = d.CktElement.NumConductors()
            nt = d.CktElement.NumTerminals()
            yp = np.asarray(d.CktElement.YPrim(), dtype=float)
            m = nc * nt
            yprim = (yp[0::2] + 1j * yp[1::2]).reshape(m, m)
            nodes = d.CktElement.NodeOrder()
            buses = [b.partition(".")[0].lower() for b in d.CktElement.BusNames()]
            idx = [pos.get(f"{buses[k // nc]}.{nodes[k]}", dead) if nodes[k] else dead
                   for k in range(m)]
            nph = min(d.CktElement.NumPhases(), 3)
            closed = bool(engine._closed[i])
            rows.append(yprim[:nph] if closed else np.zeros((nph, m), dtype=complex))
            cols.append(idx)
            ncond_max = max(ncond_max, m)
        nb = len(rows)
        self._w = np.zeros((nb, 3, ncond_max), dtype=complex)
        self._wi = np.full((nb, ncond_max), dead, dtype=np.intp)
        for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
            self._w[k, :r.shape[0], :r.shape[1]] = r
            self._wi[k, :len(c)] = c

    def faults(self, buses: Sequence[str], ftype: FaultType, rf_ohm: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """One fault of ``ftype`` at each of ``buses`` (energised), all at once.

        Returns the fault current per faulted phase, kA ``(nbus, nphase)``, and the largest
        phase current through each reported breaker, kA ``(nbus, nbreaker)``.
        """
        i_f, v = self._solve(buses, ftype, rf_ohm)
        i_brk = np.einsum("rij,rjb->rib", self._w, v[self._wi])   # (nbreaker, 3, nbus)
        return np.abs(i_f) / 1000.0, np.abs(i_brk).max(axis=1).T / 1000.0

    def _solve(self, buses: Sequence[str], ftype: FaultType, rf_ohm: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """Complex fault currents, A ``(nbus, nphase)``, and every node's voltage after each
        fault, V ``(nnode + 1, nbus)`` (the last row is ground and the dead nodes: 0)."""
        k = len(_FAULT_PHASES[ftype])
        f = np.asarray([[self._pos[f"{b.lower()}.{p + 1}"] for p in range(k)] for b in buses],
                       dtype=np.intp).reshape(len(buses), k)
        g = 1.0 / max(rf_ohm, MIN_RF_OHM)
        if ftype == "LL":
            yf = g * np.array([[1.0, -1.0], [-1.0, 1.0]], dtype=complex)
        else:
            yf = g * np.eye(k, dtype=complex)
        zff = self._z[f[:, :, None], f[:, None, :]]               # (nbus, k, k)
        vf = np.linalg.solve(np.eye(k) + zff @ yf, self._v0[f][:, :, None])[:, :, 0]
        i_f = vf @ yf.T                                            # (nbus, k)
        # Every node after each fault: V0 - Z[:, F] I_f, one column per fault.
        zcols = self._z[:, f]                                      # (nnode, nbus, k)
        v = np.empty((len(self._v0) + 1, len(buses)), dtype=complex)
        v[:-1] = self._v0[:, None] - np.einsum("nbk,bk->nb", zcols, i_f)
        v[-1] = 0.0
        return i_f, v

    def node_rows(self, bus: str) -> list[int]:
        """Rows of ``bus``'s three phase nodes in the voltage vector (dead: the zero row)."""
        dead = len(self._v0)
        return [self._pos.get(f"{bus.lower()}.{p}", dead) for p in (1, 2, 3)]

    def prefault(self, voltage_buses: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every reported breaker's phase currents, A ``(nbreaker, 3)``, and the voltages of
        ``voltage_buses``, V ``(nbus, 3)``, of the solved pre-fault state."""
        v0 = np.append(self._v0, 0.0)
        rows = [self.node_rows(b) for b in voltage_buses]
        return (np.einsum("rij,rj->ri", self._w, v0[self._wi]),
                np.asarray([[v0[r] for r in rr] for rr in rows], dtype=complex)
                .reshape(len(rows), 3))

    def phasors(self, bus: str, ftype: FaultType, rf_ohm: float, voltage_buses: Sequence[str]
                ) -> dict:
        """One fault's complex quantities: the fault current per phase, every reported
        breaker's terminal-1 phase currents and the voltages of ``voltage_buses``, before and
        during the fault, and the sequence impedances seen from the faulted bus."""
        i_f, v = self._solve([bus], ftype, rf_ohm)
        v = v[:, 0]
        pre_b, pre_v = self.prefault(voltage_buses)
        rows = [self.node_rows(b) for b in voltage_buses]
        zix = self.node_rows(bus)
        zabc = self._z[np.ix_(zix, zix)]
        a = cmath.exp(2j * math.pi / 3)
        amat = np.array([[1, 1, 1], [1, a * a, a], [1, a, a * a]], dtype=complex)
        z012 = np.linalg.solve(amat, zabc @ amat)
        return {
            "fault_a": i_f[0],
            "pre_breaker_a": pre_b,
            "fault_breaker_a": np.einsum("rij,rj->ri", self._w, v[self._wi]),
            "pre_bus_v": pre_v,
            "fault_bus_v": np.asarray([[v[r] for r in rr] for rr in rows], dtype=complex)
            .reshape(len(rows), 3),
            "z1_ohm": complex(z012[1, 1]), "z0_ohm": complex(z012[0, 0]),
        }


def _one_fault(engine: TwinEngine, bus: str, base_kv: float, ftype: FaultType, rf: float,
               brk_ix: np.ndarray, brk_names: list[str]) -> FaultResult:
    d = engine.dss
    name = _FAULT_ELEMENT[ftype]
    d.Text.Command(_fault_command(ftype, bus, rf))
    d.Solution.Solve()
    converged = bool(d.Solution.Converged())
    d.Circuit.SetActiveElement(f"Fault.{name}")
    mags = d.CktElement.CurrentsMagAng()[0::2]
    phases = _FAULT_PHASES[ftype]
    per_phase = {ph: float(mags[k]) / 1000.0 for k, ph in enumerate(phases)}
    cur = np.asarray(d.PDElements.AllCurrents(), dtype=float)
    mag = np.abs(cur[0::2] + 1j * cur[1::2])
    t1 = engine._t1[brk_ix]
    m = np.where(t1 >= 0, mag[np.where(t1 >= 0, t1, 0)], 0.0).max(axis=1) / 1000.0
    d.Text.Command(f"Edit Fault.{name} enabled=no")
    return FaultResult(bus=bus, base_kv=base_kv, type=ftype, rf_ohm=rf, energised=True,
                       converged=converged, current_ka=max(per_phase.values()),
                       phase_currents_ka=per_phase,
                       breaker_currents_ka=dict(zip(brk_names, (float(x) for x in m),
                                                    strict=True)))


def station_fault_levels(engine: TwinEngine, buses: Iterable[str] | None = None
                         ) -> list[FaultLevel]:
    """Whole-station bolted fault levels from OpenDSS's FaultStudy mode."""
    d = engine.dss
    bus_list = list(engine.bus_names) if buses is None else [_canonical_bus(engine, b)
                                                              for b in buses]
    engine.state()
    energised = engine.energised_buses()
    rows: list[FaultLevel] = []
    a = cmath.exp(2j * math.pi / 3)
    try:
        d.Text.Command("Set Mode=FaultStudy")
        d.Solution.Solve()
        for bus in bus_list:
            bi = engine._bus_ix[bus.lower()]
            base_kv = float(engine.bus_base_kv[bi])
            if not energised[bi]:
                rows.append(FaultLevel(bus, base_kv, False, 0.0, 0.0, 0.0, 0.0, 0j, 0j))
                continue
            d.Circuit.SetActiveBus(bus)
            z1r, z1x = d.Bus.Zsc1()[:2]
            z0r, z0x = d.Bus.Zsc0()[:2]
            z1, z0 = complex(z1r, z1x), complex(z0r, z0x)
            voc = d.Bus.Voc()
            v = abs(complex(voc[0], voc[1])) if voc else base_kv * 1000 / SQRT3
            z2 = z1
            i3 = v / abs(z1)
            islg = 3 * v / abs(z1 + z2 + z0)
            ill = SQRT3 * v / abs(z1 + z2)
            i1 = v / (z1 + z2 * z0 / (z2 + z0))
            i2 = -i1 * z0 / (z2 + z0)
            i0 = -i1 * z2 / (z2 + z0)
            ib = i0 + a * a * i1 + a * i2
            ic = i0 + a * i1 + a * a * i2
            illg = max(abs(ib), abs(ic))
            rows.append(FaultLevel(bus, base_kv, True, i3 / 1000, islg / 1000, ill / 1000,
                                   illg / 1000, z1, z0))
    finally:
        d.Text.Command("Set Mode=Snapshot")
        d.Solution.Solve()
    return rows


def _canonical_bus(engine: TwinEngine, bus: str) -> str:
    try:
        return engine.bus_names[engine._bus_ix[bus.lower()]]
    except KeyError:
        raise KeyError(f"no bus '{bus}' in the circuit") from None
