"""The write path's contract: what the control service asks of whatever carries a command to
the field device.

Several implementations meet here — the runtime's :class:`~app.runtime.commander.
ProtocolCommander` (IEC 61850 select-before-operate through the MMS poller, or the RTU's
Modbus command coils), its :class:`~app.runtime.commander.PlantCommander` (an in-process plant,
the trainer's offline mode), :class:`~app.runtime.commander.NoCommandPath` (a source nothing
can be commanded through) and the tests' own — and one user, the control service
(:mod:`app.control.service`). Each frame source makes the commander for the field behind it
(:meth:`app.runtime.sources.FrameSource.commander`), so nobody has to guess from a source's
attributes which kind it is.

Why in the field layer: both the runtime (the implementations) and the control service may
import it, and its answer, :class:`~app.field.sim.api.ControlResult`, lives here too. When the
answer moves down to the station model (it is vocabulary every layer uses), this Protocol can
follow it.
"""

from __future__ import annotations

from typing import Protocol

from app.field.sim.api import ControlResult


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
