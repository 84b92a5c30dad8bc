"""The poller's write path, for the control service (Qt-free).

:class:`ProtocolCommander` is the :class:`~app.control.service.Commander` of a station polled
over its protocols. The control service calls it from the control thread; each call is a
coroutine submitted to the poller thread's asyncio loop (``asyncio.run_coroutine_threadsafe``)
and waited for there, on the control thread — never on the GUI thread, and never a second
connection to the field device.

* A device behind a bay IED: IEC 61850 select-before-operate with enhanced security through
  the MMS poller (its client process); the IED's command termination is reported by
  :meth:`termination`.
* A device behind the station RTU only (the 33 kV switchgear): the RTU's Modbus command
  coils and result register. The RTU has no select, so select is a local reservation of the
  device that expires after the select timeout; operate pulses the coil and reads the
  result.

Success is decided by the control service, when a later scan shows the new position.
:class:`PlantCommander` does the same on an in-process plant (the trainer's offline mode);
:class:`NoCommandPath` refuses every command (a source with nothing behind it to command).
Each frame source makes its own (:meth:`app.runtime.sources.FrameSource.commander`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Protocol, TypeVar

from app.control.service import SELECT_TIMEOUT_S
from app.station.commands import ADD_CAUSE_UNKNOWN, ControlResult
from app.station.frame import Comm

if TYPE_CHECKING:
    from app.field.iec61850.poller import MmsPoller
    from app.field.rtu.frontend import RemoteModbusPoller
    from app.field.rtu.poller import ModbusPoller
    from app.field.sim.plant import PlantSimulator

log = logging.getLogger(__name__)

T = TypeVar("T")


class Submit(Protocol):
    """Runs a coroutine on the poller thread's asyncio loop, from another thread (raises
    RuntimeError when the poller is not running)."""

    def __call__(self, coro: Coroutine[object, object, T], /) -> concurrent.futures.Future[T]:
        ...


class ProtocolCommander:
    def __init__(self, modbus: ModbusPoller | RemoteModbusPoller, mms: MmsPoller | None,
                 submit: Submit, *, select_timeout_s: float = SELECT_TIMEOUT_S,
                 call_timeout_s: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``modbus`` and ``mms`` are the pollers of the
        :class:`~app.runtime.sources.ProtocolFrameSource` the poller thread runs (``mms``
        None: no bay IEDs); ``submit(coro)`` runs a coroutine on its loop."""
        self.modbus, self.mms = modbus, mms
        self.submit = submit
        self.select_timeout_s = select_timeout_s
        self.call_timeout_s = call_timeout_s
        self.clock = clock
        self._mms_switches = mms.switches() if mms is not None else set()
        self._mms_bay = {sw.asset: ied.bay for ied in (mms.ieds if mms is not None else ())
                         for sw in ied.switches}
        self._rtu_device = {sw: d.device for d in modbus.devices for sw in d.switches}
        self._reserved: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ routing
    def path(self, asset_id: str) -> str | None:
        """'iec61850', 'modbus' or None (no command path to this device)."""
        if asset_id in self._mms_switches:
            return "iec61850"
        if asset_id in self._rtu_device:
            return "modbus"
        return None

    def _call(self, coro: Coroutine[object, object, T], what: str) -> T | ControlResult:
        try:
            fut = self.submit(coro)
        except RuntimeError as exc:
            coro.close()
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{what} not sent: {exc}")
        try:
            return fut.result(self.call_timeout_s)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            return ControlResult(False, ADD_CAUSE_UNKNOWN,
                                 f"{what}: no answer within {self.call_timeout_s:g} s")
        except Exception as exc:  # the poller's own error, reported, never raised into a GUI
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{what} failed: {exc}")

    # ------------------------------------------------------------------ commands
    def _not_answering(self, path: str, device: str) -> ControlResult | None:
        """A refusal when the device's command path is not OK — SUSPECT (no good reply for
        a while) counts as not answering: no command goes to a device we cannot trust to
        be there (app.field.commstate)."""
        poller = self.mms if path == "iec61850" and self.mms is not None else self.modbus
        comm = poller.comm.get(device)
        if comm is not None and comm.state == Comm.OK:
            return None
        what = "IED of bay" if path == "iec61850" else "RTU device"
        state = comm.state.value if comm is not None else "unknown"
        return ControlResult(False, ADD_CAUSE_UNKNOWN,
                             f"{what} {device} is not answering ({state}"
                             + (f": {comm.last_error}" if comm is not None and comm.last_error
                                else "") + ")")

    def select(self, asset_id: str, close: bool) -> ControlResult:
        path = self.path(asset_id)
        if path == "iec61850" and self.mms is not None:
            down = self._not_answering(path, self._mms_bay.get(asset_id, ""))
            if down is not None:
                return ControlResult(False, down.add_cause,
                                     f"{down.message}: cannot select {asset_id}")
            return self._call(self.mms.select(asset_id, close), f"{asset_id} select")
        if path is None:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{asset_id} has no command path")
        dev = self._rtu_device[asset_id]
        down = self._not_answering(path, dev)
        if down is not None:
            return ControlResult(False, down.add_cause,
                                 f"{down.message}: cannot select {asset_id}")
        now = self.clock()
        with self._lock:
            held = self._reserved.get(asset_id)
            if held is not None and held[1] > now:
                return ControlResult(False, "object-already-selected",
                                     f"{asset_id} is already selected")
            self._reserved[asset_id] = (close, now + self.select_timeout_s)
        return ControlResult(True, "", f"{asset_id} reserved for "
                                       f"{'close' if close else 'open'} (RTU)")

    def operate(self, asset_id: str, close: bool) -> ControlResult:
        path = self.path(asset_id)
        if path == "iec61850" and self.mms is not None:
            return self._call(self.mms.operate(asset_id, close), f"{asset_id} operate")
        if path is None:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{asset_id} has no command path")
        with self._lock:
            held = self._reserved.pop(asset_id, None)
        if held is None or held[0] != close:
            return ControlResult(False, "object-not-selected", f"{asset_id} is not selected "
                                                               f"to {'close' if close else 'open'}")
        if held[1] <= self.clock():
            return ControlResult(False, "object-not-selected",
                                 f"the selection of {asset_id} expired")
        return self._call(self.modbus.write_command(asset_id, close),
                          f"{asset_id} command")

    def cancel(self, asset_id: str) -> None:
        path = self.path(asset_id)
        if path == "iec61850" and self.mms is not None:
            r = self._call(self.mms.cancel(asset_id), f"{asset_id} cancel")
            if isinstance(r, ControlResult) and not r.ok:
                log.warning("%s", r.message)
        else:
            with self._lock:
                self._reserved.pop(asset_id, None)

    def termination(self, asset_id: str) -> ControlResult | None:
        if self.path(asset_id) == "iec61850" and self.mms is not None:
            return self.mms.termination(asset_id)
        return None


class PlantCommander:
    """Commands straight to an in-process plant simulator, as its bay devices would take
    them (the trainer's offline mode; tests without protocol servers). A select is the bay
    IED's own select check, with its AddCause (blocked-by-interlocking, blocked-by-health, …),
    as the IED would answer over MMS."""

    def __init__(self, plant: PlantSimulator) -> None:
        self.plant = plant

    def path(self, asset_id: str) -> str | None:
        return "plant"

    def select(self, asset_id: str, close: bool) -> ControlResult:
        return self.plant.select(asset_id, close)

    def operate(self, asset_id: str, close: bool) -> ControlResult:
        return self.plant.operate(asset_id, close, origin="hmi")

    def cancel(self, asset_id: str) -> None:
        pass

    def termination(self, asset_id: str) -> ControlResult | None:
        return None


class NoCommandPath:
    """The commander of a source with nothing behind it to command (a replay, a scripted
    test source): every device has no command path, and a command is refused saying so."""

    def path(self, asset_id: str) -> str | None:
        return None

    def select(self, asset_id: str, close: bool) -> ControlResult:
        return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{asset_id} has no command path")

    def operate(self, asset_id: str, close: bool) -> ControlResult:
        return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{asset_id} has no command path")

    def cancel(self, asset_id: str) -> None:
        pass

    def termination(self, asset_id: str) -> ControlResult | None:
        return None


def run_on(loop: asyncio.AbstractEventLoop | None, coro: Coroutine[object, object, T]
           ) -> concurrent.futures.Future[T]:
    if loop is None or loop.is_closed() or not loop.is_running():
        raise RuntimeError("the poller is not running")
    return asyncio.run_coroutine_threadsafe(coro, loop)
