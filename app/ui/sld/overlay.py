"""Study results painted over the live single-line diagram.

*Fault levels*: each busbar gets a label with its bolted fault currents (3ph / LG kA) in the
study colour. *N-1*: the branches that an outage would overload get a study-coloured frame
with the worst post-contingency loading and the outage that causes it; busbars whose voltage
would leave the Grid Code band are framed with the worst voltage. The study colour is blue,
never an alarm colour: it reads as "computed for you", not "abnormal now" (ISA-101). The
overlay stays until it is cleared or the next study replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QGraphicsSimpleTextItem

from app.twin.contingency import ContingencyResult
from app.twin.studies import BusFaultLevel
from app.ui import theme
from app.ui.sld import items as I

if TYPE_CHECKING:
    from app.ui.sld.view import SldView


class StudyOverlay:
    def __init__(self, view: SldView) -> None:
        self.view = view
        self._items: list[QGraphicsItem] = []
        self.kind: str | None = None
        self.labels: dict[str, str] = {}
        """Asset id → the text painted beside it (for tests and tooltips)."""

    def clear(self) -> None:
        scene = self.view.scene()
        for it in self._items:
            scene.removeItem(it)
        self._items.clear()
        self.labels.clear()
        self.kind = None

    def _text(self, text: str, x: float, y: float) -> None:
        t = QGraphicsSimpleTextItem(text)
        t.setFont(I.font(9, self.view.layout_.text_scale, bold=True))
        t.setBrush(theme.STUDY)
        t.setPos(x, y)
        t.setZValue(40)
        self.view.scene().addItem(t)
        self._items.append(t)

    def _frame(self, rect: QRectF) -> None:
        r = QGraphicsRectItem(rect)
        r.setPen(QPen(theme.STUDY, 2.5, Qt.PenStyle.DashLine))
        r.setBrush(QBrush(theme.STUDY_FILL))
        r.setZValue(39)
        self.view.scene().addItem(r)
        self._items.append(r)

    def show_fault_levels(self, levels: Iterable[BusFaultLevel]) -> None:
        self.clear()
        self.kind = "fault levels"
        for f in levels:
            bar = self.view.busbars.get(f.asset_id)
            if bar is None:
                continue
            spec = self.view.layout_.busbars
            spec = next(s for s in spec if s["asset"] == f.asset_id)
            text = (f"3ph {f.ka.get('3ph', 0):.1f} kA  LG {f.ka.get('LG', 0):.1f} kA"
                    if f.energised else "dead: no fault level")
            self.labels[f.asset_id] = text
            self._text(text, spec["x1"], spec["y"] + 6)

    def show_contingencies(self, results: Iterable[ContingencyResult]) -> None:
        """The worst post-contingency loading of every branch that any outage overloads, and
        the worst voltage of every bus that any outage takes out of its band."""
        self.clear()
        self.kind = "N-1"
        station = self.view.station
        over: dict[str, tuple[float, str]] = {}
        volts: dict[str, tuple[float, float, str]] = {}
        for r in results:
            if r.outage == "base case":
                continue
            for o in r.overloads:
                key = o.element.lower()
                if key not in over or o.loading_pct > over[key][0]:
                    over[key] = (o.loading_pct, r.outage)
            for v in r.voltage_violations:
                dev = max(v.min_kv - v.kv, v.kv - v.max_kv)
                if v.bus.lower() not in volts or dev > volts[v.bus.lower()][0]:
                    volts[v.bus.lower()] = (dev, v.kv, r.outage)
        for a in station.assets:
            if a.element and a.element.lower() in over and a.id in self.view.items_by_asset:
                pct, outage = over[a.element.lower()]
                item = self.view.items_by_asset[a.id]
                rect = item.sceneBoundingRect().adjusted(-6, -6, 6, 6)
                self._frame(rect)
                text = f"{pct:.0f} % if {outage} out"
                self.labels[a.id] = text
                self._text(text, rect.right() + 2, rect.top())
        for asset_id, bar in self.view.busbars.items():
            bus = self.view.layout_.busbars
            spec = next(s for s in bus if s["asset"] == asset_id)
            hit = volts.get(spec["bus"].lower())
            if hit is None:
                continue
            _dev, kv, outage = hit
            self._frame(bar.sceneBoundingRect().adjusted(-4, -8, 4, 8))
            text = f"{kv:.1f} kV if {outage} out"
            self.labels[asset_id] = text
            self._text(text, spec["x1"], spec["y"] + 6)
