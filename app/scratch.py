"""One private scratch folder per GridTwin process, removed when the process ends.

Everything a run needs only while it runs — the field-sim child's log, the 3D renderer's
images, a headless run's throw-away window settings — goes into
``$TMPDIR/gridtwin-<pid>-<random>/`` (mode 0700), which is removed at exit. A folder left by a
process that was killed (its pid no longer running) is removed by the next one that makes its
own, so nothing piles up in the temporary directory.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_lock = threading.Lock()
_dir: Path | None = None
_PATTERN = re.compile(r"^gridtwin-(\d+)-[A-Za-z0-9_]+$")


def scratch_dir() -> Path:
    """This process's scratch folder (made on first use)."""
    global _dir
    with _lock:
        if _dir is None or not _dir.is_dir():
            _sweep_orphans()
            _dir = Path(tempfile.mkdtemp(prefix=f"gridtwin-{os.getpid()}-"))
            atexit.register(remove_scratch_dir)
        return _dir


def scratch_file(name: str) -> Path:
    return scratch_dir() / name


def remove_scratch_dir() -> None:
    global _dir
    with _lock:
        d, _dir = _dir, None
    if d is not None:
        shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_orphans() -> None:
    tmp = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for d in tmp.iterdir():
            m = _PATTERN.match(d.name)
            if not m or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
                continue
            with contextlib.suppress(OSError):
                if d.is_dir() and not d.is_symlink() and d.stat().st_uid == os.geteuid():
                    shutil.rmtree(d, ignore_errors=True)
                    log.debug("removed %s, left by a process that no longer runs", d)
