"""Every point by asset and measurement: type to filter, double-click or drag into the trends.

The tree reads as the operator thinks: asset ("F1_CT — 220 kV feeder-1 CT") → measurement
("Active power (MW)", "Voltage (kV)" ▸ phase A / B / C) → its indications ("Indications" ▸
"Local/remote switch"), each with its tag beside it. The search matches tags, descriptions,
asset names and units. :func:`fill_trend_menu` builds the same grouping as a menu (the
diagram's right-click "Trend" menu), so the ~45 points of a bay are not a list of bare tags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QMimeData, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QAction, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QHeaderView, QLineEdit, QMenu, QTreeView, QVBoxLayout, QWidget

from app.station import Station
from app.station.points import KIND_STATUS, PointTable
from app.ui.trends import TAG_MIME

TAG_ROLE = Qt.ItemDataRole.UserRole
INDICATIONS = "Indications"


def _base(points: PointTable, row: int) -> str:
    """The description without its phase ("Voltage, phase A" → "Voltage")."""
    d = points.description[row]
    return d.rsplit(", ", 1)[0] if points.phase[row] is not None and ", " in d else d


def _leaf(points: PointTable, row: int) -> str:
    """A point within its measurement: its phase, or its description."""
    d = points.description[row]
    return d.rsplit(", ", 1)[1] if points.phase[row] is not None and ", " in d else d


def _titled(text: str, unit: str) -> str:
    return f"{text} ({unit})" if unit else text


#: Measurements read together, offered as one group (quantity id prefix → group title).
FAMILIES = (("gas_", "Dissolved gases (DGA)"), ("tdcg_", "Dissolved gases (DGA)"),
            ("oil_moisture", "Dissolved gases (DGA)"), ("bushing_", "Bushings"),
            ("energy_", "Energy meters"), ("current_pos_seq", "Sequence currents"),
            ("current_neg_seq", "Sequence currents"), ("current_zero_seq", "Sequence currents"))


def _family(quantity: str) -> str | None:
    return next((title for prefix, title in FAMILIES if quantity.startswith(prefix)), None)


def measurement_groups(points: PointTable, rows: Sequence[int]
                       ) -> list[tuple[str, list[tuple[str, int]]]]:
    """``rows`` (one asset's) grouped by measurement, in the station file's order:
    [(title, [(leaf text, row), …]), …]. A measurement of one point is a group of one whose
    leaf text is its title; measurements read together (the dissolved gases, the bushings,
    the energy meters) are one group (:data:`FAMILIES`); the status points come last, as
    one "Indications" group."""
    groups: dict[tuple[str, str], list[int]] = {}
    states: list[int] = []
    for r in rows:
        if points.kind[r] == KIND_STATUS:
            states.append(r)
        else:
            groups.setdefault((_base(points, r), points.unit_text[r]), []).append(r)
    out: list[tuple[str, list[tuple[str, int]]]] = []
    family_at: dict[str, int] = {}
    for (base, unit), rs in groups.items():
        title = _titled(base, unit)
        fam = _family(points.quantity[rs[0]])
        if fam is not None:  # one group of the family's points, each by its full name
            leaves = [(_titled(points.description[r], points.unit_text[r]), r) for r in rs]
            if fam in family_at:
                out[family_at[fam]][1].extend(leaves)
            else:
                family_at[fam] = len(out)
                out.append((fam, leaves))
            continue
        out.append((title, [(title, rs[0])] if len(rs) == 1 else
                    [(_leaf(points, r) if points.phase[r] is not None else "total", r)
                     for r in rs]))
    if states:
        out.append((INDICATIONS, [(points.description[r], r) for r in states]))
    return out


def fill_trend_menu(menu: QMenu, station: Station, points: PointTable, tags: Sequence[str],
                    pick: Callable[[str], None]) -> None:
    """Add ``tags`` to ``menu`` grouped by asset (when several) and measurement, each action
    its description with the tag beside it; choosing one calls ``pick(tag)``."""
    by_asset: dict[str, list[int]] = {}
    for t in tags:
        if t in points.index:
            r = points.index[t]
            by_asset.setdefault(points.asset[r], []).append(r)

    def action(parent: QMenu, text: str, row: int) -> None:
        act = QAction(f"{text}\t{points.tags[row]}", parent)
        act.setData(points.tags[row])
        act.setToolTip(points.label(row))
        act.triggered.connect(lambda _=False, t=points.tags[row]: pick(t))
        parent.addAction(act)

    for asset_id, rows in by_asset.items():
        target = menu
        if len(by_asset) > 1:
            name = station.asset(asset_id).name if station.has_asset(asset_id) else ""
            target = menu.addMenu(f"{asset_id} — {name}" if name else asset_id)
        for title, leaves in measurement_groups(points, rows):
            if len(leaves) == 1 and title == leaves[0][0]:
                action(target, leaves[0][0], leaves[0][1])
            else:
                sub = target.addMenu(title)
                for text, r in leaves:
                    action(sub, text, r)


class _PointModel(QStandardItemModel):
    """Asset → measurement → point; a point's row carries its tag (:data:`TAG_ROLE`), an
    asset's or a measurement's the tags beneath it (for dragging a whole group)."""

    def __init__(self, station: Station, points: PointTable) -> None:
        super().__init__()
        self.points = points
        self.setHorizontalHeaderLabels(["point", "tag"])
        names = {a.id: a.name for a in station.assets}
        rows_of: dict[str, list[int]] = {}
        for r, a in enumerate(points.asset):
            rows_of.setdefault(a, []).append(r)
        for asset_id, rows in rows_of.items():
            top = self._node(f"{asset_id} — {names.get(asset_id, '')}", asset_id,
                             [points.tags[r] for r in rows])
            for title, leaves in measurement_groups(points, rows):
                if len(leaves) == 1 and title == leaves[0][0]:
                    top[0].appendRow(self._point(leaves[0][0], leaves[0][1]))
                    continue
                group = self._node(title, "", [points.tags[r] for _t, r in leaves])
                for text, r in leaves:
                    group[0].appendRow(self._point(text, r))
                top[0].appendRow(group)
            self.appendRow(top)

    @staticmethod
    def _node(text: str, key: str, tags: list[str]) -> list[QStandardItem]:
        item = QStandardItem(text)
        item.setData(" ".join(tags), TAG_ROLE + 1)
        item.setEditable(False)
        second = QStandardItem(key)
        second.setEditable(False)
        return [item, second]

    def _point(self, text: str, row: int) -> list[QStandardItem]:
        p = self.points
        item = QStandardItem(text)
        item.setData(p.tags[row], TAG_ROLE)
        item.setData(p.tags[row], TAG_ROLE + 1)
        item.setToolTip(p.label(row))
        item.setEditable(False)
        tag = QStandardItem(p.tags[row])
        tag.setData(p.tags[row], TAG_ROLE)
        tag.setEditable(False)
        return [item, tag]

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [TAG_MIME, "text/plain"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # noqa: N802
        tags: list[str] = []
        for i in indexes:
            if i.isValid() and i.column() == 0:
                for t in (self.itemFromIndex(i).data(TAG_ROLE + 1) or "").split():
                    if t not in tags:
                        tags.append(t)
        md = QMimeData()
        md.setData(TAG_MIME, " ".join(tags).encode())
        md.setText(" ".join(tags))
        return md


class _Filter(QSortFilterProxyModel):
    """Matches a row on its text, its tag column or its point's full label (so "MW", "F2" and
    "hot_spot" all find what they say)."""

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802
        pattern = self.filterRegularExpression().pattern()
        if not pattern:
            return True
        m = self.sourceModel()
        needle = pattern.lower()
        for col in (0, 1):
            idx = m.index(row, col, parent)
            if needle in (m.data(idx) or "").lower():
                return True
        tag = m.data(m.index(row, 0, parent), TAG_ROLE)
        if tag and tag in m.points.index:
            return needle in m.points.label(m.points.index[tag]).lower()
        return False


class PointBrowser(QWidget):
    trend_requested = Signal(str)

    def __init__(self, station: Station, points: PointTable,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points = points
        self.model = _PointModel(station, points)
        self.proxy = _Filter(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setRecursiveFilteringEnabled(True)  # a matching point shows its asset
        self.proxy.setAutoAcceptChildRows(True)  # a matching asset shows its points
        self.search = QLineEdit()
        self.search.setPlaceholderText(f"search {len(points)} points (tag, description, "
                                       "asset, unit)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.view = QTreeView()
        self.view.setModel(self.proxy)
        self.view.setDragEnabled(True)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QTreeView.SelectionMode.ExtendedSelection)
        self.view.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.view.header().setStretchLastSection(False)
        self.view.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.view.doubleClicked.connect(self._activated)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.search)
        lay.addWidget(self.view)

    def _filter(self, text: str) -> None:
        from PySide6.QtCore import QRegularExpression

        self.proxy.setFilterRegularExpression(QRegularExpression.escape(text.strip()))
        if text.strip():
            self.view.expandAll()
        else:
            self.view.collapseAll()

    def _activated(self, index: QModelIndex) -> None:
        tag = self.proxy.data(index.siblingAtColumn(0), TAG_ROLE)
        if tag:  # a point (an asset or a measurement group expands instead)
            self.trend_requested.emit(tag)

    def visible_tags(self) -> list[str]:
        """The points the search leaves visible (expanded or not), in order."""
        out: list[str] = []

        def walk(parent: QModelIndex) -> None:
            for r in range(self.proxy.rowCount(parent)):
                idx = self.proxy.index(r, 0, parent)
                tag = self.proxy.data(idx, TAG_ROLE)
                if tag:
                    out.append(tag)
                walk(idx)

        walk(QModelIndex())
        return out

    def index_of(self, tag: str) -> QModelIndex:
        """The proxy index of a visible point (invalid if filtered out)."""
        def walk(parent: QModelIndex) -> QModelIndex:
            for r in range(self.proxy.rowCount(parent)):
                idx = self.proxy.index(r, 0, parent)
                if self.proxy.data(idx, TAG_ROLE) == tag:
                    return idx
                found = walk(idx)
                if found.isValid():
                    return found
            return QModelIndex()

        return walk(QModelIndex())
