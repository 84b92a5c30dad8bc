"""Models are data: train → register → list → load, in tmp_path; a file whose hash or whose
features do not match is refused in one line; the migration keeps older ml_models rows."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from sqlalchemy import create_engine, text

from app.analytics import registry
from app.analytics.sim import Cancelled
from app.analytics.training import TrainingInputError, train
from app.historian.db import migrate
from app.runtime.solver import SolverService
from ml.anomaly import AnomalyDetector


@pytest.fixture(scope="module")
def trained(tmp_path_factory, station):
    d = tmp_path_factory.mktemp("data")
    seen = []
    res = train(d, station, solver_factory=SolverService, simulate_hours=1.0, step_s=120.0,
                seed=4, ae_epochs=2, progress=lambda f, m: seen.append((f, m)))
    return d, res, seen


def test_train_registers_an_active_version_with_its_files(trained, station):
    d, res, seen = trained
    assert res.version == 1
    assert [r.kind for r in res.records] == ["isolation_forest", "autoencoder"]
    for r in res.records:
        assert r.active and r.version == 1
        data = open(r.file_path, "rb").read()
        assert hashlib.sha256(data).hexdigest() == r.sha256
        assert r.file_path.startswith(str(d / "models"))
        assert r.source == "simulate 1h seed 4"
        assert r.window_start < r.window_end
        assert "loading_pct" in r.features["transformer"]
        assert r.metrics["scans"] == 30 and r.metrics["rows"]["breaker"] > 0
        assert len(r.feature_fingerprint) == 64
    # progress went forward from 0 to 1, ending with the version
    fr = [f for f, _ in seen]
    assert fr == sorted(fr) and fr[-1] == 1.0 and "v1" in seen[-1][1]


def test_list_and_load_active_round_trip(trained, station):
    d, res, _ = trained
    listed = registry.list_models(d, station)
    assert [(r.version, r.kind, r.sha256) for r in listed] == \
        [(1, "autoencoder", res.records[1].sha256), (1, "isolation_forest",
                                                     res.records[0].sha256)]
    loaded = registry.load_active(d, station)
    assert loaded is not None and loaded.version == 1
    assert {m.sha256 for m in loaded.models} == {r.sha256 for r in res.records}
    det = loaded.detector()
    assert isinstance(det, AnomalyDetector) and len(det.assets) > 20
    assert loaded.describe() == "anomaly model v1 (isolation_forest, autoencoder)"


def test_a_second_version_takes_over_and_the_first_can_come_back(tmp_path, station):
    kw = dict(solver_factory=SolverService, simulate_hours=0.5, step_s=180.0, ae_epochs=1)
    train(tmp_path, station, kinds=("isolation_forest",), seed=1, **kw)
    r2 = train(tmp_path, station, kinds=("isolation_forest",), seed=2, **kw)
    assert r2.version == 2
    assert [(r.version, r.active) for r in registry.list_models(tmp_path, station)] == \
        [(2, True), (1, False)]
    registry.activate(tmp_path, station, 1)
    assert registry.load_active(tmp_path, station).version == 1
    with pytest.raises(registry.RegistryError, match="no anomaly model version 9"):
        registry.activate(tmp_path, station, 9)


def test_no_model_is_none_not_an_error(tmp_path, station):
    assert registry.load_active(tmp_path, station) is None
    assert "gridtwin ml train anomaly --simulate" in registry.HOW_TO_TRAIN


def test_a_file_whose_hash_does_not_match_is_refused_in_one_line(tmp_path, station):
    res = train(tmp_path, station, solver_factory=SolverService, simulate_hours=0.5,
                step_s=180.0, kinds=("isolation_forest",), seed=3)
    path = res.records[0].file_path
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(registry.ModelHashError) as exc:
        registry.load_active(tmp_path, station)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(path) and "does not match the recorded" in msg
    (tmp_path / "models").joinpath(path.rsplit("/", 1)[1]).unlink()
    with pytest.raises(registry.ModelHashError, match="cannot read the model file"):
        registry.load_active(tmp_path, station)


def test_a_model_whose_features_do_not_match_is_refused_naming_the_mismatch(tmp_path,
                                                                              station):
    res = train(tmp_path, station, solver_factory=SolverService, simulate_hours=0.5,
                step_s=180.0, kinds=("isolation_forest",), seed=3)
    m = res.models[0]
    det = m.detectors["bay"]
    det.features = (dataclasses.replace(det.features[0], name="voltage_deviation_pct"),
                    *det.features[1:])
    bad = tmp_path / "renamed.gtam"
    bad.write_bytes(m.to_bytes())
    with pytest.raises(registry.ModelFeatureMismatch) as exc:
        registry.load_file(bad, station)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(str(bad)) and "class 'bay' feature 1 is 'voltage_deviation_pct'" \
        in msg and "'voltage_dev_pct' [%] here" in msg
    # the same through the registry: the recorded hash is the renamed file's
    rec = res.records[0]
    engine = registry.open_store(tmp_path, station)
    with engine.begin() as con:
        con.execute(text("UPDATE ml_models SET file_path=:p, file_sha256=:h"),
                    {"p": str(bad), "h": hashlib.sha256(bad.read_bytes()).hexdigest()})
    with pytest.raises(registry.ModelFeatureMismatch, match=rf"\(v{rec.version} "):
        registry.load_active(tmp_path, station)


def test_training_options_are_checked(tmp_path, station):
    with pytest.raises(TrainingInputError, match="either --simulate HOURS or --from/--to"):
        train(tmp_path, station, solver_factory=SolverService)
    with pytest.raises(TrainingInputError, match="unknown model kind 'forest'"):
        train(tmp_path, station, solver_factory=SolverService, simulate_hours=1,
              kinds=("forest",))
    with pytest.raises(TrainingInputError, match="--simulate: -1 hours must be positive"):
        train(tmp_path, station, solver_factory=SolverService, simulate_hours=-1)


def test_training_is_cancelled_between_scans(tmp_path, station):
    asked = []

    def cancelled():
        asked.append(1)
        return len(asked) > 5

    with pytest.raises(Cancelled):
        train(tmp_path, station, solver_factory=SolverService, simulate_hours=1,
              step_s=60.0, cancelled=cancelled)
    assert registry.list_models(tmp_path, station) == []


def test_the_migration_keeps_older_ml_models_rows(tmp_path):
    from alembic import command
    from alembic.config import Config

    from app.historian.db import MIGRATIONS

    eng = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    with eng.begin() as con:
        con.execute(text("INSERT INTO ml_models (model_id, model_type, asset_type, "
                         "accuracy_score, feature_importance) VALUES ('old-1', 'iforest', "
                         "'transformer', 0.93, :fi)"), {"fi": json.dumps({"a": 1})})
    migrate(eng)
    with eng.connect() as con:
        row = con.execute(text("SELECT model_id, model_type, asset_type, accuracy_score, "
                               "feature_importance, version, is_active FROM ml_models")).one()
    assert tuple(row) == ("old-1", "iforest", "transformer", 0.93, '{"a": 1}', None, 0)
