"""A searchable list of every point: type to filter, double-click or drag into the trends."""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtWidgets import QLineEdit, QListView, QVBoxLayout, QWidget

from app.station import Station
from app.station.points import PointTable
from app.ui.trends import TAG_MIME


class _PointModel(QAbstractListModel):
    def __init__(self, station: Station, points: PointTable) -> None:
        super().__init__()
        self.points = points
        names = {a.id: a.name for a in station.assets}
        self._text = [f"{t}  —  {names.get(a, '')}  [{u}]" if u else f"{t}  —  {names.get(a, '')}"
                      for t, a, u in zip(points.tags, points.asset, points.unit, strict=True)]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._text)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text[index.row()]
        if role == Qt.ItemDataRole.UserRole:
            return self.points.tags[index.row()]
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        return super().flags(index) | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [TAG_MIME, "text/plain"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # noqa: N802
        tags = " ".join(self.points.tags[i.row()] for i in indexes if i.isValid())
        md = QMimeData()
        md.setData(TAG_MIME, tags.encode())
        md.setText(tags)
        return md


class PointBrowser(QWidget):
    trend_requested = Signal(str)

    def __init__(self, station: Station, points: PointTable,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = _PointModel(station, points)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search = QLineEdit()
        self.search.setPlaceholderText(f"search {len(points)} points (tag, asset name, unit)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setDragEnabled(True)
        self.view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.view.doubleClicked.connect(self._activated)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.search)
        lay.addWidget(self.view)

    def _activated(self, index: QModelIndex) -> None:
        self.trend_requested.emit(self.proxy.data(index, Qt.ItemDataRole.UserRole))

    def visible_tags(self) -> list[str]:
        return [self.proxy.data(self.proxy.index(r, 0), Qt.ItemDataRole.UserRole)
                for r in range(self.proxy.rowCount())]
