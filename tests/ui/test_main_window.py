"""The main window on a live pipeline (plant in-process), offscreen."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from app.field.sim.plant import PlantSimulator
from app.runtime.sources import PlantFrameSource

from .conftest import T0, snapshot_of


@pytest.fixture
def make_hmi_window(make_hmi, station):
    """A main window on a running pipeline (plant in-process), as gridtwin run builds it."""
    def make(yard3d: bool = False):
        plant = PlantSimulator(station, seed=2, start=T0, tick_s=0.1)
        hmi = make_hmi(PlantFrameSource(plant), yard3d=yard3d, control=False)
        return hmi.win, plant

    return make


def test_window_shows_live_data_and_a_breaker_opened_in_the_field(make_hmi_window, qtbot):
    win, plant = make_hmi_window()
    qtbot.waitUntil(lambda: win.last_snapshot is not None, timeout=15_000)
    assert "devices OK" in win.status.comm_label.text() and "IST" in win.status.clock_label.text()
    assert win.sld.items_by_asset["TR2H_Q0"].state_name == "closed"
    plant.operate("TR2H_Q0", False)
    qtbot.waitUntil(lambda: win.sld.items_by_asset["TR2H_Q0"].state_name == "open",
                    timeout=15_000)
    qtbot.waitUntil(lambda: not win.sld.busbars["B33_B"].energised, timeout=15_000)
    assert win.sld.busbars["B33_A"].energised
    qtbot.waitUntil(lambda: win.events.model.rowCount() > 0, timeout=15_000)
    assert win.status.latency_ms and max(win.status.latency_ms) < 5_000
    # Nobody commanded it: a trip, in the alarm list and the event log; the dead 33 kV
    # section's lows are suppressed by design, not annunciated.
    qtbot.waitUntil(lambda: win.alarms.model.row_of("TR2H_Q0:trip") is not None,
                    timeout=15_000)
    trip = win.alarms.model.row_of("TR2H_Q0:trip")
    assert trip.priority == 1 and trip.state.value == "unacknowledged"
    qtbot.waitUntil(lambda: (r := win.alarms.model.row_of("B33_B.V:lo")) is not None
                    and r.state.value == "suppressed by design", timeout=15_000)
    assert not any(r.key.startswith("B33_B.") and r.state.value == "unacknowledged"
                   and r.key.endswith(":lo") for r in win.alarms.model.rows)
    assert any(e.event_type == "alarm" and e.tag == "TR2H_Q0:trip" for e in win.events.model.rows)
    plant.inject("comm_lost", device="F3")
    qtbot.waitUntil(lambda: "LOST (F3)" in win.status.comm_label.text(), timeout=15_000)
    assert win.sld.items_by_asset["F3_Q0"].state_name == "invalid"
    assert "F3: lost" in win.status.comm_label.toolTip()


def test_trends_faceplate_and_layout_persistence(make_hmi_window, qtbot, tmp_path):
    win, plant = make_hmi_window()
    win.trend("ICT1.LOADING")
    qtbot.waitUntil(lambda: len(win.trends.series["ICT1.LOADING"].live()[0]) >= 3,
                    timeout=15_000)
    win.open_faceplate("F1_Q0")
    fp = win.commands.faceplates["F1_Q0"]
    qtbot.waitUntil(lambda: fp.value_text("POS")[0] == "Closed", timeout=15_000)
    win.save_layout()
    s = QSettings(str(tmp_path / "hmi0.ini"), QSettings.Format.IniFormat)
    assert s.value("main/state") is not None


def test_3d_view_falls_back_cleanly_offscreen(make_hmi_window, qtbot):
    win, _ = make_hmi_window(yard3d=True)
    assert win.yard is not None
    # The probe runs in child processes; the window is up (and live) meanwhile.
    qtbot.waitUntil(lambda: win.last_snapshot is not None, timeout=15_000)
    qtbot.waitUntil(lambda: win.yard.mode != "probing", timeout=240_000)
    assert win.yard.mode in ("static", "none")
    assert ("Static render" in win.yard.caption.text()
            or "unavailable" in win.yard.caption.text())
    qtbot.waitUntil(lambda: win.last_snapshot is not None, timeout=15_000)
    win.docks["3D switchyard"].show()
    win.docks["3D switchyard"].raise_()
    win.yard.update_snapshot(win.last_snapshot)
    if win.yard.mode == "static":
        # Rendered once the states are in (not first without them and again at once), and
        # then settled: the newest states shown, no render due.
        qtbot.waitUntil(win.yard.settled, timeout=300_000)
        assert not win.yard.image.pixmap().isNull()
        assert win.yard.state is not None
        # A relay's alarm row selects its bay's breaker; the next render frames that bay
        # and carries the alarm's marker.
        from app.alarms.engine import AlarmView
        from app.station import clock

        from .test_yard3d import row

        win.yard.alarm_markers(AlarmView(clock.now(), (row("F3_21", "protection", 2),), (),
                                         {}, {}, False, 0))
        win.alarms.alarm_selected.emit("F3_21")
        assert win.yard.highlighted == "F3_Q0" and win.yard.state.focus_bay == "F3"
        assert [(m.bay, m.priority) for m in win.yard.state.markers] == [("F3", 2)]
        qtbot.waitUntil(lambda: win.yard.rendering() or win.yard.settled(), timeout=30_000)
        qtbot.waitUntil(win.yard.settled, timeout=300_000)
        assert not win.yard.image.pixmap().isNull()


def test_3d_view_says_unavailable_where_nothing_renders(qtbot, station, plant, monkeypatch):
    """No OpenGL at all (the probe's renderer cannot run): a clear panel, not a crash."""
    from app.ui.yard3d import widget

    monkeypatch.setattr(widget, "_PROBE", None)
    monkeypatch.setattr(widget, "python_command", lambda *args: ["/bin/false", *args])
    view = widget.create_yard_view(station, plant.points)
    qtbot.addWidget(view)
    assert view.mode == "probing" and "checking" in view.caption.text()
    view.select_device("F1_Q0")
    with qtbot.waitSignal(view.ready, timeout=30_000) as sig:
        pass
    assert sig.args == ["none"] and view.mode == "none"
    assert "3D view unavailable" in view.caption.text()
    assert "rendering failed" in view.caption.text()
    view.update_snapshot(snapshot_of(plant))  # snapshots are taken and ignored
    view.close()


def test_status_bar_shows_a_degraded_historian(make_hmi, station):
    from app.historian.store import HistorianStatus

    class Sink:
        status = HistorianStatus()

        def submit(self, frame) -> None:  # noqa: ANN001
            pass

        def submit_events(self, rows) -> None:  # noqa: ANN001
            pass

        def close(self) -> None:
            pass

    plant = PlantSimulator(station, seed=2, start=T0, tick_s=0.1)
    sink = Sink()
    win = make_hmi(PlantFrameSource(plant), historian=sink, control=False, start=False).win
    status = win.status
    status.tick()
    assert status.historian_label.text() == "history: recording"
    sink.status.ok, sink.status.last_error = False, "database or disk is full"
    status.tick()
    assert "DEGRADED" in status.historian_label.text()
    assert "disk is full" in status.historian_label.toolTip()
