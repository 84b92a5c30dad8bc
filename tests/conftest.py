"""Shared fixtures. Every engine is a fresh OpenDSS context (compiling takes ~5 ms)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
STATION_FILE = ROOT / "circuits" / "station.toml"


@pytest.fixture(scope="session")
def station():
    from app.station import load_station

    return load_station(STATION_FILE)


@pytest.fixture
def engine(station):
    from app.twin import TwinEngine

    return TwinEngine(station.circuit_path)


@pytest.fixture
def station_copy(tmp_path):
    """A writable copy of the station file and circuit, to break on purpose."""
    for name in ("station.toml", "station.dss"):
        (tmp_path / name).write_text((ROOT / "circuits" / name).read_text())
    return tmp_path / "station.toml"
