"""What the instructor may inject live: the plant's injection kinds and their parameters.

The instructor station builds its malfunction menu and parameter dialog from
:data:`MALFUNCTIONS` (one entry per kind of :data:`app.field.sim.injections.INJECTIONS`);
:func:`choices` lists, for a parameter that names something of the station (an asset of some
types, a bay, a device, a point), what the station has. :func:`parse_params` checks what the
instructor typed — one :class:`MalfunctionParamError` naming the parameter — before the plant
checks it again when it injects (its ValueError also names the parameter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.station import Station
from app.station.points import PointTable


class MalfunctionParamError(ValueError):
    """A malfunction parameter the instructor typed that cannot be used (names it)."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str
    """``asset`` (of :attr:`types`), ``bay``, ``device``, ``point``, ``bus`` (a circuit bus),
    ``number``, ``choice``, ``text`` (free, checked by the engine)."""
    default: object = None
    text: str = ""
    types: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    optional: bool = False


@dataclass(frozen=True, slots=True)
class MalfunctionKind:
    kind: str
    title: str
    params: tuple[Param, ...]


_FAULT_TYPES = ("LG", "LL", "LLG", "3ph")

MALFUNCTIONS: tuple[MalfunctionKind, ...] = (
    MalfunctionKind("fault", "Fault through the protection (relays, COMTRADE record)", (
        Param("bus", "bus", None, "faulted bus (gridtwin faults)"),
        Param("type", "choice", "LG", "fault type", options=_FAULT_TYPES),
        Param("stuck", "text", "", "breakers that fail to open (comma-separated)",
              optional=True),
        Param("permanent", "choice", "true", "permanent (false: transient, may reclose)",
              options=("true", "false")))),
    MalfunctionKind("overvoltage", "Grid overvoltage / undervoltage", (
        Param("pu", "number", 1.15, "grid source voltage, per unit", low=0.51, high=1.49),)),
    MalfunctionKind("frequency_excursion", "Grid frequency excursion", (
        Param("target_hz", "number", 49.2, "target frequency, Hz", low=47.0, high=52.0),
        Param("ramp_s", "number", 20.0, "ramp time, s", low=0.0, high=3600.0))),
    MalfunctionKind("transformer_overload", "Transformer overload", (
        Param("asset", "asset", None, "transformer", types=("ict", "transformer")),
        Param("factor", "number", 1.4, "load factor", low=1.0, high=3.0))),
    MalfunctionKind("cooling_failure", "Transformer cooling failure", (
        Param("asset", "asset", None, "transformer", types=("ict", "transformer")),
        Param("capacity_pct", "number", 60.0, "cooling capacity left, %", low=0.0,
              high=100.0))),
    MalfunctionKind("dga_fault", "Developing DGA fault", (
        Param("asset", "asset", None, "transformer or reactor",
              types=("ict", "transformer", "reactor")),
        Param("code", "choice", "T3", "IEC 60599 fault type",
              options=("PD", "D1", "D2", "T1", "T2", "T3")),
        Param("severity", "number", 1.0, "severity", low=0.1, high=10.0),
        Param("ramp_h", "number", 6.0, "development time, h", low=0.0, high=720.0))),
    MalfunctionKind("breaker_stuck", "Breaker stuck (fails to operate)", (
        Param("asset", "asset", None, "breaker", types=("breaker",)),)),
    MalfunctionKind("sf6_leak", "SF6 gas leak", (
        Param("asset", "asset", None, "breaker", types=("breaker",)),
        Param("bar_per_h", "number", 0.2, "leak rate, bar/h", low=0.0, high=36000.0))),
    MalfunctionKind("line_trip", "Line / feeder fault (trips its breaker)", (
        Param("asset", "asset", None, "line or feeder", types=("line", "feeder")),
        Param("type", "choice", "LG", "fault type", options=_FAULT_TYPES),
        Param("km", "number", None, "distance, km (empty: random 5-60)", low=0.0, high=500.0,
              optional=True))),
    MalfunctionKind("bus_fault", "Busbar fault (busbar protection)", (
        Param("asset", "asset", None, "busbar", types=("busbar",)),
        Param("type", "choice", "LG", "fault type", options=_FAULT_TYPES))),
    MalfunctionKind("phase_unbalance", "Phase current unbalance", (
        Param("bay", "bay", None, "bay"),
        Param("phase", "choice", "A", "phase", options=("A", "B", "C")),
        Param("pct", "number", 20.0, "unbalance, %", low=0.0, high=100.0),
        Param("voltage_pct", "number", 0.0, "voltage unbalance, %", low=0.0, high=50.0))),
    MalfunctionKind("harmonics", "Harmonic distortion", (
        Param("bay", "bay", None, "bay"),
        Param("thd_pct", "number", 8.0, "THD, %", low=0.0, high=100.0),
        Param("ramp_s", "number", 300.0, "ramp time, s", low=0.0, high=86400.0))),
    MalfunctionKind("power_factor_drop", "Power factor drop", (
        Param("bay", "bay", None, "bay"),
        Param("pf", "number", 0.85, "power factor", low=0.1, high=1.0))),
    MalfunctionKind("sensor_stuck", "Sensor stuck (frozen value)", (
        Param("point", "point", None, "point (ASSET.POINT)"),)),
    MalfunctionKind("sensor_drift", "Sensor drift", (
        Param("point", "point", None, "analog point (ASSET.POINT)"),
        Param("rate_per_h", "number", 1.0, "drift, units/h", low=-1e6, high=1e6))),
    MalfunctionKind("sensor_fail", "Sensor failure (invalid)", (
        Param("point", "point", None, "point (ASSET.POINT)"),)),
    MalfunctionKind("comm_lost", "Loss of communication with a bay", (
        Param("device", "device", None, "device (bay controller / IED)"),)),
)

BY_KIND = {m.kind: m for m in MALFUNCTIONS}


def choices(p: Param, station: Station, points: PointTable,
            buses: tuple[str, ...] = ()) -> list[str]:
    """What the station offers for a parameter that names one of its things ([] otherwise);
    ``buses``: the circuit's bus names."""
    if p.kind == "bus":
        return [b.lower() for b in buses]
    if p.kind == "asset":
        return [a.id for a in station.assets if a.type in p.types]
    if p.kind == "bay":
        return [b.id for b in station.bays]
    if p.kind == "device":
        return [d.id for d in points.devices]
    if p.kind == "point":
        return list(points.tags)
    if p.kind == "choice":
        return list(p.options)
    return []


def parse_params(kind: str, raw: dict[str, str], station: Station,
                 points: PointTable, buses: tuple[str, ...] = ()) -> dict[str, object]:
    """The parameters of a ``kind`` malfunction from the texts typed for them: numbers as
    finite floats in their range, names among the station's; the first bad one raises
    :class:`MalfunctionParamError` naming it."""
    spec = BY_KIND.get(kind)
    if spec is None:
        raise MalfunctionParamError(f"unknown malfunction '{kind}' (one of "
                                    f"{', '.join(BY_KIND)})")
    out: dict[str, object] = {}
    for p in spec.params:
        text = str(raw.get(p.name, "")).strip()
        if not text:
            if p.optional:
                continue
            raise MalfunctionParamError(f"{kind}: parameter '{p.name}' ({p.text}) is required")
        if p.kind == "number":
            try:
                x = float(text)
            except ValueError:
                raise MalfunctionParamError(f"{kind}: parameter '{p.name}': {text!r} is not "
                                            "a number") from None
            if not math.isfinite(x) or (p.low is not None and x < p.low) or \
                    (p.high is not None and x > p.high):
                raise MalfunctionParamError(f"{kind}: parameter '{p.name}' = {text} outside "
                                            f"{p.low:g}-{p.high:g}")
            out[p.name] = x
        elif p.kind == "text":
            out[p.name] = text
        else:
            allowed = choices(p, station, points, buses)
            if text not in allowed:
                raise MalfunctionParamError(f"{kind}: parameter '{p.name}': '{text}' is not a "
                                            f"{p.text} of the station")
            out[p.name] = text
    return out
