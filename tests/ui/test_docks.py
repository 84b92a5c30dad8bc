"""Trends, point browser, alarm list and event log (offscreen)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.alarms.changes import ChangeDetector
from app.station import clock
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
    assert trends.units() == ["%", "°C", "MW"]  # one unit spelling on screen
    assert [r[0] for r in requests] == [["ICT1.LOADING"], ["ICT1.TOP_OIL"], ["ICT1.HOT_SPOT"],
                                        ["F1_CT.P"], ["F2_CT.P"]]
    for _ in range(20):
        trends.update_snapshot(live())
    t, v = trends.series["F1_CT.P"].data()
    assert len(t) == 20 and np.all(np.diff(t) > 0) and np.all(v > 10)
    assert not trends.add_tag("NOPE.X")


def test_backfill_and_bad_quality_gaps(trends, live, plant):
    from app.station import quality as Q

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


def test_the_drawn_window_is_bounded_and_keeps_spikes_and_gaps(trends, plant):
    """An hour at 10 Hz drawn into 500 columns: at most two samples a column, the visible
    range only, a one-sample spike kept, and a stretch of bad quality still a gap."""
    from app.ui.trends import _Series

    s = _Series("X.V", 0, "kV", trends.palette().text().color())
    t = 1_800_000_000.0 + np.arange(36_000) * 0.1
    v = 220.0 + np.sin(np.arange(36_000) / 500.0)
    v[20_000] = 260.0          # one spike
    v[30_000:30_600] = np.nan  # a minute of bad quality
    for ti, vi in zip(t, v, strict=True):
        s.append(ti, vi)
    wt, wv = s.window(t[0], t[-1], 500)
    assert len(wt) <= 1000 and np.all(np.diff(wt) >= 0)
    assert np.nanmax(wv) == 260.0 and np.isnan(wv).any()
    wt, wv = s.window(t[10_000], t[10_100], 500)  # ten seconds: the raw samples
    assert len(wt) == 103 and wt[1] == t[10_000]


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
    assert "F4_CT.Q" not in trends.series and "Mvar" not in trends.units()


def test_a_live_y_axis_stays_still_while_its_data_fit(qtbot):
    """The live trend's y-range follows the data only when they leave it or shrink to less
    than half of it — an axis that rescales to the noise every refresh cannot be read."""
    import pyqtgraph as pg

    from app.ui.trends import fit_y

    vb = pg.ViewBox()
    fit_y(vb, 399.0, 401.0)
    r0 = vb.viewRange()[1]
    assert r0[0] < 399.0 and r0[1] > 401.0
    fit_y(vb, 399.3, 400.9)  # noise inside: still
    assert vb.viewRange()[1] == r0
    fit_y(vb, 399.0, 403.0)  # out of range: rescaled to hold it
    assert vb.viewRange()[1][1] > 403.0
    fit_y(vb, 400.0, 400.2)  # a fifth of the range: zoom back in
    lo, hi = vb.viewRange()[1]
    assert lo < 400.0 and hi > 400.2 and hi - lo < 1.0
    fit_y(vb, 2.0, 2.0)  # a constant (a position): a visible band round it
    lo, hi = vb.viewRange()[1]
    assert lo < 2.0 < hi and hi - lo >= 1.0


def test_point_browser_search(qtbot, station, plant):
    b = PointBrowser(station, plant.points)
    qtbot.addWidget(b)
    assert len(b.visible_tags()) == len(plant.points)
    b.search.setText("hot_spot")
    assert set(b.visible_tags()) == {"ICT1.HOT_SPOT", "ICT2.HOT_SPOT", "TR1.HOT_SPOT",
                                     "TR2.HOT_SPOT"}
    with qtbot.waitSignal(b.trend_requested) as sig:
        b._activated(b.index_of("ICT2.HOT_SPOT"))
    assert sig.args[0] == "ICT2.HOT_SPOT"
    b.search.setText("")
    first = b.model.index(0, 0)  # an asset: dragging it carries all its points
    md = b.model.mimeData([first])
    tags = bytes(md.data(TAG_MIME)).decode().split()
    assert tags == list(plant.points.tags[:len(tags)]) and len(tags) > 1


def _engine_views(plant, station):
    """An engine on the station's rules and the views it gives, scan by scan."""
    from app.alarms.engine import AlarmEngine
    from app.alarms.rules import rules_for_station

    rs = rules_for_station(station, plant.points)
    return AlarmEngine(plant.points, rs.rules,
                       asset_types={a.id: a.type for a in station.assets},
                       aliases=rs.aliases, nominal=rs.nominal)


def test_alarm_list_orders_colours_and_updates_incrementally(qtbot, plant, live, station):
    dock = AlarmListDock()
    qtbot.addWidget(dock)
    dock.resize(1100, 400)
    dock.show()
    eng = _engine_views(plant, station)
    eng.evaluate(live().frame)
    plant.inject("overvoltage", pu=1.08)
    plant.inject("line_trip", asset="F1_LINE")
    f = live().frame
    dock.apply(eng.take_view(f.t_acquired, eng.evaluate(f)))
    n = dock.proxy.rowCount()
    assert n >= 3 and "urgent" in dock.count.text()
    first = dock.proxy.data(dock.proxy.index(0, 0))
    assert first.startswith("1 ")  # unacknowledged, priority 1, first
    dock.model.blink_on = True
    bg = dock.proxy.data(dock.proxy.index(0, 0), Qt.ItemDataRole.BackgroundRole)
    assert bg.color().name() == "#d32f2f"
    # ISA-101: colour only in the priority cell; the other cells keep the plain palette.
    assert dock.proxy.data(dock.proxy.index(0, 4), Qt.ItemDataRole.BackgroundRole) is None

    # Incremental: an acknowledgement moves one row (out of the unacknowledged ones): one
    # row removed, one inserted, no reset; every other row is the same object as before.
    resets, inserts, removes = [], [], []
    dock.model.modelReset.connect(lambda: resets.append(1))
    dock.model.rowsInserted.connect(lambda _p, a, b: inserts.append((a, b)))
    dock.model.rowsRemoved.connect(lambda _p, a, b: removes.append((a, b)))
    key = next(r.key for r in dock.model.rows if r.key == "B400_M1.V:hi")
    untouched = [r for r in dock.model.rows if r.key != key]
    eng.acknowledge(key, "op1", f.t_acquired)
    dock.apply(eng.take_view(f.t_acquired))
    assert not resets and len(inserts) == len(removes) == 1
    assert inserts[0][0] == inserts[0][1] and removes[0][0] == removes[0][1]
    assert all(a is b for a, b in zip(untouched, [r for r in dock.model.rows if r.key != key],
                                       strict=True))
    assert dock.model.row_of(key).state.value == "acknowledged"
    dock.search.setText("B400_M1.V")
    assert dock.proxy.rowCount() >= 1
    assert all("B400_M1.V" in dock.proxy.data(dock.proxy.index(i, 3))
               for i in range(dock.proxy.rowCount()))
    dock.search.setText("")
    dock.priority.setCurrentIndex(1)
    assert 0 < dock.proxy.rowCount() < n
    dock.priority.setCurrentIndex(0)
    dock.state.setCurrentText("Acknowledged")
    assert dock.proxy.rowCount() == 1
    dock.state.setCurrentText("Annunciated")
    with qtbot.waitSignal(dock.alarm_selected) as sig:
        dock._clicked(dock.proxy.index(0, 0))
    assert sig.args[0].startswith("F1_")
    # A viewer's buttons are greyed; the actions still only ask.
    assert not dock.ack_button.isEnabled()
    asked = []
    dock.action_requested.connect(asked.append)
    dock.view.selectRow(0)
    assert dock.ack_selected() and asked[0].action == "acknowledge" and asked[0].session is None


def test_a_cleared_flood_leaves_in_a_few_signals(qtbot, plant, live, station):
    dock = AlarmListDock()
    qtbot.addWidget(dock)
    eng = _engine_views(plant, station)
    f = live().frame
    eng.evaluate(f)
    pt = plant.points
    import dataclasses

    hi = np.flatnonzero(np.isfinite(pt.hi))
    v = f.values.copy()
    v[hi] = pt.hi[hi] * 1.5 + 1
    f1 = dataclasses.replace(f, seq=f.seq + 1, values=v)
    tr = eng.evaluate(f1)
    dock.apply(eng.take_view(f1.t_acquired, tr))
    # One alarm per measurement (the phases of a CT share one).
    assert dock.model.rowCount() >= len({(pt.asset[i], pt.quantity[i]) for i in hi})
    for r in list(dock.model.rows):
        eng.acknowledge(r.key, "op", f1.t_acquired)
    removed = []
    dock.model.rowsRemoved.connect(lambda *a: removed.append(a))
    v2 = f.values.copy()  # well inside the limits, clear of every deadband
    v2[hi] = np.where(np.isfinite(pt.lo[hi]), (pt.lo[hi] + pt.hi[hi]) / 2, pt.hi[hi] * 0.5)
    f2 = dataclasses.replace(f, seq=f.seq + 2, t_acquired=f1.t_acquired, values=v2)
    dock.apply(eng.take_view(f2.t_acquired, eng.evaluate(f2)))
    assert dock.model.rowCount() == 0 and 1 <= len(removed) <= 3


def test_log_explorer_queries_the_historian_off_the_gui_thread(qtbot, station, tmp_path):
    import datetime as dt

    from app.alarms.log import LogEntry
    from app.historian import open_historian
    from app.runtime.qt.jobs import JobRunner
    from app.runtime.queries import event_page
    from app.station.points import build_point_table
    from app.ui import event_log

    hist = open_historian(station, build_point_table(station), data_dir=tmp_path)
    runner = JobRunner("queries").start()
    try:
        now = clock.now()

        def ms(**kw):  # whole seconds, so the milliseconds added below are exact
            return int((now - dt.timedelta(**kw)).timestamp()) * 1000

        rows = [{"event_type": "alarm", "asset_id": "ICT1", "tag": "ICT1.TOP_OIL:hi",
                 "severity": "high", "message": f"ICT1.TOP_OIL > 85 degC #{k}",
                 "time_ms": ms(minutes=30) + k, "before": "normal", "after": "unacknowledged",
                 "state": "unacknowledged"} for k in range(7)]
        rows += [{"event_type": "state", "asset_id": "F2_Q0", "tag": "F2_Q0.POS",
                  "severity": "medium", "message": "F2_Q0.POS closed → open",
                  "time_ms": ms(hours=5) + 123, "before": "closed", "after": "open"},
                 {"event_type": "comm", "asset_id": "F3", "tag": "F3", "severity": "high",
                  "message": "F3 communication ok → lost", "time_ms": ms(days=2)}]
        hist.add_events(rows)
        dock = event_log.EventLogDock()
        qtbot.addWidget(dock)
        event_log.PAGE_SIZE = 5
        on_gui: list[bool] = []

        def submit(q, done):  # noqa: ANN001 - as the main window does it: a job
            import threading

            def back(page, err):  # noqa: ANN001
                on_gui.append(threading.current_thread() is threading.main_thread())
                done(page)
            runner.call("event query", lambda: event_page(hist, q), back)

        dock.set_query(submit)
        qtbot.waitUntil(lambda: dock.last_page is not None, timeout=10_000)
        # Last 1 h: the 7 alarm events, 5 a page, newest first, IST with milliseconds.
        assert dock.model.rowCount() == 5 and dock.has_more and dock.next_button.isEnabled()
        t0 = dock.model.data(dock.model.index(0, 0))
        assert t0 == event_log.ist_text(rows[6]["time_ms"]) and t0[-4] == "."
        assert dock.model.data(dock.model.index(0, 5)).endswith("#6")
        dock.run_query(1)
        qtbot.waitUntil(lambda: dock.last_page.query.page == 1, timeout=10_000)
        assert dock.model.rowCount() == 2 and not dock.has_more and not dock.is_live()
        # Presets and filters, each a new query on the worker.
        dock.range.setCurrentText("Last 8 h")
        qtbot.waitUntil(lambda: dock.model.rowCount() == 5 and dock.page == 0, timeout=10_000)
        dock.kind.setCurrentText("state")
        qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=10_000)
        assert dock.model.rows[0].tag == "F2_Q0.POS"
        dock.kind.setCurrentText("all types")
        dock.range.setCurrentText("Last 7 days")
        # The "Last …" fields show the window ending now, not the dock's start-up times.
        shown_from = event_log._from_qdatetime(dock.frm.dateTime())
        assert abs((shown_from - (clock.now() - dt.timedelta(days=7))).total_seconds()) < 5
        dock.severity.setCurrentText("High")
        dock.asset.setText("F3")
        dock.run_query(0)
        qtbot.waitUntil(lambda: [e.asset_id for e in dock.model.rows] == ["F3"], timeout=10_000)
        # The asset filter finds a bay's assets: F2 → F2_Q0 (the historian's query).
        dock.severity.setCurrentText("all severities")
        dock.asset.setText("f2")
        dock.run_query(0)
        qtbot.waitUntil(lambda: [e.asset_id for e in dock.model.rows] == ["F2_Q0"],
                        timeout=10_000)
        dock.severity.setCurrentText("High")
        dock.asset.setText("")
        dock.search.setText("top_oil > 85")
        dock.run_query(0)
        qtbot.waitUntil(lambda: dock.model.rowCount() == 5 and dock.has_more, timeout=10_000)
        # Custom range (IST): 6 h to 4 h ago holds the breaker event only.
        dock.search.setText("")
        dock.severity.setCurrentText("all severities")
        dock.range.setCurrentText("Custom")
        dock.frm.setDateTime(event_log._to_qdatetime(now - dt.timedelta(hours=6)))
        dock.to.setDateTime(event_log._to_qdatetime(now - dt.timedelta(hours=4)))
        dock.run_query(0)
        qtbot.waitUntil(lambda: [e.tag for e in dock.model.rows] == ["F2_Q0.POS"],
                        timeout=10_000)
        # CSV of what is shown, in the historian's layout.
        n = dock.export_csv(str(tmp_path / "e.csv"))
        out = list(csv.DictReader(open(tmp_path / "e.csv")))
        assert n == 1 and out[0]["point"] == "F2_Q0.POS" and out[0]["after"] == "open"
        assert dock.status.text() == f"exported 1 event to {tmp_path / 'e.csv'}"
        assert out[0]["time_utc"].endswith(".123+00:00")
        # Live: new events that pass the filters appear at the top while Live is on.
        dock.range.setCurrentText("Last 1 h")
        qtbot.waitUntil(lambda: dock.model.rowCount() == 5 and dock.is_live(), timeout=10_000)
        new = LogEntry(time_ms=ms(seconds=0), event_type="alarm", severity="critical",
                       message="F1_Q0 tripped", asset_id="F1_Q0", tag="F1_Q0:trip",
                       after="unacknowledged")
        dock.add_entries([new])
        assert dock.model.rows[0] is new and dock.model.rowCount() == 6
        assert dock.model.data(dock.model.index(0, 2)) == "Urgent"  # one vocabulary
        dock.kind.setCurrentText("comm")
        qtbot.waitUntil(lambda: dock.model.rowCount() == 0, timeout=10_000)
        new2 = LogEntry(time_ms=new.time_ms + 1, event_type="alarm", severity="high",
                        message="F2_Q0 tripped", asset_id="F2_Q0", tag="F2_Q0:trip")
        dock.add_entries([new2])  # filtered out
        assert dock.model.rowCount() == 0
        dock.kind.setCurrentText("all types")
        # A new query keeps the live events newer than what the historian had written.
        qtbot.waitUntil(lambda: dock.model.rowCount() == 7, timeout=10_000)
        assert dock.model.rows[0] is new2 and dock.model.rows[1] is new
        dock.live.setChecked(False)
        dock.add_entries([LogEntry(time_ms=new.time_ms + 2, event_type="alarm",
                                   severity="low", message="x")])
        assert dock.model.rowCount() == 7
    finally:
        event_log.PAGE_SIZE = 500
        assert runner.stop()
        hist.close()
    assert on_gui and all(on_gui)  # every page came back on the GUI thread


def test_event_log_without_a_historian_filters_the_session(qtbot, plant, live, tmp_path):
    from app.alarms.log import LogEntry

    dock = EventLogDock()
    qtbot.addWidget(dock)
    det = ChangeDetector(plant.points)
    det.changes(live().frame)
    plant.operate("F2_Q0", False)
    entries = [LogEntry.from_row(e.row()) for e in det.changes(live().frame)]
    dock.add_entries(entries)
    texts = [dock.model.data(dock.model.index(r, 5)) for r in range(dock.model.rowCount())]
    assert "F2_Q0.POS closed → open" in texts
    dock.kind.setCurrentText("comm")  # no historian: the same filter over this session
    assert dock.model.rowCount() == 0
    dock.kind.setCurrentText("all types")
    dock.range.setCurrentText("Last 7 days")
    assert "F2_Q0.POS closed → open" in [e.message for e in dock.model.rows]
    dock.export_csv(str(tmp_path / "e.csv"))
    rows = list(csv.DictReader(open(tmp_path / "e.csv")))
    assert any(r["point"] == "F2_Q0.POS" and r["after"] == "open" for r in rows)


def test_the_asset_filter_finds_a_bays_assets():
    from app.ui.event_log import asset_matches

    assert asset_matches("F2_21", "F2") and asset_matches("F2_Q0", "f2")
    assert asset_matches("F2", "F2") and not asset_matches("F20_Q0", "F2")
    assert not asset_matches(None, "F2")
