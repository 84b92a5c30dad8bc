"""The display hierarchy: overview → bay display → docked faceplate, from an alarm row or the
banner; back / forward and the display keys; the banner of the newest alarms with the horn."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, Qt

from app.alarms.engine import AlarmRow, AlarmState, AlarmView
from app.station import quality as Q
from app.ui.displays import OVERVIEW, BayDisplay, Navigator, bay_of, breadcrumb
from app.ui.displays.banner import newest_unacked
from app.ui.main_window import MainWindow

from .conftest import T0, snapshot_of

S = AlarmState


def row(key: str, asset: str, kind: str = "analog", prio: int = 2,
        state: AlarmState = S.UNACK, since_s: float = 0.0, value: float = 0.0) -> AlarmRow:
    return AlarmRow(key, key.split(":")[0], asset, kind, prio, state, f"{key} message", value,
                    T0 + dt.timedelta(seconds=since_s), True, None, None, "", False)


def view(*rows: AlarmRow) -> AlarmView:
    return AlarmView(T0 + dt.timedelta(minutes=1), tuple(rows), (), {}, {}, False, 0)


@pytest.fixture
def win(qtbot, station, plant, tmp_path):
    w = MainWindow(station, plant.points, yard3d=False,
                   settings=QSettings(str(tmp_path / "hmi.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1600, 1000)
    w.show()
    return w


def test_navigator_keeps_a_browser_like_history():
    nav = Navigator()
    seen: list[str] = []
    nav.changed.connect(seen.append)
    assert nav.current == OVERVIEW and not nav.can_back()
    nav.go("bay:F2")
    nav.go("bay:ICT1H")
    nav.back()
    assert nav.current == "bay:F2" and nav.can_forward()
    nav.go("bay:L1")  # somewhere new: the forward history is dropped
    assert not nav.can_forward()
    nav.back()
    nav.back()
    assert nav.current == OVERVIEW
    nav.back()  # nothing before the first display: stays
    assert seen == ["bay:F2", "bay:ICT1H", "bay:F2", "bay:L1", "bay:F2", OVERVIEW]


def test_bay_of_and_the_breadcrumb(station):
    assert bay_of(station, "F2_21") == "F2" and bay_of(station, "F3") == "F3"
    assert bay_of(station, "B220_M1") == "BUS220" and bay_of(station, "NOPE") is None
    assert breadcrumb(station, "bay:F2") == "Station ▸ 220 kV ▸ F2 — 220 kV feeder-2 (Hoody)"
    assert breadcrumb(station, OVERVIEW) == "Station overview"


def test_alarm_row_opens_its_bay_display_and_docks_the_faceplate(win, qtbot):
    win.on_alarms(view(row("F2_21.OP:op", "F2_21", kind="protection", prio=1),
                       row("ICT1.LOADING:hi", "ICT1", prio=1, since_s=5)))
    model, proxy = win.alarms.model, win.alarms.proxy
    k = next(i for i in range(proxy.rowCount())
             if model.rows[proxy.mapToSource(proxy.index(i, 0)).row()].asset == "F2_21")
    idx = proxy.index(k, 1)
    win.alarms.view.doubleClicked.emit(idx)  # (QTest's double-click skips item views)
    assert win.display == "bay:F2"
    assert win.displays.currentIndex() == 1 and win.bay_display.bay == "F2"
    assert win.crumb.text().startswith("Station ▸ 220 kV ▸ F2")
    fp = win.commands.faceplates["F2_21"]
    # Docked beside the display, not a window floating over it.
    assert not fp.isWindow() and win.faceplate_stack.currentWidget() is fp
    assert win.docks["Faceplate"].isVisible() and fp.isVisible()
    fd = win.docks["Faceplate"]
    assert win.dockWidgetArea(fd) == Qt.DockWidgetArea.RightDockWidgetArea
    assert not fd.geometry().intersects(win.displays.geometry().translated(
        win.centralWidget().pos()))
    # A bay's communication alarm opens the bay with its breaker's faceplate.
    win.activate_alarm("F3")
    assert win.display == "bay:F3" and win.faceplate_stack.currentWidget() is \
        win.commands.faceplates["F3_Q0"]


def test_back_forward_and_display_keys(win, qtbot):
    win.open_bay("F2")
    win.open_bay("ICT1H", "ICT1")
    assert win.display == "bay:ICT1H" and win.back_action.isEnabled()
    assert not win.forward_action.isEnabled()
    assert win.back_action.shortcut().toString() == "Alt+Left"
    assert win.forward_action.shortcut().toString() == "Alt+Right"
    win.back_action.trigger()
    assert win.display == "bay:F2" and win.forward_action.isEnabled()
    win.forward_action.trigger()
    assert win.display == "bay:ICT1H"
    assert win.overview_action.shortcut().toString() == "F2"
    win.overview_action.trigger()
    assert win.display == OVERVIEW and win.displays.currentWidget() is win.sld
    assert win.crumb.text() == "Station overview"
    assert win.alarms_action.shortcut().toString() == "F3"
    assert win.trends_action.shortcut().toString() == "F4"
    win.trends_action.trigger()
    assert win.docks["Trends"].isVisible()
    # The bay picker opens a bay; a double-click on a diagram device opens its bay too.
    i = win.bay_picker.findData("TR1L")
    win.bay_picker.activated.emit(i)
    assert win.display == "bay:TR1L"
    win.sld.bay_requested.emit("L1")
    assert win.display == "bay:L1"


def test_banner_shows_the_newest_unacknowledged_alarms_and_silences_the_horn(win, qtbot):
    rows = [row(f"F{k}_CT.I_A:hi", f"F{k}_CT", prio=1 + k % 4, since_s=k) for k in range(1, 5)]
    rows.append(row("ICT1.LOADING:hi", "ICT1", prio=1, since_s=10, state=S.ACKED))
    v = view(*rows)
    assert [r.key for r in newest_unacked(v)] == ["F4_CT.I_A:hi", "F3_CT.I_A:hi",
                                                  "F2_CT.I_A:hi"]
    win.on_alarms(v)
    win.banner.apply(v)
    assert [r.asset for r in win.banner.rows] == ["F4_CT", "F3_CT", "F2_CT"]
    text = win.banner.lines.text_of(win.banner.rows[0])
    assert "F4_CT" in text and " A" in text  # the value with its unit
    assert text.startswith(win.banner.rows[0].since.astimezone(
        dt.timezone(dt.timedelta(hours=5, minutes=30))).strftime("%H:%M:%S"))  # IST
    lines = win.banner.lines
    qtbot.mouseClick(lines, Qt.MouseButton.LeftButton,
                     pos=QPoint(40, int(lines.line_h() * 1.5) + 2))
    assert win.display == "bay:F3"
    # The horn: the alarm list's audible cue; the banner's button silences it.
    assert not win.banner.silence.isEnabled()
    win.alarms.audible.setChecked(True)
    win.alarms._beep()
    assert win.alarms.horn and win.banner.silence.isEnabled()
    qtbot.mouseClick(win.banner.silence, Qt.MouseButton.LeftButton)
    assert not win.alarms.horn and not win.banner.silence.isEnabled()
    # The flood message is part of the banner.
    win.on_alarms(AlarmView(v.time, v.rows, (), {}, {}, True, 40))
    assert win.flood_banner.isVisible() and win.flood_banner.parent() is win.banner


def test_bay_display_shows_switchgear_values_protection_alarms_and_trend(qtbot, station,
                                                                         plant):
    bd = BayDisplay(station, plant.points)
    qtbot.addWidget(bd)
    bd.resize(1200, 800)
    bd.show()
    bd.set_bay("F2")
    sw = bd.switchgear.items_by_asset
    assert {"F2_Q1", "F2_Q2", "F2_Q0", "F2_Q9", "F2_Q8", "F2_CT", "F2_CVT", "F2_LINE"} <= set(sw)
    for _ in range(3):
        bd._table_at = 0.0
        bd.update_snapshot(snapshot_of(plant))
    assert sw["F2_Q0"].state_name == "closed"
    k = bd.value_tags.index("F2_CT.P")
    assert bd.values.item(k, 2).text() == "MW" and bd.values.item(k, 3).text() == "good"
    # Measurements read as the operator names them; the tag is the tooltip.
    r = plant.points.index["F2_CT.P"]
    assert bd.values.item(k, 0).text() == f"F2_CT — {plant.points.description[r]}"
    assert "power" in bd.values.item(k, 0).text().lower()
    assert bd.values.item(k, 0).toolTip() == "F2_CT.P"
    assert bd.values.item(k, 1).text() != "—"
    assert "healthy" in bd.protection.item(bd.relay_ids.index("F2_21"), 1).text()
    assert len(bd.spark.t) == 3 and "F2_CT.P" in bd.spark.title
    bd.apply_alarms(view(row("F2_CT.P:hi", "F2_CT", prio=2),
                         row("F2_Q0:trip", "F2_Q0", kind="trip", prio=1),
                         row("F1_CT.P:hi", "F1_CT", prio=1)))
    assert [r.key for r in bd.bay_alarms] == ["F2_Q0:trip", "F2_CT.P:hi"]
    assert set(bd.switchgear.markers) == {"F2_CT", "F2_Q0"}
    assert set(bd.switchgear.trip_flags) == {"F2_Q0"}
    bd._table_at = 0.0
    bd.update_snapshot(snapshot_of(plant))
    from app.ui import theme

    assert bd.values.item(k, 1).background().color() == theme.PRIORITY[2]
    # Bad data is magenta with its quality, never a priority colour.
    snap = snapshot_of(plant)
    q = np.array(snap.frame.quality)
    q[plant.points.index["F2_CT.Q"]] = Q.INVALID
    bd._table_at = 0.0
    bd.update_snapshot(snapshot_of(plant, quality=q))
    kq = bd.value_tags.index("F2_CT.Q")
    assert bd.values.item(kq, 1).foreground().color() == theme.INVALID
    assert bd.values.item(kq, 3).text().startswith("invalid")


def test_every_bay_has_a_display(qtbot, station, plant):
    bd = BayDisplay(station, plant.points)
    qtbot.addWidget(bd)
    bd.show()
    snap = snapshot_of(plant)
    for b in station.bays:
        bd.set_bay(b.id)
        bd._table_at = 0.0
        bd.update_snapshot(snap)
        assert bd.title.text().startswith(b.id)
        if any(a.bay == b.id and a.type == "breaker" for a in station.assets):
            assert any(a.endswith("_Q0") for a in bd.switchgear.items_by_asset), b.id
    assert bd.switchgear.scene_.sceneRect().isValid()


def test_window_restored_from_a_bigger_screen_fits_this_one(win, monkeypatch, station, plant,
                                                            qtbot, tmp_path):
    from app.ui.main_window import clamp_to_screen

    avail = QRect(0, 0, 1366, 728)
    assert clamp_to_screen(QRect(-50, 40, 1377, 900), avail) == QRect(0, 0, 1366, 728)
    assert clamp_to_screen(QRect(100, 50, 800, 600), avail) == QRect(100, 50, 800, 600)
    assert clamp_to_screen(QRect(900, 500, 800, 600), avail) == QRect(566, 128, 800, 600)
    # A layout saved on a 4K monitor, restored on a laptop.
    win.setGeometry(0, 0, 3000, 1900)
    win.save_layout()
    monkeypatch.setattr(MainWindow, "_available", lambda self: avail)
    w2 = MainWindow(station, plant.points, yard3d=False, settings=win.settings)
    qtbot.addWidget(w2)
    assert w2.frameGeometry().width() <= 1366 and w2.frameGeometry().height() <= 728
    assert avail.contains(w2.geometry())
    # The alarm list is sized in rows of the font: more rows on a taller screen.
    small = w2.alarm_rows()
    monkeypatch.setattr(MainWindow, "_available", lambda self: QRect(0, 0, 3840, 2100))
    assert w2.alarm_rows() > small >= 5


def test_no_bay_display_draws_one_name_over_another(qtbot, station, plant):
    """The two bus isolators' names sat one into the other ("ICT2H_Q1ICT2H_Q2"): Q1's now
    ends left of its symbol. Every bay, at the display's size in the README's screenshot."""
    from PySide6.QtWidgets import QGraphicsSimpleTextItem

    bd = BayDisplay(station, plant.points)
    qtbot.addWidget(bd)
    bd.resize(1500, 650)
    bd.show()
    view = bd.switchgear
    for b in station.bays:
        bd.set_bay(b.id)
        qtbot.wait(10)
        texts = [t for t in view.scene_.items() if isinstance(t, QGraphicsSimpleTextItem)]
        rects = [(t.text(), t.deviceTransform(view.viewportTransform()).mapRect(
            t.boundingRect())) for t in texts]
        for i, (a, ra) in enumerate(rects):
            for c, rc in rects[i + 1:]:
                assert not ra.intersects(rc), f"bay {b.id}: '{a}' over '{c}'"


def test_sparkline_axis_values_have_the_decimals_their_span_needs():
    from app.ui.displays.bay import axis_text

    assert [axis_text(v, 100.0) for v in (8.9e-05, 100.0)] == ["0", "100"]
    assert axis_text(6.085, 0.015) == "6.085"
    assert axis_text(6.1, 0.2) == "6.10"
    assert axis_text(47.04, 10.0) == "47"
    assert axis_text(-0.0001, 50.0) == "0"
    assert axis_text(float("nan"), 1.0) == ""
