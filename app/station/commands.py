"""The answer to a switching command, and the IEC 61850-7-2 AddCause values it may carry.

A command to a breaker, disconnector or earth switch travels through several layers: the
control service (:mod:`app.control.service`) checks roles and station interlocks, a
commander (the runtime's) hands it to a command path, the pollers
(:mod:`app.field.rtu.poller`, :mod:`app.field.iec61850.poller`) send it to the field, and the
bay IED — real, or simulated (:mod:`app.field.sim.ied`) — accepts or refuses it. Every one of
them answers with a :class:`ControlResult`.

Why here, in the station model: like the quality words (:mod:`app.station.quality`) and the
scan frame (:mod:`app.station.frame`), this is vocabulary that crosses layers, and
``app.station`` is the one package every layer may import. In ``app.field`` the control
service could import it too, but the HMI, the runtime and the trainer would then reach into
the field layer only to name an answer; and it must never live in the plant simulator, which
a station with real IEDs does not run.

:class:`Commander` is the write path's contract, here for the same reason: its
implementations are the runtime's (:class:`~app.runtime.commander.ProtocolCommander` over the
pollers, :class:`~app.runtime.commander.PlantCommander` on an in-process plant,
:class:`~app.runtime.commander.NoCommandPath`) and the tests', its user the control service;
each frame source makes the one for the field behind it
(:meth:`app.runtime.sources.FrameSource.commander`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# IEC 61850-7-2 AddCause values used in negative control responses.
ADD_CAUSE_UNKNOWN = "unknown"
ADD_CAUSE_BLOCKED_BY_INTERLOCKING = "blocked-by-interlocking"
ADD_CAUSE_BLOCKED_BY_SWITCHING_HIERARCHY = "blocked-by-switching-hierarchy"
ADD_CAUSE_POSITION_REACHED = "position-reached"
ADD_CAUSE_BLOCKED_BY_HEALTH = "blocked-by-health"
ADD_CAUSE_TIME_LIMIT_OVER = "time-limit-over"
ADD_CAUSE_BLOCKED_BY_PROCESS = "blocked-by-process"


@dataclass(frozen=True, slots=True)
class ControlResult:
    """Whether a select, operate or command termination succeeded, and if not, why."""

    ok: bool
    add_cause: str = ""
    """IEC 61850 AddCause when refused, e.g. ``blocked-by-interlocking``."""
    message: str = ""


class Commander(Protocol):
    """The poller's write path to the field device (IEC 61850 SBO or Modbus commands).

    Called from the control thread, never the GUI's. ``termination`` reports the device's
    command termination for the last operate of that device once it has arrived (None until
    then, and always None on a path without terminations): a negative one ends the command at
    once with its AddCause instead of waiting for the confirmation timeout."""

    def path(self, asset_id: str) -> str | None:
        """The command path to this device — ``"iec61850"``, ``"modbus"``, ``"plant"`` — or
        None when there is none (the faceplate then offers no command)."""
        ...

    def select(self, asset_id: str, close: bool) -> ControlResult: ...

    def operate(self, asset_id: str, close: bool) -> ControlResult: ...

    def cancel(self, asset_id: str) -> None: ...

    def termination(self, asset_id: str) -> ControlResult | None: ...
