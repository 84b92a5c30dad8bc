"""The 3D switchyard: layout rules, state colours, picking (no rendering needed)."""

from __future__ import annotations

import numpy as np

from app.ui.yard3d import scene as S
from app.ui.yard3d.layout import place
from app.ui.yard3d.widget import device_colours

from .conftest import snapshot_of


def test_every_main_device_is_placed_without_overlap(station):
    placed = place(station)
    kinds = {p.kind for p in placed}
    assert {"breaker", "isolator", "ict", "transformer", "cvt", "lightning_arrester",
            "gantry", "reactor"} <= kinds
    ids = {p.asset for p in placed}
    assert {a.id for a in station.switches()} <= ids
    spots = {(round(p.x, 1), round(p.y, 1)) for p in placed if p.kind != "gantry"}
    assert len(spots) == len([p for p in placed if p.kind != "gantry"])


def test_state_colours_follow_the_snapshot_and_selection(station, plant):
    sc = S.YardScene(station)
    cols, live = device_colours(sc, plant.points, snapshot_of(plant))
    k = sc.index["F1_Q0"]
    assert (cols[k] == S.CLOSED).all() and all(live)
    plant.operate("F1_Q0", False)
    plant.inject("bus_fault", asset="B220_M2")
    cols, live = device_colours(sc, plant.points, snapshot_of(plant), selected="F2_Q0")
    assert (cols[k] == S.OPEN).all() and (cols[sc.index["F2_Q0"]] == S.SELECTED).all()
    assert not all(live)
    sc.apply(cols, live)
    cell = np.flatnonzero(sc.device_of_cell == k)[0]
    assert (sc.devices.cell_data["rgb"][cell] == S.OPEN).all()
    p = next(x for x in sc.placed if x.asset == "ICT1")
    assert sc.nearest((p.x, p.y, 0.0)) == "ICT1"
