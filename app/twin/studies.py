"""Engineering studies on the live station: fault levels and N-1 contingencies, run on the
twin's newest solved state (today's switching, loads, taps and infeeds), not the base case.

Each study puts an engine of its own — a scratch one compiled from the same circuit (~5 ms),
or the ``engine`` given, which the study process reuses — in the live operating point
(:meth:`TwinEngine.apply_state`, a :class:`TwinState` or its picklable
:class:`OperatingPoint`) and runs the study there, so the solver thread's engine is never
touched and a study may run beside the scans.
Both take a ``progress(done, total)`` callback and a cooperative ``cancel`` flag, as the
studies they wrap (:func:`app.twin.faults.fault_study`, :func:`app.twin.contingency.
run_contingencies`). Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.station import Station
from app.twin.contingency import ContingencyResult, run_contingencies
from app.twin.engine import TwinEngine
from app.twin.faults import Cancel, FaultResult, FaultType, Progress, fault_study
from app.twin.state import OperatingPoint, TwinState


@dataclass(frozen=True, slots=True)
class BusFaultLevel:
    """Bolted fault currents at one busbar in the live state."""

    asset_id: str
    bus: str
    base_kv: float
    energised: bool
    ka: dict[str, float]
    """Fault current in kA per fault type (3ph, LG, LL, LLG); 0 at a dead bus."""

    def mva_3ph(self) -> float:
        return 3 ** 0.5 * self.base_kv * self.ka.get("3ph", 0.0)

    def as_dict(self) -> dict:
        return {"asset": self.asset_id, "bus": self.bus, "base_kv": round(self.base_kv, 3),
                "energised": self.energised, "ka": {k: round(v, 3) for k, v in self.ka.items()},
                "mva_3ph": round(self.mva_3ph(), 1)}


def _scratch(circuit: str | Path, state: TwinState | OperatingPoint, base_frequency_hz: float,
             engine: TwinEngine | None) -> TwinEngine:
    engine = engine or TwinEngine(circuit, base_frequency_hz=base_frequency_hz)
    engine.apply_state(state)
    engine.solve()
    return engine


def live_fault_levels(station: Station, state: TwinState | OperatingPoint, *,
                      circuit: str | Path | None = None,
                      types: tuple[FaultType, ...] = ("3ph", "LG", "LL", "LLG"),
                      progress: Progress | None = None, cancel: Cancel | None = None,
                      engine: TwinEngine | None = None) -> list[BusFaultLevel]:
    """Fault levels at every busbar of the station in the operating point of ``state``."""
    engine = _scratch(circuit or station.circuit_path, state, station.station.frequency_hz,
                      engine)
    bars = [(a.id, a.bus) for a in station.assets_of_type("busbar") if a.bus]
    results = fault_study(engine, [b for _a, b in bars], types=types, progress=progress,
                          cancel=cancel)
    by: dict[str, list[FaultResult]] = {}
    for r in results:
        by.setdefault(r.bus.lower(), []).append(r)
    out = []
    for asset_id, bus in bars:
        rs = by.get(bus.lower(), [])
        out.append(BusFaultLevel(asset_id, bus, rs[0].base_kv if rs else 0.0,
                                 any(r.energised for r in rs),
                                 {r.type: float(r.current_ka) for r in rs}))
    return out


def live_contingencies(station: Station, state: TwinState | OperatingPoint, *,
                       circuit: str | Path | None = None,
                       progress: Progress | None = None, cancel: Cancel | None = None,
                       engine: TwinEngine | None = None) -> list[ContingencyResult]:
    """The base case and every N-1 outage of the station description, from ``state``."""
    engine = _scratch(circuit or station.circuit_path, state, station.station.frequency_hz,
                      engine)
    return run_contingencies(engine, station, progress=progress, cancel=cancel)
