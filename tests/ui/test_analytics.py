"""The analytics dock: anomalies, explanations and RCA from scripted snapshots, the Duval
drawings, and the whole path in a running HMI — untrained, trained from the dock as a
background job, picked up without restart, a plant fault found on the right asset, an
alarm's root cause opened from the alarm list."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import pytest

from app.alarms.engine import AlarmRow, AlarmState
from app.runtime.inference import (
    UNTRAINED_TEXT,
    AnalyticsSnapshot,
    AnomalyItem,
    DgaSample,
    ModelStatus,
    RcaHypothesis,
    RcaResult,
    untrained_snapshot,
)
from ml.anomaly.models import FeatureContribution
from ml.rca.dga import PENTAGON1_ZONES, duval_zone, pentagon_zone

T = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)  # shown, never compared with a clock


def _snapshot(*, skipped: int = 0) -> AnalyticsSnapshot:
    expl = (FeatureContribution("current_imbalance_pct", "%", 41.0, 0.2, 2.5, 0.7),
            FeatureContribution("current_neg_seq_pct", "%", 13.0, 0.1, 1.0, 0.3))
    hot = (FeatureContribution("hot_spot_excess_c", "degC", 24.0, -3.0, 3.0, 1.0),)
    anomalies = (AnomalyItem("F1_LINE", "bay", "high", 7.5, T, "isolation_forest v3", 1.0,
                             expl),
                 AnomalyItem("ICT1", "transformer", "low", 1.2, T, "autoencoder v3", 0.9,
                             hot))
    rca = {"anomaly:F1_LINE@" + T.isoformat(): RcaResult(
        "anomaly:F1_LINE@" + T.isoformat(), "anomaly", "F1_LINE", T,
        (RcaHypothesis("F1: open pole or unbalanced load", 0.8, "immediate",
                       ("phase B carries 60 % more", "negative sequence 13 %"),
                       "immediate: check the breaker poles"),
         RcaHypothesis("F1: CT fault", 0.2, "investigate", ("residual small",))),
        "root-cause analysis: events")}
    dga = {"ICT1": tuple(DgaSample(T + dt.timedelta(days=i), MappingProxyType(
        {"H2": 40.0, "CH4": 60.0 + 30 * i, "C2H6": 20.0, "C2H4": 100.0 + 200 * i,
         "C2H2": 1.0}))for i in range(4))}
    return AnalyticsSnapshot(12, T, "ok", "analytics: 2 anomalies",
                             (ModelStatus("isolation_forest v3", "ok"),), anomalies,
                             MappingProxyType(rca), MappingProxyType(dga), 40, skipped, 3.0)


@pytest.fixture
def dock(qtbot):  # noqa: ANN201
    from app.ui.analytics import AnalyticsDock

    d = AnalyticsDock()
    qtbot.addWidget(d)
    d.resize(1200, 420)
    yield d
    d.stop()


def test_the_dock_says_untrained_and_how_to_train(dock):
    dock.update_analytics(untrained_snapshot())
    dock.paint()
    assert dock.state_label.text() == UNTRAINED_TEXT
    assert dock.train_button.isVisibleTo(dock) and dock.table.rowCount() == 0


def test_anomalies_and_their_explanation(dock):
    from app.ui import theme

    dock.update_analytics(_snapshot(skipped=7))
    dock.paint()
    t = dock.table
    assert t.rowCount() == 2
    assert [t.item(r, 0).text() for r in range(2)] == ["F1_LINE", "ICT1"]
    assert t.item(0, 1).text() == "high"
    assert t.item(0, 1).background().color() == theme.PRIORITY[1]  # colour only if abnormal
    assert t.item(0, 4).text() == "current_imbalance_pct, current_neg_seq_pct"
    assert t.item(0, 3).text() == "14:30:00"  # IST (the date in its tooltip)
    assert dock.skips_label.text() == "7 scans skipped"
    assert dock.select_asset("F1_LINE")
    e = dock.explain
    assert e.rowCount() == 2
    assert e.item(0, 1).text() == "41.0 %" and e.item(0, 2).text() == "0.2 … 2.5"
    bar = e.cellWidget(0, 3)
    assert bar.value() == 700 and bar.text() == "70%"
    assert "F1_LINE (bay): score 7.50" in dock.explain_title.text()
    # A new snapshot with the same rows is not repainted (the selection stays).
    dock.update_analytics(_snapshot(skipped=8))
    dock.paint()
    assert dock.selected_asset() == "F1_LINE"


def test_the_rca_panel_from_an_anomaly(dock):
    dock.update_analytics(_snapshot())
    dock.paint()
    dock.select_asset("F1_LINE")
    dock.rca_button.click()
    assert dock.tabs.currentIndex() == 1
    tree = dock.rca_tree
    assert tree.topLevelItemCount() == 2
    top = tree.topLevelItem(0)
    assert (top.text(0), top.text(1), top.text(2)) == ("F1: open pole or unbalanced load",
                                                       "80%", "immediate")
    assert [top.child(i).text(0) for i in range(top.childCount())] == [
        "phase B carries 60 % more", "negative sequence 13 %",
        "→ immediate: check the breaker poles"]
    assert "anomaly on F1_LINE" in dock.rca_title.text()


def test_an_alarm_not_yet_analysed_is_asked_for_and_shown_when_it_arrives(dock, qtbot):
    row = AlarmRow("F2_Q0.POS:trip", "F2_Q0.POS", "F2_Q0", "trip", 1, AlarmState.UNACK,
                   "F2 breaker tripped", 0.0, T, True, None, None, "", False)
    asked = []
    dock.rca_requested.connect(asked.append)
    dock.update_analytics(_snapshot())
    dock.paint()
    assert dock.show_rca_for_alarm(row) is None
    assert asked == [row] and "under way" in dock.rca_title.text()
    s = _snapshot()
    res = RcaResult("alarm:F2_Q0.POS:trip", "alarm", "F2_Q0", T,
                    (RcaHypothesis("F2: line fault cleared by protection", 0.9, "investigate",
                                   ("distance trip zone 1",)),), "root-cause analysis: events")
    dock.update_analytics(AnalyticsSnapshot(
        13, T, s.state, s.message, s.models, s.anomalies,
        MappingProxyType(dict(s.rca, **{res.trigger: res})), s.dga, 41, 0, 2.0))
    dock.paint()
    assert dock.rca_tree.topLevelItem(0).text(0) == "F2: line fault cleared by protection"
    assert dock.show_rca_for_alarm(row) is res  # analysed: shown at once, not asked again
    assert len(asked) == 1


def test_duval_zones_are_drawn_from_the_diagnosis_limits():
    from app.ui.analytics import triangle_xy, triangle_zones

    zones = triangle_zones()
    assert set(zones) == {"PD", "T1", "T2", "T3", "D1", "D2", "DT"}
    for zone, poly in zones.items():
        for v in poly:
            assert sum(v) == pytest.approx(100.0) and min(v) >= -1e-9
        # The zone's centroid is classified as that zone by the diagnosis itself.
        c = [sum(p[i] for p in poly) / len(poly) for i in range(3)]
        assert duval_zone(*c) == zone, (zone, c)
    assert triangle_xy(100, 0, 0) == pytest.approx((50, 86.6025), abs=1e-3)
    for zone, poly in PENTAGON1_ZONES.items():
        cx = sum(p[0] for p in poly) / len(poly)
        cy = sum(p[1] for p in poly) / len(poly)
        assert pentagon_zone(cx, cy) == zone or zone == "PD"  # PD's sliver: its own check


def test_a_transformers_dga_history_on_the_triangle_and_the_pentagon(dock):
    dock.update_analytics(_snapshot())
    dock.paint()
    dock.show_dga("ICT1")
    d = dock.duval
    assert d.n_points == 4
    assert len(d.zone_items["triangle"]) == 7 and len(d.zone_items["pentagon"]) == 7
    x, y = d.tri_points.getData()
    assert len(x) == 4
    # Rising C2H4 moves the analyses right (towards the C2H4 corner), oldest first.
    assert list(x) == sorted(x)
    px, _py = d.pen_points.getData()
    assert len(px) == 4
    assert "4 analyses" in dock.dga_info.text()


# ====================================================================== in a running HMI
def test_untrained_then_trained_from_the_dock_then_a_plant_fault_found(make_hmi, station,
                                                                      qtbot, tmp_path):
    """No model: the dock and the status bar say so; Train model… runs as a background job
    with progress, the worker picks the new model up without restart; an unbalanced phase
    on feeder F1 ends as an anomaly of F1 in the dock, explained by the imbalance; an
    alarm's root cause opens from the alarm list."""
    from app.field.sim.plant import PlantSimulator
    from app.runtime.compose import AnalyticsSpec
    from app.runtime.inference import training_job
    from tests.ui.conftest import T0, ScriptedSource

    plant = PlantSimulator(station, seed=0, start=T0, tick_s=0.1)
    source = ScriptedSource(plant, 0.1)
    hmi = make_hmi(source, store=True, analytics=AnalyticsSpec(), control=False,
                   size=(1600, 950))
    win, dock = hmi.win, hmi.win.analytics
    ctl = win.analytics_ctl
    assert hmi.inference is not None and ctl is not None
    qtbot.waitUntil(lambda: hmi.inference.last is not None, timeout=60_000)
    qtbot.waitUntil(lambda: dock.snapshot.seq > 0 and dock.paints > 1, timeout=10_000)
    assert dock.state_label.text() == UNTRAINED_TEXT
    assert win.status.analytics_label.text() == UNTRAINED_TEXT

    # Train from the dock: a small job (the menu's is six hours), registered in the store.
    data_dir = str(tmp_path / "data")
    ctl.make_job = lambda: training_job(station, data_dir=data_dir, hours=1.0, step_s=120.0,
                                        kinds=("isolation_forest",))
    progress: list[float] = []
    handle = ctl.train()
    handle.progress.connect(lambda f, _t: progress.append(f))
    assert dock.progress.isVisibleTo(dock) and not dock.train_button.isEnabled()
    qtbot.waitUntil(lambda: ctl.handle is None, timeout=600_000)
    assert ctl.last_result is not None, dock.state_label.text()
    assert len(progress) >= 3 and progress == sorted(progress) and progress[-1] == 1.0
    assert not dock.progress.isVisibleTo(dock)
    qtbot.waitUntil(lambda: dock.snapshot.state == "ok", timeout=30_000)
    assert [m.name for m in dock.snapshot.models] == ["isolation_forest v1"]
    assert "UNTRAINED" not in win.status.analytics_label.text().upper()

    # A plant fault: phase B of feeder F1 carries 80 % more current.
    f1 = {a.id for a in station.assets if a.bay == "F1"}
    plant.inject("phase_unbalance", bay="F1", phase="B", pct=80.0)

    def f1_flagged() -> AnomalyItem | None:
        return next((a for a in dock.snapshot.anomalies if a.asset in f1
                     and any("imbalance" in c.name or "neg_seq" in c.name
                             for c in a.explanation[:3])), None)

    qtbot.waitUntil(lambda: f1_flagged() is not None, timeout=60_000)
    a = f1_flagged()
    qtbot.waitUntil(lambda: dock.select_asset(a.asset), timeout=5_000)
    assert dock.explain.rowCount() >= 1
    assert win.status.analytics_label.text().startswith("analytics: ")

    # An alarm's root cause, opened from the alarm list (its context menu's signal).
    plant.inject("line_trip", asset="F2_LINE")
    qtbot.waitUntil(lambda: any(r.asset.startswith("F2") and r.active
                                for r in win.alarms.model.rows), timeout=30_000)
    row = next(r for r in win.alarms.model.rows if r.asset.startswith("F2") and r.active)
    win.alarms.rca_requested.emit(row)
    assert win.docks["Analytics"].isVisible()
    qtbot.waitUntil(lambda: dock.rca_tree.topLevelItemCount() > 0
                    and row.asset in dock.rca_title.text(), timeout=30_000)
    assert dock.snapshot.rca[f"alarm:{row.key}"].error is None


def test_gridtwin_run_loads_the_registered_model_after_the_first_live_frame(
        make_hmi, station, qtbot, tmp_path):
    """``gridtwin run`` composes with ``AnalyticsSpec(at_start=False)``: the window shows the
    station before the model (torch, seconds) is loaded, then the registered model is loaded
    on the training runner and handed to the inference worker."""
    from app.field.sim.plant import PlantSimulator
    from app.runtime.compose import AnalyticsSpec
    from app.runtime.inference import training_job
    from app.runtime.jobs import run_job
    from tests.ui.conftest import T0, ScriptedSource

    data_dir = str(tmp_path / "data")
    run_job(training_job(station, data_dir=data_dir, hours=1.0, step_s=120.0,
                         kinds=("isolation_forest",)))
    plant = PlantSimulator(station, seed=0, start=T0, tick_s=0.1)
    source = ScriptedSource(plant, 0.1)
    hmi = make_hmi(source, store=True, analytics=AnalyticsSpec(at_start=False), control=False)
    assert hmi.runtime.analytics.pending and hmi.runtime.analytics.models == ()
    dock = hmi.win.analytics
    qtbot.waitUntil(lambda: dock.snapshot.state == "ok", timeout=120_000)
    assert [m.name for m in dock.snapshot.models] == ["isolation_forest v1"]
    assert hmi.win.last_snapshot is not None
    assert "loading" not in hmi.win.status.analytics_label.text()
