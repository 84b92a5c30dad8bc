"""The twin: the station's OpenDSS model, solved from measurements.

* :class:`TwinEngine` — compile, switch, set loads, solve, read a frozen :class:`TwinState`.
* :mod:`app.twin.faults` — snapshot fault study and the whole-station fault-level table.
* :mod:`app.twin.contingency` — N-1 outages against the Grid Code voltage bands.

Depends on ``app.station`` only; never on Qt.
"""

from __future__ import annotations

from pathlib import Path

from app.station import Station, load_station
from app.twin.engine import CircuitError, TwinEngine
from app.twin.state import BranchReading, BusReading, Totals, TwinState

__all__ = [
    "BranchReading",
    "BusReading",
    "CircuitError",
    "Totals",
    "TwinEngine",
    "TwinState",
    "check_station",
    "open_station",
]


def open_station(station_path: str | Path | None = None) -> tuple[Station, TwinEngine]:
    """Load the station file, compile its circuit and check that every asset's element and
    bus exist in it and are the right kind. Raises ``StationFileError`` or ``CircuitError``
    with the file named."""
    station = load_station(station_path)
    engine = TwinEngine(station.circuit_path, base_frequency_hz=station.station.frequency_hz)
    check_station(station, engine)
    return station, engine


def check_station(station: Station, engine: TwinEngine) -> None:
    """Cross-check a station description against its compiled circuit (see
    :meth:`Station.check_circuit`)."""
    station.check_circuit(engine.element_names, engine.bus_names, engine.switch_element_names)
