"""Circuit versions: validated in a scratch engine before activation, diff, roll back."""

from __future__ import annotations

import pytest

from app.historian.db import create_db_engine, migrate
from app.historian.dss_versions import DssVersionError, DssVersionStore
from app.twin import TwinEngine
from app.twin.validate import validate_circuit_text


@pytest.fixture
def store(tmp_path):
    eng = create_db_engine(f"sqlite:///{tmp_path / 'v.sqlite'}")
    migrate(eng)
    return DssVersionStore(eng)


def test_versions_validate_activate_diff_and_roll_back(store, station, tmp_path):
    text = station.circuit_path.read_text()
    v1 = store.add(text, created_by="eng", description="as built")
    assert v1.version_number == 1 and not v1.is_active and store.active() is None
    store.activate(1, by="eng", validate=validate_circuit_text)
    v2 = store.add(text.replace("kw=85000", "kw=95000"), created_by="eng",
                   description="F1 load growth")
    d = store.diff(1, 2)
    assert "-New Load.F1_LOAD" in d and "+New Load.F1_LOAD" in d and "95000" in d
    store.activate(v2.version_number, by="eng", validate=validate_circuit_text)
    assert store.active().version_number == 2
    # The active version compiles in a live engine and carries the change.
    live = tmp_path / "active.dss"
    live.write_text(store.active().content)
    assert 330 < TwinEngine(live).solve().totals.load_mw < 345
    assert store.rollback(by="eng", validate=validate_circuit_text).version_number == 1
    assert store.active().version_number == 1


def test_an_invalid_version_is_refused_with_opendss_words(store, station):
    text = station.circuit_path.read_text()
    store.add(text, created_by="eng")
    store.activate(1, by="eng", validate=validate_circuit_text)
    store.add(text.replace("New Reactor.BR4", "New Reaktor.BR4"), created_by="eng")
    with pytest.raises(DssVersionError) as ei:
        store.activate(2, by="eng", validate=validate_circuit_text)
    assert "version 2 refused" in str(ei.value) and "reaktor" in str(ei.value).lower()
    assert store.active().version_number == 1  # unchanged
    with pytest.raises(DssVersionError, match="empty"):
        store.add("  ", created_by="eng")
    with pytest.raises(DssVersionError, match="no circuit version 9"):
        store.get(9)
