"""Trends, point browser, alarm list and event log (offscreen)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.alarms.changes import ChangeDetector
from app.alarms.conditions import ConditionMonitor
from app.ui.alarm_list import AlarmListDock
from app.ui.event_log import EventLogDock
from app.ui.point_browser import PointBrowser
from app.ui.trends import TAG_MIME, TrendsDock, tag_mime


@pytest.fixture
def trends(qtbot, plant):
    w = TrendsDock(plant.points)
    qtbot.addWidget(w)
    w.resize(1000, 500)
    w.show()
    return w


def test_trend_receives_live_data_one_axis_per_unit(trends, live):
    requests = []
    trends.backfill_requested.connect(lambda *a: requests.append(a))
    for tag in ("ICT1.LOADING", "ICT1.TOP_OIL", "ICT1.HOT_SPOT", "F1_CT.P", "F2_CT.P"):
        assert trends.add_tag(tag)
    assert trends.units() == ["%", "degC", "MW"]
    assert [r[0] for r in requests] == [["ICT1.LOADING"], ["ICT1.TOP_OIL"], ["ICT1.HOT_SPOT"],
                                        ["F1_CT.P"], ["F2_CT.P"]]
    for _ in range(20):
        trends.update_snapshot(live())
    t, v = trends.series["F1_CT.P"].data()
    assert len(t) == 20 and np.all(np.diff(t) > 0) and np.all(v > 10)
    assert not trends.add_tag("NOPE.X")


def test_backfill_and_bad_quality_gaps(trends, live, plant):
    from app.field import quality as Q

    trends.add_tag("B220_M1.V")
    snap = plant.step(0.1)
    now = snap.timestamp.timestamp()  # the simulated clock, not the wall clock
    trends.add_history("B220_M1.V", np.array([now - 3, now - 2, now - 1]),
                       np.array([218.0, np.nan, 219.0]))
    q = snap.quality.copy()
    q[plant.points.row("B220_M1.V")] = Q.SENSOR_FAILED
    trends.update_snapshot(live(snap=snap, quality=q))
    t, v = trends.series["B220_M1.V"].data()
    assert len(t) == 4 and np.isnan(v[1]) and np.isnan(v[-1])
    assert "bad quality" in trends.readout_at(t[-1])


def test_history_before_this_session_ends_in_a_gap(trends, live, plant):
    """The HMI was not running between the stored history and the first live sample: the
    plot breaks there instead of drawing a straight line across the unrecorded time."""
    trends.add_tag("B220_M1.V")
    snap = plant.step(0.1)
    now = snap.timestamp.timestamp()
    trends.add_history("B220_M1.V", np.array([now - 900, now - 600]), np.array([218.0, 219.0]))
    trends.update_snapshot(live(snap=snap))
    t, v = trends.series["B220_M1.V"].data()
    assert len(t) == 4 and np.all(np.diff(t) > 0)
    assert list(np.isnan(v)) == [False, False, True, False]


def test_crosshair_readout_and_exports(trends, live, tmp_path):
    trends.add_tag("ICT2.LOADING")
    for _ in range(5):
        trends.update_snapshot(live())
    t, v = trends.series["ICT2.LOADING"].data()
    text = trends.readout_at(t[2])
    assert "IST" in text and f"{v[2]:.4g} %" in text
    trends.export_png(str(tmp_path / "t.png"))
    assert (tmp_path / "t.png").stat().st_size > 1000
    trends._set_live(True)
    trends._redraw(force=True)
    trends.plot_item.setXRange(t[0] - 1, t[-1] + 1, padding=0)
    trends.export_csv(str(tmp_path / "t.csv"))
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert len(rows) == 5 and rows[0]["point"] == "ICT2.LOADING"
    assert rows[0]["time_ist"].endswith("+05:30") and float(rows[0]["value"]) > 0


def test_ranges_and_drop(trends, qtbot):
    trends.add_tag("F3_CT.P")
    seen = []
    trends.backfill_requested.connect(lambda tags, t0, t1, n: seen.append(t1 - t0))
    trends.set_range("30 days")
    assert seen[-1] == pytest.approx(30 * 86400)
    md = tag_mime("F4_CT.Q")
    assert md.hasFormat(TAG_MIME)
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDropEvent

    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, md,
                    Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    trends.dropEvent(ev)
    assert "F4_CT.Q" in trends.series
    trends.remove_tag("F4_CT.Q")
    assert "F4_CT.Q" not in trends.series and "MVAr" not in trends.units()


def test_point_browser_search(qtbot, station, plant):
    b = PointBrowser(station, plant.points)
    qtbot.addWidget(b)
    assert len(b.visible_tags()) == len(plant.points)
    b.search.setText("hot_spot")
    assert set(b.visible_tags()) == {"ICT1.HOT_SPOT", "ICT2.HOT_SPOT", "TR1.HOT_SPOT",
                                     "TR2.HOT_SPOT"}
    with qtbot.waitSignal(b.trend_requested) as sig:
        b._activated(b.proxy.index(0, 0))
    assert sig.args[0].endswith(".HOT_SPOT")
    md = b.model.mimeData([b.model.index(0, 0)])
    assert bytes(md.data(TAG_MIME)).decode() == plant.points.tags[0]


def test_alarm_list_sorts_filters_and_colours(qtbot, plant, live):
    dock = AlarmListDock()
    qtbot.addWidget(dock)
    mon = ConditionMonitor(plant.points)
    plant.inject("overvoltage", pu=1.08)
    plant.inject("line_trip", asset="F1_LINE")
    dock.set_conditions(mon.evaluate(live().frame))
    n = dock.proxy.rowCount()
    assert n >= 3 and "urgent" in dock.count.text()
    first = dock.proxy.data(dock.proxy.index(0, 0))
    assert first.startswith("1 ")
    bg = dock.proxy.data(dock.proxy.index(0, 0), Qt.ItemDataRole.BackgroundRole)
    assert bg.color().name() == "#d32f2f"
    dock.search.setText("B400_M1.V")
    assert dock.proxy.rowCount() == 1
    dock.search.setText("")
    dock.priority.setCurrentIndex(1)
    assert 0 < dock.proxy.rowCount() < n
    with qtbot.waitSignal(dock.alarm_selected) as sig:
        dock._clicked(dock.proxy.index(0, 0))
    assert sig.args[0].startswith("F1_")


def test_event_log_shows_and_exports(qtbot, plant, live, tmp_path):
    dock = EventLogDock()
    qtbot.addWidget(dock)
    det = ChangeDetector(plant.points)
    det.changes(live().frame)
    plant.operate("F2_Q0", False)
    dock.add_events(det.changes(live().frame))
    assert dock.proxy.rowCount() >= 1
    texts = [dock.proxy.data(dock.proxy.index(r, 4)) for r in range(dock.proxy.rowCount())]
    assert "F2_Q0.POS closed → open" in texts
    dock.kind.setCurrentText("comm")
    assert dock.proxy.rowCount() == 0
    dock.kind.setCurrentText("all")
    dock.export_csv(str(tmp_path / "e.csv"))
    rows = list(csv.DictReader(open(tmp_path / "e.csv")))
    assert any(r["point"] == "F2_Q0.POS" and r["after"] == "open" for r in rows)
