"""A child process of GridTwin ends when its parent does, however the parent dies.

``gridtwin run`` starts the field-sim, the Modbus front-end, the MMS client and the 3D view's
renderer as child processes. When the HMI is killed (``kill -9``, a crash, the session ending)
nothing runs its clean stop, and a field-sim left behind went on serving a ghost station for
ever, holding its ports. So every child calls :func:`die_with_parent` first thing:

* it asks the kernel for ``SIGKILL`` when its parent dies (``prctl(PR_SET_PDEATHSIG)``) —
  immediate, even if the child's main thread is stuck in C code holding the GIL. Linux sends
  that signal when the parent *thread* that started the child ends, so it is armed only when
  the parent said it launched the child from its main thread (:func:`child_env`);
* and a watcher thread checks every half second that its parent is still the process that
  started it (an orphan is re-parented to init or a subreaper) and ends the process if not —
  a portable fallback that covers children started from worker threads too.

The parent passes its pid in ``$GRIDTWIN_PARENT_PID`` (:func:`child_env`); a process started
by hand (``gridtwin field-sim`` from a shell) has none and lives on its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import threading
import time

log = logging.getLogger(__name__)

PARENT_ENV = "GRIDTWIN_PARENT_PID"
PDEATHSIG_ENV = "GRIDTWIN_PDEATHSIG"
_PR_SET_PDEATHSIG = 1


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that must not outlive this process."""
    out = dict(os.environ if env is None else env)
    out[PARENT_ENV] = str(os.getpid())
    if threading.current_thread() is threading.main_thread():
        out[PDEATHSIG_ENV] = "1"
    else:
        out.pop(PDEATHSIG_ENV, None)
    return out


def die_with_parent(poll_s: float = 0.5) -> bool:
    """In a child: end this process when the parent named in ``$GRIDTWIN_PARENT_PID`` dies.
    Returns False (and does nothing) when no parent is named."""
    text = os.environ.get(PARENT_ENV, "")
    if not text.isdigit():
        return False
    parent = int(text)
    if os.environ.get(PDEATHSIG_ENV) == "1":
        _arm_pdeathsig()
    if os.getppid() != parent:  # it died before we got here
        log.error("parent process %d is gone; exiting", parent)
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, poll_s), name="lifeline",
                     daemon=True).start()
    return True


def _arm_pdeathsig() -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:  # not Linux: the watcher alone does it
        log.debug("no prctl here (%s); watching the parent instead", exc)


def _watch(parent: int, poll_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_s)
    log.error("parent process %d died; exiting", parent)
    os.kill(os.getpid(), signal.SIGTERM)  # a clean stop where the process handles it ...
    time.sleep(2.0)
    os._exit(1)  # ... and out regardless
