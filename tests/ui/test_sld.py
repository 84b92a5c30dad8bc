"""The live single-line diagram: layout, items, live states, interaction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.station import quality as Q
from app.station.frame import Comm, CommState
from app.ui.sld import SldView
from app.ui.sld import items as I
from app.ui.sld.layout import LayoutError, default_layout_path, load_layout

from .conftest import snapshot_of


@pytest.fixture
def sld(qtbot, station, plant):
    v = SldView(station, plant.points)
    qtbot.addWidget(v)
    v.resize(1600, 1000)
    v.show()
    return v


def test_every_layout_device_has_an_item_and_every_switch_is_drawn(sld, station):
    lay = json.loads(default_layout_path().read_text())
    assert {d["asset"] for d in lay["devices"]} == set(sld.items_by_asset)
    assert {a.id for a in station.switches()} <= set(sld.items_by_asset)
    kinds = {type(i).__name__ for i in sld.items_by_asset.values()}
    assert {"BreakerItem", "IsolatorItem", "EarthSwitchItem", "TransformerItem", "CtItem",
            "CvtItem", "ArresterItem", "ReactorItem", "CapacitorItem", "FeederItem"} <= kinds
    assert set(sld.busbars) == {"B400_M1", "B400_M2", "B220_M1", "B220_M2", "B33_A", "B33_B"}


def test_breaker_opened_in_the_field_shows_open_and_downstream_dead(sld, plant):
    sld.update_snapshot(snapshot_of(plant))
    assert sld.items_by_asset["F2_Q0"].state_name == "closed"
    plant.operate("F2_Q0", False)
    sld.update_snapshot(snapshot_of(plant))
    assert sld.items_by_asset["F2_Q0"].state_name == "open"
    assert not sld.items_by_asset["F2_LINE"].energised
    wires = {b: w.energised for w, b in sld._wires}
    assert wires["f2_t"] is False and wires["b220_m1"] is True


def test_bus_fault_greys_the_bus(sld, plant):
    plant.inject("bus_fault", asset="B220_M2")
    sld.update_snapshot(snapshot_of(plant))
    assert not sld.busbars["B220_M2"].energised and sld.busbars["B220_M1"].energised
    assert sld.items_by_asset["F3_Q0"].state_name == "open"


def test_invalid_and_comm_lost_data_are_unmistakable(sld, plant):
    s = plant.step(0.1)
    q = s.quality.copy()
    q[plant.points.row("F4_Q0.POS")] = Q.SENSOR_FAILED
    q[plant.points.device("F1").points] = Q.COMM_LOST
    comm = {"F1": CommState("F1", "iec61850", Comm.LOST, s.timestamp, "timeout")}
    sld.update_snapshot(snapshot_of(plant, s, quality=q, comm=comm))
    for a in ("F4_Q0", "F1_Q0", "F1_Q1", "F1_Q9"):
        assert sld.items_by_asset[a].state_name == "invalid", a
    assert sld.items_by_asset["F3_Q0"].state_name == "closed"


def test_intermediate_position_while_travelling(sld, plant):
    plant.travel_s["isolator"] = 30.0
    plant.operate("F3_Q0", False)
    plant.step(0.1)
    plant.operate("F3_Q9", False)
    sld.update_snapshot(snapshot_of(plant))
    assert sld.items_by_asset["F3_Q9"].state_name == "intermediate"


def test_flow_direction_and_labels(sld, plant):
    sld.update_snapshot(snapshot_of(plant))
    by_breaker = {}
    for flow, pr, _qr, _r in sld._flows:
        by_breaker[plant.points.tags[pr].split("_CT")[0]] = flow
    assert by_breaker["F1"].direction == 1  # out of the busbar to the feeder
    assert by_breaker["L1"].direction == -1  # the grid feeds the station
    assert by_breaker["F1"].p == pytest.approx(
        plant.snapshot().values[plant.points.row("F1_CT.P")])


def test_click_selects_and_context_menu_offers_points(sld, qtbot):
    with qtbot.waitSignal(sld.device_selected) as sig:
        sld.items_by_asset["ICT1"].setSelected(True)
    assert sig.args == ["ICT1"]
    tags = sld.points_of("F1_Q0")
    assert "F1_Q0.POS" in tags and "F1_CT.P" in tags
    sld.select_device("F2_Q0")
    assert sld.items_by_asset["F2_Q0"].isSelected()


def test_bad_layouts_are_refused_naming_entry_and_field(tmp_path, station, plant):
    lay = json.loads(default_layout_path().read_text())
    lay["devices"][3]["symbol"] = "teapot"
    bad = tmp_path / "l.json"
    bad.write_text(json.dumps(lay))
    with pytest.raises(LayoutError, match=r"devices\[.*\]: field 'symbol': unknown symbol"):
        load_layout(station, plant.points, bad)
    lay = json.loads(default_layout_path().read_text())
    lay["devices"] = [d for d in lay["devices"] if d["asset"] != "F1_Q0"]
    bad.write_text(json.dumps(lay))
    with pytest.raises(LayoutError, match="not on the diagram: F1_Q0"):
        load_layout(station, plant.points, bad)
    lay = json.loads(default_layout_path().read_text())
    ict = next(d for d in lay["devices"] if d["asset"] == "ICT1")
    ict["tags_extra"][0] = ["ICT1.NOPE", "load"]
    bad.write_text(json.dumps(lay))
    with pytest.raises(LayoutError, match=r"devices\[ICT1\]: field 'tags_extra': no point"):
        load_layout(station, plant.points, bad)
    bad.write_text("{ nope")
    with pytest.raises(LayoutError, match="line 1: not valid JSON"):
        load_layout(station, plant.points, bad)


def test_repeated_snapshots_change_nothing_that_did_not_change(sld, plant):
    s = snapshot_of(plant)
    sld.update_snapshot(s)
    item = sld.items_by_asset["F1_Q0"]
    assert isinstance(item, I.BreakerItem)
    assert item.set_position(item.position) is False  # no repaint for an unchanged state
    assert np.isfinite([f.p for f, *_ in sld._flows]).all()


def test_numbers_refresh_twice_a_second_states_and_bad_quality_at_once(sld, plant, monkeypatch):
    """States follow every scan; the kV / MW / Mvar text only every VALUES_S, the labels
    staggered (readable, and most of the diagram's paint time otherwise) — except a reading
    that turns bad, which is a state: its label says so on that scan."""
    from app.ui.sld import view as V

    clock = [1000.0]
    monkeypatch.setattr(V.time, "monotonic", lambda: clock[0])
    sld.update_snapshot(snapshot_of(plant))
    labels = [f.label for f, *_ in sld._flows] + list(sld._bus_label.values())

    def texts() -> list:  # noqa: ANN202
        return [x.lines if isinstance(x, I.FlowLabel) else x.text() for x in labels]

    plant.inject("overvoltage", pu=1.08)  # the numbers move on every scan
    seen = [texts()]
    for _ in range(10):  # one second of scans
        clock[0] += 0.1
        sld.update_snapshot(snapshot_of(plant))
        seen.append(texts())
    changes = [sum(a[i] != b[i] for a, b in zip(seen, seen[1:], strict=False))
               for i in range(len(labels))]
    # ~twice in the second, not ten times (a label whose value did not move: not at all)
    assert max(changes) <= 3 and sum(changes) >= len(labels), changes
    per_scan = [sum(x != y for x, y in zip(a, b, strict=True))
                for a, b in zip(seen, seen[1:], strict=False)]
    assert max(per_scan) < len(labels)  # staggered: never all at once
    flow = next(f for f, pr, _q, _r in sld._flows if plant.points.tags[pr] == "F1_CT.P")
    s = plant.step(0.1)
    q = s.quality.copy()
    q[plant.points.row("F1_CT.P")] = Q.SENSOR_FAILED
    plant.operate("F2_Q0", False)
    clock[0] += 0.01
    sld.update_snapshot(snapshot_of(plant, plant.step(0.1), quality=q))
    assert flow.label.invalid  # the bad reading shows at once …
    assert sld.items_by_asset["F2_Q0"].state_name in ("open", "intermediate")  # … states too
