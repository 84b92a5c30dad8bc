"""The drill's protection GOOSE: the bay IEDs publish trips and breaker-failure initiation.

:class:`DrillGoose` puts the station's protection GoCBs
(:func:`app.field.iec61850.goose.station_gocbs`, one per bay IED with relays) on an Ethernet
interface and subscribes to them (on the same interface, or a second one such as the other
end of a veth pair). The drill engine hands it each protection event at its simulated
instant; it keeps each IED's data set and publishes a change:

* ``PTRC1.Tr.general`` of a relay's bay IED: true from the relay's trip (``trip``, and the
  breaker-failure re-trip and back-up trip of the BF relay) until it drops off
  (``dropoff``) — a trip of a breaker with breaker-failure protection is that breaker's BF
  initiation (BFI), as the bay IED's trip GOOSE is in a real station;
* ``RBRF1.Str.general`` of the IED holding the breaker's BF function (the busbar
  protection's, here): true from the trip command to a breaker it guards (BF initiated,
  the timers run) until that breaker opened;
* ``RBRF1.OpIn.general``: the BF re-trip; ``RBRF1.OpEx.general``: the BF back-up trip of the
  adjacent breakers (and the transfer trip);
* every flag drops on the relays' reset; quality good; ``t`` the simulated time of change.

Each IED publishes its power-up state (stNum 1) when the drill starts; the retransmissions
then run on simulated time (see :mod:`app.field.iec61850.goose`). What the subscriber
receives is drained at each scan: every new state (a new stNum after the power-up one) of
a GoCB becomes one SOE entry (source ``GOOSE``, kind ``goose``) at the data set's time.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from app.field.iec61850.goose import (
    GoCb,
    GooseMessage,
    GooseReceiver,
    RetransmissionPolicy,
    StationPublishers,
    check_interface,
    station_gocbs,
)
from app.station import Station
from app.training.protection import ProtectionEvent, ProtectionSettings

log = logging.getLogger(__name__)

TR, STR, OPIN, OPEX = range(4)
_SHORT = ("Tr", "BFI/Str", "OpIn", "OpEx")


class DrillGoose:
    """Publishers for the station's protection GoCBs and their subscriber (see the module).

    Opened on :meth:`bind` (the engine does that); owned and closed by the caller."""

    def __init__(self, iface: str, *, sub_iface: str | None = None,
                 policy: RetransmissionPolicy | None = None, wait_s: float = 5.0,
                 max_lag: int = 64) -> None:
        check_interface(iface)
        if sub_iface and sub_iface != iface:
            check_interface(sub_iface)
        self.iface = iface
        self.sub_iface = sub_iface or iface
        self.policy = policy or RetransmissionPolicy()
        self.wait_s = wait_s
        self.max_lag = max_lag
        self.pubs: StationPublishers | None = None
        self.rx: GooseReceiver | None = None
        self.gocbs: tuple[GoCb, ...] = ()
        self._ied_of_relay: dict[str, str] = {}
        self._bf_ied: dict[str, str] = {}  # breaker → the IED holding its BF function
        self._flags: dict[str, list[bool]] = {}
        self._sent_flags: dict[str, list[bool]] = {}  # as last published
        self._tripped: dict[str, set[str]] = {}  # IED → relays whose trip is on
        self._bf_started: dict[str, set[str]] = {}  # IED → breakers with BF initiated
        self._seen: dict[str, int] = {}  # GoCB → last stNum recorded
        self.received = 0
        self.changes_received = 0

    # ------------------------------------------------------------------ set-up
    def bind(self, station: Station, settings: ProtectionSettings, at: dt.datetime) -> None:
        """Open the publishers and the subscriber for ``station`` (once), and publish every
        IED's present state at ``at`` (a new drill, or one backtracked)."""
        if self.pubs is None:
            self.gocbs = station_gocbs(station)
            ieds = {g.ied for g in self.gocbs}
            for a in station.assets_of_type("relay"):
                if f"GT{a.bay}" in ieds:
                    self._ied_of_relay[a.id] = f"GT{a.bay}"
            for r in settings.relays:
                ied = self._ied_of_relay.get(r.id)
                if r.breaker_failure and ied:
                    for b in r.breaker_failure.breakers:
                        self._bf_ied.setdefault(b, ied)
            self.rx = GooseReceiver(self.sub_iface, self.gocbs).start()
            try:
                self.pubs = StationPublishers(self.iface, self.gocbs, self.policy)
            except Exception:
                self.rx.close()
                self.rx = None
                raise
            log.info("drill GOOSE: %d GoCBs on %s (subscribed on %s)", len(self.gocbs),
                     self.iface, self.sub_iface)
        else:
            for p in self.pubs.pubs.values():  # a backtracked drill: its clock starts again
                if p.next_at is not None:
                    p.next_at = at
        for g in self.gocbs:
            self._flags[g.ied] = [False] * 4
            self._tripped[g.ied] = set()
            self._bf_started[g.ied] = set()
            if self._sent_flags.get(g.ied) != self._flags[g.ied]:
                self._publish(g.ied, at)

    def _publish(self, ied: str, at: dt.datetime) -> None:
        f = self._flags[ied]
        self._sent_flags[ied] = list(f)
        self.pubs.change(ied, [*f, 0, at], at)

    # ------------------------------------------------------------------ events
    def advance(self, now: dt.datetime) -> None:
        """Retransmissions due up to ``now`` (simulated), ``max_lag`` at a time, each batch
        after the subscriber has caught up (see :meth:`_pace`)."""
        if self.pubs is None:
            return
        while True:
            self._pace()
            if len(self.pubs.advance(now, limit=self.max_lag)) < self.max_lag:
                return

    def _pace(self) -> None:
        """Back-pressure: simulated time may run far faster than the subscriber decodes, and
        the kernel drops what overflows its socket buffer (~200 kB, a few hundred frames):
        more than ``max_lag`` messages behind, wait (at most ``wait_s``) for it."""
        if self.rx is not None and self.pubs.sent - self.rx.received > self.max_lag and \
                not self.rx.wait_for(self.pubs.sent, self.wait_s):
            log.warning("drill GOOSE: %d of %d messages received after %.1f s",
                        self.rx.received, self.pubs.sent, self.wait_s)

    def on_protection(self, pe: ProtectionEvent, at: dt.datetime) -> None:
        """One relay event at its simulated instant ``at``: the IEDs' flags, published on
        change."""
        if self.pubs is None:
            return
        self.advance(at)
        ied = self._ied_of_relay.get(pe.source)
        touched: set[str] = set()
        if pe.kind in ("trip", "retrip", "bf_backup_trip") and ied:
            self._tripped[ied].add(pe.source)
            touched.add(ied)
            if pe.kind == "retrip":
                self._flags[ied][OPIN] = True
            elif pe.kind == "bf_backup_trip":
                self._flags[ied][OPEX] = True
        elif pe.kind == "transfer_trip" and ied:
            self._flags[ied][OPEX] = True
            touched.add(ied)
        elif pe.kind == "dropoff" and ied:
            self._tripped[ied].discard(pe.source)
            touched.add(ied)
        elif pe.kind == "open_command" and pe.breaker in self._bf_ied:
            bf = self._bf_ied[pe.breaker]
            self._bf_started[bf].add(pe.breaker)
            touched.add(bf)
        elif pe.kind == "breaker_open" and pe.breaker in self._bf_ied:
            bf = self._bf_ied[pe.breaker]
            self._bf_started[bf].discard(pe.breaker)
            touched.add(bf)
        for x in sorted(touched):
            self._flags[x][TR] = bool(self._tripped[x])
            self._flags[x][STR] = bool(self._bf_started[x])
            if self._flags[x] != self._sent_flags[x]:  # a new state: stNum + 1
                self._publish(x, at)

    def reset(self, at: dt.datetime) -> None:
        """The relays' reset: every flag drops."""
        if self.pubs is None:
            return
        self.advance(at)
        for ied, f in self._flags.items():
            if any(f):
                self._flags[ied] = [False] * 4
                self._tripped[ied].clear()
                self._bf_started[ied].clear()
                self._publish(ied, at)

    # ------------------------------------------------------------------ receiving
    def changes(self, *, wait: bool = False) -> list[tuple[GooseMessage, str]]:
        """The new states received since the last call, each with its SOE text; ``wait``:
        first until everything published so far has arrived (or ``wait_s`` passed)."""
        if self.rx is None:
            return []
        if wait and not self.rx.wait_for(self.pubs.sent, self.wait_s):
            log.warning("drill GOOSE: %d of %d messages received after %.1f s",
                        self.rx.received, self.pubs.sent, self.wait_s)
        else:
            self._pace()
        out = []
        for m in self.rx.drain():
            self.received += 1
            last = self._seen.get(m.gocb_ref)
            self._seen[m.gocb_ref] = max(m.st_num, last or 0)
            if last is None and m.st_num <= 1 and not any(m.values[:4]):
                continue  # the IED's power-up state
            if last is not None and m.st_num <= last:
                continue  # a retransmission
            self.changes_received += 1
            out.append((m, self.text(m)))
        return out

    @staticmethod
    def text(m: GooseMessage) -> str:
        flags = " ".join(f"{n}={int(bool(v))}" for n, v in zip(_SHORT, m.values[:4],
                                                                  strict=False))
        q = m.values[4] if len(m.values) > 4 else 0
        return (f"{m.gocb_ref} stNum {m.st_num} sqNum {m.sq_num}: {flags} "
                f"q={'good' if q == 0 else hex(q)} t={m.time.strftime('%H:%M:%S.%f')[:-3]}")

    def stats(self) -> dict[str, Any]:
        return {"iface": self.iface, "sub_iface": self.sub_iface, "gocbs": len(self.gocbs),
                "published": self.pubs.sent if self.pubs else 0,
                "received": self.received, "changes_received": self.changes_received}

    def close(self) -> None:
        if self.rx is not None:
            self.rx.close()
            self.rx = None
        if self.pubs is not None:
            self.pubs.close()
            self.pubs = None
