"""One log line per communication fault, however many devices it takes down.

The pollers keep a communication state per device, but when the whole RTU or field-sim goes
away every device changes at once; logging each would bury the cause under 29 lines. A poller
collects a scan's changes and hands them here: one line for the devices lost (by cause), one
for those turned suspect (by cause), one for those restored.

Levels: lost WARNING; suspect (no good reply for a while, not yet lost: see
:mod:`app.field.commstate`) INFO; restored and established INFO.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from app.station.frame import Comm

#: Devices named in full in an aggregated line; the rest are counted.
NAMED = 8


def _names(devices: Sequence[str]) -> str:
    shown = ", ".join(devices[:NAMED])
    return shown if len(devices) <= NAMED else f"{shown}, … ({len(devices)} in all)"


def log_changes(log: logging.Logger, what: str,
                changes: Sequence[tuple[str, Comm, Comm, str]],
                label: dict[str, str] | None = None, *, by_cause: bool = True) -> None:
    """Log a scan's communication-state changes: ``(device, old state, new state, cause)``.

    ``what`` names the source ("modbus RTU 127.0.0.1:1502"); ``label`` optionally gives a
    device's display name ("F2 (id 5)"). With ``by_cause`` the devices lost are grouped by
    identical cause; without it all of them make one line, naming the first cause (for
    sources whose causes differ only in an address, such as one IED per port)."""
    label = label or {}
    lost: dict[str, list[str]] = {}
    suspect: dict[str, list[str]] = {}
    back: dict[str, list[str]] = {"restored": [], "established": []}
    for dev, old, new, why in changes:
        if new == Comm.LOST:
            lost.setdefault(why, []).append(dev)
        elif new == Comm.SUSPECT:
            suspect.setdefault(why, []).append(dev)
        elif new == Comm.OK:
            back["established" if old == Comm.CONNECTING else "restored"].append(dev)
    for level, word, groups in ((logging.WARNING, "lost", lost),
                                (logging.INFO, "suspect", suspect)):
        if not by_cause and len(groups) > 1:
            causes = list(groups)
            devs = [d for c in causes for d in groups[c]]
            groups = {f"{causes[0]} (and {len(causes) - 1} other causes)": devs}
        for why, devs in groups.items():
            if len(devs) == 1:
                log.log(level, "%s: device %s: communication %s: %s", what,
                        label.get(devs[0], devs[0]), word, why)
            else:
                log.log(level, "%s: communication %s with %d devices (%s): %s", what, word,
                        len(devs), _names(devs), why)
    for how, devs in back.items():
        if len(devs) == 1:
            log.info("%s: device %s: communication %s", what, label.get(devs[0], devs[0]), how)
        elif devs:
            log.info("%s: communication %s with %d devices (%s)", what, how, len(devs),
                     _names(devs))
