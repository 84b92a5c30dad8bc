"""The live single-line diagram view.

Built once from the layout file; every scan's :class:`LiveSnapshot` then updates only what
changed: switch positions and their quality (measured), conductor energisation (the twin's
topology), bus kV, bay MW / Mvar and flow arrows (stepped with each scan). Zoom with
the wheel (under the mouse), pan by dragging, double-click or Ctrl+0 to fit. Clicking a device
emits :attr:`SldView.device_selected`; its context menu offers its points for trending.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QMimeData, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
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
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QMenu,
    QWidget,
)

from app.runtime.snapshot import LiveSnapshot
from app.station import Station
from app.station import quality as Q
from app.station.points import PointTable
from app.twin.state import TwinState
from app.ui import theme
from app.ui.perf import timed
from app.ui.sld import items as I
from app.ui.sld.layout import Layout, load_layout

TAG_MIME = "application/x-gridtwin-tag"
ANIM_S = 0.15  # flow arrows step at least this often when scans are slower
#: Numbers on the diagram (kV, MW, Mvar, transformer readings) refresh this often (staggered);
#: states —
#: switch positions, energisation, bad quality — with every scan. Numbers that change ten
#: times a second cannot be read, only flicker; and re-rendering ~40 labels a scan was most
#: of the diagram's paint time.
VALUES_S = 0.5

_ITEM = {"breaker": I.BreakerItem, "isolator": I.IsolatorItem,
         "earth_switch": I.EarthSwitchItem, "transformer": I.TransformerItem, "ct": I.CtItem,
         "cvt": I.CvtItem, "arrester": I.ArresterItem, "reactor": I.ReactorItem,
         "capacitor": I.CapacitorItem}


_UNIT_TEXT = {"degC": "°C", "step": ""}


def _value_text(v: float, unit: str) -> str:
    u = _UNIT_TEXT.get(unit, unit)
    num = f"{v:.0f}" if unit == "step" else f"{v:.1f}"
    return f"{num} {u}".rstrip()


class SldView(QGraphicsView):
    device_selected = Signal(str)
    trend_requested = Signal(str)

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
        self._switch_rows: list[tuple[I.SwitchItem, int]] = []
        self._flows: list[tuple[I.FlowItem, int, int, float]] = []
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
                rows = [self.points.index[tag] for tag, _ in self._tx_extra[id(item)]]
                if self._due(id(item), now, bool(good[rows].all()) if rows else True):
                    txt = [d.get("label", "")]
                    for (_tag, name), r in zip(self._tx_extra[id(item)], rows, strict=True):
                        txt.append(f"{name} {_value_text(v[r], self.points.unit[r])}"
                                   if good[r] else f"{name}: {Q.describe(int(q[r]))}")
                    item.set_sides(hvc, lvc, "\n".join(txt))
                else:
                    item.set_sides(hvc, lvc, item.text)
        for asset, t in self._bus_label.items():
            row = self.points.index.get(self._busbar_spec[asset]["tag"])
            if row is None or not self._due(id(t), now, bool(good[row])):
                continue
            if good[row]:
                t.setText(f"{v[row]:.1f} kV")
                t.setBrush(theme.TEXT)
            else:
                t.setText(f"{Q.describe(int(q[row]))}")
                t.setBrush(theme.INVALID)
        for flow, pr, qr, rating in self._flows:
            ok = bool(good[pr] and good[qr])
            flow.set_flow(float(v[pr]), float(v[qr]), not ok, rating,
                          text=self._due(id(flow), now, ok))
        self._animate()
        self._anim.start(int(ANIM_S * 1000))  # restart: no second repaint between scans

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

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self.itemAt(e.position().toPoint()) is None:
            self.fit()
        else:
            super().mouseDoubleClickEvent(e)

    def fit(self) -> None:
        """The whole station in view (double-click on empty space, or Ctrl+0)."""
        self._user_zoomed = False
        self.fitInView(self.scene_.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def zoom_reset(self) -> None:
        self.resetTransform()

    def showEvent(self, e: QShowEvent) -> None:  # noqa: N802
        super().showEvent(e)
        QTimer.singleShot(0, self.fit)

    def resizeEvent(self, e: QResizeEvent) -> None:  # noqa: N802
        """Keep the whole station in view as docks move, until the operator zooms or pans."""
        super().resizeEvent(e)
        if not self._user_zoomed:
            self.fit()
