"""The switchyard's geometry with pyvista (no Qt): a few merged meshes whose per-cell colours
carry each device's state, so a state change rewrites colours, never geometry."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyvista as pv

from app.station import Station
from app.ui.yard3d.layout import (  # noqa: F401 - the colours are part of this API
    CLOSED,
    DEAD,
    GREY,
    HEIGHT,
    INVALID,
    LEVEL,
    OPEN,
    SELECTED,
    STEEL,
    TRAVEL,
    YardModel,
)

_PROTO: dict[tuple[tuple[float, ...], int], pv.PolyData] = {}


def cyl(center: npt.ArrayLike, direction: Sequence[float], radius: float, height: float,
        resolution: int = 12) -> pv.PolyData:
    """A cylinder: a copy of one unit prototype per axis and resolution, scaled and moved
    with numpy (building each with pv.Cylinder cost 2.5 ms apiece, most of the scene)."""
    key = (tuple(float(d) for d in direction), int(resolution))
    proto = _PROTO.get(key)
    if proto is None:
        proto = _PROTO[key] = pv.Cylinder(center=(0, 0, 0), direction=direction, radius=1.0,
                                          height=1.0, resolution=resolution)
    d = np.abs(np.asarray(direction, dtype=float))
    d /= np.linalg.norm(d)
    scale = radius + (height - radius) * d  # radius across the axis, height along it
    m = proto.copy(deep=True)
    m.points = proto.points * scale + np.asarray(center, dtype=float)
    return m


def _sphere(radius: float, center: npt.ArrayLike) -> pv.PolyData:
    proto = _PROTO.get(((), 0))
    if proto is None:
        proto = _PROTO[((), 0)] = pv.Sphere(radius=1.0, center=(0, 0, 0))
    m = proto.copy(deep=True)
    m.points = proto.points * radius + np.asarray(center, dtype=float)
    return m


def _unit(kind: str, x: float, y: float, s: float) -> list[pv.PolyData]:
    """Meshes of one single-phase unit (or a three-phase device) standing at (x, y)."""
    m: list[pv.PolyData] = []
    if kind in ("breaker",):
        m.append(cyl((x, y, 3 * s), (0, 0, 1), 0.35 * s, 6 * s, resolution=10))
        m.append(cyl((x, y, 6.8 * s), (1, 0, 0), 0.5 * s, 2.6 * s, resolution=10))
    elif kind == "isolator":
        for dy in (-1.5, 1.5):
            m.append(cyl((x, y + dy * s, 2.5 * s), (0, 0, 1), 0.25 * s, 5 * s,
                                 resolution=8))
        m.append(pv.Box((x - 0.12 * s, x + 0.12 * s, y - 1.6 * s, y + 1.6 * s, 5 * s,
                         5.25 * s)))
    elif kind == "earth_switch":
        m.append(pv.Box((x - 0.1 * s, x + 0.1 * s, y - 0.1 * s, y + 0.1 * s, 0, 3 * s)))
    elif kind in ("ct", "cvt", "lightning_arrester"):
        h = {"ct": 4.5, "cvt": 5.5, "lightning_arrester": 4.0}[kind]
        r = {"ct": 0.45, "cvt": 0.35, "lightning_arrester": 0.25}[kind]
        m.append(cyl((x, y, h * s / 2), (0, 0, 1), r * s, h * s, resolution=10))
        if kind == "ct":
            m.append(_sphere(0.8 * s, (x, y, h * s + 0.4 * s)))
    elif kind in ("ict", "transformer"):
        big = 1.0 if kind == "ict" else 0.6
        m.append(pv.Box((x - 5 * big, x + 5 * big, y - 3 * big, y + 3 * big, 0, 5 * big)))
        for k in range(6):  # radiators
            yy = y - 2.5 * big + k * big
            m.append(pv.Box((x + 5.2 * big, x + 6.2 * big, yy, yy + 0.6 * big, 0.5, 4 * big)))
        for k in (-2.5, 0, 2.5):  # bushings
            m.append(cyl((x + k * big, y, 6.5 * big), (0, 0, 1), 0.3, 3 * big))
        m.append(cyl((x, y + 3.5 * big, 6 * big), (1, 0, 0), 0.8 * big, 6 * big))
    elif kind == "reactor":
        m.append(cyl((x, y, 2.5 * s), (0, 0, 1), 2.5 * s, 5 * s, resolution=16))
    elif kind == "capacitor_bank":
        m.append(pv.Box((x - 2, x + 2, y - 1.5, y + 1.5, 0, 3)))
    elif kind == "gantry":
        for dx in (-9 * s, 9 * s):
            m.append(pv.Box((x + dx - 0.4, x + dx + 0.4, y - 0.4, y + 0.4, 0, 14 * s)))
        m.append(pv.Box((x - 9 * s, x + 9 * s, y - 0.4, y + 0.4, 13.2 * s, 14 * s)))
    else:  # feeder end, anything else: a small post
        m.append(cyl((x, y, 1.5), (0, 0, 1), 0.3, 3))
    return m


class YardScene(YardModel):
    def __init__(self, station: Station) -> None:
        super().__init__(station)
        meshes, owner = [], []
        for k, p in enumerate(self.placed):
            s = HEIGHT[p.kv]
            for dx in p.phases:
                for m in _unit(p.kind, p.x + dx, p.y, s):
                    meshes.append(m)
                    owner.append(k)
        self.devices = self._merge(meshes, owner)
        self.device_of_cell = np.asarray(self.devices.cell_data["dev"])
        self.colours = np.tile(CLOSED, (len(self.placed), 1))
        self.devices.cell_data["rgb"] = self.colours[self.device_of_cell]
        bus = []
        for _asset, x1, x2, y, kv in self.spans:
            z = 11.0 * HEIGHT[kv]
            bus.append(cyl(((x1 + x2) / 2, y, z), (1, 0, 0), 0.25 * HEIGHT[kv] + 0.1,
                           x2 - x1, resolution=8))
        owner = [k for k, m in enumerate(bus) for _ in range(m.n_cells)]
        self.buses = pv.merge(bus) if bus else pv.PolyData()
        if bus:
            self.buses.cell_data["bus"] = np.asarray(owner)
            self.buses.cell_data["rgb"] = np.tile(GREY, (self.buses.n_cells, 1))
        xs = [p.x for p in self.placed]
        ys = [p.y for p in self.placed]
        self.ground = pv.Plane(center=((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, -0.05),
                               direction=(0, 0, 1), i_size=max(xs) - min(xs) + 30,
                               j_size=max(ys) - min(ys) + 30)

    @staticmethod
    def _merge(meshes: list[pv.PolyData], owner: list[int]) -> pv.PolyData:
        for m, k in zip(meshes, owner, strict=True):
            m.cell_data["dev"] = np.full(m.n_cells, k)
        return pv.merge(meshes)

    def apply(self, colours: np.ndarray, bus_live: list[bool]) -> None:
        """Per-device colours (n×3 uint8) and per-busbar energisation → cell colours."""
        self.colours = colours
        self.devices.cell_data["rgb"] = colours[self.device_of_cell]
        if self.buses.n_cells:
            bc = np.array([LEVEL[kv] if live else DEAD
                           for (_, kv), live in zip(self.bus_assets, bus_live, strict=True)])
            self.buses.cell_data["rgb"] = bc[self.buses.cell_data["bus"]]


def render_png(station: Station, path: str, colours: np.ndarray | None = None,
               bus_live: list[bool] | None = None, size: tuple[int, int] = (1200, 800)) -> None:
    """Off-screen render of the yard (used in a child process by the static fallback)."""
    pv.global_theme.multi_samples = 0
    sc = YardScene(station)
    if colours is not None:
        sc.apply(colours, bus_live or [True] * len(sc.bus_assets))
    pl = pv.Plotter(off_screen=True, window_size=size)
    add(pl, sc)
    pl.screenshot(path)
    pl.close()


def add(pl: pv.Plotter, sc: YardScene) -> None:
    pl.set_background("#D6D6D6")
    pl.add_mesh(sc.ground, color="#B9B9B0", lighting=False)
    pl.add_mesh(sc.devices, scalars="rgb", rgb=True, smooth_shading=False, name="devices")
    if sc.buses.n_cells:
        pl.add_mesh(sc.buses, scalars="rgb", rgb=True, name="buses")
    c = sc.ground.center
    pl.camera.focal_point = c
    pl.camera.position = (c[0] + 140, c[1] - 260, 170)
    pl.camera.up = (0, 0, 1)
    pl.reset_camera_clipping_range()
    pl.camera.zoom(1.25)
