"""Evaluation on unseen faults: the plan is drawn from the seed, covers the kinds, and a tiny
run returns the report's keys with sane values."""

from __future__ import annotations

import math

import pytest

from app.analytics.evaluation import EVALUATED, NOT_EVALUATED, evaluate, plan_faults
from app.analytics.training import WARMUP_S, train
from app.field.sim.injections import FAULT_KINDS
from app.runtime.solver import SolverService
from app.station.points import build_point_table
from ml.anomaly import FeatureExtractor


@pytest.fixture(scope="module")
def fx(station):
    return FeatureExtractor(station, build_point_table(station))


def test_every_fault_kind_is_evaluated_or_says_why_not():
    assert set(EVALUATED) | set(NOT_EVALUATED) == set(FAULT_KINDS)
    assert not set(EVALUATED) & set(NOT_EVALUATED)


def test_the_plan_comes_from_the_seed_and_covers_every_kind(station, fx):
    a = plan_faults(station, fx, seed=7, days=2)
    assert a == plan_faults(station, fx, seed=7, days=2)
    assert a != plan_faults(station, fx, seed=8, days=2)
    assert {f.kind for f in a} == set(EVALUATED)
    units = {u.asset for u in fx.units}
    for prev, f in zip(a, a[1:], strict=False):
        assert f.start_s >= prev.start_s + prev.duration_s + 1200  # one after another
    for f in a:
        assert f.start_s >= WARMUP_S and f.start_s + f.duration_s <= 2 * 86_400
        assert f.assets and set(f.assets) <= units


def test_a_tiny_evaluation_reports_the_keys_with_sane_values(tmp_path, station):
    res = train(tmp_path, station, solver_factory=SolverService, simulate_hours=2.0,
                step_s=120.0, kinds=("isolation_forest",), seed=11)
    out = evaluate(res.models, station, seed=12, days=0.2, step_s=120.0,
                   solver_factory=SolverService)
    for key in ("f1", "precision", "recall", "false_alarms_per_asset_day", "per_kind"):
        assert key in out
    assert 0 <= out["precision"] <= 1 and 0 <= out["recall"] <= 1 and 0 <= out["f1"] <= 1
    assert math.isfinite(out["false_alarms_per_asset_day"])
    assert out["false_alarms_per_asset_day"] >= 0
    assert out["faults"] == len(out["faults_injected"]) >= 1
    assert set(out["per_kind"]) == {f["kind"] for f in out["faults_injected"]}
    for r in out["per_kind"].values():
        assert {"precision", "recall", "f1", "lead_s", "delay_s"} <= set(r)
    assert out["asset_days"] == pytest.approx(out["assets"] * (0.2 - WARMUP_S / 86_400))
    assert out["not_evaluated"] == NOT_EVALUATED
