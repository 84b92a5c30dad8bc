"""Every QThread the runtime starts is registered here, so tests can prove none is left
running, and shutdown can stop them all cleanly (quit + wait; never terminate())."""

from __future__ import annotations

import weakref

from PySide6.QtCore import QThread

_threads: weakref.WeakSet[QThread] = weakref.WeakSet()


def managed_thread(name: str) -> QThread:
    t = QThread()
    t.setObjectName(name)
    _threads.add(t)
    return t


def running_threads() -> list[str]:
    out = []
    for t in list(_threads):
        try:
            if t.isRunning():
                out.append(t.objectName())
        except RuntimeError:  # the C++ object is gone
            continue
    return out


def stop_thread(t: QThread, timeout_ms: int = 5000) -> bool:
    """Ask a thread's event loop to quit and wait for it. Returns False on timeout."""
    try:
        if not t.isRunning():
            return True
        t.quit()
        return t.wait(timeout_ms)
    except RuntimeError:
        return True
