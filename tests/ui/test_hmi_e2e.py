"""The HMI as `gridtwin run` builds it: field-sim child process over Modbus TCP and IEC 61850
MMS, the solver and the historian writer on their threads, the window offscreen."""

from __future__ import annotations

import numpy as np
import pytest

from app.field.sim.control import ControlClient
from app.runtime.qt.threads import running_threads


@pytest.fixture
def hmi(qtbot, tmp_path):
    from app.ui.app import RunOptions, build

    h = build(RunOptions(headless=True, data_dir=str(tmp_path / "data"), no_3d=True,
                         settings=str(tmp_path / "hmi.ini"), trend=("ICT1.LOADING",)))
    qtbot.addWidget(h.win)
    h.start()
    yield h
    h.close()
    assert running_threads() == []


def test_breaker_opened_in_the_field_sim_reaches_the_diagram_and_the_twin(hmi, qtbot):
    win = hmi.win
    qtbot.waitUntil(lambda: win.last_snapshot is not None
                    and win.last_snapshot.frame.good().mean() > 0.99, timeout=30_000)
    # The bays' IEDs may still be connecting (their bays are then "connecting", not OK).
    qtbot.waitUntil(lambda: "all 29 devices OK" in win.status.comm_label.text(), timeout=30_000)
    assert win.sld.items_by_asset["TR2H_Q0"].state_name == "closed"
    assert win.sld.busbars["B33_B"].energised
    # The operator's colleague at the bay opens TR-2's 220 kV breaker (the field's own path).
    with ControlClient(*hmi.sim.addresses["control"]) as c:
        r = c.call("operate", asset="TR2H_Q0", close=False)
        assert r["ok"], r
    qtbot.waitUntil(lambda: win.sld.items_by_asset["TR2H_Q0"].state_name == "open",
                    timeout=15_000)
    # The twin, solved from the scan, finds the 33 kV bus B dead: the diagram greys it.
    qtbot.waitUntil(lambda: not win.sld.busbars["B33_B"].energised, timeout=15_000)
    tw = win.last_snapshot.twin
    assert not tw.bus("b33_b").energised and tw.bus("b33_a").energised
    assert win.sld.busbars["B33_A"].energised
    # The sequence of events has it, from the scan.
    qtbot.waitUntil(lambda: any("TR2H_Q0" in e.message for e in win.events.model.rows),
                    timeout=15_000)


def test_trends_get_live_data_and_history_from_the_historian(hmi, qtbot):
    win = hmi.win
    s = win.trends.series["ICT1.LOADING"]
    qtbot.waitUntil(lambda: len(s.live()[0]) >= 20, timeout=30_000)
    t, v = s.live()
    assert np.all(np.diff(t) > 0) and np.all((v > 10) & (v < 150))
    # The historian writes every second; a point trended now is backfilled from it.
    qtbot.waitUntil(lambda: hmi.historian.status.samples_written > 0, timeout=15_000)
    win.trend("B220_M1.V")
    b = win.trends.series["B220_M1.V"]
    qtbot.waitUntil(lambda: len(b.hist_t) > 0, timeout=15_000)
    # History older than the point's first live sample, with 220 kV values in the Grid Code band.
    qtbot.waitUntil(lambda: len(b.live()[0]) > 0, timeout=15_000)
    assert b.hist_t[0] < b.live()[0][0]
    assert np.nanmin(b.hist_v) > 198 and np.nanmax(b.hist_v) < 245


def test_a_bay_that_stops_answering_is_one_alarm_not_one_per_point(hmi, qtbot):
    """Both paths to bay F3 (its IED and its RTU unit) stop answering: the alarm list gets
    the bay's communication alarm, not a flood of data-invalid alarms for its points."""
    win = hmi.win
    qtbot.waitUntil(lambda: win.last_snapshot is not None
                    and win.last_snapshot.frame.good().mean() > 0.99, timeout=30_000)
    with ControlClient(*hmi.sim.addresses["control"]) as c:
        c.inject("comm_lost", device="F3")
    qtbot.waitUntil(lambda: win.alarms.model.row_of("F3:comm") is not None, timeout=15_000)
    seq = win.last_snapshot.seq
    qtbot.waitUntil(lambda: win.last_snapshot.seq >= seq + 10, timeout=15_000)
    rows = win.points.device("F3").points
    tags = {win.points.tags[r] for r in rows}
    per_point = [r.key for r in win.alarms.model.rows
                 if r.key.endswith(":invalid") and r.key.split(":")[0] in tags]
    assert per_point == []
    assert "LOST (F3)" in win.status.comm_label.text()
