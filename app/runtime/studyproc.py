"""Engineering studies in a process of their own.

A fault-level or N-1 study is minutes of CPU-bound Python and OpenDSS calls. On a thread of
the HMI's process it competed with the GUI thread for the interpreter's lock: with N-1 running
back to back, ``gridtwin bench hmi --study`` measured a 99th-percentile GUI stall of 156 ms
(600 ms at worst), against 15 ms without, and every study's scratch OpenDSS context stayed
in memory (the HMI grew to 900 MB). So the studies run where the protocol clients already
run: in a child process (:mod:`app.field.childproc`, length-prefixed pickles on its pipes),
with one engine compiled once and put in each study's operating point. The job on the HMI's
"studies" runner only waits on the pipe.

::

    studies job thread                          study process (python -m app.runtime.studyproc)
    StudyProcess.run(kind, point, ctx) ──req──► live_fault_levels / live_contingencies
        ctx.progress(…)             ◄──event──  progress(done, total)
        ctx.cancelled → SIGUSR1     ──signal──► cancel flag: the study stops at its next step
        result / Cancelled / error  ◄──reply──

The process starts on the first study, serves every study after, ends with :meth:`close` —
and with the HMI however it dies (it calls :func:`app.field.lifeline.die_with_parent`).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Literal

from app.field.childproc import ROOT, python_command, read_msg, write_msg
from app.field.lifeline import child_env
from app.runtime.jobs import Cancelled, JobContext
from app.twin.contingency import ContingencyResult
from app.twin.state import OperatingPoint
from app.twin.studies import BusFaultLevel

log = logging.getLogger(__name__)

StudyKind = Literal["fault_levels", "contingencies"]
MODULE = "app.runtime.studyproc"


class StudyError(RuntimeError):
    """The study process failed (it said why, or it died)."""


class StudyProcess:
    """The parent's end. :meth:`run` is called on a job thread and blocks until the study
    answers; it is not for the GUI thread."""

    def __init__(self, station_file: str | Path | None = None,
                 circuit: str | Path | None = None) -> None:
        self.station_file = str(station_file) if station_file else None
        self.circuit = str(circuit) if circuit else None
        self.proc: subprocess.Popen | None = None
        self._msgs: queue.Queue[object] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        if self.proc is not None and self.proc.poll() is None:
            return self.proc
        args = python_command("-m", MODULE)
        if self.station_file:
            args += ["--station", self.station_file]
        if self.circuit:
            args += ["--circuit", self.circuit]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     cwd=ROOT, env=child_env())
        self._msgs = queue.Queue()
        stream, msgs = self.proc.stdout, self._msgs

        def read() -> None:
            try:
                while True:
                    msgs.put(read_msg(stream))
            except (EOFError, OSError, ValueError):
                msgs.put(EOFError())

        self._reader = threading.Thread(target=read, name="study-reader", daemon=True)
        self._reader.start()
        return self.proc

    def run(self, kind: StudyKind, point: OperatingPoint, ctx: JobContext
            ) -> list[BusFaultLevel] | list[ContingencyResult]:
        with self._lock:
            proc = self._start()
            try:
                write_msg(proc.stdin, ("study", kind, point))
            except (OSError, ValueError) as exc:
                raise StudyError(f"the study process ended ({exc})") from None
            signalled = False
            while True:
                if ctx.cancelled and not signalled:
                    signalled = True
                    os.kill(proc.pid, signal.SIGUSR1)
                try:
                    msg = self._msgs.get(timeout=0.1)
                except queue.Empty:
                    continue
                if isinstance(msg, EOFError):
                    code = proc.wait(10)
                    raise StudyError(f"the study process ended (exit status {code})")
                tag, payload = msg  # type: ignore[misc]
                if tag == "event":
                    what, *rest = payload
                    if what == "progress":
                        done, total = rest
                        ctx.progress(done / total if total else 1.0, f"{kind} {done}/{total}")
                    elif what == "log":
                        name, level, text = rest
                        logging.getLogger(name).log(level, "%s", text)
                    continue
                if tag == "ok":
                    return payload
                if str(payload).startswith("Cancelled"):
                    raise Cancelled(str(payload))
                raise StudyError(str(payload))

    def close(self) -> None:
        """Stop the process (if it runs) and its reader."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                write_msg(proc.stdin, ("stop",))
                proc.stdin.close()
                proc.wait(10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()


def serve(station_file: str | None, circuit: str | None) -> None:
    """The child: one engine, compiled once; each request a study in its operating point."""
    from app.field.childproc import ChildServer
    from app.station import load_station
    from app.twin.engine import TwinEngine
    from app.twin.studies import live_contingencies, live_fault_levels

    server = ChildServer()  # before anything can write to stdout
    station = load_station(station_file)
    engine = TwinEngine(circuit or station.circuit_path,
                        base_frequency_hz=station.station.frequency_hz)
    cancel = threading.Event()
    signal.signal(signal.SIGUSR1, lambda _s, _f: cancel.set())

    def progress(done: int, total: int) -> None:
        server.event(("progress", done, total))

    def handle(req: tuple) -> object:
        if req[0] != "study":
            raise ValueError(f"unknown request {req[0]!r}")
        _cmd, kind, point = req
        cancel.clear()
        if kind == "fault_levels":
            return live_fault_levels(station, point, engine=engine, progress=progress,
                                     cancel=cancel)
        if kind == "contingencies":
            return live_contingencies(station, point, engine=engine, progress=progress,
                                      cancel=cancel)
        raise ValueError(f"unknown study {kind!r}")

    server.run(handle)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="GridTwin's study process (internal)")
    ap.add_argument("--station")
    ap.add_argument("--circuit")
    a = ap.parse_args()
    serve(a.station, a.circuit)
