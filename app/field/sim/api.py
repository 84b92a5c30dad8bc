"""What the plant simulator offers the protocol servers (and the trainer).

The servers never reach into the simulator's physics: they read :class:`PlantSnapshot`\\ s
and send operations through :meth:`Plant.select` and :meth:`Plant.operate`, where the bay
IED's own logic (:mod:`app.field.sim.ied`) applies its interlocks and answers with a
:class:`~app.station.commands.ControlResult` carrying an IEC 61850 AddCause.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from app.station import Station
from app.station.commands import ControlResult
from app.station.points import PointTable


@dataclass(frozen=True, slots=True, eq=False)
class PlantSnapshot:
    """Every point's true field reading at one instant, as the field devices would serve it."""

    seq: int
    timestamp: dt.datetime  # simulated time, UTC
    values: np.ndarray  # float64, rows of the point table; read-only
    quality: np.ndarray  # uint16 IEC 61850 quality words; read-only
    t_source_ns: np.ndarray  # int64 source timestamps (ns, UTC); read-only
    comm_lost: frozenset[str]
    """Devices (bay ids) that are not answering: servers must not serve their points."""


class Plant(Protocol):
    station: Station
    points: PointTable

    def snapshot(self) -> PlantSnapshot:
        """The latest snapshot (an immutable object: safe to read from any thread)."""

    def select(self, asset_id: str, close: bool) -> ControlResult:
        """The bay IED's answer to a select (its check before operate): refused with
        AddCause blocked-by-interlocking, or blocked-by-health for a breaker's SF6 lockout."""

    def operate(self, asset_id: str, close: bool, *, origin: str = "remote") -> ControlResult:
        """Operate a breaker, isolator or earth switch, as its bay IED would (thread-safe)."""

    def check_interlock(self, asset_id: str, close: bool) -> str | None:
        """Why the bay IED would refuse this operation now, or None if it would allow it."""

    def position(self, asset_id: str) -> int:
        """The switch's position now (intermediate while it travels)."""
