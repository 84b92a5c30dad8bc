"""Faceplates: live values with quality, nameplate, mini-trend, control buttons."""

from __future__ import annotations

from app.field import quality as Q
from app.ui.faceplate import Faceplate

from .conftest import snapshot_of


def test_breaker_faceplate(qtbot, station, plant):
    fp = Faceplate(station.asset("F1_Q0"), plant.points)
    qtbot.addWidget(fp)
    fp.update_snapshot(snapshot_of(plant))
    assert fp.value_text("POS") == ("CLOSED", "good")
    assert fp.value_text("SF6")[0].endswith("bar")
    s = plant.step(0.1)
    q = s.quality.copy()
    q[plant.points.row("F1_Q0.SF6")] = Q.SENSOR_FAILED
    fp.update_snapshot(snapshot_of(plant, s, quality=q))
    assert fp.value_text("SF6")[1] == "invalid|failure"
    assert set(fp.buttons) == {"Select open", "Select close", "Operate", "Cancel"}
    assert not any(b.isEnabled() for b in fp.buttons.values())  # no control service yet
    fp.set_control_enabled(True)
    with qtbot.waitSignal(fp.select_requested) as sig:
        fp.buttons["Select open"].click()
    assert sig.args == ["F1_Q0", False]
    fp.selection_confirmed(False)
    with qtbot.waitSignal(fp.operate_requested) as sig:
        fp.buttons["Operate"].click()
    assert sig.args == ["F1_Q0", False]


def test_transformer_faceplate_has_nameplate_and_mini_trend(qtbot, station, plant):
    fp = Faceplate(station.asset("ICT1"), plant.points)
    qtbot.addWidget(fp)
    for _ in range(5):
        fp.update_snapshot(snapshot_of(plant))
    assert fp.points.name[fp.trend_row] == "LOADING"
    x, y = fp._curve.getData()
    assert len(x) == 5
    assert "%" in fp.value_text("LOADING")[0] and not fp.buttons
