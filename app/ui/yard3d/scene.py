"""The switchyard's geometry with pyvista (no Qt): a few merged meshes whose per-cell colours
carry each device's state, so a state change rewrites colours (and the disconnector blades'
points), never the geometry's structure.

Meshes (actors): ``devices`` (every device's body and state-bearing parts, cell data ``dev``
and ``part``), ``blades`` (disconnector and earth-switch blades, whose points are turned about
their hinges as the switch opens), ``buses`` and ``wires`` (busbars and bay conductors,
coloured by voltage level when energised, grey when dead), ``structures`` (busbar posts,
fixed colour) and the ground. On top: bay labels, and per state the alarm markers, the trip
flags, the selection box and the selected bay's device ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyvista as pv

from app.station import Station
from app.ui.yard3d import layout as L
from app.ui.yard3d.layout import HEIGHT, YardModel
from app.ui.yard3d.state import YardState, blank_state

_PROTO: dict[tuple[object, ...], pv.PolyData] = {}
BODY, PART = 0, 1
BLADE_OPEN_DEG = {"isolator": 70.0, "earth_switch": 88.0}
CONDUCTOR_Z = 8.0  # × the level's height scale
BUS_Z = 10.0


def cyl(center: npt.ArrayLike, direction: Sequence[float], radius: float, height: float,
        resolution: int = 12) -> pv.PolyData:
    """A cylinder: a copy of one unit prototype per axis and resolution, scaled and moved
    with numpy (building each with pv.Cylinder cost 2.5 ms apiece, most of the scene)."""
    key = ("cyl", tuple(float(d) for d in direction), int(resolution))
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


def _scaled(name: str, make: object, scale: npt.ArrayLike, center: npt.ArrayLike
            ) -> pv.PolyData:
    proto = _PROTO.get((name,))
    if proto is None:
        proto = _PROTO[(name,)] = make()  # type: ignore[operator]
    m = proto.copy(deep=True)
    m.points = proto.points * np.asarray(scale, dtype=float) + np.asarray(center, dtype=float)
    return m


def sphere(radius: float, center: npt.ArrayLike) -> pv.PolyData:
    return _scaled("sphere", lambda: pv.Sphere(radius=1.0, theta_resolution=8,
                                               phi_resolution=6), radius, center)


def ring(radius: float, center: npt.ArrayLike) -> pv.PolyData:
    """A grading ring (a torus lying flat)."""
    return _scaled("ring", lambda: pv.ParametricTorus(ringradius=1.0, crosssectionradius=0.12,
                                                      u_res=10, v_res=4, w_res=4),
                   radius, center)


def box(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> pv.PolyData:
    return pv.Box((x0, x1, y0, y1, z0, z1))


def insulator(x: float, y: float, z0: float, h: float, r: float, sheds: int = 5
              ) -> list[pv.PolyData]:
    """A porcelain column: a core with sheds, so it reads as an insulator, not a stick
    (hexagonal and few sheds: software GL draws ~100k triangles a frame at best)."""
    out = [cyl((x, y, z0 + h / 2), (0, 0, 1), r, h, resolution=6)]
    n = max(2, (sheds + 1) // 2)
    for k in range(n):
        z = z0 + h * (k + 0.6) / (n + 0.2)
        out.append(cyl((x, y, z), (0, 0, 1), r * 2.0, h * 0.05 + 0.04, resolution=6))
    return out


def support(x: float, y: float, s: float, h: float = 2.5) -> pv.PolyData:
    """The steel support structure equipment stands on."""
    return box(x - 0.3 * s, x + 0.3 * s, y - 0.3 * s, y + 0.3 * s, 0, h * s)


Piece = tuple[pv.PolyData, int]  # a mesh and its part (BODY or PART)
Blade = tuple[pv.PolyData, tuple[float, float, float], float]  # closed mesh, hinge, open deg


def unit(kind: str, x: float, y: float, s: float, big: float = 1.0
         ) -> tuple[list[Piece], list[Blade]]:
    """Meshes of one single-phase unit (or a three-phase device) standing at (x, y)."""
    m: list[Piece] = []
    blades: list[Blade] = []
    body = BODY
    if kind == "breaker":
        # SF6 live tank: a support, an insulator column, the interrupter head (a T on top)
        # whose colour shows the position, and the operating mechanism box at its foot.
        m.append((support(x, y, s), body))
        m.append((box(x - 0.5 * s, x + 0.5 * s, y - 0.7 * s, y - 0.2 * s, 0.8 * s, 1.8 * s),
                  body))
        m += [(p, body) for p in insulator(x, y, 2.5 * s, 3.0 * s, 0.28 * s)]
        m.append((cyl((x, y, 6.0 * s), (0, 1, 0), 0.55 * s, 3.2 * s, resolution=8), PART))
        m.append((cyl((x, y, 5.7 * s), (0, 0, 1), 0.45 * s, 0.8 * s, resolution=8), PART))
    elif kind == "isolator":
        # Vertical-break disconnector: two insulators on a common base, a blade from one to
        # the other, swung up when open.
        m.append((box(x - 0.3 * s, x + 0.3 * s, y - 2.0 * s, y + 2.0 * s, 2.2 * s, 2.5 * s),
                  body))
        m.append((support(x, y, s, 2.2), body))
        for dy in (-1.6, 1.6):
            m += [(p, body) for p in insulator(x, y + dy * s, 2.5 * s, 2.6 * s, 0.22 * s, 4)]
        blade = box(x - 0.1 * s, x + 0.1 * s, y - 1.6 * s, y + 1.7 * s, 5.1 * s, 5.3 * s)
        blades.append((blade, (x, y - 1.6 * s, 5.2 * s), BLADE_OPEN_DEG["isolator"]))
    elif kind == "earth_switch":
        m.append((box(x - 0.35 * s, x + 0.35 * s, y - 0.35 * s, y + 0.35 * s, 0, 1.2 * s),
                  body))
        blade = box(x - 0.08 * s, x + 0.08 * s, y - 0.08 * s, y + 0.08 * s, 1.2 * s,
                    5.6 * s)
        blades.append((blade, (x, y, 1.2 * s), BLADE_OPEN_DEG["earth_switch"]))
    elif kind == "ct":
        m.append((support(x, y, s), body))
        m += [(p, body) for p in insulator(x, y, 2.5 * s, 2.6 * s, 0.3 * s)]
        m.append((cyl((x, y, 5.6 * s), (0, 1, 0), 0.6 * s, 1.4 * s, resolution=8), body))
        m.append((sphere(0.55 * s, (x, y, 5.6 * s)), body))
    elif kind == "cvt":
        m.append((support(x, y, s), body))
        m.append((box(x - 0.45 * s, x + 0.45 * s, y - 0.45 * s, y + 0.45 * s, 2.5 * s,
                      3.3 * s), body))
        m += [(p, body) for p in insulator(x, y, 3.3 * s, 3.2 * s, 0.22 * s, 7)]
        m.append((cyl((x, y, 6.6 * s), (0, 0, 1), 0.35 * s, 0.2 * s), body))
    elif kind == "lightning_arrester":
        m.append((support(x, y, s), body))
        m += [(p, body) for p in insulator(x, y, 2.5 * s, 3.0 * s, 0.18 * s, 8)]
        m.append((ring(0.8 * s, (x, y, 5.3 * s)), body))
    elif kind in ("ict", "transformer"):
        b = big
        m.append((box(x - 5 * b, x + 5 * b, y - 3 * b, y + 3 * b, 0, 5.5 * b), body))
        for k in range(7):  # radiator banks on both long sides
            xx = x - 4.2 * b + k * 1.4 * b
            for side in (-1, 1):
                y0 = y + side * 3.0 * b
                y1 = y + side * 4.2 * b
                m.append((box(xx, xx + 0.9 * b, min(y0, y1), max(y0, y1), 0.6 * b, 4.6 * b),
                          body))
        for k in (-3.0, 0.0, 3.0):  # HV bushings (tall), LV bushings (short)
            m += [(p, body) for p in insulator(x + k * b, y + 1.5 * b, 5.5 * b, 4.0 * b,
                                                0.3 * b, 5)]
            m += [(p, body) for p in insulator(x + k * b, y - 1.5 * b, 5.5 * b, 2.2 * b,
                                                0.25 * b, 3)]
        m.append((cyl((x, y + 2.2 * b, 7.4 * b), (1, 0, 0), 0.9 * b, 6.5 * b), body))
        m.append((box(x - 5 * b, x - 4.6 * b, y + 2.0 * b, y + 2.4 * b, 5.5 * b, 7.4 * b),
                  body))
    elif kind == "reactor":
        m.append((cyl((x, y, 2.8 * s), (0, 0, 1), 2.6 * s, 5.6 * s, resolution=12), body))
        for k in range(6):
            ang = k * np.pi / 3
            m.append((box(x + 2.6 * s * np.cos(ang) - 0.4 * s, x + 2.6 * s * np.cos(ang)
                          + 0.4 * s, y + 2.6 * s * np.sin(ang) - 0.4 * s,
                          y + 2.6 * s * np.sin(ang) + 0.4 * s, 0.5 * s, 4.8 * s), body))
        for k in (-1.2, 0.0, 1.2):
            m += [(p, body) for p in insulator(x + k * s, y, 5.6 * s, 2.6 * s, 0.22 * s, 4)]
        m.append((cyl((x, y + 1.8 * s, 7.2 * s), (1, 0, 0), 0.6 * s, 3.5 * s), body))
    elif kind == "capacitor_bank":
        m.append((box(x - 3, x + 3, y - 2, y + 2, 0, 0.6), body))
        for row in range(3):
            for col in range(4):
                xx, zz = x - 2.6 + col * 1.4, 0.8 + row * 1.1
                m.append((box(xx, xx + 1.0, y - 1.4, y + 1.4, zz, zz + 0.8), body))
    elif kind == "gantry":
        for dx in (-9 * s, 9 * s):
            m.append((box(x + dx - 0.4, x + dx + 0.4, y - 0.4, y + 0.4, 0, 14 * s), body))
        m.append((box(x - 9 * s, x + 9 * s, y - 0.4, y + 0.4, 13.2 * s, 14 * s), body))
    elif kind == "bus_post":  # a busbar's post insulator, on its steel support
        m.append((support(x, y, s, BUS_Z - 3.0), body))
        m += [(p, body) for p in insulator(x, y, (BUS_Z - 3.0) * s, 3.0 * s, 0.25 * s, 5)]
    else:  # feeder end, anything else: a post insulator on a support
        m.append((support(x, y, s, 1.5), body))
        m += [(p, body) for p in insulator(x, y, 1.5 * s, 2.0 * s, 0.25 * s, 4)]
    return m, blades


def _size(station: Station, asset: str, kind: str) -> float:
    """Transformers scale with their rating: a 315 MVA ICT dwarfs a 50 MVA unit."""
    if kind not in ("ict", "transformer"):
        return 1.0
    mva = station.asset(asset).nameplate.rated_mva or 100.0
    return float(np.clip((mva / 315.0) ** (1 / 3), 0.5, 1.2))


def _merge(pieces: list[tuple[pv.PolyData, dict[str, object]]]) -> pv.PolyData:
    """Merge small meshes (each given constant cell data, or ``p:``-prefixed point data)."""
    for m, data in pieces:
        for name, v in data.items():
            if name.startswith("p:"):
                m.point_data[name[2:]] = np.tile(np.asarray(v, float), (m.n_points, 1)) \
                    if np.ndim(v) else np.full(m.n_points, v)
            else:
                m.cell_data[name] = np.full(m.n_cells, v)
    if not pieces:
        return pv.PolyData()
    out = pv.merge([m for m, _ in pieces], merge_points=False)
    return out if isinstance(out, pv.PolyData) else out.extract_surface()


class Tris:
    """A triangle mesh as plain arrays (points, triangles, per-cell and per-point data):
    placing hundreds of copies with numpy and building one PolyData at the end is ~20×
    faster than copying and merging pyvista objects."""

    def __init__(self, mesh: pv.PolyData | None = None) -> None:
        self.pts: list[np.ndarray] = []
        self.tris: list[np.ndarray] = []
        self.cell: dict[str, list[np.ndarray]] = {}
        self.point: dict[str, list[np.ndarray]] = {}
        self._n = 0
        if mesh is not None and mesh.n_points:
            t = mesh.triangulate()
            self.add(np.asarray(t.points, float), np.asarray(t.faces).reshape(-1, 4)[:, 1:],
                     {k: np.asarray(t.cell_data[k]) for k in t.cell_data},
                     {k: np.asarray(t.point_data[k]) for k in t.point_data})

    def add(self, pts: np.ndarray, tris: np.ndarray, cell: dict[str, np.ndarray],
            point: dict[str, np.ndarray]) -> None:
        self.pts.append(pts)
        self.tris.append(tris + self._n)
        self._n += len(pts)
        for k, v in cell.items():
            self.cell.setdefault(k, []).append(v)
        for k, v in point.items():
            self.point.setdefault(k, []).append(v)

    def place(self, proto: Tris, offset: npt.ArrayLike, scale: npt.ArrayLike = 1.0,
              **cell: int) -> None:
        """A copy of ``proto`` scaled then moved by ``offset``, with constant cell data."""
        off = np.asarray(offset, float)
        pts = np.concatenate(proto.pts) * np.asarray(scale, float) + off
        tris = np.concatenate(proto.tris)
        cd = {k: np.concatenate(v) for k, v in proto.cell.items()}
        cd |= {k: np.full(len(tris), v) for k, v in cell.items()}
        pd = {k: np.concatenate(v) for k, v in proto.point.items()}
        if "hinge" in pd:
            pd["hinge"] = pd["hinge"] + off
        self.add(pts, tris, cd, pd)

    def build(self) -> pv.PolyData:
        if not self.pts:
            return pv.PolyData()
        tris = np.concatenate(self.tris)
        faces = np.column_stack([np.full(len(tris), 3), tris]).ravel()
        m = pv.PolyData(np.concatenate(self.pts), faces)
        for k, v in self.cell.items():
            m.cell_data[k] = np.concatenate(v)
        for k, v in self.point.items():
            m.point_data[k] = np.concatenate(v)
        return m


_UNITS: dict[tuple[str, float, float], tuple[Tris, Tris]] = {}
_UNIT_CYL: dict[tuple[float, ...], Tris] = {}


def unit_proto(kind: str, s: float, big: float) -> tuple[Tris, Tris]:
    """One unit at the origin as arrays (body and parts with cell data ``part``; blades with
    point data ``hinge`` and ``deg``), built once per kind and size: the yard has ~600 units
    of a dozen kinds."""
    key = (kind, round(s, 3), round(big, 3))
    proto = _UNITS.get(key)
    if proto is None:
        meshes, blades = unit(kind, 0.0, 0.0, s, big)
        parts = _merge([(m, {"part": part}) for m, part in meshes])
        bl = _merge([(m, {"p:hinge": hinge, "p:deg": deg}) for m, hinge, deg in blades])
        proto = _UNITS[key] = (Tris(parts), Tris(bl))
    return proto


def unit_cyl(direction: tuple[float, float, float], resolution: int) -> Tris:
    key = (*direction, resolution)
    if key not in _UNIT_CYL:
        _UNIT_CYL[key] = Tris(pv.Cylinder(center=(0, 0, 0), direction=direction, radius=1.0,
                                          height=1.0, resolution=resolution))
    return _UNIT_CYL[key]


class YardScene(YardModel):
    def __init__(self, station: Station) -> None:
        super().__init__(station)
        dev, blades = Tris(), Tris()
        for k, p in enumerate(self.placed):
            s = HEIGHT[p.kv]
            big = _size(station, p.asset, p.kind)
            parts, bl = unit_proto(p.kind, s, big)
            for dx in p.phases:
                dev.place(parts, (p.x + dx, p.y, 0.0), dev=k)
                if bl.pts:
                    blades.place(bl, (p.x + dx, p.y, 0.0), dev=k)
                    n = sum(len(x) for x in bl.pts)
                    blades.point.setdefault("pdev", []).append(np.full(n, k))
        self.devices = dev.build()
        self.device_of_cell = np.asarray(self.devices.cell_data["dev"])
        self.part_of_cell = np.asarray(self.devices.cell_data["part"])
        self.blades = blades.build()
        if self.blades.n_points:
            self._blade_closed = np.array(self.blades.points, float)
            self._blade_hinge = np.asarray(self.blades.point_data["hinge"], float)
            self._blade_deg = np.asarray(self.blades.point_data["deg"], float)
            self._blade_dev = np.asarray(self.blades.point_data["pdev"], int)
            self.blade_of_cell = np.asarray(self.blades.cell_data["dev"])
        bus, posts = Tris(), Tris()
        for i, (_asset, x1, x2, y, kv) in enumerate(self.spans):
            s = HEIGHT[kv]
            z = BUS_Z * s
            bus.place(unit_cyl((1.0, 0.0, 0.0), 8), ((x1 + x2) / 2, y, z),
                      (x2 - x1, 0.2 * s + 0.1, 0.2 * s + 0.1), bus=i)
            post = unit_proto("bus_post", s, 1.0)[0]
            for xx in np.arange(x1, x2 + 0.1, L.BAY_WIDTH[kv]):
                posts.place(post, (float(xx), y, 0.0))
        self.buses = bus.build()
        self.structures = posts.build()
        wires = Tris()
        for i, (bay, y0, y1, _names, kv) in enumerate(self.segments):
            s = HEIGHT[kv]
            b = self.bays[bay]
            phases = next((p.phases for p in self.placed
                           if p.bay == bay and len(p.phases) == 3), (0.0,))
            r = 0.08 * s + 0.05
            for dx in phases:
                wires.place(unit_cyl((0.0, 1.0, 0.0), 6), (b.x + dx, (y0 + y1) / 2,
                                                            CONDUCTOR_Z * s),
                            (r, y0 - y1, r), seg=i)
        self.wires = wires.build()
        xs = [p.x for p in self.placed]
        ys = [p.y for p in self.placed]
        self.ground = pv.Plane(center=((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, -0.05),
                               direction=(0, 0, 1), i_size=max(xs) - min(xs) + 40,
                               j_size=max(ys) - min(ys) + 40)
        self.state = blank_state(self)
        self.apply(self.state)

    # ------------------------------------------------------------------ state
    def apply(self, st: YardState) -> None:
        """Colours and blade positions of a state, written into the meshes in place."""
        self.state = st
        cols = np.where((self.part_of_cell == PART)[:, None], st.part[self.device_of_cell],
                        st.body[self.device_of_cell])
        self.devices.cell_data["rgb"] = cols.astype(np.uint8)
        if self.blades.n_points:
            self.blades.cell_data["rgb"] = st.part[self.blade_of_cell].astype(np.uint8)
            self._turn_blades(st.blade_open)
        if self.buses.n_cells:
            bc = np.array([L.LEVEL[kv] if live else L.DEAD
                           for (_, kv), live in zip(self.bus_assets, st.bus_live, strict=True)])
            self.buses.cell_data["rgb"] = bc[self.buses.cell_data["bus"]].astype(np.uint8)
        if self.wires.n_cells:
            wc = np.array([L.LEVEL[kv] if live else L.DEAD for (_b, _y0, _y1, _n, kv), live
                           in zip(self.segments, st.seg_live, strict=True)])
            self.wires.cell_data["rgb"] = wc[self.wires.cell_data["seg"]].astype(np.uint8)

    def _turn_blades(self, blade_open: np.ndarray) -> None:
        """Each blade turned about its hinge (about the x axis: up along the bay) by its
        opening fraction × its full opening angle."""
        ang = np.radians(blade_open[self._blade_dev] * self._blade_deg)
        rel = self._blade_closed - self._blade_hinge
        c, s = np.cos(ang), np.sin(ang)
        out = np.empty_like(rel)
        out[:, 0] = rel[:, 0]
        out[:, 1] = rel[:, 1] * c - rel[:, 2] * s
        out[:, 2] = rel[:, 1] * s + rel[:, 2] * c
        self.blades.points = out + self._blade_hinge

    # ------------------------------------------------------------------ where things are
    def device_bounds(self, k: int) -> tuple[float, float, float, float, float, float]:
        cells = np.flatnonzero(self.device_of_cell == k)
        sub = self.devices.extract_cells(cells)
        b = sub.bounds
        return (b[0] - 0.6, b[1] + 0.6, b[2] - 0.6, b[3] + 0.6, b[4], b[5] + 0.6)

    def top_of(self, k: int) -> tuple[float, float, float]:
        b = self.device_bounds(k)
        p = self.placed[k]
        return (p.x, p.y, b[5] + 2.0 * HEIGHT[p.kv])

    def bay_anchor(self, bay: str) -> tuple[float, float, float]:
        b = self.bays[bay]
        return (b.x, b.y1 - 5.0, 15.0 * HEIGHT[b.kv])

    def bay_view(self, bay: str) -> tuple[tuple[float, float, float],
                                          tuple[float, float, float]]:
        """(focal point, camera position) framing a bay from the front and above."""
        b = self.bays[bay]
        ys = [self.placed[k].y for k in self.bay_devices[bay]]
        y_mid = (b.y0 + min(ys)) / 2
        span = max(b.y0 - min(ys), 30.0)
        focal = (b.x, y_mid, 3.0 * HEIGHT[b.kv])
        return focal, (b.x + 0.55 * span, y_mid - 1.25 * span, 0.9 * span)

    def overview(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        c = self.ground.center
        return (c[0], c[1], 0.0), (c[0] + 140, c[1] - 260, 170)


# ---------------------------------------------------------------------- drawing
def add(pl: pv.Plotter, sc: YardScene) -> None:
    """The static actors, and the camera on the whole yard."""
    pl.set_background(L.BACKGROUND)
    # Only equipment is pickable: a click goes through conductors, busbar posts and the
    # ground to the device behind them.
    pl.add_mesh(sc.ground, color=tuple(int(c) for c in L.GROUND), lighting=False,
                pickable=False, name="ground")
    # Some ambient light: lit from one side only, grey porcelain read as black sticks.
    pl.add_mesh(sc.devices, scalars="rgb", rgb=True, smooth_shading=False, ambient=0.35,
                diffuse=0.7, name="devices")
    if sc.blades.n_cells:
        pl.add_mesh(sc.blades, scalars="rgb", rgb=True, ambient=0.35, diffuse=0.7,
                    name="blades")
    if sc.buses.n_cells:
        pl.add_mesh(sc.buses, scalars="rgb", rgb=True, pickable=False, name="buses")
    if sc.wires.n_cells:
        pl.add_mesh(sc.wires, scalars="rgb", rgb=True, pickable=False, name="wires")
    if sc.structures.n_cells:
        pl.add_mesh(sc.structures, color=tuple(int(c) for c in L.BODY), ambient=0.35,
                    diffuse=0.7, pickable=False, name="structures")
    bays = list(sc.bays)
    pl.add_point_labels(np.array([sc.bay_anchor(b) for b in bays]),
                        [sc.bays[b].label for b in bays], font_size=13, bold=True,
                        text_color="#1E1E1E", shape_color="#E4E4E4", shape_opacity=0.85,
                        show_points=False, always_visible=True, name="bay_labels",
                        pickable=False)
    levels = sorted({b.kv for b in sc.bays.values()}, reverse=True)
    pts = []
    for kv in levels:
        span = next(sp for sp in sc.spans if sp[4] == kv)
        pts.append((span[1] - 6.0, L.YARD_Y[kv] - 30.0, 2.0))
    pl.add_point_labels(np.array(pts), [f"{kv:g} kV yard" for kv in levels], font_size=15,
                        bold=True, text_color="#5A5A5A", shape_opacity=0.0, show_points=False,
                        always_visible=True, name="yard_labels", pickable=False)
    focal, pos = sc.overview()
    set_camera(pl, focal, pos)


def set_camera(pl: pv.Plotter, focal: Sequence[float], pos: Sequence[float]) -> None:
    pl.camera.focal_point = tuple(focal)
    pl.camera.position = tuple(pos)
    pl.camera.up = (0, 0, 1)
    pl.reset_camera_clipping_range()


def decorate(pl: pv.Plotter, sc: YardScene, st: YardState) -> None:
    """The per-state overlays: alarm markers (priority colour and number, one actor per
    priority), trip flags, the selection box and the selected bay's device ids."""
    from app.ui import theme

    # pyvista names a label set's actor "<name>-labels"
    for p in theme.PRIORITY:
        pl.remove_actor(f"markers{p}-labels", render=False)
    pl.remove_actor("trips-labels", render=False)
    by_p: dict[int, tuple[list[tuple[float, float, float]], list[str]]] = {}
    trips: list[tuple[float, float, float]] = []
    for m in st.markers:
        at = sc.top_of(m.device) if m.device >= 0 else sc.bay_anchor(m.bay)
        if m.device < 0:
            at = (at[0] + 6.0, at[1], at[2])  # beside the bay's label
        pts, txt = by_p.setdefault(m.priority, ([], []))
        pts.append(at)
        txt.append(f" {m.priority} ")
        if m.trip:
            trips.append((at[0], at[1], at[2] + 3.0))
    for p, (pts, txt) in by_p.items():
        colour = theme.PRIORITY.get(p, theme.PRIORITY[4])
        pl.add_point_labels(np.array(pts), txt, font_size=18, bold=True,
                            text_color="black" if p == 3 else "white",
                            shape_color=colour.name(), shape_opacity=1.0, shape="rect",
                            margin=4, show_points=False, always_visible=True,
                            name=f"markers{p}", pickable=False)
    if trips:
        pl.add_point_labels(np.array(trips), ["TRIP"] * len(trips), font_size=16, bold=True,
                            text_color="white", shape_color=theme.PRIORITY[1].name(),
                            shape_opacity=1.0, margin=4, show_points=False,
                            always_visible=True, name="trips", pickable=False)
    pl.remove_actor("selection", render=False)
    pl.remove_actor("sel_labels-labels", render=False)
    if st.selected >= 0:
        k = st.selected
        pl.add_mesh(pv.Box(sc.device_bounds(k)).outline(), color=theme.SELECTION.name(),
                    line_width=3, name="selection", pickable=False, lighting=False)
        bay = sc.placed[k].bay
        ks = sc.bay_devices[bay]
        pl.add_point_labels(np.array([sc.top_of(j) for j in ks]),
                            [sc.placed[j].asset for j in ks], font_size=11,
                            text_color="#1E1E1E", shape_color="#FFFFFF", shape_opacity=0.75,
                            show_points=False, always_visible=True, name="sel_labels",
                            pickable=False)


def render_png(station: Station, path: str, state: YardState | None = None,
               size: tuple[int, int] = (1200, 800)) -> None:
    """Off-screen render of the yard (used in a child process by the static fallback)."""
    pv.global_theme.multi_samples = 0
    sc = YardScene(station)
    pl = pv.Plotter(off_screen=True, window_size=size)
    add(pl, sc)
    if state is not None:
        sc.apply(state)
        decorate(pl, sc, state)
        if state.focus_bay in sc.bays:
            set_camera(pl, *sc.bay_view(state.focus_bay))
    pl.screenshot(path)
    pl.close()
