"""Small shims over Qt API differences inside our PySide6 range (>=6.8,<6.12)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSortFilterProxyModel


def refilter(proxy: QSortFilterProxyModel, change: Callable[[], None]) -> None:
    """Apply ``change`` to a proxy's filter parameters and re-filter its rows.

    Qt 6.10 deprecates invalidateFilter()/invalidateRowsFilter() in favour of
    beginFilterChange()/endFilterChange(); 6.8 has only the former.
    """
    if hasattr(proxy, "beginFilterChange"):
        proxy.beginFilterChange()
        change()
        proxy.endFilterChange(QSortFilterProxyModel.Direction.Rows)
    else:  # pragma: no cover - Qt < 6.10
        change()
        proxy.invalidateRowsFilter()
