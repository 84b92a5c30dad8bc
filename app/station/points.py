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
    nan = float("nan")
    for a in station.assets:
        for p in a.points:
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
    )
