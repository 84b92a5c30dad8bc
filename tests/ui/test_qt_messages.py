"""Qt's own warnings reach the program's log, not raw stderr; known offscreen noise is DEBUG."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import qInstallMessageHandler, qWarning

from app.ui.app import route_qt_messages


@pytest.mark.no_qt_log
def test_qt_warnings_go_to_the_qt_logger(qapp, caplog):
    caplog.set_level(logging.DEBUG, logger="qt")
    route_qt_messages()
    try:
        qWarning("QFont: family 'Nowhere' not found")
        qWarning("This plugin does not support propagateSizeHints()")
    finally:
        qInstallMessageHandler(None)
    got = [(r.name, r.levelno, r.getMessage()) for r in caplog.records if r.name == "qt"]
    assert ("qt", logging.WARNING, "default: QFont: family 'Nowhere' not found") in got
    assert ("qt", logging.DEBUG,
            "default: This plugin does not support propagateSizeHints()") in got
