"""Protocol clients in child processes, driven from the poller's asyncio loop over a pipe.

Why: the HMI process has several busy Python threads (GUI, solver, historian writer). A
protocol client in that process gives up the GIL at every socket call and must win it back
afterwards, behind whichever thread holds it — up to a switch interval each time. A Modbus
scan of the station is 60–90 request/reply round trips, so two busy threads turned a 50 ms
scan into seconds (measured here: 3 s with two CPU-bound threads). And
pyiec61850's blocking calls keep the GIL outright. So each client runs in its own process,
like a SCADA system's front-end processor, and the poller thread only waits on a pipe: one
GIL acquisition per scan instead of two hundred.

The wire format is length-prefixed pickles (both ends are this program, started by it):
requests ``(cmd, *args)`` on the child's stdin; on its stdout replies ``("ok", payload)`` or
``("error", text)``, and unasked ``("event", payload)`` messages at any time. The child's log
records (INFO and above) come up as ``("event", ("log", logger, level, text))`` and are logged
in the parent under the same logger, so they appear (and are tested) as if logged there.

Parent side: :class:`ChildChannel`. Child side: :class:`ChildServer`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from app.field.lifeline import child_env, die_with_parent

log = logging.getLogger(__name__)


def describe_exit(code: int | None) -> str:
    """A child's exit status in words: "exited with code 3", "died of SIGSEGV"."""
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"died of {signal.Signals(-code).name}"
        except ValueError:
            return f"died of signal {-code}"
    return f"exited with code {code}"

#: The project root: children run ``python -m app....`` from here.
ROOT = Path(__file__).resolve().parent.parent.parent

#: The frozen program's marker for "run this as the interpreter would":
#: ``gridtwin --gridtwin-child -m MODULE ARGS…`` or ``… --gridtwin-child -c CODE ARGS…``.
CHILD_FLAG = "--gridtwin-child"


def python_command(*args: str) -> list[str]:
    """The command line that runs ``python ARGS`` — ARGS start with ``-m MODULE`` or
    ``-c CODE`` — as a child of this program.

    From a checkout or a wheel that is ``[sys.executable, *ARGS]``, as it always was. In the
    packaged program (``sys.frozen``), ``sys.executable`` is the bundle's ``gridtwin`` binary,
    which has no ``-m`` or ``-c`` of its own: the child gets :data:`CHILD_FLAG` first and the
    bundle's entry point hands the rest to :func:`run_child`."""
    if len(args) < 2 or args[0] not in ("-m", "-c"):
        raise ValueError(f"a child command starts with -m MODULE or -c CODE, not {args[:2]!r}")
    if getattr(sys, "frozen", False):
        return [sys.executable, CHILD_FLAG, *args]
    return [sys.executable, *args]


def run_child(argv: list[str]) -> int:
    """In the packaged program: run ``argv`` (``-m MODULE ARGS…`` or ``-c CODE ARGS…``) the way
    ``python`` would — the module as ``__main__`` with ``sys.argv`` set, or the code string —
    and return the exit status (a :class:`SystemExit` from the child propagates)."""
    import runpy

    if len(argv) < 2 or argv[0] not in ("-m", "-c"):
        raise ValueError(f"{CHILD_FLAG} needs -m MODULE or -c CODE, not {argv[:2]!r}")
    flag, target, rest = argv[0], argv[1], argv[2:]
    if flag == "-m":
        sys.argv = [target, *rest]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["-c", *rest]
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
    return 0


def read_msg(stream: BinaryIO) -> object:
    head = stream.read(4)
    if len(head) < 4:
        raise EOFError
    n = struct.unpack(">I", head)[0]
    return pickle.loads(stream.read(n))


def write_msg(stream: BinaryIO, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


class ChildChannel:
    """One child process answering requests, (re)started on demand.

    ``init`` (optional) is the first request sent to every new child — its configuration —
    and must be answered within ``start_timeout_s`` (the child's imports included). Each
    later request must be answered within ``reply_timeout_s``; a child that does not answer
    in time, or has died, is killed and the request fails with :class:`ConnectionError`; the
    next request starts a new child.
    """

    def __init__(self, args: list[str], *, name: str, init: tuple | None = None,
                 reply_timeout_s: float = 10.0, start_timeout_s: float = 30.0,
                 on_event: Callable[[tuple], None] | None = None) -> None:
        self.args = args
        self.name = name
        self.init = init
        self.reply_timeout_s = reply_timeout_s
        self.start_timeout_s = start_timeout_s
        self.on_event = on_event
        self.proc: subprocess.Popen[bytes] | None = None
        self._ready = False
        self.exit_code: int | None = None  # after close(): 0 when it stopped cleanly
        self._buf = b""
        self._lock: asyncio.Lock | None = None

    @property
    def ready(self) -> bool:
        """The child runs and has taken its configuration."""
        return self._ready and self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    # ------------------------------------------------------------------ requests
    async def start(self) -> None:
        """Start a child (if none runs) and configure it. Raises ConnectionError."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await self._start_locked()

    def spawn(self) -> None:
        """Start the child process now (any thread), so that its imports overlap whatever
        the caller does next; the first request configures it."""
        if self.proc is None:
            self.proc = subprocess.Popen(python_command(*self.args), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, cwd=ROOT, env=child_env())
            self._buf = b""

    async def _start_locked(self) -> None:
        if self.ready:
            return
        if self.proc is not None and (self._ready or self.proc.poll() is not None):
            if self.proc.poll() is not None:
                log.warning("%s process %s; restarting it", self.name,
                            describe_exit(self.proc.returncode))
            self.reap()
        self.spawn()
        if self.init is not None:
            await self._exchange(self.init, self.start_timeout_s)
        self._ready = True

    async def ask(self, *req: object) -> object:
        """Send one request and return the child's answer (unpickled: the caller knows what
        its request is answered with). Raises ConnectionError when the
        child is gone or silent, RuntimeError with its message when it reports an error."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await self._start_locked()
            return await self._exchange(req, self.reply_timeout_s)

    async def _exchange(self, req: tuple[object, ...], timeout_s: float) -> object:
        data = pickle.dumps(req, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(struct.pack(">I", len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise self._gone(f"{self.name} process gone: {exc}") from None
        try:
            status, payload = await asyncio.wait_for(self._reply(), timeout_s)
        except TimeoutError:
            self.reap()
            raise ConnectionError(f"{self.name} did not answer within {timeout_s:g} s") from None
        except ConnectionError as exc:
            raise self._gone(str(exc)) from None
        if status != "ok":
            raise RuntimeError(str(payload))
        return payload

    async def _reply(self) -> tuple:
        """Read one reply from the child without blocking the loop; events on the way are
        handed to ``on_event`` (log records are logged)."""
        loop = asyncio.get_running_loop()
        fd = self.proc.stdout.fileno()
        os.set_blocking(fd, False)
        while True:
            if len(self._buf) >= 4:
                n = struct.unpack(">I", self._buf[:4])[0]
                if len(self._buf) >= 4 + n:
                    msg = pickle.loads(self._buf[4:4 + n])
                    self._buf = self._buf[4 + n:]
                    if msg[0] == "event":
                        self._event(msg[1])
                        continue
                    return msg
            fut: asyncio.Future = loop.create_future()
            loop.add_reader(fd, _wake, fut)
            try:
                await fut
            finally:
                loop.remove_reader(fd)
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise ConnectionError(f"{self.name} process closed its pipe")
            self._buf += chunk

    def _gone(self, why: str) -> ConnectionError:
        """The child has closed its end: the error to raise, with its exit code if it ended."""
        try:
            code = self.proc.wait(1)
        except subprocess.TimeoutExpired:
            code = None
        self.reap()
        return ConnectionError(why if code is None
                               else f"{self.name} process {describe_exit(code)}")

    def _event(self, payload: tuple) -> None:
        if payload and payload[0] == "log":
            _, name, level, text = payload
            logging.getLogger(name).log(level, "%s", text)
        elif self.on_event is not None:
            try:
                self.on_event(payload)
            except Exception:  # an event must never break the reply stream
                log.exception("%s: event %r not handled", self.name, payload[:1])

    # ------------------------------------------------------------------ lifetime
    def reap(self) -> None:
        """Kill the child (if it runs) and forget it."""
        p, self.proc, self._ready = self.proc, None, False
        if p is None:
            return
        for f in (p.stdin, p.stdout):
            try:
                f.close()
            except OSError:
                pass
        if p.poll() is None:
            p.kill()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:  # killed, not yet gone: a host with its disk or
            log.warning("%s process %d slow to exit after SIGKILL; waiting", self.name,
                        p.pid)  # CPUs swamped (never raise out of a close)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                log.error("%s process %d still there 35 s after SIGKILL", self.name, p.pid)

    def close(self) -> None:
        """Ask the child to stop, wait briefly, then make sure it is gone. ``exit_code`` is
        then its exit status when it stopped on request (0 when clean; otherwise logged)."""
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                write_msg(p.stdin, ("stop",))
                p.wait(5)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
            else:
                self.exit_code = p.returncode
                if p.returncode != 0:
                    log.error("%s process %s while stopping", self.name,
                              describe_exit(p.returncode))
        self.reap()


class _Forward(logging.Handler):
    def __init__(self, server: ChildServer) -> None:
        super().__init__(logging.INFO)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            self.server.event(("log", record.name, record.levelno, text))
        except Exception:  # a log record must never kill the child
            pass


class ChildServer:
    """The child's end: read requests on stdin, answer on stdout, until told to stop or the
    parent goes away. ``handle(req)`` returns the payload of an ``ok`` reply; an exception
    becomes an ``error`` reply and the child keeps serving."""

    def __init__(self) -> None:
        self._in, self._out = sys.stdin.buffer, sys.stdout.buffer
        sys.stdout = sys.stderr  # nothing else may write into the reply stream
        self._lock = threading.Lock()  # replies and events from other threads
        root = logging.getLogger()
        root.handlers[:] = [_Forward(self)]
        root.setLevel(logging.INFO)
        die_with_parent()  # an HMI killed outright must not leave its clients behind

    def send(self, msg: object) -> None:
        with self._lock:
            write_msg(self._out, msg)

    def event(self, payload: tuple) -> None:
        """Send an unasked message (any thread); dropped if the parent has gone."""
        try:
            self.send(("event", payload))
        except (OSError, ValueError):
            pass

    def run(self, handle: Callable[[tuple], object]) -> None:
        while True:
            try:
                req = read_msg(self._in)
            except (EOFError, OSError):
                return
            if req[0] == "stop":
                return
            try:
                reply = ("ok", handle(req))
            except Exception as exc:  # report, keep serving
                reply = ("error", f"{type(exc).__name__}: {exc}")
            try:
                self.send(reply)
            except (OSError, ValueError):
                return
