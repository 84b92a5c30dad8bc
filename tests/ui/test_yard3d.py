"""The 3D switchyard: layout rules, states and alarms, geometry updates in place, the static
render (no display needed: the render runs off-screen in a child process, as the HMI's
static view does)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from app.alarms.engine import AlarmRow, AlarmState
from app.station import quality as Q
from app.ui.yard3d import layout as L
from app.ui.yard3d import scene as S
from app.ui.yard3d.layout import YardModel, place
from app.ui.yard3d.state import YardState, alarm_markers, yard_state

from .conftest import T0, snapshot_of

ROOT = Path(__file__).resolve().parents[2]


def row(asset: str, kind: str, priority: int, state: AlarmState = AlarmState.UNACK,
        active: bool = True, tag: str = "") -> AlarmRow:
    tag = tag or f"{asset}.X"
    return AlarmRow(key=f"{tag}:{kind}", tag=tag, asset=asset, kind=kind, priority=priority,
                    state=state, message=f"{asset} {kind}", value=1.0,
                    since=T0.astimezone(dt.UTC), active=active, acked_by=None,
                    shelved_until=None, shelve_reason="", chattering=False)


@pytest.fixture(scope="module")
def scene(station):
    return S.YardScene(station)


def test_every_main_device_is_placed_without_overlap(station):
    placed = place(station)
    kinds = {p.kind for p in placed}
    assert {"breaker", "isolator", "earth_switch", "ct", "ict", "transformer", "cvt",
            "lightning_arrester", "gantry", "reactor", "capacitor_bank"} <= kinds
    ids = {p.asset for p in placed}
    assert {a.id for a in station.switches()} <= ids
    spots = {(round(p.x, 1), round(p.y, 1)) for p in placed if p.kind != "gantry"}
    assert len(spots) == len([p for p in placed if p.kind != "gantry"])
    # Every bay has a label from the station file, and bays stand apart.
    model = YardModel(station)
    assert model.bays["F1"].label == "F1 Peenya" and model.bays["BC4"].label == "BC4"
    xs = {(b.kv, b.x) for b in model.bays.values()}
    assert len(xs) == len(model.bays)


def test_transformers_are_sized_by_rating(scene):
    def footprint(asset: str) -> float:
        b = scene.device_bounds(scene.index[asset])
        return (b[1] - b[0]) * (b[3] - b[2])

    assert footprint("ICT1") > 2.5 * footprint("TR1")  # 315 MVA vs 50 MVA


def test_states_follow_the_snapshot(station, plant, scene):
    st = yard_state(scene, plant.points, snapshot_of(plant))
    k = scene.index["F1_Q0"]
    assert (st.part[k] == L.CLOSED).all() and (st.body[k] == L.BODY).all()
    assert st.bus_live.all() and st.seg_live.all() and st.blade_open[k] == 0.0
    plant.operate("F1_Q0", False)
    plant.inject("bus_fault", asset="B220_M2")
    st = yard_state(scene, plant.points, snapshot_of(plant))
    assert (st.part[k] == L.OPEN).all() and st.blade_open[k] == 1.0
    assert not st.bus_live.all()
    # Beyond the open breaker the feeder is dead: its line-side equipment and conductor grey.
    assert (st.body[scene.index["F1_LA"]] == L.DEAD).all()
    dead = [s[0] for s, live in zip(scene.segments, st.seg_live, strict=True) if not live]
    assert "F1" in dead
    # Bad data: magenta, only for bad data.
    snap = snapshot_of(plant)
    q = snap.frame.quality.copy()
    q[plant.points.index["F2_Q0.POS"]] = Q.INVALID
    st = yard_state(scene, plant.points, snapshot_of(plant, quality=q))
    assert (st.part[scene.index["F2_Q0"]] == L.INVALID).all()
    assert sum((st.part == L.INVALID).all(axis=1)) == 1


def test_alarms_mark_devices_bays_and_trips(station, plant, scene):
    rows = [row("ICT1", "analog", 1, tag="ICT1.LOADING"),
            row("ICT1", "analog", 3, tag="ICT1.TOP_OIL"),
            row("F1_Q0", "trip", 1),
            row("F3_21", "protection", 2),  # a relay: not drawn, marked at its bay
            row("F4_Q0", "status", 2, AlarmState.SHELVED),  # shelved: no marker
            row("F2_CT", "analog", 3, AlarmState.RTN_UNACK, active=False)]
    marks = {m.device if m.device >= 0 else m.bay: m for m in alarm_markers(scene, rows)}
    ict = marks[scene.index["ICT1"]]
    assert ict.priority == 1 and not ict.trip
    assert marks[scene.index["F1_Q0"]].trip
    assert marks["F3"].priority == 2
    assert scene.index["F4_Q0"] not in marks
    st = yard_state(scene, plant.points, snapshot_of(plant), rows)
    assert (st.body[scene.index["ICT1"]] == L.PRIORITY[1]).all()
    assert (st.body[scene.index["F1_Q0"]] == L.PRIORITY[1]).all()
    # An unacknowledged return to normal keeps its marker but no longer colours the device.
    assert (st.body[scene.index["F2_CT"]] == L.BODY).all()
    assert marks[scene.index["F2_CT"]].unacked
    # Acknowledged: the trip flag goes, the marker stays while the alarm is active.
    rows[2] = row("F1_Q0", "trip", 1, AlarmState.ACKED)
    m = next(m for m in alarm_markers(scene, rows) if m.device == scene.index["F1_Q0"])
    assert not m.trip and m.priority == 1


def test_apply_recolours_and_turns_blades_in_place(plant, scene):
    n_points, n_cells = scene.devices.n_points, scene.devices.n_cells
    st = yard_state(scene, plant.points, snapshot_of(plant))
    k = scene.index["F1_Q9"]
    scene.apply(st)
    mine = scene._blade_dev == k
    top_closed = scene.blades.points[mine][:, 2].max()
    st.blade_open[k] = 1.0
    st.part[k] = L.OPEN
    scene.apply(st)
    top_open = scene.blades.points[mine][:, 2].max()
    assert top_open > top_closed + 2.0  # the blade stands up: visibly open
    cells = np.flatnonzero(scene.blade_of_cell == k)
    assert (scene.blades.cell_data["rgb"][cells] == L.OPEN).all()
    # Other blades did not move; the geometry's structure is the same.
    others = ~mine & (scene._blade_dev == scene.index["F2_Q9"])
    assert np.allclose(scene.blades.points[others], scene._blade_closed[others])
    assert (scene.devices.n_points, scene.devices.n_cells) == (n_points, n_cells)
    brk = scene.index["F1_Q0"]
    st.part[brk] = L.OPEN
    scene.apply(st)
    head = np.flatnonzero((scene.device_of_cell == brk) & (scene.part_of_cell == S.PART))
    body = np.flatnonzero((scene.device_of_cell == brk) & (scene.part_of_cell == S.BODY))
    assert len(head) and len(body)
    assert (scene.devices.cell_data["rgb"][head] == L.OPEN).all()
    assert (scene.devices.cell_data["rgb"][body] == L.BODY).all()


def test_picking_and_bays(scene):
    p = next(x for x in scene.placed if x.asset == "ICT1")
    assert scene.nearest((p.x, p.y, 0.0)) == "ICT1"
    f1 = next(x for x in scene.placed if x.asset == "F1_Q0")
    assert scene.nearest((f1.x + f1.phases[0], f1.y, 5.0)) == "F1_Q0"  # an outer pole
    assert scene.bay_of("F3_21") == "F3" and scene.bay_of("F3") == "F3"
    assert scene.bay_of("B400_M1") is None
    focal, pos = scene.bay_view("F1")
    assert abs(focal[0] - scene.bays["F1"].x) < 1e-6 and pos[2] > focal[2]


def test_state_round_trips_through_a_file(plant, scene, tmp_path):
    st = yard_state(scene, plant.points, snapshot_of(plant),
                    [row("ICT1", "analog", 1), row("F1_Q0", "trip", 1)], "F2_Q0", "F2")
    st.save(tmp_path / "s.npz")
    back = YardState.load(tmp_path / "s.npz")
    from app.ui.yard3d.widget import same_state

    assert same_state(st, back)
    assert back.markers == st.markers and back.focus_bay == "F2"


def test_static_render_shows_alarm_markers(plant, scene, tmp_path):
    """The static view's child renders the state it is given: the urgent marker and trip
    flag are there in the priority colour, which appears nowhere without alarms."""
    def render(rows: list[AlarmRow], name: str) -> np.ndarray:
        st = yard_state(scene, plant.points, snapshot_of(plant), rows)
        st.save(tmp_path / f"{name}.npz")
        out = tmp_path / f"{name}.png"
        env = dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow")
        r = subprocess.run([sys.executable, "-m", "app.ui.yard3d.render", str(out),
                            str(tmp_path / f"{name}.npz"), "800x500"], cwd=ROOT, env=env,
                           capture_output=True, timeout=600)
        if r.returncode != 0:
            pytest.skip(f"no off-screen OpenGL here (render exit {r.returncode})")
        img = pv.read(out)
        return np.asarray(img.point_data.active_scalars)[:, :3]

    red = L.PRIORITY[1].astype(int)
    quiet = render([], "quiet")
    alarmed = render([row("ICT1", "analog", 1), row("F1_Q0", "trip", 1)], "alarmed")

    def reds(img: np.ndarray) -> int:
        return int((np.abs(img.astype(int) - red).sum(axis=1) < 30).sum())

    assert reds(quiet) == 0
    assert reds(alarmed) > 200
