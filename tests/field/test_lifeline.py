"""Children end with their parent, however it dies (app.field.lifeline)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import ROOT


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def wait_for(cond, timeout_s: float, step_s: float = 0.05) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step_s)
    return cond()


GRANDCHILD = "from app.field.lifeline import die_with_parent; import time; " \
             "die_with_parent(); print('ready', flush=True); time.sleep(600)"


@pytest.mark.parametrize("from_main_thread", [True, False])
def test_a_child_dies_with_its_killed_parent(from_main_thread):
    """The parent is SIGKILLed: its child, started from its main thread (kernel death
    signal) or from a worker thread (the watcher), is gone within 2 s."""
    parent_code = textwrap.dedent(f"""
        import subprocess, sys, threading
        from app.field.lifeline import child_env
        def start():
            p = subprocess.Popen([sys.executable, "-c", {GRANDCHILD!r}], env=child_env(),
                                 stdout=subprocess.PIPE, text=True)
            assert p.stdout.readline().strip() == "ready"
            print(p.pid, flush=True)
        if {from_main_thread}:
            start()
        else:
            t = threading.Thread(target=start); t.start(); t.join()
        import time; time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_for(lambda: not alive(child), 2.0), "child outlived its parent"
    finally:
        parent.kill()
        parent.wait(10)


def test_a_process_started_by_hand_has_no_lifeline():
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTWIN_PARENT")}
    r = subprocess.run([sys.executable, "-c", "from app.field.lifeline import die_with_parent;"
                        " print(die_with_parent())"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.stdout.strip() == "False"


@pytest.mark.slow
def test_kill_9_of_gridtwin_run_leaves_no_child_running(tmp_path):
    """`gridtwin run` killed outright: its field-sim, Modbus front-end, MMS client and any 3D
    renderer are all gone soon after (the field-sim used to live on for ever). A child killed
    before it has finished starting (imports take seconds on a loaded machine) notices once it
    gets to :func:`die_with_parent`; a running one at once (``PR_SET_PDEATHSIG``) or within
    the watcher's half-second poll and two-second grace: 10 s covers both."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "GRIDTWIN_DATA_DIR": str(tmp_path)}
    hmi = subprocess.Popen([sys.executable, "-m", "app.cli", "run", "--headless", "--duration",
                            "120"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        def cmdlines() -> dict[int, bytes]:
            out = {}
            for p in descendants(hmi.pid):
                try:
                    out[p] = open(f"/proc/{p}/cmdline", "rb").read()
                except OSError:
                    pass
            return out

        wanted = (b"field-sim", b"app.field.rtu.frontend", b"app.field.iec61850.client")
        assert wait_for(lambda: all(any(w in c for c in cmdlines().values()) for w in wanted),
                        60, 0.2), cmdlines()
        kids = set(cmdlines())
        hmi.send_signal(signal.SIGKILL)
        hmi.wait(10)
        wait_for(lambda: not any(alive(p) for p in kids), 10.0, 0.1)
        left = {p: open(f"/proc/{p}/cmdline", "rb").read() for p in kids if alive(p)}
        assert not left, f"children alive 10 s after kill -9: {left}"
    finally:
        hmi.kill()
        hmi.wait(10)
