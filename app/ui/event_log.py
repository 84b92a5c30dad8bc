"""The event log and log explorer: the sequence of events, alarm transitions and operators'
actions, newest first, with millisecond IST times.

The explorer reads the historian: a time range (last 1 h / 8 h / 24 h / 7 days, or a custom
from / to in IST, the "Last …" fields following now), event type, severity (one
vocabulary: Urgent, High, Medium, Low), asset or bay (``F2`` finds F2_21, F2_Q0) and
full-text filters, paged results. The
query runs as a job on the HMI's queries runner (:func:`app.runtime.queries.event_page`);
the page comes back to the GUI thread. While *Live* is on (page 1 of a "last …" range) every new event
that passes the filters appears at the top as it happens. Without a historian the log keeps
the live events in memory and the same filters apply to them. *Export CSV…* writes what is
shown, in the historian's CSV layout, and says so (count and path, in the dock and the
status bar). The *By* column names who made an alarm transition: acknowledged, shelved,
unshelved, taken out of service (``system`` for the chattering policy's shelving).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable

from PySide6.QtCore import QAbstractTableModel, QDateTime, QModelIndex, Qt, QTimer
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.alarms.engine import severity_name
from app.alarms.log import LogEntry
from app.runtime.queries import EventPage, EventQuery
from app.station import clock as wallclock
from app.station.timezone import IST
from app.ui import theme
from app.ui.perf import timed

COLUMNS = ("Time (IST)", "Type", "Severity", "Asset", "Point / alarm", "Event", "By")
MAX_ROWS = 20_000
PAGE_SIZE = 500
_SEV_PRIORITY = {"urgent": 1, "critical": 1, "high": 2, "medium": 3, "low": None}
RANGES = {"Last 1 h": dt.timedelta(hours=1), "Last 8 h": dt.timedelta(hours=8),
          "Last 24 h": dt.timedelta(hours=24), "Last 7 days": dt.timedelta(days=7),
          "Custom": None}
TYPES = ("all types", "alarm", "state", "quality", "comm", "control", "user")
#: One vocabulary (app.alarms.engine.PRIORITY_NAME); "Urgent" also finds the events stored as
#: "critical" before it.
SEVERITIES = ("all severities", "Urgent", "High", "Medium", "Low")
SEVERITY_STORED = {"Urgent": ("urgent", "critical"), "High": ("high",),
                   "Medium": ("medium",), "Low": ("low",)}


def asset_matches(asset_id: str | None, wanted: str) -> bool:
    """The asset filter: the id itself or an id of its bay (``F2`` finds F2, F2_21, F2_Q0 —
    not F20), case-insensitive; as :meth:`app.historian.store.Historian.events` queries."""
    if not asset_id:
        return False
    a, w = asset_id.lower(), wanted.lower()
    return a == w or a.startswith(w + "_") or a.startswith(w + ".")


def ist_text(time_ms: int) -> str:
    t = dt.datetime.fromtimestamp(time_ms / 1000, IST)
    return t.strftime("%d %b %Y %H:%M:%S.%f")[:-3]


class EventModel(QAbstractTableModel):
    """Newest first. Live events are inserted at the top (one insert signal per batch);
    a query's page replaces the rows."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: deque[LogEntry] = deque()

    def prepend(self, entries: list[LogEntry]) -> None:
        if not entries:
            return
        entries = sorted(entries, key=lambda e: e.time_ms)[-MAX_ROWS:]
        self.beginInsertRows(QModelIndex(), 0, len(entries) - 1)
        self.rows.extendleft(entries)  # the newest ends up first
        self.endInsertRows()
        over = len(self.rows) - MAX_ROWS
        if over > 0:
            n = len(self.rows)
            self.beginRemoveRows(QModelIndex(), n - over, n - 1)
            for _ in range(over):
                self.rows.pop()
            self.endRemoveRows()

    def set_rows(self, entries: Iterable[LogEntry]) -> None:
        self.beginResetModel()
        self.rows = deque(entries)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        e = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return ist_text(e.time_ms)
            return (None, e.event_type, severity_name(e.severity), e.asset_id or "",
                    e.tag or "", e.message, e.acknowledged_by or "")[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == 2:
            p = _SEV_PRIORITY.get(e.severity)
            return QBrush(theme.PRIORITY[p]) if p else None
        if role == Qt.ItemDataRole.ToolTipRole and col == 5:
            return e.message + (f"\n{e.before} → {e.after}" if e.before or e.after else "")
        return None


def _to_qdatetime(t: dt.datetime) -> QDateTime:
    """An IST wall-clock QDateTime (the edits show and take IST)."""
    t = t.astimezone(IST)
    q = QDateTime.fromString(t.strftime("%Y-%m-%d %H:%M:%S"), "yyyy-MM-dd HH:mm:ss")
    return q


def _from_qdatetime(q: QDateTime) -> dt.datetime:
    return dt.datetime.strptime(q.toString("yyyy-MM-dd HH:mm:ss"),
                                "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)


class EventLogDock(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = EventModel()
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.setWordWrap(False)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(22)
        hh = self.view.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        for col, width in ((0, 175), (1, 60), (2, 65), (3, 90), (4, 150), (6, 70)):
            self.view.setColumnWidth(col, width)
        self.submit: Callable[[EventQuery, Callable[[EventPage], None]], None] | None = None
        self.live_buffer: deque[LogEntry] = deque(maxlen=MAX_ROWS)
        self.page = 0
        self.has_more = False
        self._request = 0
        self.last_page: EventPage | None = None
        self.now: Callable[[], dt.datetime] = wallclock.now
        """The clock the "Last …" ranges end at (a drill's simulated clock in a drill)."""

        self.range = QComboBox()
        self.range.addItems(list(RANGES))
        self.range.currentTextChanged.connect(self._range_changed)
        now = self.now().astimezone(IST)
        self.frm = QDateTimeEdit(_to_qdatetime(now - dt.timedelta(hours=1)))
        self.to = QDateTimeEdit(_to_qdatetime(now))
        for w in (self.frm, self.to):
            w.setDisplayFormat("dd MMM yyyy HH:mm:ss")
            w.setCalendarPopup(True)
            w.setEnabled(False)
        self.live = QCheckBox("Live")
        self.live.setChecked(True)
        self.live.setToolTip("New events appear at the top as they happen")
        self.kind = QComboBox()
        self.kind.addItems(TYPES)
        self.severity = QComboBox()
        self.severity.addItems(SEVERITIES)
        self.asset = QLineEdit()
        self.asset.setPlaceholderText("asset or bay")
        self.asset.setToolTip("An asset id or its bay: F2 finds F2_21, F2_Q0, …")
        self.asset.setClearButtonEnabled(True)
        self.asset.setMaximumWidth(110)
        self.search = QLineEdit()
        self.search.setPlaceholderText("search text")
        self.search.setClearButtonEnabled(True)
        go = QPushButton("Search")
        go.clicked.connect(lambda: self.run_query(0))
        self.prev_button = QPushButton("◀")
        self.prev_button.clicked.connect(lambda: self.run_query(self.page - 1))
        self.next_button = QPushButton("▶")
        self.next_button.clicked.connect(lambda: self.run_query(self.page + 1))
        self.page_label = QLabel("page 1")
        export = QPushButton("Export CSV…")
        export.clicked.connect(self._ask_export)
        self.status = QLabel("")
        self.status.setStyleSheet(f"color: {theme.TEXT_MUTED.name()};")
        for c in (self.kind, self.severity):
            c.currentTextChanged.connect(lambda _t: self.run_query(0))
        for e in (self.asset, self.search):
            e.returnPressed.connect(lambda: self.run_query(0))

        top = QHBoxLayout()
        for w in (self.range, self.frm, QLabel("to"), self.to, self.live):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.status)
        bar = QHBoxLayout()
        for w in (self.kind, self.severity, self.asset):
            bar.addWidget(w)
        bar.addWidget(self.search, 1)
        for w in (go, self.prev_button, self.page_label, self.next_button, export):
            bar.addWidget(w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addLayout(bar)
        lay.addWidget(self.view)
        self._update_paging()
        # A "Last …" range follows now: its from / to fields show the window the next query
        # (and the live rows) cover, not the times of start-up.
        self._follow = QTimer(self)
        self._follow.setInterval(1000)
        self._follow.timeout.connect(self.follow_now)
        self._follow.start()
        self.follow_now()

    def follow_now(self) -> None:
        """Set the from / to fields to the "Last …" window ending now (not for Custom)."""
        span = RANGES[self.range.currentText()]
        if span is None:
            return
        end = self.now()
        for w, t in ((self.frm, end - span), (self.to, end)):
            w.blockSignals(True)
            w.setDateTime(_to_qdatetime(t))
            w.blockSignals(False)

    # ------------------------------------------------------------------ wiring
    def set_query(self, submit: Callable[[EventQuery, Callable[[EventPage], None]], None]
                  ) -> None:
        """Read the historian through ``submit(query, done)``, which runs the query off the
        GUI thread (a job on the HMI's queries runner) and calls ``done(page)`` back on it;
        then run the first query."""
        self.submit = submit
        self.run_query(0)

    # ------------------------------------------------------------------ live
    @timed("event log")
    def add_entries(self, entries: Iterable[LogEntry]) -> None:
        entries = list(entries)
        self.live_buffer.extend(entries)
        if self.is_live():
            q = self.current_query(0)
            self.model.prepend([e for e in entries if self._matches(e, q, live=True)])

    def rewind(self, when: dt.datetime) -> None:
        """A drill went back in time to ``when``: what was logged after it never happened in
        the drill now running — dropped from the live rows, and the list shown again."""
        t_ms = when.timestamp() * 1000
        kept = [e for e in self.live_buffer if e.time_ms <= t_ms]
        if len(kept) != len(self.live_buffer):
            self.live_buffer.clear()
            self.live_buffer.extend(kept)
        self.follow_now()
        self.run_query(0)

    def is_live(self) -> bool:
        return (self.live.isChecked() and self.page == 0
                and RANGES[self.range.currentText()] is not None)

    # ------------------------------------------------------------------ queries
    def current_query(self, page: int) -> EventQuery:
        span = RANGES[self.range.currentText()]
        if span is None:
            start, end = _from_qdatetime(self.frm.dateTime()), _from_qdatetime(self.to.dateTime())
        else:
            end = self.now()
            start = end - span
            self.follow_now()
        kind, sev = self.kind.currentText(), self.severity.currentText()
        return EventQuery(self._request, start=start, end=end,
                          types=() if kind == TYPES[0] else (kind,),
                          severities=SEVERITY_STORED.get(sev, ()),
                          asset=self.asset.text().strip() or None,
                          text=self.search.text().strip() or None, page=max(0, page),
                          page_size=PAGE_SIZE)

    def run_query(self, page: int = 0) -> None:
        if page < 0:
            return
        self._request += 1
        q = self.current_query(page)
        self.page = q.page
        if self.submit is not None:
            self.status.setText("searching…")
            self.submit(q, self._on_page)
        else:  # no historian: the same filters over the events seen since start
            rows = [e for e in reversed(self.live_buffer) if self._matches(e, q)]
            a = q.page * q.page_size
            self._on_page(EventPage(q, tuple(rows[a:a + q.page_size]),
                                    len(rows) > a + q.page_size))
        self._update_paging()

    def _on_page(self, page: EventPage) -> None:
        if page.query.request != self._request:
            return  # an answer to a query since replaced
        self.last_page = page
        self.has_more = page.has_more
        self.model.set_rows(page.rows)
        if self.is_live() and page.query.page == 0:
            # Live events newer than the page (not yet written when the query ran).
            newest = page.rows[0].time_ms if page.rows else page.query.start.timestamp() * 1000
            self.model.prepend([e for e in self.live_buffer if e.time_ms > newest
                                and self._matches(e, page.query, live=True)])
        src = "historian" if self.submit is not None else "this session"
        self.status.setText(f"query failed: {page.error}" if page.error else
                            f"{len(page.rows)} event{'s' * (len(page.rows) != 1)}"
                            f"{' (more on the next page)' if page.has_more else ''} from the "
                            f"{src}")
        self._update_paging()

    @staticmethod
    def _matches(e: LogEntry, q: EventQuery, *, live: bool = False) -> bool:
        if q.types and e.event_type not in q.types:
            return False
        if q.severities and e.severity not in q.severities:
            return False
        if q.asset and not asset_matches(e.asset_id, q.asset):
            return False
        if q.text and q.text.lower() not in e.message.lower():
            return False
        if not live and q.start and e.time_ms < q.start.timestamp() * 1000:
            return False
        return live or not q.end or e.time_ms < q.end.timestamp() * 1000

    def _range_changed(self, name: str) -> None:
        custom = RANGES[name] is None
        self.frm.setEnabled(custom)
        self.to.setEnabled(custom)
        if not custom:
            self.follow_now()
            self.run_query(0)

    def _update_paging(self) -> None:
        self.prev_button.setEnabled(self.page > 0)
        self.next_button.setEnabled(self.has_more)
        self.page_label.setText(f"page {self.page + 1}")

    # ------------------------------------------------------------------ export
    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export events", "events.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> int:
        """Write the rows shown, in the historian's CSV layout. Returns the row count."""
        from app.historian.store import Historian

        rows = list(self.model.rows)
        try:
            with open(path, "w", newline="", encoding="utf-8") as fh:
                Historian.export_events_csv(rows, fh)
        except OSError as exc:
            self._confirm(f"export failed: {path}: {exc.strerror}")
            raise
        self._confirm(f"exported {len(rows)} event{'s' * (len(rows) != 1)} to {path}")
        return len(rows)

    def _confirm(self, message: str) -> None:
        """Say what an export did, in the dock and in the window's status bar."""
        self.status.setText(message)
        win = self.window()
        if isinstance(win, QMainWindow):
            win.statusBar().showMessage(message, 15_000)
