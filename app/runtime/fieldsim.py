"""Start the simulated station (``gridtwin field-sim``) as a child process, and stop it.

``make run`` / ``gridtwin run`` use this so the HMI polls a separate process over real
Modbus TCP and IEC 61850 MMS — the same way it would poll a real station.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import BinaryIO

from app.field.childproc import describe_exit, python_command
from app.field.lifeline import child_env
from app.field.sim.runner import DEFAULT_CONTROL_PORT
from app.scratch import scratch_file

log = logging.getLogger(__name__)

#: Ports reserved for the bay IEDs (one each, from the MMS base port).
MMS_PORT_BLOCK = 64


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port_block(n: int, host: str = "127.0.0.1", lo: int = 20000, hi: int = 32000) -> int:
    """A base port with ``n`` consecutive free ports (the bay IEDs listen on base + k),
    below Linux's ephemeral range so outgoing connections cannot take them meanwhile."""
    import random

    bases = list(range(lo, hi - n, n))
    random.shuffle(bases)
    for base in bases:
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind((host, p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise FieldSimError(f"no block of {n} free ports between {lo} and {hi}")


class FieldSimError(RuntimeError):
    pass


class FieldSimProcess:
    """``control_port``: the fault-injection channel's port — the documented 10199 by
    default, a free one when that is taken (the READY line says which: :attr:`addresses`
    after :meth:`wait_ready`); 0 for any free port."""

    def __init__(self, *, station: str | Path | None = None, tick_s: float = 0.1,
                 speed: float = 1.0, seed: int | None = None, host: str = "127.0.0.1",
                 mms: bool = True, log_path: str | Path | None = None,
                 control_port: int = DEFAULT_CONTROL_PORT) -> None:
        self.host = host
        self.control_port = control_port
        self.with_mms = mms
        self.station, self.tick_s, self.speed, self.seed = station, tick_s, speed, seed
        # Its log goes to this process's scratch folder (removed at exit) unless told where.
        self.log_path = Path(log_path) if log_path else \
            scratch_file(f"field-sim-{id(self):x}.log")
        self.proc: subprocess.Popen | None = None
        self.exit_code: int | None = None  # after stop(): 0 when it stopped cleanly
        self.addresses: dict[str, tuple[str, int]] = {}
        self._log: BinaryIO | None = None  # its stderr, and its stdout copied by _drain
        self._drain: threading.Thread | None = None

    def start(self, timeout_s: float = 60.0) -> FieldSimProcess:
        """Start it and wait until it serves; a restart after :meth:`stop` or :meth:`kill`
        reuses the same ports."""
        return self.launch().wait_ready(timeout_s)

    def launch(self) -> FieldSimProcess:
        """Start the process and return at once: :attr:`addresses` are the ports it was told
        to serve on, so clients can be built while it starts; :meth:`wait_ready` before the
        first request."""
        if self.addresses:
            ports = {k: p for k, (_h, p) in self.addresses.items()}
            ports.setdefault("mms", free_port_block(MMS_PORT_BLOCK, self.host))
        else:
            ports = {"modbus": free_port(self.host), "control": self.control_port}
            ports["mms"] = free_port_block(MMS_PORT_BLOCK, self.host)
        cmd = [*python_command("-m", "app.cli", "field-sim"),
               "--modbus", f"{self.host}:{ports['modbus']}",
               "--mms", f"{self.host}:{ports['mms']}" if self.with_mms else "off",
               "--control", f"{self.host}:{ports['control']}", "--control-fallback",
               "--tick", str(self.tick_s),
               "--speed", str(self.speed)]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        if self.station is not None:
            cmd += ["--station", str(self.station)]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = child_env({**os.environ, "PYTHONUNBUFFERED": "1"})  # it ends when we do
        root = Path(__file__).resolve().parent.parent.parent
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, env=env,
                                     cwd=root, text=True)
        self.addresses = {k: (self.host, p) for k, p in ports.items()
                          if k != "mms" or self.with_mms}
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> FieldSimProcess:
        """Wait for its READY line (its servers listen). Raises FieldSimError with the tail
        of its log if it does not come."""
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout_s)
        if not line or not line[0].startswith("READY"):
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise FieldSimError(f"field-sim did not start within {timeout_s:.0f} s; "
                                f"its log ({self.log_path}) ends:\n{tail}")
        # Keep draining its stdout (libiec61850 traces control handling there): an unread
        # pipe would fill up and stall the field-sim.
        self._drain = threading.Thread(target=self._copy_stdout, name="field-sim-stdout",
                                       daemon=True)
        self._drain.start()
        for part in line[0].split()[1:]:
            k, _, v = part.partition("=")
            h, _, p = v.rpartition(":")
            self.addresses[k] = (h, int(p))
        log.info("field-sim running (pid %d): %s", self.proc.pid, line[0].strip())
        return self

    def _copy_stdout(self) -> None:
        try:
            for text in self.proc.stdout:
                if self._log is not None and not self._log.closed:
                    self._log.write(text.encode(errors="replace"))
        except (ValueError, OSError):
            pass

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would (for failure tests)."""
        if self.running:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM and wait (SIGKILL after ``timeout_s``). ``exit_code`` is then its exit
        status (0 on a clean stop); anything else is logged as an error with its log file."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    log.error("field-sim ignored SIGTERM; killing it")
                    self.proc.kill()
                    self.proc.wait(5)
                else:
                    self.exit_code = self.proc.returncode
                    if self.exit_code != 0:
                        log.error("field-sim %s while stopping; its log: %s",
                                  describe_exit(self.exit_code), self.log_path)
            if self._drain is not None:
                self._drain.join(5)
            if self.proc.stdout:
                self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> FieldSimProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
