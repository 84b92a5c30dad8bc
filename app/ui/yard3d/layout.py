"""Where each piece of switchyard equipment stands, from the station description (no Qt
widgets, no geometry: the static renderer's child process and the tests use it as is).

Rules, not coordinates: each voltage level is a yard (400 kV at the back, 220 kV in the middle,
33 kV in front); bays stand side by side in station-file order at the level's bay width;
along a bay, from the busbars outwards: bus disconnectors, breaker, CT, line disconnector,
earth switch, CVT, arrester, and a gantry at the line end. Transformers stand between the 400
and 220 kV yards (ICTs) or the 220 and 33 kV yards. Dimensions are typical Indian EHV practice
(metres).

Each device also knows the circuit nodes it stands on (by the circuit's bay-node naming,
``<bay>_J`` between the bus disconnectors and the breaker, ``<bay>_C`` between the breaker and
the line disconnector, ``<bay>_T`` beyond), so the view can draw it energised or dead as the
diagram does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.station import Station
from app.ui import theme

BAY_WIDTH = {400.0: 27.0, 220.0: 18.0, 33.0: 9.0}
PHASE_SPACING = {400.0: 7.0, 220.0: 4.5, 33.0: 1.5}
YARD_Y = {400.0: 0.0, 220.0: -110.0, 33.0: -190.0}  # yards one behind another
HEIGHT = {400.0: 1.0, 220.0: 0.75, 33.0: 0.5}  # equipment height scale
ALONG = {"isolator_bus": 10.0, "breaker": 24.0, "ct": 34.0, "isolator_line": 44.0,
         "earth_switch": 48.0, "cvt": 53.0, "lightning_arrester": 58.0, "gantry": 64.0,
         "reactor": 40.0, "capacitor_bank": 38.0, "feeder": 62.0, "line": 66.0}
#: The circuit nodes a device stands on, by its place in the bay (first existing one wins;
#: couplers and sections have J1/J2 instead of J/C).
NODES = {"isolator_bus": ("J", "J1"), "breaker": ("J", "C", "J1", "J2"),
         "ct": ("C", "J2"), "isolator_line": ("C", "T", "J2"),
         "earth_switch": ("T",), "cvt": ("T", "C"), "lightning_arrester": ("T", "C"),
         "gantry": ("T", "R"), "reactor": ("C",), "capacitor_bank": ("C",),
         "feeder": ("C", "T"), "ict": ("T",), "transformer": ("T",)}
SWITCHING = ("breaker", "isolator", "earth_switch")


def _rgb(c: object) -> np.ndarray:
    """A theme colour (QColor) as RGB bytes."""
    return np.array(c.getRgb()[:3], np.uint8)  # type: ignore[attr-defined]


#: The palette: the diagram's (app.ui.theme), so the yard reads like the diagram — equipment
#: muted grey when energised, pale when dead, a closed switch dark, an open one white, a
#: travelling one red-outlined as on the diagram, bad data magenta, alarms in priority colours.
EQUIPMENT = _rgb(theme.EQUIPMENT)
BODY = np.array([138, 138, 132], np.uint8)  # porcelain and steel, energised, lit
DEAD = np.array([204, 204, 200], np.uint8)  # de-energised: paler than anything live
CLOSED = EQUIPMENT
OPEN = np.array([250, 250, 250], np.uint8)
TRAVEL = np.array([176, 0, 32], np.uint8)  # the diagram's intermediate/bad switch colour
INVALID = _rgb(theme.INVALID)
SELECTED = _rgb(theme.SELECTION)
PRIORITY = {p: _rgb(c) for p, c in theme.PRIORITY.items()}
LEVEL = {kv: _rgb(theme.voltage_colour(kv)) for kv in BAY_WIDTH}
GROUND = np.array([176, 176, 168], np.uint8)
BACKGROUND = theme.BACKGROUND.name()


@dataclass(frozen=True, slots=True)
class Placed:
    asset: str
    kind: str
    x: float
    y: float
    kv: float
    phases: tuple[float, ...]  # x offsets of the single-phase units (one for 3-phase devices)
    bay: str = ""
    place: str = ""  # its place in the bay (a key of ALONG)


@dataclass(frozen=True, slots=True)
class BayPlace:
    """A bay's footprint in the yard: for its label, its conductors and fly-to."""

    bay: str
    label: str
    kv: float
    x: float
    y0: float  # at the busbars
    y1: float  # at the far end (gantry, transformer, feeder end)


def _level(kv: float) -> float:
    return min(BAY_WIDTH, key=lambda k: abs(k - kv))


def bay_label(station: Station, bay_id: str) -> str:
    """The bay's id and, where its name has one, the place it goes to: "F1 Peenya"."""
    name = station.bay(bay_id).name
    if "(" in name and name.endswith(")"):
        return f"{bay_id} {name[name.index('(') + 1:-1]}"
    return bay_id


def place(station: Station) -> list[Placed]:
    out: list[Placed] = []
    columns: dict[float, int] = {}
    bay_x: dict[str, float] = {}
    for bay in station.bays:
        kv = _level(bay.voltage_kv)
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
        kv = _level(bay.voltage_kv)
        ph = PHASE_SPACING[kv]
        if a.type == "busbar" or a.bay not in bay_x:
            continue  # busbars are drawn as conductors across the yard
        x0, y0 = bay_x[a.bay], YARD_Y[kv]
        kind = a.type
        where = a.type
        if a.type == "isolator":
            desig = a.id.rsplit("_", 1)[-1]
            if desig in ("Q1", "Q2"):
                where = "isolator_bus"
                along = ALONG[where] + (4.0 if desig == "Q2" else 0.0)
            else:
                where = "isolator_line"
                along = ALONG[where]
        elif a.type in ("ict", "transformer"):
            # between this yard and the next lower one
            lower = {400.0: 220.0, 220.0: 33.0}[kv]
            y_mid = (YARD_Y[kv] - ALONG["gantry"] + YARD_Y[lower]) / 2
            out.append(Placed(a.id, kind, x0, y_mid, kv, (0.0,), a.bay, where))
            continue
        elif a.type in ("relay", "bay_controller", "dc_system", "station", "line"):
            if a.type == "line":
                out.append(Placed(a.id, "gantry", x0, y0 - ALONG["gantry"], kv,
                                  (-ph, 0.0, ph), a.bay, "gantry"))
            continue
        else:
            along = ALONG.get(a.type, 30.0)
        phases = (0.0,) if a.type in ("reactor", "capacitor_bank", "feeder") else (-ph, 0, ph)
        out.append(Placed(a.id, kind, x0, y0 - along, kv, phases, a.bay, where))
    return out


def busbar_spans(station: Station) -> list[tuple[str, float, float, float, float]]:
    """(asset, x1, x2, y, kv) for each main busbar, across its yard's bays."""
    pl = place(station)
    out: list[tuple[str, float, float, float, float]] = []
    for a in station.assets_of_type("busbar"):
        kv = _level(station.bay(a.bay).voltage_kv)
        xs = [p.x for p in pl if p.kv == kv]
        if not xs:
            continue
        k = len([o for o in out if o[4] == kv])
        out.append((a.id, min(xs) - 10, max(xs) + 10, YARD_Y[kv] - 3.0 - 4.0 * k, kv))
    return out


def bay_places(station: Station, placed: list[Placed]) -> dict[str, BayPlace]:
    out: dict[str, BayPlace] = {}
    for bay in dict.fromkeys(p.bay for p in placed):
        mine = [p for p in placed if p.bay == bay]
        bay_dev = [p for p in mine if p.kind not in ("ict", "transformer")] or mine
        kv = bay_dev[0].kv
        y1 = min(p.y for p in mine)
        out[bay] = BayPlace(bay, bay_label(station, bay), kv, bay_dev[0].x, YARD_Y[kv] - 3.0,
                            y1)
    return out


class YardModel:
    """What stands where, which busbars and bays there are — all the state logic needs,
    without geometry (so the static view never builds meshes in the GUI process)."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.placed = place(station)
        self.asset_ids = [p.asset for p in self.placed]
        self.index = {a: k for k, a in enumerate(self.asset_ids)}
        self.spans = busbar_spans(station)
        self.bus_assets = [(asset, kv) for asset, _x1, _x2, _y, kv in self.spans]
        self.bays = bay_places(station, self.placed)
        self.bay_devices: dict[str, list[int]] = {}
        for k, p in enumerate(self.placed):
            self.bay_devices.setdefault(p.bay, []).append(k)
        #: the conductors along each bay: (bay, y from, y to, node candidates, kv)
        self.segments: list[tuple[str, float, float, tuple[str, ...], float]] = []
        for b in self.bays.values():
            cuts = sorted({p.y for k in self.bay_devices[b.bay]
                           for p in [self.placed[k]]
                           if p.place in ("breaker", "isolator_line")}, reverse=True)
            ends = [b.y0, *cuts, min(p.y for k in self.bay_devices[b.bay]
                                     for p in [self.placed[k]]
                                     if p.kind not in ("ict", "transformer"))]
            names = [("J", "J1"), ("C", "J2"), ("T", "C")]
            for i in range(len(ends) - 1):
                if ends[i] - ends[i + 1] > 0.5:
                    self.segments.append((b.bay, ends[i], ends[i + 1],
                                          names[min(i, 2)], b.kv))

    def bay_of(self, asset_or_bay: str) -> str | None:
        """The bay an asset (placed or not: a relay, a bay controller) or a bay id stands for."""
        if asset_or_bay in self.bays:
            return asset_or_bay
        k = self.index.get(asset_or_bay)
        if k is not None:
            return self.placed[k].bay
        st = self.station
        if st.has_asset(asset_or_bay) and st.asset(asset_or_bay).bay in self.bays:
            return st.asset(asset_or_bay).bay
        return None

    def nodes_of(self, k: int) -> list[str]:
        """Circuit node names (lower case) device ``k`` may stand on, best first."""
        p = self.placed[k]
        a = self.station.asset(p.asset)
        out = [a.bus.lower()] if a.bus else []
        out += [f"{p.bay}_{s}".lower() for s in NODES.get(p.place, ("C", "T", "J"))]
        return out

    def nearest(self, point: tuple[float, float, float], within_m: float = 8.0) -> str | None:
        """The device standing nearest a picked point (in plan), if within ``within_m``."""
        best, dist = None, within_m
        for p in self.placed:
            for dx in p.phases:
                d = ((p.x + dx - point[0]) ** 2 + (p.y - point[1]) ** 2) ** 0.5
                if d < dist:
                    best, dist = p.asset, d
        return best
