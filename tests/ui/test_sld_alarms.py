"""Abnormal at a glance on the diagram (ISA-101): alarm markers, trip flags, out-of-limit
colours, loading bars and band gauges follow the alarm engine's view; text is declutterred
as the view zooms out and never drawn below a readable size."""

from __future__ import annotations

import datetime as dt

import pytest

from app.alarms.engine import AlarmRow, AlarmState, AlarmView
from app.ui import theme
from app.ui.sld import SldView
from app.ui.sld import items as I
from app.ui.sld.markers import summarise
from app.ui.sld.view import MIN_TEXT_PT

from .conftest import T0, snapshot_of

S = AlarmState


def row(key: str, asset: str, kind: str = "analog", prio: int = 2,
        state: AlarmState = S.UNACK, active: bool = True, tag: str | None = None,
        value: float = 0.0) -> AlarmRow:
    return AlarmRow(key, tag or key.split(":")[0], asset, kind, prio, state, key, value, T0,
                    active, None, None, "", False)


def view(*rows: AlarmRow) -> AlarmView:
    return AlarmView(T0 + dt.timedelta(seconds=1), tuple(rows), (), {}, {}, False, 0)


@pytest.fixture
def sld(qtbot, station, plant):
    v = SldView(station, plant.points)
    qtbot.addWidget(v)
    v.resize(1600, 1000)
    v.show()
    v.update_snapshot(snapshot_of(plant))
    return v


def test_summary_per_asset_counts_annunciated_alarms_only():
    s = summarise([row("ICT1.LOADING:hi", "ICT1", prio=1),
                   row("ICT1.TOP_OIL:hi", "ICT1", prio=3, state=S.ACKED),
                   row("ICT1.HOT_SPOT:hi", "ICT1", prio=2, state=S.SHELVED),
                   row("F2_Q0:trip", "F2_Q0", kind="trip", prio=1, tag="F2_Q0.POS"),
                   row("F3_Q0:trip", "F3_Q0", kind="trip", prio=1, tag="F3_Q0.POS",
                       state=S.ACKED)])
    ict = s["ICT1"]
    assert (ict.priority, ict.count, ict.unacked, ict.tripped) == (1, 2, 1, False)
    assert dict(ict.out_of_limit) == {"ICT1.LOADING": 1, "ICT1.TOP_OIL": 3}
    assert s["F2_Q0"].tripped and not s["F3_Q0"].tripped  # a trip flag until acknowledged


def test_every_object_with_an_alarm_gets_a_marker_of_its_priority(sld):
    sld.apply_alarms(view(row("ICT1.LOADING:hi", "ICT1", prio=1),
                          row("F2_21.OP:op", "F2_21", kind="protection", prio=2,
                              tag="F2_21.OP"),
                          row("B220_M1.V:lo", "B220_M1", prio=3),
                          row("F3:comm", "F3", kind="comm", prio=2, tag="F3")))
    # Relays and a bay's communication have no symbol: their marker is at the bay's breaker.
    assert set(sld.markers) == {"ICT1", "F2_Q0", "B220_M1", "F3_Q0"}
    assert sld.markers["ICT1"].priority == 1 and sld.markers["F2_Q0"].priority == 2
    assert sld.markers["B220_M1"].priority == 3
    m = sld.markers["ICT1"]
    assert m.flags() & m.GraphicsItemFlag.ItemIgnoresTransformations  # never zoomed away
    # The marker sits beside the object, not on top of another one.
    ict = sld.items_by_asset["ICT1"].sceneBoundingRect()
    assert ict.adjusted(-60, -60, 60, 60).contains(m.pos())
    sld.apply_alarms(view(row("ICT1.LOADING:hi", "ICT1", prio=1, state=S.ACKED)))
    assert set(sld.markers) == {"ICT1"} and not sld.markers["ICT1"].unacked
    sld.apply_alarms(view())
    assert sld.markers == {}


def test_unacknowledged_markers_blink_acknowledged_ones_do_not(sld, qtbot):
    sld.apply_alarms(view(row("ICT1.LOADING:hi", "ICT1", prio=1)))
    m = sld.markers["ICT1"]
    assert sld._blink.isActive()
    seen = set()
    for _ in range(3):
        sld._toggle_blink()
        seen.add(m.blink_on)
    assert seen == {True, False}
    sld.apply_alarms(view(row("ICT1.LOADING:hi", "ICT1", prio=1, state=S.ACKED)))
    assert not sld._blink.isActive()


def test_a_trip_shows_a_flag_until_acknowledged(sld):
    trip = row("F2_Q0:trip", "F2_Q0", kind="trip", prio=1, tag="F2_Q0.POS")
    sld.apply_alarms(view(trip))
    assert set(sld.trip_flags) == {"F2_Q0"}
    flag = sld.trip_flags["F2_Q0"]
    assert flag.scene() is sld.scene_
    assert flag.pos().y() < sld.items_by_asset["F2_Q0"].pos().y()  # at the breaker, above
    sld.apply_alarms(view(row("F2_Q0:trip", "F2_Q0", kind="trip", prio=1, tag="F2_Q0.POS",
                              state=S.ACKED)))
    assert sld.trip_flags == {}
    assert "F2_Q0" in sld.markers  # still an alarm (acknowledged) while it stays open


def test_out_of_limit_values_take_their_priority_colour(sld, plant):
    sld.apply_alarms(view(row("B220_M1.V:lo", "B220_M1", prio=2),
                          row("F2_CT.I_A:hi", "F2_CT", prio=3),
                          row("ICT1.LOADING:hi", "ICT1", prio=1),
                          row("ICT1.HOT_SPOT:hi", "ICT1", prio=2)))
    bg = sld._bus_bg["B220_M1"]
    assert bg.isVisible() and bg.brush().color() == theme.PRIORITY[2]
    assert not sld._bus_bg["B220_M2"].isVisible()  # colour only for the abnormal
    assert sld._bus_gauge["B220_M1"].priority == 2
    flows = dict(zip(sld._flow_bay, [f for f, *_ in sld._flows], strict=True))
    assert flows["F2"].label.priority == 3 and flows["F1"].label.priority == 0
    tx = sld.items_by_asset["ICT1"]
    assert tx.loading_priority == 1
    # Readings are "label, load, hot spot, tap": the load and the hot spot are coloured.
    assert tx.priorities == (0, 1, 2, 0)
    assert sld.items_by_asset["ICT2"].loading_priority == 0
    # The colours stay as new scans arrive, and go when the alarms clear.
    sld.update_snapshot(snapshot_of(plant))
    assert bg.isVisible() and tx.priorities == (0, 1, 2, 0)
    sld.apply_alarms(view())
    assert not bg.isVisible() and tx.priorities == (0, 0, 0, 0)
    assert flows["F2"].label.priority == 0


def test_loading_bars_and_the_grid_code_band_are_drawn_from_live_values(sld, plant):
    tx = sld.items_by_asset["ICT1"]
    assert tx.loading_pct == tx.loading_pct and 0 < tx.loading_pct < 150
    gauge = sld._bus_gauge["B220_M1"]
    assert gauge.min_kv < gauge.kv < gauge.max_kv and not gauge.outside
    gauge.set_value(gauge.min_kv - 10, 0)
    assert gauge.outside  # a violation is seen from the pointer's place, not the number
    assert any(f.label.loading_pct == f.label.loading_pct for f, *_ in sld._flows)


def test_text_declutters_as_the_view_zooms_out_and_is_never_unreadable(sld):
    sld.resetTransform()
    sld.zoom(1.0)
    assert sld.declutter_level == 0
    levels = []
    for _ in range(14):
        sld.zoom(1 / 1.25)
        levels.append(sld.declutter_level)
        for t, size in sld._labels:
            if t.isVisible():
                assert sld.text_pt(size) * t.scale() >= MIN_TEXT_PT - 1e-6
        for f, *_ in sld._flows:
            if f.label.isVisible():
                assert sld.text_pt(8.0) * f.label.scale() >= MIN_TEXT_PT - 1e-6
    assert levels == sorted(levels) and levels[-1] == 2 and 1 in levels
    # States and markers stay at every level.
    sld.apply_alarms(view(row("ICT1.LOADING:hi", "ICT1", prio=1)))
    assert sld.markers["ICT1"].isVisible()
    assert all(i.isVisible() for i in sld.items_by_asset.values())
    assert not any(f.label.isVisible() for f, *_ in sld._flows)
    assert all(isinstance(i, I.DeviceItem) for i in sld.items_by_asset.values())


def test_a_vt_voltage_alarm_colours_its_busbar_not_the_bays_power(sld):
    sld.apply_alarms(view(row("B220_M1_CVT.V_AB:lo", "B220_M1_CVT", prio=2),
                          row("F1_CVT.V_A:lo", "F1_CVT", prio=2)))
    assert sld._bus_bg["B220_M1"].isVisible() and not sld._bus_bg["B220_M2"].isVisible()
    flows = dict(zip(sld._flow_bay, [f for f, *_ in sld._flows], strict=True))
    assert flows["F1"].label.priority == 0  # its MW are not what is out of limits
    assert "F1_CVT" in sld.markers  # the feeder's VT carries the marker


@pytest.mark.parametrize("size", [(1366, 560), (1600, 1000), (3840, 1900)])
def test_a_bus_voltage_in_alarm_is_not_hidden_by_its_marker(qtbot, station, plant, size):
    """Every busbar in alarm at once (an overvoltage over the station): each bus's kV value
    stays readable — no alarm marker and no other label drawn over it (seen on 33 kV bus A,
    whose value sat under its marker and the bus section's name)."""
    from PySide6.QtCore import QRectF
    from PySide6.QtWidgets import QGraphicsSimpleTextItem

    v = SldView(station, plant.points)
    qtbot.addWidget(v)
    v.resize(*size)
    v.show()
    v.update_snapshot(snapshot_of(plant))
    rows = []
    for b in v._busbar_spec:
        for k in range(3):
            rows.append(row(f"{b}.V:{k}", b, prio=2, tag=f"{b}.V"))
    v.apply_alarms(view(*rows))
    qtbot.wait(50)

    def on_screen(item) -> QRectF:  # noqa: ANN001
        return item.deviceTransform(v.viewportTransform()).mapRect(item.boundingRect())

    markers = {k: on_screen(m) for k, m in v.markers.items() if m.isVisible()}
    assert set(v._busbar_spec) <= set(markers)
    texts = [t for t in v.scene_.items() if isinstance(t, QGraphicsSimpleTextItem)
             and t.isVisible() and t not in v._bus_label.values() and t.text().strip()]
    for bus, label in v._bus_label.items():
        r = on_screen(label)
        hit = [k for k, m in markers.items() if m.intersects(r)]
        assert not hit, f"{bus}'s value under the marker of {hit}"
        over = [t.text() for t in texts if on_screen(t).intersects(r)
                and t.parentItem() is not label]
        assert not over, f"{bus}'s value under {over}"


@pytest.mark.parametrize("size", [(1366, 560), (1600, 1000)])
def test_markers_of_one_bay_never_sit_on_each_other(qtbot, station, plant, size):
    """Every asset in alarm at once: markers of one bay that would overlap on screen are one
    marker (the worst priority, every alarm counted, its tooltip naming them all) — the line
    bays' VT and line markers were drawn one over the other in an overvoltage drill."""
    from PySide6.QtCore import QRectF

    v = SldView(station, plant.points)
    qtbot.addWidget(v)
    v.resize(*size)
    v.show()
    v.update_snapshot(snapshot_of(plant))
    rows = [row(f"{a.id}.X:hi", a.id, prio=2 if a.type == "line" else 3)
            for a in station.assets]
    v.apply_alarms(view(*rows))
    qtbot.wait(50)

    def on_screen(item) -> QRectF:  # noqa: ANN001
        return item.deviceTransform(v.viewportTransform()).mapRect(item.boundingRect())

    drawn = {k: m for k, m in v.markers.items() if m.isVisible()}
    bay = {k: station.asset(k).bay for k in drawn}
    # (A double busbar's two stand beside their own values: the lower one steps left.)
    for k1, k2 in ((a, b) for a in drawn for b in drawn if a < b and bay[a] == bay[b]):
        assert not on_screen(drawn[k1]).intersects(on_screen(drawn[k2])), (k1, k2)
    # Nothing lost: every alarm of the anchored assets is counted on one marker.
    shown = sum(m.count for m in drawn.values())
    anchored = sum(1 for a in station.assets if v._anchor(a.id) is not None)
    assert shown == anchored
    line = next(k for k, m in drawn.items() if bay[k] == "L1" and m.priority == 2)
    assert "L1_LINE" in drawn[line].toolTip()
