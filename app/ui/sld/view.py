"""The live single-line diagram view.

Built once from the layout file; every scan's :class:`LiveSnapshot` then updates only what
changed: switch positions and their quality (measured), conductor energisation (the twin's
topology), bus kV, bay MW / Mvar and flow arrows (stepped with each scan). Zoom with
the wheel (under the mouse), pan by dragging, double-click or Ctrl+0 to fit. Clicking a device
emits :attr:`SldView.device_selected`; its context menu offers its points for trending.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QMenu,
    QWidget,
)

from app.alarms.engine import AlarmView
from app.runtime.snapshot import LiveSnapshot
from app.station import Station
from app.station import quality as Q
from app.station.points import PointTable
from app.twin.state import TwinState
from app.ui import theme
from app.ui.perf import timed
from app.ui.sld import items as I
from app.ui.sld.layout import Layout, load_layout
from app.ui.sld.markers import (
    AlarmMarker,
    AssetAlarms,
    BandGauge,
    TripFlag,
    merge_close,
    summarise,
)

TAG_MIME = "application/x-gridtwin-tag"
ANIM_S = 0.15  # flow arrows step at least this often when scans are slower
#: Numbers on the diagram (kV, MW, Mvar, transformer readings) refresh this often (staggered);
#: states —
#: switch positions, energisation, bad quality — with every scan. Numbers that change ten
#: times a second cannot be read, only flicker; and re-rendering ~40 labels a scan was most
#: of the diagram's paint time.
VALUES_S = 0.5
#: Text on the diagram is never drawn smaller than this (points at the current zoom): what
#: would be smaller is enlarged a little (up to MAX_BOOST) or hidden — secondary numbers
#: first (MW / Mvar, transformer readings), then labels. States and alarm markers stay.
MIN_TEXT_PT = 8.0
#: The points whose alarms colour a bay's MW / Mvar (its loading, not its voltage).
FLOW_POINTS = frozenset({"P", "Q", "S", "I", "I_A", "I_B", "I_C", "I_N", "LOADING"})
MAX_BOOST = 1.5
BLINK_MS = 500

_ITEM = {"breaker": I.BreakerItem, "isolator": I.IsolatorItem,
         "earth_switch": I.EarthSwitchItem, "transformer": I.TransformerItem, "ct": I.CtItem,
         "cvt": I.CvtItem, "arrester": I.ArresterItem, "reactor": I.ReactorItem,
         "capacitor": I.CapacitorItem}


_UNIT_TEXT = {"degC": "°C", "step": ""}


def _value_text(v: float, unit: str) -> str:
    u = _UNIT_TEXT.get(unit, unit)
    num = f"{v:.0f}" if unit == "step" else f"{v:.1f}"
    return f"{num} {u}".rstrip()


def reading_text(v: float, q: int, unit: str) -> str:
    """A diagram reading, short enough for its place: the value when good; when questionable
    the value and "?" (still the best there is — out of range, frozen, substituted; the
    details are the point browser's); when invalid no number, "invalid"."""
    validity = int(q) & Q.VALIDITY_MASK
    if validity == Q.GOOD:
        return _value_text(v, unit)
    if validity == Q.QUESTIONABLE and np.isfinite(v):
        return f"{_value_text(v, unit)} ?"
    return "invalid"


class SldView(QGraphicsView):
    device_selected = Signal(str)
    trend_requested = Signal(str)
    bay_requested = Signal(str)  # a device double-clicked: open its bay display

    def __init__(self, station: Station, points: PointTable, layout: Layout | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station, self.points = station, points
        self.layout_ = layout or load_layout(station, points)
        self.scene_ = QGraphicsScene(self)
        self.scene_.setBackgroundBrush(theme.BACKGROUND)
        self.setScene(self.scene_)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        # Many small separate updates (flow arrows, switch states): repaint just those.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.items_by_asset: dict[str, I.DeviceItem] = {}
        self.busbars: dict[str, I.BusbarItem] = {}
        self._build()
        from app.ui.sld.overlay import StudyOverlay

        self.overlay = StudyOverlay(self)
        self._bound = False
        self._user_zoomed = False
        # Flow arrows move with each scan (one repaint per scan for everything that changed);
        # this timer keeps them moving only when scans are slower than ANIM_S.
        self._anim = QTimer(self)
        self._anim.timeout.connect(self._animate)
        self._anim.start(int(ANIM_S * 1000))
        self._last_anim = time.monotonic()
        self._label_at: dict[int, float] = {}  # per label: when its text was last written
        self._label_good: dict[int, bool] = {}  # per label: was its reading good
        # Alarms: one marker per drawn object with annunciated alarms, trip flags at breakers.
        self.alarm_summary: dict[str, AssetAlarms] = {}
        self.markers: dict[str, AlarmMarker] = {}  # anchor asset → marker
        self._marker_input: tuple[dict, dict, dict] = ({}, {}, {})
        self.trip_flags: dict[str, TripFlag] = {}  # breaker → flag
        self._ool: dict[str, int] = {}  # out-of-limit tag → priority
        self._bay_ool: dict[str, int] = {}  # bay → highest out-of-limit priority
        self._blink_on = True
        self._blink = QTimer(self)
        self._blink.timeout.connect(self._toggle_blink)
        self.declutter_level = 0
        self._last_scale = -1.0
        self._dpi_scale = theme.ui_scale()

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        lay, pts = self.layout_, self.points
        ts = lay.text_scale
        self._wires: list[tuple[I.WireItem, str]] = []
        for w in lay.wires:
            kv = self._kv_of(w["bus"])
            item = I.WireItem(w["points"], kv)
            self.scene_.addItem(item)
            self._wires.append((item, w["bus"]))
        self._bus_label: dict[str, QGraphicsSimpleTextItem] = {}
        self._bus_bg: dict[str, QGraphicsRectItem] = {}
        self._bus_gauge: dict[str, BandGauge] = {}
        self._bus_prio: dict[str, int] = {}
        self._bus_painted: dict[str, tuple[bool, int, str]] = {}
        self._busbar_spec = {}
        for b in lay.busbars:
            item = I.BusbarItem(b["asset"], b["x1"], b["x2"], b["y"], b["kv"])
            item.setToolTip(self.station.asset(b["asset"]).name)
            self.scene_.addItem(item)
            self.busbars[b["asset"]] = item
            t = QGraphicsSimpleTextItem("— kV")
            t.setFont(I.font(10, ts, bold=True))
            if "value_pos" in b:  # where the bus end is crowded, the layout says where
                t.setPos(*b["value_pos"])
            else:
                t.setPos(b["x2"] + 12, b["y"] - t.boundingRect().height() / 2)
            t.setZValue(20)
            self.scene_.addItem(t)
            self._bus_label[b["asset"]] = t
            self._busbar_spec[b["asset"]] = b
            bg = QGraphicsRectItem(t)  # the label's alarm colour, behind its text
            bg.setFlag(QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent, True)
            bg.setPen(Qt.PenStyle.NoPen)
            bg.hide()
            self._bus_bg[b["asset"]] = bg
            band = self.station.band_for(float(b["kv"]))
            if band is not None:
                h = t.boundingRect().height()
                g = BandGauge(band.min_kv, band.nominal_kv, band.max_kv, 60 * ts, 5 * ts)
                g.setParentItem(t)
                g.setPos(0, h + 1)
                g.setToolTip(f"Grid Code band {band.min_kv:g}–{band.max_kv:g} kV")
                self._bus_gauge[b["asset"]] = g
        self._switch_rows: list[tuple[I.SwitchItem, int]] = []
        self._flows: list[tuple[I.FlowItem, int, int, float]] = []
        self._flow_bay: list[str] = []
        self._labels: list[tuple[QGraphicsSimpleTextItem, float]] = []
        self._dev_bus: list[tuple[I.DeviceItem, str]] = []
        self._transformers: list[tuple[I.TransformerItem, dict]] = []
        self._tx_extra: dict[int, list[tuple[str, str]]] = {}
        for d in lay.devices:
            a = self.station.asset(d["asset"])
            sym = d["symbol"]
            if sym in ("feeder", "line"):
                item = I.FeederItem(a.id, d["x"], d["y"], incoming=sym == "line",
                                    label=d.get("label", ""), text_scale=ts)
            elif sym == "transformer":
                item = I.TransformerItem(a.id, d["x"], d["y"], text_scale=ts,
                                         text_left=d.get("text_side") == "left")
            else:
                item = _ITEM[sym](a.id, d["x"], d["y"], bool(d.get("horizontal", False)))
            item.setToolTip(f"{a.id} — {a.name}")
            self.scene_.addItem(item)
            self.items_by_asset[a.id] = item
            if isinstance(item, I.SwitchItem) and d.get("tag") in pts.index:
                self._switch_rows.append((item, pts.index[d["tag"]]))
            if sym == "transformer":
                self._transformers.append((item, d))
                self._tx_extra[id(item)] = [
                    (e, pts.name[pts.index[e]].lower().replace("_", " ")) if isinstance(e, str)
                    else (e[0], e[1]) for e in d.get("tags_extra", [])]
            elif sym in ("reactor", "capacitor", "feeder", "line"):
                self._dev_bus.append((item, d["bus"]))
            if sym == "breaker" and d.get("p") in pts.index and d.get("q") in pts.index:
                fx, fy = d.get("flow_at", (d["x"] + 16, d["y"]))
                flow = I.FlowItem(fx, fy, down=True, text_scale=ts)
                self.scene_.addItem(flow)
                rating = (a.nameplate.rated_kv * (a.nameplate.rated_a or 1000) * 1.732 / 1000)
                self._flows.append((flow, pts.index[d["p"]], pts.index[d["q"]], rating))
                self._flow_bay.append(a.bay)
        for lab in lay.labels:
            t = QGraphicsSimpleTextItem(lab["text"])
            size = float(lab.get("size", 11))
            t.setFont(I.font(size, ts, bold=size >= 12))
            t.setBrush(theme.TEXT)
            br = t.boundingRect()
            x = lab["x"] - {"center": br.width() / 2, "right": br.width()}.get(
                lab.get("anchor", "left"), 0)
            t.setPos(x, lab["y"])
            t.setZValue(20)
            self.scene_.addItem(t)
            self._labels.append((t, size))
        # Everything but the moving arrows is drawn once into a pixmap and blitted until it
        # changes: repainting the whole diagram (antialiased paths and text) for every arrow
        # step cost ~16 ms a frame on a software-rendered screen.
        for item in self.scene_.items():
            if not isinstance(item, I.FlowItem):
                item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # The scene is what is drawn, with a margin: fitting it fills the view.
        self.scene_.setSceneRect(self.scene_.itemsBoundingRect().adjusted(-20, -20, 20, 20))
        self.scene_.selectionChanged.connect(self._selection_changed)

    def _kv_of(self, bus: str) -> float:
        """Nominal kV of a circuit node: a busbar's from the layout, a bay node's (named
        ``<bay>_…``) from its bay in the station file."""
        b = bus.lower()
        for spec in self.layout_.busbars:
            if spec["bus"].lower() == b:
                return float(spec["kv"])
        try:
            return float(self.station.bay(b.split("_")[0].upper()).voltage_kv)
        except KeyError:
            return 0.415

    # ------------------------------------------------------------------ live data
    @Slot(object)
    @timed("diagram")
    def update_snapshot(self, snap: LiveSnapshot) -> None:
        f = snap.frame
        v, q = f.values, f.quality
        good = (q & Q.VALIDITY_MASK) == Q.GOOD
        for item, row in self._switch_rows:
            item.set_invalid(not good[row])
            item.set_position(int(round(float(v[row]))) if np.isfinite(v[row]) else -1)
        now = time.monotonic()
        tw = snap.twin
        if tw is not None:
            if not self._bound:
                self._bind(tw)
            live = tw.energised
            for (item, _bus), k in zip(self._wires, self._wire_ix, strict=True):
                item.set_energised(bool(live[k]) if k >= 0 else True)
            for asset, k in self._busbar_ix.items():
                self.busbars[asset].set_energised(bool(live[k]) if k >= 0 else True)
            for (item, _bus), k in zip(self._dev_bus, self._dev_ix, strict=True):
                item.set_energised(bool(live[k]) if k >= 0 else True)
            for (item, d), (hv, lv) in zip(self._transformers, self._tx_ix, strict=True):
                hvc = theme.voltage_colour(float(tw.bus_base_kv[hv])) if live[hv] else theme.DEAD
                lvc = theme.voltage_colour(float(tw.bus_base_kv[lv])) if live[lv] else theme.DEAD
                extra = self._tx_extra[id(item)]
                rows = [self.points.index[tag] for tag, _ in extra]
                prios = (0, *(self._ool.get(tag, 0) for tag, _ in extra))
                if self._due(id(item), now, bool(good[rows].all()) if rows else True):
                    txt = [d.get("label", "")]
                    for (_tag, name), r in zip(extra, rows, strict=True):
                        txt.append(f"{name} {reading_text(v[r], q[r], self.points.unit[r])}")
                    item.set_sides(hvc, lvc, "\n".join(txt), prios)
                    lr = self.points.index.get(f"{item.asset_id}.LOADING")
                    if lr is not None:
                        item.set_loading(float(v[lr]) if good[lr] else float("nan"),
                                         self._ool.get(f"{item.asset_id}.LOADING", 0))
                else:
                    item.set_sides(hvc, lvc, item.text, prios)
        for asset, t in self._bus_label.items():
            row = self.points.index.get(self._busbar_spec[asset]["tag"])
            if row is None or not self._due(id(t), now, bool(good[row])):
                continue
            t.setText(reading_text(v[row], q[row], "kV"))
            t.setToolTip(f"{self._busbar_spec[asset]['tag']}: {Q.describe(int(q[row]))}")
            gauge = self._bus_gauge.get(asset)
            if gauge is not None:
                gauge.set_value(float(v[row]) if good[row] else float("nan"),
                                self._bus_prio.get(asset, 0))
            self._paint_bus_label(asset, bool(good[row]))
        for (flow, pr, qr, rating), bay in zip(self._flows, self._flow_bay, strict=True):
            ok = bool(good[pr] and good[qr])
            flow.set_flow(float(v[pr]), float(v[qr]), not ok, rating,
                          text=self._due(id(flow), now, ok),
                          priority=self._bay_ool.get(bay, 0))
        self._animate()
        self._anim.start(int(ANIM_S * 1000))  # restart: no second repaint between scans

    def _paint_bus_label(self, asset: str, good: bool) -> None:
        """A bus kV label: on its voltage alarm's priority colour, magenta when bad."""
        t, bg = self._bus_label[asset], self._bus_bg[asset]
        prio = self._bus_prio.get(asset, 0)
        state = (good, prio, t.text())
        if self._bus_painted.get(asset) == state:
            return  # nothing to redraw
        self._bus_painted[asset] = state
        if not good:
            t.setBrush(theme.INVALID)
            bg.hide()
        elif prio:
            t.setBrush(QColor("white") if prio in (1, 4) else theme.TEXT)
            bg.setBrush(theme.PRIORITY[prio])
            bg.setRect(t.boundingRect().adjusted(-4, -1, 4, 1))
            bg.show()
        else:
            t.setBrush(theme.TEXT)
            bg.hide()

    # ------------------------------------------------------------------ alarms
    def _anchor(self, asset_id: str) -> tuple[str, QPointF, bool] | None:
        """Where an asset's alarm marker goes (key, anchor, wholly left of the anchor):
        beside its own symbol when it is drawn (a transformer's on its left, its text being
        on the right); a busbar's just left of its kV value, level
        with it (never over the value, at any zoom); else beside its bay's breaker (relays,
        bay controllers, a bay's communication); None for what the diagram does not show."""
        item = self.items_by_asset.get(asset_id)
        if item is not None:
            if isinstance(item, I.TransformerItem):  # its name and readings are on its right
                return asset_id, item.pos() + QPointF(-34, 0), True
            return asset_id, self._marker_pos(item), False
        if asset_id in self._busbar_spec:
            t = self._bus_label[asset_id]
            return asset_id, t.pos() + QPointF(-3, t.boundingRect().height() / 2), True
        if not self.station.has_asset(asset_id):
            bay = asset_id if any(b.id == asset_id for b in self.station.bays) else None
        else:
            bay = self.station.asset(asset_id).bay
        if bay is None:
            return None
        brk = next((a for a in self.items_by_asset
                    if isinstance(self.items_by_asset[a], I.BreakerItem)
                    and self.station.asset(a).bay == bay), None)
        if brk is not None:
            return brk, self._marker_pos(self.items_by_asset[brk]), False
        bar = next((a for a, s in self._busbar_spec.items()
                    if self.station.asset(a).bay == bay), None)
        if bar is not None:
            return self._anchor(bar)
        return None

    def _marker_group(self, left: Mapping[str, bool]) -> Callable[[str], str | None]:
        """Which markers may become one when close (:func:`merge_close`): those of one bay;
        a busbar's or a transformer's (left of what they mark) never."""
        def group(key: str) -> str | None:
            if left.get(key) or not self.station.has_asset(key):
                return None
            return self.station.asset(key).bay

        return group

    @staticmethod
    def _marker_pos(item: I.DeviceItem) -> QPointF:
        r = 30.0 if isinstance(item, I.TransformerItem) else min(item.SIZE, 16.0)
        return item.pos() + QPointF(r + 4, -r - 2)

    def _place_markers(self) -> None:
        """The markers for the last alarms at the current zoom: those of one bay that would
        sit on each other on screen drawn as one (again when the zoom changes)."""
        per_anchor, pos, left = self._marker_input
        size = theme.px(18)
        r, scale = size / 2, max(self.transform().m11(), 1e-6)
        shown, at, members = merge_close(per_anchor, pos, self._marker_group(left),
                                         dx=(7 * r + 4) / scale, dy=(2.8 * r + 2) / scale)
        for key in set(self.markers) - set(shown):
            self.scene_.removeItem(self.markers.pop(key))
        for key, s in shown.items():
            m = self.markers.get(key)
            if m is None:
                m = self.markers[key] = AlarmMarker(at[key], size, left_of=left[key])
                self.scene_.addItem(m)
            m.setToolTip(f"{', '.join(members[key])}: {s.count} alarm{'s' * (s.count != 1)} "
                         "— see the alarm list")
            m.set_alarms(s)
        # A double busbar's two markers (each left of its own value) would sit on each other
        # once the buses are closer on screen than a marker is tall: the lower one steps left.
        bus = sorted((m for k, m in self.markers.items() if k in self._busbar_spec),
                     key=lambda m: (m.pos().y(), m.pos().x()))
        placed: list[AlarmMarker] = []
        for m in bus:
            shift = 0.0
            for o in placed:
                if (abs(o.pos().y() - m.pos().y()) * scale < 2.8 * r + 2
                        and abs(o.pos().x() - m.pos().x()) * scale < 7 * r):
                    shift = max(shift, o.shift_px + 7 * r + 4)
            m.shift_left(shift)
            placed.append(m)

    @Slot(object)
    @timed("diagram alarms")
    def apply_alarms(self, view: AlarmView) -> None:
        """Markers, trip flags and out-of-limit colours from the alarm engine's view; only
        what changed is touched."""
        summary = summarise(view.rows)
        if summary == self.alarm_summary:
            return
        self.alarm_summary = summary
        per_anchor: dict[str, AssetAlarms] = {}
        pos: dict[str, QPointF] = {}
        left: dict[str, bool] = {}
        ool: dict[str, int] = {}
        trips: set[str] = set()
        for asset, s in summary.items():
            ool.update({t: min(p, ool.get(t, 5)) for t, p in s.out_of_limit.items()})
            if s.tripped and asset in self.items_by_asset:
                trips.add(asset)
            where = self._anchor(asset)
            if where is None:
                continue
            key, at, left_of = where
            pos[key] = at
            left[key] = left_of
            old = per_anchor.get(key)
            per_anchor[key] = s if old is None else AssetAlarms(
                key, min(old.priority, s.priority), old.count + s.count,
                old.unacked + s.unacked, old.tripped or s.tripped, {})
        self._marker_input = (per_anchor, pos, left)
        self._place_markers()
        size = theme.px(18)
        for key in set(self.trip_flags) - trips:
            self.scene_.removeItem(self.trip_flags.pop(key))
        for key in trips - set(self.trip_flags):
            item = self.items_by_asset[key]
            f = self.trip_flags[key] = TripFlag(item.pos() + QPointF(0, -item.SIZE * 0.8), size)
            f.setToolTip(f"{key} tripped (opened without a command): acknowledge the alarm")
            self.scene_.addItem(f)
        self._ool = ool
        # A bay's MW / Mvar take the colour of its power and current alarms (not of its
        # voltage's: that is the busbar's); a busbar's kV that of its own or its VT's.
        bay_ool: dict[str, int] = {}
        bus_ool: dict[str, int] = {}
        for tag, p in ool.items():
            asset, _, name = tag.partition(".")
            if not self.station.has_asset(asset):
                continue
            a = self.station.asset(asset)
            if name in FLOW_POINTS and a.type in ("ct", "line", "feeder"):
                bay_ool[a.bay] = min(p, bay_ool.get(a.bay, 5))
            bus = a.id if a.type == "busbar" else (a.bus if a.type == "cvt" else None)
            if bus is not None and name.startswith("V"):
                bus_ool[bus] = min(p, bus_ool.get(bus, 5))
        self._bay_ool = bay_ool
        for asset in self._busbar_spec:
            prio = bus_ool.get(asset, 0)
            if prio != self._bus_prio.get(asset, 0):
                self._bus_prio[asset] = prio
                self._paint_bus_label(asset, self._bus_label[asset].brush().color()
                                      != theme.INVALID)
                g = self._bus_gauge.get(asset)
                if g is not None:
                    g.set_value(g.kv, prio)
        for (flow, *_), bay in zip(self._flows, self._flow_bay, strict=True):
            lab = flow.label
            lab.set_text(lab.lines, lab.invalid, bay_ool.get(bay, 0), lab.loading_pct)
        for item, _d in self._transformers:
            lt = f"{item.asset_id}.LOADING"
            item.set_loading(item.loading_pct, ool.get(lt, 0))
            extra = self._tx_extra[id(item)]
            item.set_sides(item.hv, item.lv, item.text,
                           (0, *(ool.get(tag, 0) for tag, _ in extra)))
        blinking = any(m.unacked for m in self.markers.values())
        if blinking and not self._blink.isActive():
            self._blink.start(BLINK_MS)
        elif not blinking:
            self._blink.stop()

    def _toggle_blink(self) -> None:
        self._blink_on = not self._blink_on
        for m in self.markers.values():
            m.blink(self._blink_on)

    # ------------------------------------------------------------------ declutter
    def text_pt(self, size_pt: float) -> float:
        """The size (points at this display's DPI) at which a diagram text of ``size_pt`` is
        seen at the current zoom."""
        return size_pt * self.layout_.text_scale * self.transform().m11() / self._dpi_scale

    def _declutter(self) -> None:
        """Decide what text is drawn at this zoom (called when the zoom changes)."""
        scale = self.transform().m11()
        if abs(scale - self._last_scale) < 1e-6:
            return
        self._last_scale = scale
        sec = self.text_pt(8.0)
        if sec * MAX_BOOST >= MIN_TEXT_PT:
            level = 0
        elif self.text_pt(12.0) * MAX_BOOST >= MIN_TEXT_PT:
            level = 1
        else:
            level = 2
        self.declutter_level = level
        self._place_markers()  # markers keep their screen size: merged by it
        boost_sec = max(1.0, MIN_TEXT_PT / sec) if sec > 0 else 1.0
        for flow, *_ in self._flows:
            flow.label.setVisible(level == 0)
            flow.label.setScale(boost_sec if level == 0 else 1.0)
        for item, _d in self._transformers:
            item.set_text_visible(level == 0)
            item.set_text_boost(boost_sec if level == 0 else 1.0)
        for t, size in self._labels:
            pt = self.text_pt(size)
            show = level < 2 and pt * MAX_BOOST >= MIN_TEXT_PT and (level == 0 or size >= 12)
            t.setVisible(show)
            t.setScale(max(1.0, MIN_TEXT_PT / pt) if show and pt > 0 else 1.0)
        bus_pt = self.text_pt(10.0)
        for t in self._bus_label.values():
            show = level < 2
            t.setVisible(show)
            t.setScale(max(1.0, MIN_TEXT_PT / bus_pt) if show and bus_pt > 0 else 1.0)

    def _due(self, key: int, now: float, good: bool) -> bool:
        """Whether a label's text is written now: every VALUES_S (the labels staggered over
        that period, so no scan repaints them all), or at once when its reading turns bad or
        good again (a state, not a number)."""
        changed = self._label_good.get(key) != good
        self._label_good[key] = good
        last = self._label_at.get(key)
        if last is None:
            self._label_at[key] = now - VALUES_S * (len(self._label_at) % 5) / 5
            return True
        if changed or now - last >= VALUES_S:
            self._label_at[key] = now
            return True
        return False

    def _bind(self, tw: TwinState) -> None:
        ix = tw.bus_ix
        self._wire_ix = [ix.get(b.lower(), -1) for _, b in self._wires]
        self._busbar_ix = {a: ix.get(s["bus"].lower(), -1) for a, s in self._busbar_spec.items()}
        self._dev_ix = [ix.get(b.lower(), -1) for _, b in self._dev_bus]
        self._tx_ix = [(ix[d["bus"].lower()], ix[d["lv_bus"].lower()])
                       for _, d in self._transformers]
        self._bound = True

    def _animate(self) -> None:
        now = time.monotonic()
        step, self._last_anim = min(now - self._last_anim, 0.5), now
        for flow, *_ in self._flows:
            flow.advance_phase(step)

    # ------------------------------------------------------------------ interaction
    def _selection_changed(self) -> None:
        sel = [i for i in self.scene_.selectedItems() if isinstance(i, I.DeviceItem)]
        if sel:
            self.device_selected.emit(sel[0].asset_id)

    @Slot(str)
    def select_device(self, asset_id: str) -> None:
        item = self.items_by_asset.get(asset_id)
        if item is None:
            bay = self.station.asset(asset_id).bay if self.station.has_asset(asset_id) else None
            item = next((i for a, i in self.items_by_asset.items()
                         if bay and self.station.asset(a).bay == bay), None)
        if item is None or item.isSelected():
            return
        self.scene_.blockSignals(True)
        self.scene_.clearSelection()
        item.setSelected(True)
        self.scene_.blockSignals(False)
        self.centerOn(item)

    def points_of(self, asset_id: str) -> list[str]:
        """Tags offered for trending from a device (its own points, and its bay meter's)."""
        a = self.station.asset(asset_id)
        tags = [f"{a.id}.{p.name}" for p in a.points]
        ct = f"{a.bay}_CT"
        if a.type in ("breaker", "isolator", "earth_switch", "feeder", "line") and \
                self.station.has_asset(ct):
            tags += [f"{ct}.{n}" for n in ("P", "Q", "I_A", "V_AB")
                     if f"{ct}.{n}" in self.points.index]
        return tags

    def contextMenuEvent(self, e: QContextMenuEvent) -> None:  # noqa: N802 - Qt API
        item = self.itemAt(e.pos())
        while item is not None and not isinstance(item, I.DeviceItem):
            item = item.parentItem()
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction(f"{item.asset_id} faceplate…",
                       lambda: self.device_selected.emit(item.asset_id))
        bay = self.station.asset(item.asset_id).bay
        menu.addAction(f"Bay {bay} display", lambda: self.bay_requested.emit(bay))
        from app.ui.point_browser import fill_trend_menu

        fill_trend_menu(menu.addMenu("Trend"), self.station, self.points,
                        self.points_of(item.asset_id), self.trend_requested.emit)
        menu.exec(e.globalPos())

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        # Dragging from a device with Shift carries its main point to the trends.
        if e.buttons() & Qt.MouseButton.LeftButton and e.modifiers() & \
                Qt.KeyboardModifier.ShiftModifier:
            item = self.itemAt(e.position().toPoint())
            if isinstance(item, I.DeviceItem):
                tags = self.points_of(item.asset_id)
                if tags:
                    from PySide6.QtGui import QDrag

                    drag = QDrag(self)
                    md = QMimeData()
                    md.setData(TAG_MIME, tags[0].encode())
                    md.setText(tags[0])
                    drag.setMimeData(md)
                    drag.exec(Qt.DropAction.CopyAction)
                    return
        super().mouseMoveEvent(e)

    @timed("paint: diagram")
    def paintEvent(self, e: QPaintEvent) -> None:  # noqa: N802 - Qt API
        super().paintEvent(e)

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802
        self._user_zoomed = True
        factor = 1.15 if e.angleDelta().y() > 0 else 1 / 1.15
        self.scale(factor, factor)
        self._declutter()

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        item = self.itemAt(e.position().toPoint())
        while item is not None and not isinstance(item, I.DeviceItem):
            item = item.parentItem()
        if item is None:
            self.fit()
        else:
            self.bay_requested.emit(self.station.asset(item.asset_id).bay)

    def fit(self) -> None:
        """The whole station in view (double-click on empty space, or Ctrl+0)."""
        self._user_zoomed = False
        self.fitInView(self.scene_.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._declutter()

    def zoom(self, factor: float) -> None:
        """Zoom by ``factor`` about the view's centre (keys, tests)."""
        self._user_zoomed = True
        self.scale(factor, factor)
        self._declutter()

    def zoom_reset(self) -> None:
        self.resetTransform()
        self._declutter()

    def showEvent(self, e: QShowEvent) -> None:  # noqa: N802
        super().showEvent(e)
        QTimer.singleShot(0, self.fit)

    def resizeEvent(self, e: QResizeEvent) -> None:  # noqa: N802
        """Keep the whole station in view as docks move, until the operator zooms or pans."""
        super().resizeEvent(e)
        if not self._user_zoomed:
            self.fit()
