"""The event log: the sequence of events, newest first, with millisecond IST times.

Fed live from the runtime's change detector; filter by text, type and severity; export CSV.
The historian-backed log explorer (time ranges, full-text search over stored events) comes with
the alarms-and-control issue.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import deque

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.alarms.changes import Event
from app.ui import theme
from app.ui.qtcompat import refilter

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
COLUMNS = ("Time (IST)", "Type", "Severity", "Asset", "Event")
MAX_ROWS = 20_000
_SEV_PRIORITY = {"critical": 1, "high": 2, "medium": 3, "low": None}


class EventModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: deque[Event] = deque(maxlen=MAX_ROWS)

    def add(self, events: list[Event]) -> None:
        if not events:
            return
        self.beginResetModel()
        for e in sorted(events, key=lambda e: e.time):
            self.rows.appendleft(e)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole):  # noqa: ANN201
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: ANN201
        e = self.rows[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole):
            if col == 0:
                if role == Qt.ItemDataRole.UserRole:
                    return e.time.timestamp()
                return e.time.astimezone(IST).strftime("%d %b %H:%M:%S.%f")[:-3]
            return (None, e.event_type, e.severity, e.asset, e.message)[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == 2:
            p = _SEV_PRIORITY.get(e.severity)
            return QBrush(theme.PRIORITY[p]) if p else None
        return None


class _Filter(QSortFilterProxyModel):
    def __init__(self) -> None:
        super().__init__()
        self.text, self.kind = "", ""
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802
        e = self.sourceModel().rows[row]
        if self.kind and e.event_type != self.kind and e.severity != self.kind:
            return False
        t = self.text.lower()
        return not t or t in e.message.lower() or t in e.asset.lower()


class EventLogDock(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = EventModel()
        self.proxy = _Filter()
        self.proxy.setSourceModel(self.model)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.search = QLineEdit()
        self.search.setPlaceholderText("filter events")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._set_text)
        self.kind = QComboBox()
        self.kind.addItems(["all", "state", "quality", "comm", "high", "medium", "low"])
        self.kind.currentTextChanged.connect(self._set_kind)
        export = QPushButton("Export CSV…")
        export.clicked.connect(self._ask_export)
        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.kind)
        bar.addWidget(export)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.view)

    def add_events(self, events: list[Event]) -> None:
        self.model.add(events)

    def _set_text(self, t: str) -> None:
        refilter(self.proxy, lambda: setattr(self.proxy, "text", t))

    def _set_kind(self, k: str) -> None:
        refilter(self.proxy, lambda: setattr(self.proxy, "kind", "" if k == "all" else k))

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export events", "events.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["time_utc", "type", "severity", "asset", "point", "before", "after",
                        "message"])
            for r in range(self.proxy.rowCount()):
                e = self.model.rows[self.proxy.mapToSource(self.proxy.index(r, 0)).row()]
                w.writerow([e.time.isoformat(timespec="milliseconds"), e.event_type,
                            e.severity, e.asset, e.tag, e.before, e.after, e.message])
