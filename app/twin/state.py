"""Frozen results of one twin solve.

A :class:`TwinState` holds read-only numpy arrays, so it can cross threads (solver → GUI,
historian, alarms) without copying and without anyone changing it under another's feet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


def frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, slots=True)
class BusReading:
    name: str
    base_kv: float
    energised: bool
    kv: float
    """Line-to-line kV, mean of the phases (0 when dead)."""
    pu: float
    v_kv_ln: tuple[float, float, float]
    v_pu: tuple[float, float, float]
    angle_deg: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class BranchReading:
    name: str
    p_mw: float
    q_mvar: float
    i_a: tuple[float, float, float]
    loading_pct: float
    closed: bool


@dataclass(frozen=True, slots=True)
class Totals:
    generation_mw: float
    generation_mvar: float
    load_mw: float
    load_mvar: float
    losses_mw: float
    losses_mvar: float

    @property
    def efficiency_pct(self) -> float:
        return 100.0 * self.load_mw / self.generation_mw if self.generation_mw > 0 else float("nan")


@dataclass(frozen=True, slots=True, eq=False)
class TwinState:
    """The electrical state of the station after one solve.

    Per bus (rows follow ``bus_names``): phase-to-neutral kV, pu and angle for phases A, B, C
    (NaN where a bus lacks the phase) and whether the bus is energised. A de-energised bus is
    reported dead with zero volts and NaN angles — OpenDSS itself calls it "0 pu, converged".

    Per branch (rows follow ``branch_names``; every line, switch, transformer, reactor and
    capacitor): active and reactive power into terminal 1, phase currents at terminal 1 and
    loading in percent of normal rating.
    """

    timestamp: dt.datetime
    converged: bool
    iterations: int
    frequency_hz: float

    bus_names: tuple[str, ...]
    bus_base_kv: np.ndarray  # (nbus,) line-to-line kV
    v_kv_ln: np.ndarray  # (nbus, 3)
    v_pu: np.ndarray  # (nbus, 3)
    v_angle_deg: np.ndarray  # (nbus, 3)
    energised: np.ndarray  # (nbus,) bool

    branch_names: tuple[str, ...]
    p_mw: np.ndarray  # (nbranch,)
    q_mvar: np.ndarray
    i_a: np.ndarray  # (nbranch, 3)
    i_phasor: np.ndarray  # (nbranch, 3) complex A at terminal 1 (NaN where no phase)
    s_phase_mva: np.ndarray  # (nbranch, 3) complex MVA per phase into terminal 1
    loading_pct: np.ndarray
    closed: np.ndarray  # (nbranch,) bool: every terminal closed

    transformer_names: tuple[str, ...]
    transformer_loading_pct: np.ndarray
    transformer_losses_kw: np.ndarray
    tap_pu: np.ndarray

    load_names: tuple[str, ...]
    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    load_bus: np.ndarray  # (nload,) row in bus_names of each load's bus
    load_set: np.ndarray  # (nload, 2) each load's set point (P MW, Q Mvar), as last set

    source_names: tuple[str, ...]  # the grid equivalents (Vsource.*)
    source_in_service: np.ndarray  # (nsource,) bool
    source_pu: np.ndarray  # (nsource,) voltage set point, pu

    totals: Totals

    #: Lower-case name → row, shared by every state of one compiled circuit.
    bus_ix: Mapping[str, int]
    branch_ix: Mapping[str, int]
    transformer_ix: Mapping[str, int]

    # -- look-ups (by name, case-insensitive as OpenDSS is) ------------------------------
    def bus_index(self, name: str) -> int:
        return _index(self.bus_ix, name, "bus")

    def branch_index(self, name: str) -> int:
        return _index(self.branch_ix, name, "branch")

    def bus(self, name: str) -> BusReading:
        i = self.bus_index(name)
        pu = self.v_pu[i]
        e = bool(self.energised[i])
        mean_pu = float(np.nanmean(pu)) if e else 0.0
        return BusReading(
            name=self.bus_names[i], base_kv=float(self.bus_base_kv[i]), energised=e,
            kv=mean_pu * float(self.bus_base_kv[i]), pu=mean_pu,
            v_kv_ln=tuple(float(x) for x in self.v_kv_ln[i]),  # type: ignore[arg-type]
            v_pu=tuple(float(x) for x in pu),  # type: ignore[arg-type]
            angle_deg=tuple(float(x) for x in self.v_angle_deg[i]),  # type: ignore[arg-type]
        )

    def branch(self, name: str) -> BranchReading:
        i = self.branch_index(name)
        return BranchReading(
            name=self.branch_names[i], p_mw=float(self.p_mw[i]), q_mvar=float(self.q_mvar[i]),
            i_a=tuple(float(x) for x in self.i_a[i]),  # type: ignore[arg-type]
            loading_pct=float(self.loading_pct[i]), closed=bool(self.closed[i]),
        )

    def transformer_loading(self, name: str) -> float:
        return float(self.transformer_loading_pct[_index(self.transformer_ix, name, "transformer")])

    def bus_kv_ll(self) -> np.ndarray:
        """Mean line-to-line kV per bus (0 for dead buses)."""
        with np.errstate(invalid="ignore"):
            kv = np.nanmean(self.v_pu, axis=1) * self.bus_base_kv
        return np.where(self.energised, kv, 0.0)

    def load_served(self) -> np.ndarray:
        """Per load: is its bus energised?"""
        return self.energised[self.load_bus]

    def dead_buses(self) -> tuple[str, ...]:
        return tuple(n for n, e in zip(self.bus_names, self.energised, strict=True) if not e)


def _index(ix: Mapping[str, int], name: str, what: str) -> int:
    try:
        return ix[name.lower()]
    except KeyError:
        raise KeyError(f"no {what} '{name}'") from None


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """What puts an engine in a state's operating point — switching, load set points, taps,
    infeeds, frequency — and nothing else: small and picklable, so a study can run on it in
    another process (:mod:`app.runtime.studyproc`). :meth:`TwinEngine.apply_state` takes it
    as it takes a :class:`TwinState`."""

    timestamp: dt.datetime
    frequency_hz: float
    branch_names: tuple[str, ...]
    closed: np.ndarray
    load_names: tuple[str, ...]
    load_set: np.ndarray
    transformer_names: tuple[str, ...]
    tap_pu: np.ndarray
    source_names: tuple[str, ...]
    source_in_service: np.ndarray
    source_pu: np.ndarray

    @classmethod
    def of(cls, state: TwinState) -> OperatingPoint:
        return cls(state.timestamp, state.frequency_hz, state.branch_names,
                   np.array(state.closed), state.load_names, np.array(state.load_set),
                   state.transformer_names, np.array(state.tap_pu), state.source_names,
                   np.array(state.source_in_service), np.array(state.source_pu))
