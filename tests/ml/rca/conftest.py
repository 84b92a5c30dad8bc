from __future__ import annotations

import datetime as dt

import pytest

from app.station.loader import load_station
from app.station.model import Station
from ml.rca.events import Topology, topology_from_station

#: A fixed instant for scripted events (the analysis reads no wall clock).
T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def station() -> Station:
    return load_station()


@pytest.fixture(scope="session")
def topology(station: Station) -> Topology:
    return topology_from_station(station)
