"""``gridtwin field-sim``: the simulated substation as its own process.

The plant steps in its own thread every tick; after each step the snapshot is pushed to the
station RTU's Modbus TCP server and the bay IEDs' IEC 61850 MMS server, which serve it to
whoever polls them (the HMI, mbpoll, any SCADA client). A local control channel takes fault
injections from the trainer or tests.

Its command line is :mod:`app.cli.field` (``gridtwin field-sim``), which builds
:class:`FieldSimOptions` and calls :func:`serve`. When everything listens, one line is
printed on stdout::

    READY modbus=127.0.0.1:1502 mms=127.0.0.1:10102 control=127.0.0.1:10199

The control channel listens on 10199 unless told otherwise (the trainers' documented port);
with ``--control-fallback`` a taken port is not an error: it listens on a free one instead
and the READY line names it (``gridtwin run`` starts its field-sim so).

SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass

from app.field.lifeline import die_with_parent
from app.field.sim.control import (
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_CONNECTIONS,
    TOKEN_ENV,
    ControlChannel,
    check_bind,
)
from app.field.sim.plant import PlantSimulator, plant_of
from app.station import Station, load_station

log = logging.getLogger(__name__)

#: The fault-injection control channel's documented port.
DEFAULT_CONTROL_PORT = 10199


class AddressError(argparse.ArgumentTypeError, ValueError):
    """A HOST:PORT that is not one (one line naming the option; exit status 2)."""


def parse_addr(text: str, what: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) → (host, port); :class:`AddressError` otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port:
        raise AddressError(f"{what}: expected HOST:PORT, got {text!r}")
    if not port.isdigit() or not port.isascii():
        raise AddressError(f"{what}: port {port!r} is not a number")
    p = int(port)
    if not 0 <= p <= 65535:
        raise AddressError(f"{what}: port {p} is out of range (0–65535)")
    return host, p


class FieldSim:
    """The plant, its servers and the control channel, started and stopped together."""

    def __init__(self, station: Station, *, modbus: tuple[str, int] | None,
                 mms: tuple[str, int] | None, control: tuple[str, int] | None,
                 tick_s: float = 0.1, speed: float = 1.0, seed: int | None = None,
                 control_options: dict | None = None, control_fallback: bool = False) -> None:
        # No seed asked for: the station's own equipment with fresh noise (plant_of); a seed:
        # a repeatable run of that seed's plant, equipment and all.
        self.plant = (plant_of(station, run_seed=None, tick_s=tick_s, speed=speed)
                      if seed is None else
                      PlantSimulator(station, tick_s=tick_s, speed=speed, seed=seed))
        self.control_options = control_options or {}
        self.modbus_addr, self.mms_addr, self.control_addr = modbus, mms, control
        self.control_fallback = control_fallback
        self._stop = threading.Event()
        self._servers: list = []
        self._control: ControlChannel | None = None
        self._plant_thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self.addresses: dict[str, str] = {}

    def start(self) -> None:
        if self.modbus_addr is not None:
            from app.field.rtu.server import ModbusRtuServer

            self._loop = asyncio.new_event_loop()
            self._loop_thread = threading.Thread(target=self._loop.run_forever,
                                                 name="modbus-server", daemon=True)
            self._loop_thread.start()
            srv = ModbusRtuServer(self.plant, *self.modbus_addr)
            asyncio.run_coroutine_threadsafe(srv.start(), self._loop).result(30)
            self._servers.append(srv)
            self.addresses["modbus"] = f"{self.modbus_addr[0]}:{srv.port}"
        if self.mms_addr is not None:
            from app.field.iec61850.server import MmsIedServer

            srv = MmsIedServer(self.plant, *self.mms_addr)
            srv.start()
            self._servers.append(srv)
            self.addresses["mms"] = f"{self.mms_addr[0]}:{srv.port}"
        if self.control_addr is not None:
            self._control = open_control_channel(
                self.plant, *self.control_addr, fallback=self.control_fallback,
                **self.control_options).start()
            self.addresses["control"] = f"{self._control.host}:{self._control.port}"
        self._publish(self.plant.snapshot())
        self._plant_thread = threading.Thread(target=self.plant.run,
                                              args=(self._stop, self._publish),
                                              name="plant", daemon=True)
        self._plant_thread.start()

    def _publish(self, snap) -> None:  # noqa: ANN001
        for srv in self._servers:
            try:
                srv.update(snap)
            except Exception:
                log.exception("%s failed to take a snapshot", type(srv).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self._plant_thread is not None:
            self._plant_thread.join(10)
        if self._control is not None:
            self._control.stop()
        for srv in reversed(self._servers):
            try:
                if self._loop is not None and asyncio.iscoroutinefunction(srv.stop):
                    asyncio.run_coroutine_threadsafe(srv.stop(), self._loop).result(10)
                else:
                    srv.stop()
            except Exception:
                log.exception("stopping %s failed", type(srv).__name__)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(10)
            self._loop.close()


def open_control_channel(plant: PlantSimulator, host: str, port: int, *, fallback: bool = False,
                         **options: object) -> ControlChannel:
    """The control channel on ``host:port``; with ``fallback``, on a free port of ``host``
    when that one is taken (logged: the trainer finds the port in the READY line, the HMI's
    status bar and Help ▸ About)."""
    try:
        return ControlChannel(plant, host, port, **options)
    except OSError as exc:
        if not fallback or port == 0:
            raise
        chan = ControlChannel(plant, host, 0, **options)
        log.warning("control port %s:%d is taken (%s): the control channel listens on %s:%d",
                    host, port, exc.strerror or exc, chan.host, chan.port)
        return chan


@dataclass(frozen=True)
class FieldSimOptions:
    """What ``gridtwin field-sim`` serves (its command line, :mod:`app.cli.field`)."""

    modbus: tuple[str, int] | None = ("127.0.0.1", 1502)
    mms: tuple[str, int] | None = ("127.0.0.1", 10102)
    control: tuple[str, int] | None = ("127.0.0.1", DEFAULT_CONTROL_PORT)
    control_fallback: bool = False
    """A taken control port: listen on a free one (named in the READY line) instead."""
    control_token: str | None = None
    control_allow_remote: bool = False
    control_max_connections: int = DEFAULT_MAX_CONNECTIONS
    control_idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    tick_s: float = 0.1
    speed: float = 1.0
    seed: int | None = None
    station: str | None = None


def serve(opts: FieldSimOptions) -> int:
    """Run the field-sim until SIGTERM or SIGINT. A refused bind or a station file error
    raises ValueError before anything starts."""
    token = opts.control_token or os.environ.get(TOKEN_ENV) or None
    if opts.control is not None:
        check_bind(opts.control[0], token=token, allow_remote=opts.control_allow_remote)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    die_with_parent()  # started by an HMI that then dies: end with it, free the ports
    station = load_station(opts.station)
    options = {"token": token, "allow_remote": opts.control_allow_remote,
               "max_connections": opts.control_max_connections,
               "idle_timeout_s": opts.control_idle_timeout_s}
    sim = FieldSim(station, modbus=opts.modbus, mms=opts.mms, control=opts.control,
                   tick_s=opts.tick_s, speed=opts.speed, seed=opts.seed,
                   control_options=options, control_fallback=opts.control_fallback)
    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim.start()
    print("READY " + " ".join(f"{k}={v}" for k, v in sim.addresses.items()), flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0
