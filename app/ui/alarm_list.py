"""The alarm list, driven by the ISA-18.2 alarm engine.

Rows are the engine's alarms not in NORMAL (:class:`app.alarms.engine.AlarmView`, one per
scan that changed something), always in the ISA-18.2 order — unacknowledged first, then by
priority, newest first — with the state in its own column. Colour is for abnormal only (ISA-101): the priority colour
marks each alarm's priority cell; an unacknowledged alarm is bold and its priority cell
blinks; a returned-to-normal one waiting for acknowledgement is bold and grey. One
vocabulary: "1 Urgent", "2 High", "3 Medium", "4 Low"; the value with its unit ("203.1 kV",
"95 °C"); a chattering alarm the system shelved reads "Shelved: chattering", an alarm behind
a lost link "Suppressed: F4 communication lost".

Actions: acknowledge the selected alarms or the page (the rows in view), shelve (a reason
and an expiry of at most 24 h), unshelve, and — for engineers — remove from / return to
service. The dock only asks (``action_requested``): the runtime checks the role and does it.
Filter by state, priority and text; the count summary; an optional audible cue for new
priority 1-2 alarms (kept in QSettings).

The model is incremental: a view inserts, updates and removes only the rows that changed
(rows are immutable and reused while unchanged), so a flood does not stall the GUI.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPoint,
    QSettings,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.alarms.engine import (
    ANNUNCIATED,
    STATE_ORDER,
    SYSTEM_USER,
    AlarmRow,
    AlarmState,
    AlarmView,
)
from app.runtime.alarm_service import AlarmAction
from app.station.timezone import IST
from app.ui import theme
from app.ui.perf import timed
from app.ui.qtcompat import refilter

log = logging.getLogger(__name__)
COLUMNS = ("Priority", "State", "Since (IST)", "Point / device", "Alarm", "Value")
S = AlarmState
STATE_TEXT = {S.UNACK: "Unack", S.ACKED: "Ack",
              S.RTN_UNACK: "Cleared, unack", S.SHELVED: "Shelved",
              S.SUPPRESSED: "Suppressed", S.OUT_OF_SERVICE: "Out of service",
              S.NORMAL: "Normal"}
#: The state filter's choices.
STATE_FILTERS = {
    "Annunciated": frozenset(ANNUNCIATED),
    "Unacknowledged": frozenset({S.UNACK, S.RTN_UNACK}),
    "Acknowledged": frozenset({S.ACKED}),
    "Shelved": frozenset({S.SHELVED}),
    "Suppressed": frozenset({S.SUPPRESSED}),
    "Out of service": frozenset({S.OUT_OF_SERVICE}),
    "All states": frozenset(s for s in S if s != S.NORMAL),
}
ACKABLE = (S.UNACK, S.RTN_UNACK)
SHELVE_CHOICES = (("15 minutes", 15), ("30 minutes", 30), ("1 hour", 60), ("2 hours", 120),
                  ("4 hours", 240), ("8 hours", 480), ("12 hours", 720), ("24 hours", 1440))
SETTING_AUDIBLE = "alarms/audible"


def sort_key(r: AlarmRow) -> tuple:
    """The ISA-18.2 list order: unacknowledged first, then priority, then newest first."""
    return (STATE_ORDER[r.state], r.priority, -(r.since.timestamp() if r.since else 0.0),
            r.key)


class AlarmModel(QAbstractTableModel):
    """Rows kept in the list order (the proxy only filters, so no Python runs per
    comparison while Qt sorts). A view is applied as: rows gone or whose place changed are
    removed in contiguous runs, they and the new ones inserted in contiguous blocks, the
    rest updated in place with one dataChanged."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[AlarmRow] = []
        self._order: list[tuple] = []  # sort_key of each row
        self._ix: dict[str, int] = {}
        self.blink_on = True
        self._bold = QFont()
        self._bold.setBold(True)

    def apply(self, view: AlarmView) -> None:
        """Bring the rows to ``view``: remove, move, insert and update only what changed."""
        new = {r.key: r for r in view.rows}
        out: list[int] = []  # rows leaving their place (gone, or moving)
        incoming: list[AlarmRow] = [r for k, r in new.items() if k not in self._ix]
        lo, hi = len(self.rows), -1
        for i, r in enumerate(self.rows):
            n = new.get(r.key)
            if n is None:
                out.append(i)
            elif n is not r:
                k = sort_key(n)
                if k == self._order[i]:
                    self.rows[i] = n
                    lo, hi = min(lo, i), max(hi, i)
                else:
                    out.append(i)
                    incoming.append(n)
        if hi >= 0:
            self.dataChanged.emit(self.index(lo, 0), self.index(hi, len(COLUMNS) - 1))
        if out:
            runs: list[list[int]] = []  # contiguous, bottom up
            for i in reversed(out):
                if runs and runs[-1][0] == i + 1:
                    runs[-1][0] = i
                else:
                    runs.append([i, i])
            for first, last in runs:
                self.beginRemoveRows(QModelIndex(), first, last)
                del self.rows[first:last + 1]
                del self._order[first:last + 1]
                self.endRemoveRows()
        if incoming:
            keyed = sorted(((sort_key(r), r) for r in incoming), key=lambda kr: kr[0])
            blocks: list[tuple[int, list]] = []
            for k, r in keyed:
                p = bisect.bisect_right(self._order, k)
                if blocks and blocks[-1][0] == p:
                    blocks[-1][1].append((k, r))
                else:
                    blocks.append((p, [(k, r)]))
            shift = 0
            for p, block in blocks:
                at = p + shift
                self.beginInsertRows(QModelIndex(), at, at + len(block) - 1)
                self.rows[at:at] = [r for _, r in block]
                self._order[at:at] = [k for k, _ in block]
                self.endInsertRows()
                shift += len(block)
        if out or incoming:
            self._ix = {r.key: i for i, r in enumerate(self.rows)}

    def row_of(self, key: str) -> AlarmRow | None:
        i = self._ix.get(key)
        return self.rows[i] if i is not None else None

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
        r = self.rows[index.row()]
        col = index.column()
        R = Qt.ItemDataRole
        if role == R.DisplayRole:
            if col == 0:
                return f"{r.priority} {r.priority_name}"
            if col == 1:
                if r.state == S.SHELVED and r.shelve_reason == "chattering" \
                        and r.shelved_by == SYSTEM_USER:
                    return "Shelved: chattering"
                if r.state == S.SHELVED and r.shelved_until:
                    return f"Shelved to {r.shelved_until.astimezone(IST):%H:%M}"
                if r.state == S.SUPPRESSED and r.suppressed_by:
                    return f"Suppressed: {r.suppressed_by}"
                return STATE_TEXT[r.state] + (" (chattering)" if r.chattering else "")
            if col == 2:
                if r.since is None:
                    return ""
                return r.since.astimezone(IST).strftime("%d %b %H:%M:%S.%f")[:-3]
            if col == 3:
                return r.tag
            if col == 4:
                return r.message
            return r.value_text if r.kind == "analog" or r.states else ""
        if role == R.BackgroundRole and col == 0 and r.state in (S.UNACK, S.ACKED):
            if r.state == S.UNACK and not self.blink_on:
                return None  # the blink: the priority colour comes and goes
            return QBrush(theme.PRIORITY[r.priority])
        if role == R.ForegroundRole:
            if col == 0 and r.state in (S.UNACK, S.ACKED) and (r.state == S.ACKED
                                                               or self.blink_on):
                return QBrush(QColor("white") if r.priority in (1, 4) else theme.TEXT)
            if r.state not in (S.UNACK, S.ACKED):
                return QBrush(theme.TEXT_MUTED)
            return None
        if role == R.FontRole and r.state in ACKABLE:
            return self._bold
        if role == R.ToolTipRole:
            tip = f"{r.key}\n{r.state.value}"
            if r.acked_by:
                tip += f" by {r.acked_by}"
            if r.suppressed_by:
                tip += f" (suppressed by design: {r.suppressed_by})"
            if r.state == S.SHELVED:
                tip += (f" by {r.shelved_by or '?'} until "
                        f"{r.shelved_until.astimezone(IST):%d %b %H:%M} IST: "
                        f"{r.shelve_reason}") if r.shelved_until else ""
                tip += f"\ncondition {'active' if r.active else 'clear'}"
            return tip
        return None


class _Filter(QSortFilterProxyModel):
    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.max_priority = 4
        self.states = STATE_FILTERS["Annunciated"]

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802
        r = self.sourceModel().rows[row]
        if r.state not in self.states or r.priority > self.max_priority:
            return False
        t = self.text
        return not t or t in r.tag.lower() or t in r.message.lower()


class ShelveDialog(QDialog):
    """Shelve the selected alarms: a reason is required; the expiry is at most 24 h."""

    def __init__(self, keys: list[str], parent: QWidget | None = None, *,
                 with_duration: bool = True, title: str = "Shelve alarms") -> None:
        super().__init__(parent)
        self.keys = keys
        self.setWindowTitle(title)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why (required, kept in the log)")
        self.duration = QComboBox()
        for text, minutes in SHELVE_CHOICES:
            self.duration.addItem(text, minutes)
        self.duration.setCurrentIndex(2)
        form = QFormLayout(self)
        form.addRow(QLabel(f"{len(keys)} alarm{'s' * (len(keys) != 1)}: "
                           + ", ".join(keys[:4]) + (" …" if len(keys) > 4 else "")))
        form.addRow("Reason", self.reason)
        if with_duration:
            form.addRow("For", self.duration)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setEnabled(False)
        self.reason.textChanged.connect(lambda t: self.ok.setEnabled(bool(t.strip())))

    @property
    def minutes(self) -> int:
        return int(self.duration.currentData())


class AlarmListDock(QWidget):
    alarm_selected = Signal(str)  # asset id
    alarm_activated = Signal(str)  # asset id: a row double-clicked (opens its bay display)
    action_requested = Signal(object)  # AlarmAction (session filled in by the window)
    rca_requested = Signal(object)  # AlarmRow: open its root-cause analysis (analytics dock)
    horn_changed = Signal(bool)  # the audible cue sounds (True) / was silenced (False)

    def __init__(self, parent: QWidget | None = None, *,
                 settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.model = AlarmModel()
        self.proxy = _Filter()
        self.proxy.setSourceModel(self.model)
        self.view = QTableView()
        self.view.setModel(self.proxy)  # in the list's own order: not sortable by column
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().hide()
        # Fixed widths and row heights: measuring contents would stall the GUI in a flood.
        hh = self.view.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        for col, width in ((0, 80), (1, 110), (2, 175), (3, 160), (5, 70)):
            self.view.setColumnWidth(col, width)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.setWordWrap(False)
        self.view.clicked.connect(self._clicked)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.doubleClicked.connect(
            lambda i: self.alarm_activated.emit(self.model.rows[self.proxy.mapToSource(i).row()]
                                                .asset))
        self.horn = False  # sounding until silenced (the banner's Silence button)

        self.search = QLineEdit()
        self.search.setPlaceholderText("filter alarms")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._set_text)
        self.state = QComboBox()
        self.state.addItems(list(STATE_FILTERS))
        self.state.currentTextChanged.connect(self._set_states)
        self.priority = QComboBox()
        self.priority.addItems(["all priorities", "1 Urgent", "1–2", "1–3"])
        self.priority.currentIndexChanged.connect(self._set_priority)
        self.ack_button = QPushButton("Ack")
        self.ack_button.setToolTip("Acknowledge the selected alarms")
        self.ack_button.clicked.connect(self.ack_selected)
        self.ack_page_button = QPushButton("Ack page")
        self.ack_page_button.setToolTip("Acknowledge every alarm in view")
        self.ack_page_button.clicked.connect(self.ack_page)
        self.shelve_button = QPushButton("Shelve…")
        self.shelve_button.clicked.connect(self.ask_shelve)
        self.unshelve_button = QPushButton("Unshelve")
        self.unshelve_button.clicked.connect(self.unshelve_selected)
        self.more = QToolButton()
        self.more.setText("Service")
        self.more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.more)
        self.oos_action = QAction("Remove from service…", self)
        self.oos_action.triggered.connect(self.ask_remove_from_service)
        self.rts_action = QAction("Return to service", self)
        self.rts_action.triggered.connect(self.return_selected_to_service)
        menu.addAction(self.oos_action)
        menu.addAction(self.rts_action)
        self.more.setMenu(menu)
        self.audible = QCheckBox("Sound")
        self.audible.setToolTip("Beep for each new priority 1-2 alarm")
        on = settings.value(SETTING_AUDIBLE, False, type=bool) if settings is not None else False
        self.audible.setChecked(bool(on))
        self.audible.toggled.connect(self._set_audible)
        self.count = QLabel("no alarms")
        self.beeps = 0
        self.dialog: ShelveDialog | None = None

        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.state)
        bar.addWidget(self.priority)
        acts = QHBoxLayout()
        for w in (self.ack_button, self.ack_page_button, self.shelve_button,
                  self.unshelve_button, self.more, self.audible):
            acts.addWidget(w)
        acts.addStretch(1)
        acts.addWidget(self.count)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addLayout(acts)
        lay.addWidget(self.view)

        self._blink = QTimer(self)
        self._blink.timeout.connect(self._toggle_blink)
        self._blink.start(500)
        self.set_role(None)

    # ------------------------------------------------------------------ live data
    @timed("alarm list")
    def apply(self, view: AlarmView) -> None:
        self.model.apply(view)
        c = view.counts
        n = sum(c.get(s.value, 0) for s in ANNUNCIATED)
        unack = c.get(S.UNACK.value, 0) + c.get(S.RTN_UNACK.value, 0)
        parts = [f"{n} alarm{'s' * (n != 1)}" if n else "no alarms"]
        if unack:
            parts.append(f"{unack} unacknowledged")
        if view.by_priority.get(1):
            parts.append(f"{view.by_priority[1]} urgent")
        for s, word in ((S.SHELVED, "shelved"), (S.SUPPRESSED, "suppressed"),
                        (S.OUT_OF_SERVICE, "out of service")):
            if c.get(s.value):
                parts.append(f"{c[s.value]} {word}")
        self.count.setText(" · ".join(parts))
        if self.audible.isChecked() and any(t.after == S.UNACK and t.priority <= 2
                                            for t in view.transitions):
            self._beep()

    def silence_horn(self) -> None:
        """Stop the audible cue until the next new priority 1-2 alarm."""
        if self.horn:
            self.horn = False
            self.horn_changed.emit(False)

    def _beep(self) -> None:
        if not self.horn:
            self.horn = True
            self.horn_changed.emit(True)
        self.beeps += 1
        try:
            QApplication.beep()  # a no-op where there is no audio device or bell
        except Exception:  # pragma: no cover - defensive: the cue must never break the list
            log.debug("beep failed", exc_info=True)

    def _toggle_blink(self) -> None:
        self.model.blink_on = not self.model.blink_on
        if self.horn and self.model.blink_on:  # the horn repeats until silenced
            self._beep()
        if any(r.state == S.UNACK for r in self.model.rows):
            self.view.viewport().update()  # repaint only: no model signal, no re-sort

    # ------------------------------------------------------------------ roles
    def set_role(self, role: str | None) -> None:
        """Grey out what the user may not do (the runtime checks again, whatever this
        shows)."""
        from app.control.users import role_at_least

        r = role or "viewer"
        op, eng = role_at_least(r, "operator"), role_at_least(r, "engineer")
        for w in (self.ack_button, self.ack_page_button, self.shelve_button,
                  self.unshelve_button):
            w.setEnabled(op)
            w.setToolTip(w.toolTip().split("\n")[0] + ("" if op else "\n(needs an operator)"))
        self.oos_action.setEnabled(eng)
        self.rts_action.setEnabled(eng)

    # ------------------------------------------------------------------ selection
    def selected_rows(self) -> list[AlarmRow]:
        rows = {self.proxy.mapToSource(i).row() for i in self.view.selectionModel().selectedRows()}
        return [self.model.rows[r] for r in sorted(rows)]

    def page_rows(self) -> list[AlarmRow]:
        """The rows in view (what 'Ack page' acknowledges)."""
        n = self.proxy.rowCount()
        if not n:
            return []
        vp = self.view.viewport()
        first = self.view.rowAt(0)
        last = self.view.rowAt(vp.height() - 1)
        first = 0 if first < 0 else first
        last = n - 1 if last < 0 else last
        return [self.model.rows[self.proxy.mapToSource(self.proxy.index(i, 0)).row()]
                for i in range(first, last + 1)]

    def _request(self, action: str, rows: list[AlarmRow], **kw: object) -> bool:
        keys = tuple(r.key for r in rows)
        if not keys:
            return False
        self.action_requested.emit(AlarmAction(action, keys, None, **kw))
        return True

    # ------------------------------------------------------------------ actions
    def ack_selected(self) -> bool:
        return self._request("acknowledge", [r for r in self.selected_rows()
                                             if r.state in ACKABLE])

    def ack_page(self) -> bool:
        return self._request("acknowledge", [r for r in self.page_rows() if r.state in ACKABLE])

    def ask_shelve(self) -> ShelveDialog | None:
        rows = [r for r in self.selected_rows() if r.state != S.OUT_OF_SERVICE]
        if not rows:
            return None
        dlg = ShelveDialog([r.key for r in rows], self)
        dlg.accepted.connect(lambda: self._request(
            "shelve", rows, reason=dlg.reason.text().strip(),
            duration=dt.timedelta(minutes=dlg.minutes)))
        self.dialog = dlg
        dlg.open()
        return dlg

    def unshelve_selected(self) -> bool:
        return self._request("unshelve", [r for r in self.selected_rows()
                                          if r.state == S.SHELVED])

    def ask_remove_from_service(self) -> ShelveDialog | None:
        rows = [r for r in self.selected_rows() if r.state != S.OUT_OF_SERVICE]
        if not rows:
            return None
        dlg = ShelveDialog([r.key for r in rows], self, with_duration=False,
                           title="Remove alarms from service")
        dlg.accepted.connect(lambda: self._request("remove_from_service", rows,
                                                   reason=dlg.reason.text().strip()))
        self.dialog = dlg
        dlg.open()
        return dlg

    def return_selected_to_service(self) -> bool:
        return self._request("return_to_service", [r for r in self.selected_rows()
                                                   if r.state == S.OUT_OF_SERVICE])

    # ------------------------------------------------------------------ filters
    def _set_text(self, t: str) -> None:
        refilter(self.proxy, lambda: setattr(self.proxy, "text", t.strip().lower()))

    def _set_states(self, name: str) -> None:
        refilter(self.proxy, lambda: setattr(self.proxy, "states", STATE_FILTERS[name]))

    def _set_priority(self, i: int) -> None:
        refilter(self.proxy, lambda: setattr(self.proxy, "max_priority", (4, 1, 2, 3)[i]))

    def _set_audible(self, on: bool) -> None:
        if not on:
            self.silence_horn()
        if self.settings is not None:
            self.settings.setValue(SETTING_AUDIBLE, bool(on))

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        row = self.model.rows[self.proxy.mapToSource(index).row()]
        menu = QMenu(self.view)
        menu.addAction("Root-cause analysis…", lambda: self.rca_requested.emit(row))
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def _clicked(self, index: QModelIndex) -> None:
        src = self.proxy.mapToSource(index)
        self.alarm_selected.emit(self.model.rows[src.row()].asset)
