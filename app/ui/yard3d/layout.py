"""Where each piece of switchyard equipment stands, from the station description (Qt-free).

Rules, not coordinates: each voltage level is a yard (400 kV at the back, 220 kV in the middle,
33 kV in front); bays stand side by side in station-file order at the level's bay width;
along a bay, from the busbars outwards: bus disconnectors, breaker, CT, line disconnector, CVT,
arrester, and a gantry at the line end. Transformers stand between the 400 and 220 kV yards
(ICTs) or the 220 and 33 kV yards. Dimensions are typical Indian EHV practice (metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.station import Station

BAY_WIDTH = {400.0: 27.0, 220.0: 18.0, 33.0: 9.0}
PHASE_SPACING = {400.0: 7.0, 220.0: 4.5, 33.0: 1.5}
YARD_Y = {400.0: 0.0, 220.0: -110.0, 33.0: -190.0}  # yards one behind another
HEIGHT = {400.0: 1.0, 220.0: 0.75, 33.0: 0.5}  # equipment height scale
ALONG = {"isolator_bus": 10.0, "breaker": 24.0, "ct": 34.0, "isolator_line": 44.0,
         "earth_switch": 47.0, "cvt": 52.0, "lightning_arrester": 58.0, "gantry": 64.0,
         "reactor": 40.0, "capacitor_bank": 30.0, "feeder": 62.0, "line": 66.0}

#: State colours (RGB) of the 3D view; colour only for abnormal states, as on the diagram.
GREY = np.array([120, 120, 120], np.uint8)
STEEL = np.array([150, 150, 145], np.uint8)
CLOSED = np.array([60, 60, 60], np.uint8)
OPEN = np.array([235, 235, 235], np.uint8)
TRAVEL = np.array([190, 30, 40], np.uint8)
INVALID = np.array([210, 0, 210], np.uint8)
SELECTED = np.array([0, 120, 215], np.uint8)
LEVEL = {400.0: np.array([63, 111, 166], np.uint8), 220.0: np.array([62, 140, 122], np.uint8),
         33.0: np.array([168, 132, 46], np.uint8)}
DEAD = np.array([154, 154, 154], np.uint8)


@dataclass(frozen=True, slots=True)
class Placed:
    asset: str
    kind: str
    x: float
    y: float
    kv: float
    phases: tuple[float, ...]  # x offsets of the three phases (single-phase units)


def place(station: Station) -> list[Placed]:
    out: list[Placed] = []
    columns: dict[float, int] = {}
    bay_x: dict[str, float] = {}
    for bay in station.bays:
        kv = min(BAY_WIDTH, key=lambda k: abs(k - bay.voltage_kv))
        if bay.kind in ("busbar", "station") or bay.voltage_kv < 1:
            continue
        col = columns.get(kv, 0)
        columns[kv] = col + 1
        bay_x[bay.id] = col * BAY_WIDTH[kv]
    for a in station.assets:
        try:
            bay = station.bay(a.bay)
        except KeyError:
            continue
        kv = min(BAY_WIDTH, key=lambda k: abs(k - bay.voltage_kv))
        ph = PHASE_SPACING[kv]
        if a.type == "busbar":
            continue  # drawn as conductors across the yard
        if a.bay not in bay_x:
            continue
        x0, y0 = bay_x[a.bay], YARD_Y[kv]
        kind = a.type
        if a.type == "isolator":
            desig = a.id.rsplit("_", 1)[-1]
            along = ALONG["isolator_bus"] + (3.0 if desig == "Q2" else 0.0) if desig in (
                "Q1", "Q2") else ALONG["isolator_line"]
        elif a.type in ("ict", "transformer"):
            # between this yard and the next lower one
            lower = {400.0: 220.0, 220.0: 33.0}[kv]
            y_mid = (YARD_Y[kv] - ALONG["gantry"] + YARD_Y[lower]) / 2
            out.append(Placed(a.id, kind, x0, y_mid, kv, (0.0,)))
            continue
        elif a.type in ("relay", "bay_controller", "dc_system", "station", "line"):
            if a.type == "line":
                out.append(Placed(a.id, "gantry", x0, y0 - ALONG["gantry"], kv,
                                  (-ph, 0.0, ph)))
            continue
        else:
            along = ALONG.get(a.type, 30.0)
        phases = (0.0,) if a.type in ("reactor", "capacitor_bank", "feeder") else (-ph, 0, ph)
        out.append(Placed(a.id, kind, x0, y0 - along, kv, phases))
    return out


def busbar_spans(station: Station) -> list[tuple[str, float, float, float, float]]:
    """(asset, x1, x2, y, kv) for each main busbar, across its yard's bays."""
    pl = place(station)
    out = []
    for a in station.assets_of_type("busbar"):
        kv = min(BAY_WIDTH, key=lambda k: abs(k - station.bay(a.bay).voltage_kv))
        xs = [p.x for p in pl if p.kv == kv]
        if not xs:
            continue
        k = len([o for o in out if o[4] == kv])
        out.append((a.id, min(xs) - 10, max(xs) + 10, YARD_Y[kv] - 3.0 - 4.0 * k, kv))
    return out


class YardModel:
    """What stands where and which busbars there are — all the state logic needs, without
    geometry (so the static view never builds meshes in the GUI process)."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.placed = place(station)
        self.asset_ids = [p.asset for p in self.placed]
        self.index = {a: k for k, a in enumerate(self.asset_ids)}
        self.spans = busbar_spans(station)
        self.bus_assets = [(asset, kv) for asset, _x1, _x2, _y, kv in self.spans]

    def nearest(self, point: tuple[float, float, float], within_m: float = 8.0) -> str | None:
        """The device standing nearest a picked point (in plan), if within ``within_m``."""
        best, dist = None, within_m
        for p in self.placed:
            d = ((p.x - point[0]) ** 2 + (p.y - point[1]) ** 2) ** 0.5
            if d < dist:
                best, dist = p.asset, d
        return best
