"""Where the operator is in the display hierarchy, and how they got there.

A display is named by a string: ``"overview"`` or ``"bay:<bay id>"``. :class:`Navigator`
keeps the history as a browser does (going somewhere new drops the forward history) and
says when the current display changes; the window shows it. Qt-only for the signal.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.station import Station

OVERVIEW = "overview"
HISTORY_MAX = 50


def bay_display(bay_id: str) -> str:
    return f"bay:{bay_id}"


def bay_of(station: Station, asset_or_bay: str) -> str | None:
    """The bay an alarm's asset belongs to (an alarm on a device's communication names the
    bay itself); None when the station has neither."""
    if station.has_asset(asset_or_bay):
        return station.asset(asset_or_bay).bay
    return asset_or_bay if any(b.id == asset_or_bay for b in station.bays) else None


def breadcrumb(station: Station, display: str) -> str:
    """``Station ▸ 220 kV ▸ F2 — 220 kV feeder-2 (Hoody)`` for a bay display."""
    if not display.startswith("bay:"):
        return "Station overview"
    b = station.bay(display[4:])
    kv = f"{b.voltage_kv:g} kV" if b.voltage_kv >= 1 else "LV"
    return f"Station ▸ {kv} ▸ {b.id} — {b.name}"


class Navigator(QObject):
    changed = Signal(str)  # the display now shown

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history: list[str] = [OVERVIEW]
        self.index = 0

    @property
    def current(self) -> str:
        return self.history[self.index]

    def go(self, display: str) -> None:
        if display == self.current:
            return
        del self.history[self.index + 1:]
        self.history.append(display)
        if len(self.history) > HISTORY_MAX:
            del self.history[0]
        self.index = len(self.history) - 1
        self.changed.emit(display)

    def can_back(self) -> bool:
        return self.index > 0

    def can_forward(self) -> bool:
        return self.index < len(self.history) - 1

    def back(self) -> None:
        if self.can_back():
            self.index -= 1
            self.changed.emit(self.current)

    def forward(self) -> None:
        if self.can_forward():
            self.index += 1
            self.changed.emit(self.current)
