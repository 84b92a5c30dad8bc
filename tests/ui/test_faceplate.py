"""Faceplates: live values with quality, nameplate, mini-trend, control buttons."""

from __future__ import annotations

from app.station import quality as Q
from app.ui.faceplate import Faceplate

from .conftest import snapshot_of


def test_breaker_faceplate(qtbot, station, plant):
    fp = Faceplate(station.asset("F1_Q0"), plant.points)
    qtbot.addWidget(fp)
    fp.update_snapshot(snapshot_of(plant))
    assert fp.value_text("POS") == ("Closed", "good")
    assert fp.value_text("LR")[0] == "Remote" and fp.value_text("SPRING")[0] == "Charged"
    assert fp.value_text("SF6")[0].endswith("bar")
    s = plant.step(0.1)
    q = s.quality.copy()
    q[plant.points.row("F1_Q0.SF6")] = Q.SENSOR_FAILED
    fp.update_snapshot(snapshot_of(plant, s, quality=q))
    assert fp.value_text("SF6")[1] == "invalid|failure"
    assert set(fp.buttons) == {"Select open", "Select close", "Operate", "Cancel", "Bypass…"}
    assert not any(b.isEnabled() for b in fp.buttons.values())  # no control service yet
    fp.set_control_enabled(True)
    with qtbot.waitSignal(fp.select_requested) as sig:
        fp.buttons["Select open"].click()
    assert sig.args == ["F1_Q0", False]
    fp.selection_confirmed(False)
    with qtbot.waitSignal(fp.operate_requested) as sig:
        fp.buttons["Operate"].click()
    assert sig.args == ["F1_Q0", False]


def _enabled(fp):
    return {n for n, b in fp.buttons.items() if b.isEnabled() and b.isVisibleTo(fp)}


def test_buttons_follow_the_role_and_the_device_state(qtbot, station, plant):
    fp = Faceplate(station.asset("F1_Q0"), plant.points)
    qtbot.addWidget(fp)
    fp.update_snapshot(snapshot_of(plant))
    fp.set_access("viewer", "iec61850")
    assert _enabled(fp) == set()
    assert fp.why_disabled() == "Viewer: operating needs an operator login"
    assert fp.buttons["Select open"].toolTip() == fp.why_disabled()
    assert "IEC 61850" in fp.path_label.text()
    fp.set_access("operator")
    assert _enabled(fp) == {"Select open", "Select close"}
    assert not fp.buttons["Bypass…"].isVisibleTo(fp)  # engineers only
    # The device's communication lost, or its position of bad quality: no commands.
    from app.station.frame import Comm, CommState

    s = plant.step(0.1)
    lost = {"F1": CommState("F1", "iec61850", Comm.LOST, s.timestamp, "timeout")}
    fp.update_snapshot(snapshot_of(plant, s, comm=lost))
    assert _enabled(fp) == set()
    assert fp.why_disabled() == "Bay F1 communication lost"
    q = s.quality.copy()
    q[plant.points.row("F1_Q0.POS")] = Q.SENSOR_FAILED
    fp.update_snapshot(snapshot_of(plant, s, quality=q))
    assert fp.why_disabled() == "F1_Q0 position invalid|failure — not commanded"
    fp.update_snapshot(snapshot_of(plant))
    assert _enabled(fp) == {"Select open", "Select close"}
    assert fp.why_disabled() == "" and not fp.why_label.isVisibleTo(fp)


def test_select_operate_result_and_an_interlock_bypass_for_engineers(qtbot, station, plant):
    fp = Faceplate(station.asset("F1_Q9"), plant.points)
    qtbot.addWidget(fp)
    fp.update_snapshot(snapshot_of(plant))
    fp.set_access("engineer", "iec61850")
    fp.buttons["Select open"].click()
    assert fp.state == "selecting" and _enabled(fp) == set()
    fp.show_result("interlocked — IL-1: bay breaker F1_Q0 is closed", False,
                   interlocks="IL-1: bay breaker F1_Q0 is closed")
    assert "IL-1" in fp.status.text() and "#b71c1c" in fp.status.styleSheet().lower()
    assert _enabled(fp) == {"Select open", "Select close", "Bypass…"}
    with qtbot.waitSignal(fp.bypass_requested) as sig:
        fp.buttons["Bypass…"].click()
    assert sig.args == ["F1_Q9", False, "IL-1: bay breaker F1_Q0 is closed"]
    fp.bypass_started(False)
    fp.selection_confirmed(False, 30)
    assert fp.status.text() == "F1_Q9 selected to open; confirm with Operate within 30 s"
    assert _enabled(fp) == {"Operate", "Cancel"}
    with qtbot.waitSignal(fp.cancel_requested):
        fp.buttons["Cancel"].click()
    assert fp.state == "idle"
    fp.buttons["Select open"].click()
    fp.selection_confirmed(False)
    fp.buttons["Operate"].click()
    assert fp.state == "operating" and "waiting for the scan" in fp.status.text()
    fp.show_result("F1_Q9 open, confirmed by scan in 1.2 s", True)
    assert fp.state == "idle" and fp.status.styleSheet() == ""
    fp.set_access("operator")
    assert not fp.buttons["Bypass…"].isVisibleTo(fp)


def test_transformer_faceplate_has_nameplate_and_mini_trend(qtbot, station, plant):
    fp = Faceplate(station.asset("ICT1"), plant.points)
    qtbot.addWidget(fp)
    for _ in range(5):
        fp.update_snapshot(snapshot_of(plant))
    assert fp.points.name[fp.trend_row] == "LOADING"
    x, y = fp._curve.getData()
    assert len(x) == 5
    assert "%" in fp.value_text("LOADING")[0] and not fp.buttons


def test_disabled_controls_look_disabled_and_say_why_in_the_box(qtbot, station, plant):
    """A viewer's *Select open* is greyed (not just a tooltip) and the reason is text in the
    control group; an operator's is a normal button."""
    from PySide6.QtGui import QColor

    fp = Faceplate(station.asset("F1_Q0"), plant.points)
    qtbot.addWidget(fp)
    fp.show()
    fp.update_snapshot(snapshot_of(plant))

    def face(b):  # the button as painted: its mean colour and text colour
        img = b.grab().toImage()
        cols = [QColor(img.pixel(x, y)) for x in range(2, img.width() - 2, 3)
                for y in range(2, img.height() - 2, 3)]
        return sum(c.lightness() for c in cols) / len(cols), b

    fp.set_access("viewer", "iec61850")
    assert fp.why_label.isVisibleTo(fp) and fp.why_label.parent() is fp.control_box
    assert fp.why_label.text() == "Viewer: operating needs an operator login"
    viewer_face, _ = face(fp.buttons["Select open"])
    fp.set_access("operator")
    operator_face, _ = face(fp.buttons["Select open"])
    assert fp.buttons["Select open"].isEnabled()
    assert abs(viewer_face - operator_face) > 5, (viewer_face, operator_face)
    # Locked: said as such, not as "viewer".
    fp.set_access("viewer", locked=True)
    assert fp.why_disabled().startswith("Session locked")
    fp.set_access(None)
    assert fp.why_disabled().startswith("No control service")
    fp.set_access("operator", "none")
    assert fp.why_disabled() == "No command path to F1_Q0"


def test_a_moving_disconnector_says_so(qtbot, station, plant):
    from app.station.points import POS_INTERMEDIATE

    fp = Faceplate(station.asset("F1_Q9"), plant.points)
    qtbot.addWidget(fp)
    fp.set_access("operator", "iec61850")
    s = plant.step(0.1)
    v = s.values.copy()
    v[plant.points.row("F1_Q9.POS")] = POS_INTERMEDIATE
    snap = snapshot_of(plant, s)
    import dataclasses

    frame = dataclasses.replace(snap.frame, values=v)
    fp.update_snapshot(dataclasses.replace(snap, frame=frame))
    assert fp.why_disabled() == "F1_Q9 intermediate (moving) — wait for an end position"
    assert fp.value_text("POS")[0] == "Intermediate"


def test_a_status_point_is_trended_as_steps_against_its_state_texts(qtbot, station, plant):
    fp = Faceplate(station.asset("F1_Q9"), plant.points)  # a disconnector: its position
    qtbot.addWidget(fp)
    fp.update_snapshot(snapshot_of(plant))
    assert fp.points.name[fp.trend_row] == "POS"
    ticks = fp.mini.getAxis("left")._tickLevels[0]
    assert [t for _v, t in ticks] == ["Intermediate", "Open", "Closed", "Invalid"]
    assert fp._curve.opts["stepMode"] == "left"
