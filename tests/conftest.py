"""Shared fixtures. Every engine is a fresh OpenDSS context (compiling takes ~5 ms)."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
STATION_FILE = ROOT / "circuits" / "station.toml"


@pytest.fixture(scope="session")
def station():
    from app.station import load_station

    return load_station(STATION_FILE)


@pytest.fixture
def engine(station):
    from app.twin import TwinEngine

    return TwinEngine(station.circuit_path)


@pytest.fixture
def station_copy(tmp_path):
    """A writable copy of the station file and circuit, to break on purpose."""
    for name in ("station.toml", "station.dss"):
        (tmp_path / name).write_text((ROOT / "circuits" / name).read_text())
    return tmp_path / "station.toml"


@pytest.fixture(autouse=True)
def no_thread_left_behind(request):
    """Fail any test that leaves a thread (Python or QThread) running after it ends."""
    before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 3.0
    while True:
        left = [t for t in threading.enumerate()
                if t.ident not in before and t.is_alive() and not _benign(t)]
        qleft = _running_qthreads()
        if not left and not qleft:
            return
        if time.monotonic() > deadline:
            names = [t.name for t in left] + [f"QThread {n}" for n in qleft]
            pytest.fail(f"{request.node.nodeid} left threads running: {', '.join(names)}")
        time.sleep(0.05)


_CLIENTS = (b"app.field.rtu.frontend", b"app.field.iec61850.client", b"app.runtime.studyproc")


def _client_processes() -> dict[int, str]:
    """This process's helper children (Modbus front-end, MMS client, study process) alive."""
    me, out = os.getpid(), {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat", "rb").read()
            ppid = int(stat.rsplit(b")", 1)[1].split()[1])
            state = stat.rsplit(b")", 1)[1].split()[0]
            if ppid != me or state == b"Z":
                continue
            cmd = open(f"/proc/{d}/cmdline", "rb").read()
        except (OSError, ValueError, IndexError):
            continue
        for c in _CLIENTS:
            if c in cmd:
                out[int(d)] = c.decode()
    return out


@pytest.fixture(autouse=True)
def no_client_process_left_behind(request):
    """Fail any test that leaves a protocol client's process running (a source or poller
    not closed): they would pile up, each polling its station, until pytest ends."""
    before = set(_client_processes())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        left = {p: c for p, c in _client_processes().items() if p not in before}
        if not left:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{request.node.nodeid} left protocol-client processes running: "
                        + ", ".join(f"{c} (pid {p})" for p, c in left.items()))
        time.sleep(0.05)


def _benign(t: threading.Thread) -> bool:
    # Interpreter-wide helpers that outlive any one test by design.
    return t.name.startswith(("ThreadPoolExecutor", "asyncio_", "QueueFeederThread",
                              "pymp-", "Dummy-"))


def _running_qthreads() -> list[str]:
    if "app.runtime.qt.threads" not in sys.modules:
        return []
    return sys.modules["app.runtime.qt.threads"].running_threads()
