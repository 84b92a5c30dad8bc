"""The alarm list: standing abnormal conditions, highest priority first.

Sortable by any column, filterable by text and by priority, each row marked in its ISA-18.2
priority colour (the only place that colour appears). Until the alarm engine of the control
issue lands, rows are the conditions standing in the latest scan
(:class:`app.alarms.conditions.ConditionMonitor`): acknowledgement and shelving come with it.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.alarms.conditions import Condition
from app.ui import theme
from app.ui.qtcompat import refilter

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
COLUMNS = ("Priority", "Since (IST)", "Point / device", "Condition", "Value")


class AlarmModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Condition] = []

    def set_conditions(self, conds: list[Condition]) -> bool:
        """Replace the rows; returns True when anything changed."""
        if [c.key for c in conds] == [c.key for c in self.rows] and all(
                a.value == b.value or (a.value != a.value and b.value != b.value)
                for a, b in zip(conds, self.rows, strict=True)):
            return False
        self.beginResetModel()
        self.rows = list(conds)
        self.endResetModel()
        return True

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
        c = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return f"{c.priority} {theme.PRIORITY_TEXT[c.priority]}"
            if col == 1:
                return c.since.astimezone(IST).strftime("%d %b %H:%M:%S.%f")[:-3]
            if col == 2:
                return c.tag
            if col == 3:
                return c.message
            return "" if c.value != c.value else f"{c.value:.4g}"
        if role == Qt.ItemDataRole.UserRole:  # sort keys
            return (c.priority, c.since.timestamp(), c.tag, c.message,
                    c.value if c.value == c.value else -1e300)[col]
        if role == Qt.ItemDataRole.BackgroundRole and col == 0:
            return QBrush(theme.PRIORITY[c.priority])
        if role == Qt.ItemDataRole.ForegroundRole and col == 0:
            return QBrush(QColor("white") if c.priority in (1, 4) else theme.TEXT)
        return None


class _Filter(QSortFilterProxyModel):
    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.max_priority = 4
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802
        c = self.sourceModel().rows[row]
        if c.priority > self.max_priority:
            return False
        t = self.text.lower()
        return not t or t in c.tag.lower() or t in c.message.lower()


class AlarmListDock(QWidget):
    alarm_selected = Signal(str)  # asset id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = AlarmModel()
        self.proxy = _Filter()
        self.proxy.setSourceModel(self.model)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().hide()
        # Fixed widths: measuring every row's contents would stall the GUI in an alarm flood.
        hh = self.view.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        for col, width in ((0, 90), (1, 150), (2, 170), (4, 80)):
            self.view.setColumnWidth(col, width)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.setWordWrap(False)
        self.view.clicked.connect(self._clicked)
        self.search = QLineEdit()
        self.search.setPlaceholderText("filter alarms")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._set_text)
        self.priority = QComboBox()
        self.priority.addItems(["all priorities", "1 Urgent", "1–2", "1–3"])
        self.priority.currentIndexChanged.connect(self._set_priority)
        self.count = QLabel("no alarms")
        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.priority)
        bar.addWidget(self.count)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.view)

    def set_conditions(self, conds: list[Condition]) -> None:
        if self.model.set_conditions(conds):
            n = len(conds)
            p1 = sum(c.priority == 1 for c in conds)
            self.count.setText("no alarms" if not n else
                               f"{n} alarm{'s' * (n != 1)}" + (f", {p1} urgent" if p1 else ""))

    def _set_text(self, t: str) -> None:
        refilter(self.proxy, lambda: setattr(self.proxy, "text", t))

    def _set_priority(self, i: int) -> None:
        refilter(self.proxy, lambda: setattr(self.proxy, "max_priority", (4, 1, 2, 3)[i]))

    def _clicked(self, index: QModelIndex) -> None:
        src = self.proxy.mapToSource(index)
        self.alarm_selected.emit(self.model.rows[src.row()].asset)
