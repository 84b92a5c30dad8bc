"""Trends as an operator reads them: status points as steps against their state texts,
readouts in words, the trend menu grouped by measurement, groups kept across starts, and
exports confirmed."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

from app.ui.point_browser import INDICATIONS, fill_trend_menu, measurement_groups
from app.ui.trends import TrendsDock


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "hmi.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_trends(qtbot, plant, settings):
    def make() -> TrendsDock:
        w = TrendsDock(plant.points, settings=settings)
        qtbot.addWidget(w)
        w.resize(900, 400)
        return w

    return make


def test_a_status_point_is_drawn_as_steps_on_its_state_axis(make_trends, live):
    trends = make_trends()
    trends.add_tag("F1_Q0.LR")
    trends.add_tag("F1_CT.P")
    s = trends.series["F1_Q0.LR"]
    assert s.curve.opts["stepMode"] == "left"
    assert trends.series["F1_CT.P"].curve.opts["stepMode"] in (None, False)
    axis = trends.plot_item.getAxis("left")
    assert [t for _v, t in axis._tickLevels[0]] == ["Local", "Remote"]
    assert trends.units() == ["states: Local / Remote", "MW"]
    for _ in range(3):
        trends.update_snapshot(live())
    t, _v = s.data()
    text = trends.readout_at(float(t[1]))
    assert "F1_Q0 — Local/remote switch [F1_Q0.LR]: Remote" in text
    assert "F1_CT — Active power (MW) [F1_CT.P]:" in text and " MW" in text
    # The legend says what each curve is, with one unit spelling.
    labels = [trends.legend.item(i).text() for i in range(trends.legend.count())]
    assert labels == ["F1_Q0 — Local/remote switch", "F1_CT — Active power (MW)"]
    # Removing everything frees the state axis for a number.
    trends.remove_tag("F1_Q0.LR")
    trends.remove_tag("F1_CT.P")
    trends.add_tag("ICT1.HOT_SPOT")
    assert trends.units() == ["°C"] and trends.plot_item.getAxis("left")._tickLevels is None


def test_positions_share_one_state_axis(make_trends):
    trends = make_trends()
    trends.add_tag("F1_Q0.POS")
    trends.add_tag("F2_Q0.POS")
    trends.add_tag("F1_Q0.SPRING")
    assert trends.units() == ["states: Intermediate / Open / Closed / Invalid",
                              "states: Discharged / Charged"]


def test_the_trend_menu_is_grouped_by_measurement_with_descriptions(qtbot, station, plant):
    tags = [t for t in plant.points.tags if t.startswith(("F1_Q0.", "F1_CT."))]
    assert len(tags) > 40  # what the menu listed bare
    menu = QMenu()
    picked = []
    fill_trend_menu(menu, station, plant.points, tags, picked.append)
    tops = [a.text() for a in menu.actions()]
    assert tops == ["F1_Q0 — 220 kV feeder-1 (Peenya) circuit breaker",
                    "F1_CT — " + station.asset("F1_CT").name]
    ct = menu.actions()[1].menu()
    entries = [a.text().split("\t")[0] for a in ct.actions()]
    assert "Active power (MW)" in entries and "Reactive power (Mvar)" in entries
    assert "Dissolved gases (DGA)" not in entries and "Energy meters" in entries
    assert len(entries) < 20
    current = next(a.menu() for a in ct.actions() if a.text() == "Current (A)")
    assert [a.text() for a in current.actions()][:3] == ["phase A\tF1_CT.I_A",
                                                         "phase B\tF1_CT.I_B",
                                                         "phase C\tF1_CT.I_C"]
    power = next(a.menu() for a in ct.actions() if a.text() == "Active power (MW)")
    assert [a.text() for a in power.actions()][0] == "total\tF1_CT.P"
    current.actions()[1].trigger()
    assert picked == ["F1_CT.I_B"]
    breaker = menu.actions()[0].menu()
    ind = next(a.menu() for a in breaker.actions() if a.text() == INDICATIONS)
    assert "Local/remote switch\tF1_Q0.LR" in [a.text() for a in ind.actions()]


def test_every_asset_groups_into_few_measurements(plant):
    by_asset: dict[str, list[int]] = {}
    for r, a in enumerate(plant.points.asset):
        by_asset.setdefault(a, []).append(r)
    for asset, rows in by_asset.items():
        groups = measurement_groups(plant.points, rows)
        assert sum(len(leaves) for _t, leaves in groups) == len(rows), asset
        assert len(groups) <= 25, (asset, len(groups))


def test_trended_points_and_range_come_back_at_the_next_start(make_trends, settings):
    first = make_trends()
    first.add_tag("ICT1.LOADING")
    first.add_tag("F1_Q0.POS")
    first.set_range("8 h")
    first.remove_tag("ICT1.LOADING")
    first.add_tag("TR1.HOT_SPOT")
    second = make_trends()
    asked = []
    second.backfill_requested.connect(lambda tags, t0, t1, n: asked.append((tags, t1 - t0)))
    assert second.restore_saved() == []
    assert list(second.series) == ["F1_Q0.POS", "TR1.HOT_SPOT"]
    assert second.range_box.currentText() == "8 h"
    assert asked and asked[-1] == (["F1_Q0.POS", "TR1.HOT_SPOT"], pytest.approx(8 * 3600))


def test_trend_groups_save_and_load(make_trends, settings):
    trends = make_trends()
    seen = []
    trends.message.connect(seen.append)
    for tag in ("ICT1.LOADING", "ICT1.HOT_SPOT", "ICT1.TOP_OIL"):
        trends.add_tag(tag)
    trends.set_range("24 h")
    trends.save_group("ICT-1 thermal")
    assert seen[-1] == "trend group 'ICT-1 thermal' saved: 3 point(s), 24 h"
    trends.remove_tag("ICT1.TOP_OIL")
    trends.add_tag("F1_CT.P")
    trends.save_group("feeder")
    assert trends.groups() == ["ICT-1 thermal", "feeder"]
    assert trends.load_group("ICT-1 thermal")
    assert list(trends.series) == ["ICT1.LOADING", "ICT1.HOT_SPOT", "ICT1.TOP_OIL"]
    assert trends.range_box.currentText() == "24 h"
    assert seen[-1] == "trend group 'ICT-1 thermal' loaded: 3 point(s)"
    # A group of a station that has lost a point: the rest load, the loss is said.
    settings.setValue("trends/groups/old/tags", "ICT1.LOADING NOPE.X")
    settings.setValue("trends/groups/old/range", "1 h")
    assert trends.load_group("old")
    assert list(trends.series) == ["ICT1.LOADING"] and "1 no longer exist" in seen[-1]
    trends.delete_group("old")
    assert "old" not in trends.groups()
    trends._fill_groups_menu()
    texts = [a.text() for a in trends.groups_menu.actions()]
    assert "Save current as group…" in texts and "Load 'feeder'" in texts


def test_exports_are_confirmed_with_path_and_rows(make_trends, live, tmp_path):
    trends = make_trends()
    seen = []
    trends.message.connect(seen.append)
    trends.add_tag("F1_Q0.POS")
    trends.add_tag("ICT2.LOADING")
    for _ in range(4):
        trends.update_snapshot(live())
    t, _v = trends.series["ICT2.LOADING"].data()
    trends.plot_item.setXRange(t[0] - 1, t[-1] + 1, padding=0)
    path = tmp_path / "t.csv"
    assert trends.export_csv(str(path)) == 8
    assert seen[-1] == f"trend exported as CSV: 8 rows to {path}"
    assert trends.readout.text() == seen[-1]
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    pos = [r for r in rows if r["point"] == "F1_Q0.POS"]
    assert pos[0]["state"] == "Closed" and pos[0]["description"] == "Position"
    assert trends.export_csv(str(tmp_path / "no" / "such" / "dir.csv")) == -1
    assert seen[-1].startswith("trend NOT exported")
    assert trends.export_png(str(tmp_path / "t.png"))
    assert seen[-1] == f"trend exported as PNG: {tmp_path / 't.png'}"
    assert np.isfinite(t).all()
