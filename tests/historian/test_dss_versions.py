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


def test_rollback_walks_the_activation_history_back(store):
    ok = lambda text: None  # noqa: E731 — these tests are about the history, not OpenDSS
    for k in range(3):
        store.add(f"! revision {k}\n", created_by="eng")
    for n in (1, 2, 3):
        store.activate(n, by="eng", validate=ok)
    store.activate(3, by="eng", validate=ok)  # again: no new step in the history
    assert store.history() == [1, 2, 3]
    assert store.rollback(by="eng", validate=ok).version_number == 2
    assert store.rollback(by="eng", validate=ok).version_number == 1
    assert store.active().version_number == 1
    with pytest.raises(DssVersionError, match="nothing to roll back to"):
        store.rollback(by="eng", validate=ok)
    store.activate(3, by="eng", validate=ok)
    assert store.rollback(by="eng", validate=ok).version_number == 1


def test_the_twin_compiles_the_active_version(tmp_path, station):
    """Activating a version changes what the solver compiles: the configuration store writes
    the active text into the data folder and SolverService (and gridtwin run) open that."""
    from app.field.sim.plant import PlantSimulator
    from app.historian import active_circuit, open_historian
    from app.runtime.compose import FieldSpec, StoreSpec, compose
    from app.runtime.solver import SolverService
    from app.runtime.sources import PlantFrameSource
    from app.station.points import build_point_table

    pts = build_point_table(station)
    h = open_historian(station, pts, data_dir=tmp_path, start_writer=False)
    try:
        assert active_circuit(station, h.engine, data_dir_path=tmp_path) == station.circuit_path
        store = DssVersionStore(h.engine)
        text = station.circuit_path.read_text()
        store.add(text, created_by="eng")
        store.add(text.replace("kw=85000", "kw=95000"), created_by="eng")
        store.activate(1, by="eng", validate=validate_circuit_text)
        store.activate(2, by="eng", validate=validate_circuit_text)
        path = active_circuit(station, h.engine, data_dir_path=tmp_path)
        assert path == tmp_path / f"{station.station.id}.active.dss"
        assert "kw=95000" in path.read_text()
        base = SolverService(station, pts).engine.solve().totals.load_mw
        live = SolverService(station, pts, circuit_path=path).engine.solve().totals.load_mw
        assert live == pytest.approx(base + 10.0, abs=0.5)
        # What `gridtwin run` (and record) compiles: the composed runtime's, from the
        # configuration store, also without history.
        rt = compose(station, pts, field=FieldSpec(source=PlantFrameSource(
            PlantSimulator(station, seed=1))), store=StoreSpec(data_dir=str(tmp_path),
                                                            record_history=False))
        try:
            assert rt.processor.circuit_path == path
        finally:
            rt.close()
        store.rollback(by="eng", validate=validate_circuit_text)
        assert "kw=95000" not in active_circuit(station, h.engine,
                                                data_dir_path=tmp_path).read_text()
    finally:
        h.close()
