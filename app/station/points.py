"""The station's point table: every measurement point of every asset, flattened.

Rows follow the station file's order (asset by asset, point by point) and never change for
a given station file, so a row index is a stable key shared by the plant simulator, the
Modbus register map, the IEC 61850 model, the pollers and the historian.

Each point belongs to a *device*: the bay's field device that serves it (bay id). Devices of
400 and 220 kV bays are IEC 61850 bay IEDs polled over MMS; the 33 kV switchgear and the
station services are read through the RTU over Modbus. The RTU also serves *every* point over
Modbus (as a station gateway does), so third-party clients can read the whole station.

Status values are encoded as numbers: a switch position is the IEC 61850 ``Dbpos`` code
(0 intermediate, 1 open, 2 closed, 3 bad state); other indications are 0 or 1.

For the displays each point also has a description (its own, or its quantity's with the
phase: "Voltage, phase A"), its state texts (status points: "Local"/"Remote", "Open"/
"Closed" …, from the station file) and its unit as shown on screen — one spelling ("°C",
"Mvar"), while the stored unit codes ("degC", "MVAr") stay what the historian and the Modbus
map have always carried (:data:`UNIT_TEXT`). :meth:`PointTable.value_text` and
:meth:`PointTable.label` are what every display shows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.station import Station

KIND_ANALOG, KIND_STATUS, KIND_COUNTER = 0, 1, 2
_KIND_CODE = {"analog": KIND_ANALOG, "status": KIND_STATUS, "counter": KIND_COUNTER}

# IEC 61850 Dbpos codes for switch positions.
POS_INTERMEDIATE, POS_OPEN, POS_CLOSED, POS_BAD = 0, 1, 2, 3

Protocol = Literal["mms", "modbus"]

#: Stored unit code → its one spelling on screen (codes not listed are shown as stored).
UNIT_TEXT: dict[str, str] = {"degC": "°C", "deg": "°", "MVAr": "Mvar", "MVArh": "Mvarh",
                             "W/m2": "W/m²", "step": ""}

_PHASE_TEXT = {"A": "phase A", "B": "phase B", "C": "phase C", "N": "neutral",
               "AB": "A–B", "BC": "B–C", "CA": "C–A"}

#: Fallback state texts of a station file without them.
_POSITION_STATES = ("Intermediate", "Open", "Closed", "Invalid")
_BINARY_STATES = ("Off", "On")


def unit_text(code: str) -> str:
    """A stored unit code as shown on screen."""
    return UNIT_TEXT.get(code, code)

#: Bays at or above this voltage have IEC 61850 bay IEDs; the rest are behind the RTU.
MMS_MIN_KV = 220.0


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    """The bay id (``L1``, ``ICT1H``, ``STN`` …)."""
    protocol: Protocol
    points: np.ndarray
    """Rows of the point table this device serves."""


@dataclass(frozen=True, slots=True, eq=False)
class PointTable:
    tags: tuple[str, ...]
    """``ASSET.POINT``, e.g. ``L1_Q0.POS``, ``ICT1.HOT_SPOT``."""
    asset: tuple[str, ...]
    name: tuple[str, ...]
    kind: np.ndarray  # uint8: KIND_ANALOG / KIND_STATUS / KIND_COUNTER
    quantity: tuple[str, ...]
    phase: tuple[str | None, ...]
    unit: tuple[str, ...]
    lo: np.ndarray  # float64, NaN where none
    hi: np.ndarray
    range_lo: np.ndarray
    range_hi: np.ndarray
    device_of: tuple[str, ...]
    """Device (bay id) of each point."""
    devices: tuple[Device, ...]
    index: MappingProxyType  # tag → row
    description: tuple[str, ...] = ()
    """What each point is, on screen ("Active power", "Voltage, phase A")."""
    states: tuple[tuple[str, ...] | None, ...] = ()
    """A status point's state texts by value (None for analogs and counters)."""
    unit_text: tuple[str, ...] = ()
    """Each point's unit as shown on screen (one spelling: "°C", "Mvar")."""

    def __len__(self) -> int:
        return len(self.tags)

    def __reduce__(self) -> tuple:
        """Picklable (the protocol clients' child processes get the table this way)."""
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        state["index"] = dict(self.index)
        return _unpickle_point_table, (state,)

    def row(self, tag: str) -> int:
        try:
            return self.index[tag]
        except KeyError:
            raise KeyError(f"no point '{tag}'") from None

    def state_text(self, row: int, value: float) -> str | None:
        """A status point's value as its state text (None: not a status point); a value
        with no text reads as itself ("state 5")."""
        texts = self.states[row]
        if texts is None:
            return None
        if value != value:  # NaN
            return "—"
        k = int(round(value))
        return texts[k] if 0 <= k < len(texts) else f"state {value:g}"

    def value_text(self, row: int, value: float) -> str:
        """The value as every display shows it: a state text, or number and unit."""
        state = self.state_text(row, value)
        if state is not None:
            return state
        if value != value:
            return "—"
        if self.kind[row] == KIND_COUNTER:
            return f"{int(round(value)):,}"
        if abs(value) < 1e-4:  # a dead feeder's 5e-08 MW is 0 MW to the operator
            value = 0.0
        return f"{value:,.4g} {self.unit_text[row]}".strip()

    def label(self, row: int) -> str:
        """``F1_Q0 — Position``, ``ICT1 — Hot-spot temperature (°C)``."""
        u = self.unit_text[row]
        return f"{self.asset[row]} — {self.description[row]}" + (f" ({u})" if u else "")

    def rows_of_asset(self, asset_id: str) -> list[int]:
        return [i for i, a in enumerate(self.asset) if a == asset_id]

    def device(self, device_id: str) -> Device:
        for d in self.devices:
            if d.id == device_id:
                return d
        raise KeyError(f"no device '{device_id}'")


def _unpickle_point_table(state: dict) -> PointTable:
    for v in state.values():
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    for d in state["devices"]:
        d.points.setflags(write=False)
    state["index"] = MappingProxyType(state["index"])
    return PointTable(**state)


def build_point_table(station: Station) -> PointTable:
    tags, asset, name, kind, quantity, phase, unit = [], [], [], [], [], [], []
    lo, hi, rlo, rhi, device = [], [], [], [], []
    descr: list[str] = []
    states: list[tuple[str, ...] | None] = []
    nan = float("nan")
    vocab = {q.id: q for q in station.quantities}
    for a in station.assets:
        for p in a.points:
            q = vocab.get(p.quantity)
            text = p.description or (q.description if q is not None else
                                     p.quantity.replace("_", " ").capitalize())
            if p.phase is not None:
                text += f", {_PHASE_TEXT[p.phase]}"
            descr.append(text)
            if p.kind == "status":
                states.append(p.states or (q.states if q is not None else None)
                              or (_POSITION_STATES if p.quantity == "position"
                                  else _BINARY_STATES))
            else:
                states.append(None)
            tags.append(f"{a.id}.{p.name}")
            asset.append(a.id)
            name.append(p.name)
            kind.append(_KIND_CODE[p.kind])
            quantity.append(p.quantity)
            phase.append(p.phase)
            unit.append(p.unit)
            lo.append(nan if p.lo is None else p.lo)
            hi.append(nan if p.hi is None else p.hi)
            rlo.append(nan if p.range is None else p.range[0])
            rhi.append(nan if p.range is None else p.range[1])
            device.append(a.bay)

    def ro(x: npt.ArrayLike, dtype: npt.DTypeLike) -> np.ndarray:
        arr = np.asarray(x, dtype=dtype)
        arr.setflags(write=False)
        return arr

    devs = []
    for b in station.bays:
        rows = ro([i for i, d in enumerate(device) if d == b.id], np.intp)
        if len(rows):
            proto: Protocol = "mms" if b.voltage_kv >= MMS_MIN_KV else "modbus"
            devs.append(Device(b.id, proto, rows))
    return PointTable(
        tags=tuple(tags), asset=tuple(asset), name=tuple(name), kind=ro(kind, np.uint8),
        quantity=tuple(quantity), phase=tuple(phase), unit=tuple(unit),
        lo=ro(lo, float), hi=ro(hi, float), range_lo=ro(rlo, float), range_hi=ro(rhi, float),
        device_of=tuple(device), devices=tuple(devs),
        index=MappingProxyType({t: i for i, t in enumerate(tags)}),
        description=tuple(descr), states=tuple(states),
        unit_text=tuple(unit_text(u) for u in unit),
    )
