"""Circuit versions are validated in a scratch engine before activation."""

from __future__ import annotations

import pytest

from app.twin import CircuitError, TwinEngine
from app.twin.validate import validate_circuit_text


def test_the_station_circuit_validates(station):
    s = validate_circuit_text(station.circuit_path.read_text(), name="station.dss")
    assert s.converged and s.buses > 50 and 300 < s.load_mw < 350


def test_a_broken_version_is_refused_with_opendss_words(station):
    text = station.circuit_path.read_text().replace("New Transformer.ICT1",
                                                    "New Transfomer.ICT1")
    with pytest.raises(CircuitError) as ei:
        validate_circuit_text(text, name="v7.dss")
    assert str(ei.value).startswith("v7.dss: ") and "transfomer" in str(ei.value).lower()


def test_validation_leaves_a_live_engine_alone(station):
    live = TwinEngine(station.circuit_path)
    before = live.solve().totals.load_mw
    with pytest.raises(CircuitError):
        validate_circuit_text("Clear\nNew Circuit.X basekv=400\nNew Bogus.Y\n")
    assert live.solve().totals.load_mw == pytest.approx(before)


def test_empty_text_is_refused():
    with pytest.raises(CircuitError, match="empty"):
        validate_circuit_text("   ")
