"""A device's communication state, with hold-off and hysteresis, and a bay's over its paths.

The pollers do not turn a device LOST on one failed request, nor OK on one good reply: on a
loaded host a late reply is not a lost device, and a device that answers one scan in three
must not flap between the two. Each poller feeds a :class:`CommTracker` what happened to each
device in a scan (:meth:`CommTracker.observe`: a good reply, or a failure and its cause) and
asks it where each device stands (:meth:`CommTracker.evaluate`), also between answers — the
state then follows from the time alone. The rules (times from :class:`CommPolicy`):

========== ================================================ ==============================
state      when                                             the device's points
========== ================================================ ==============================
CONNECTING no good reply yet, for less than ``comm_loss_s``  invalid|oldData (never read)
           since first asked (a client process still
           starting is no news)
OK         a good reply less than ``stale_s`` ago            as read (a scan or two missed
                                                            in between changes nothing)
SUSPECT    no good reply for ``stale_s`` (default 1 s), not  last value, questionable|oldData
           yet for ``comm_loss_s``; or back from SUSPECT,
           answering, but not yet for ``recover_s``
LOST       no good reply for ``comm_loss_s`` (default 3 s);  last value, invalid|oldData
           or back, answering, but not yet for ``recover_s``
========== ================================================ ==============================

A device goes back to OK only after an unbroken run of good replies spanning ``recover_s``
(default 1 s; at least two replies), counted from the first good reply after it left OK — any
failure in the run starts it again. The first good reply after start-up makes a CONNECTING
device OK at once. A device not asked in a scan (in its own retry backoff, or its path's
answer late) is no observation: its state follows from the time alone. While SUSPECT or LOST
and answering again, the points carry the newest values with the state's validity (no
oldData: they are fresh). ``CommState.since`` is when the state was entered; ``last_error``
the newest cause (empty when OK).

A bay served over two paths (the RTU over Modbus, the bay IED over MMS) has one tracker per
path, each keeping its state between that path's answers. :class:`BayStates` combines them:
the bay's state is its worst path's (LOST, then CONNECTING, then SUSPECT, then OK), its
``protocol`` names the paths that are not OK, its ``last_error`` says why each one is not
("iec61850 lost: connect to 127.0.0.1:10103 failed"), and ``paths`` holds each path's own
state. As each path has hold-off and hysteresis, so has the bay: it never flaps.

Every state change is logged, one line per change however many devices make it at once
(:mod:`app.field.commlog`): SUSPECT at INFO, LOST at WARNING, OK again at INFO — so one
episode of a device is at most three lines, whatever it did in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from app.field.commlog import log_changes
from app.station import clock
from app.station import quality as Q
from app.station.frame import Comm, CommState

#: Severity order of the states: a bay takes its worst path's.
RANK = {Comm.OK: 0, Comm.SUSPECT: 1, Comm.CONNECTING: 2, Comm.LOST: 3}


class CommPolicyError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CommPolicy:
    """When a device turns SUSPECT, LOST, and OK again (seconds). See the module notes."""

    stale_s: float = 1.0
    comm_loss_s: float = 3.0
    recover_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.stale_s <= 600:
            raise CommPolicyError(f"comm stale_s {self.stale_s} s: 0–600 s")
        if not self.stale_s <= self.comm_loss_s <= 3600:
            raise CommPolicyError(f"comm_loss_s {self.comm_loss_s} s: from stale_s "
                                  f"({self.stale_s} s) to 3600 s")
        if not 0 <= self.recover_s <= 600:
            raise CommPolicyError(f"comm recover_s {self.recover_s} s: 0–600 s")

    @classmethod
    def for_period(cls, period_s: float, *, stale_s: float | None = None,
                   comm_loss_s: float | None = None,
                   recover_s: float | None = None) -> CommPolicy:
        """The defaults at a scan period: stale after max(1 s, 2 periods), lost after
        max(3 s, 3 periods), OK after 1 s of good replies. A given time shorter than one
        period is refused (a device could not even have been asked)."""
        for name, v in (("stale_s", stale_s), ("comm_loss_s", comm_loss_s)):
            if v is not None and v < period_s:
                raise CommPolicyError(f"comm {name} {v} s is shorter than the scan period "
                                      f"{period_s} s")
        st = max(1.0, 2 * period_s) if stale_s is None else stale_s
        loss = max(3.0, 3 * period_s, st) if comm_loss_s is None else comm_loss_s
        return cls(st, loss, 1.0 if recover_s is None else recover_s)


@dataclass(slots=True)
class _Device:
    state: Comm
    since: object  # dt.datetime of the last change
    started_t: float | None = None  # first poll (its outcome, whatever it was)
    last_good_t: float | None = None
    run_start_t: float | None = None  # first good reply of the current unbroken run
    run_len: int = 0
    why: str = ""
    fresh: bool = False  # a good reply in the newest observation


class CommTracker:
    """The communication state of each of a source's devices (one protocol path).

    ``observe(device, ok, why, t)`` after each scan (``t``: ``time.monotonic()``), then
    ``evaluate(t)``; ``states`` the current :class:`CommState` per device. ``log`` and
    ``what`` (the source's name) are for the change lines; ``label`` maps a device to its
    display name."""

    def __init__(self, devices: Iterable[str], protocol: str, policy: CommPolicy, *,
                 log: logging.Logger, what: str, label: Mapping[str, str] | None = None,
                 by_cause: bool = True) -> None:
        self.protocol = protocol
        self.policy = policy
        self.log, self.what, self.label, self.by_cause = log, what, dict(label or {}), by_cause
        now = clock.now()
        self._dev = {d: _Device(Comm.CONNECTING, now) for d in devices}
        self.states: dict[str, CommState] = {
            d: CommState(d, protocol, Comm.CONNECTING, now) for d in self._dev}
        self.transitions = 0  # state changes since start (for tests and statistics)

    @property
    def devices(self) -> list[str]:
        return list(self._dev)

    def begin_scan(self) -> None:
        """A new scan: no device's values are fresh until :meth:`observe` says so."""
        for d in self._dev.values():
            d.fresh = False

    def observe(self, device: str, ok: bool, why: str = "", t: float | None = None) -> None:
        """One poll of ``device``: a good reply, or a failure and why."""
        t = time.monotonic() if t is None else t
        d = self._dev[device]
        if d.started_t is None:
            d.started_t = t
        if ok:
            d.last_good_t = t
            if d.run_start_t is None:
                d.run_start_t, d.run_len = t, 0
            d.run_len += 1
            d.fresh = True
            d.why = ""
        else:
            d.run_start_t, d.run_len = None, 0
            d.why = why or d.why
            d.fresh = False

    def note(self, device: str, why: str) -> None:
        """Why ``device`` could not be asked this scan (its state follows from time; this is
        the cause it gives should it turn SUSPECT or LOST)."""
        self._dev[device].why = why

    def evaluate(self, t: float | None = None) -> dict[str, CommState]:
        """Every device's state at ``t`` (changes are logged); returns :attr:`states`."""
        t = time.monotonic() if t is None else t
        p = self.policy
        changes = []
        now = None
        for name, d in self._dev.items():
            new, why = self._next(d, t, p)
            if new != d.state:
                now = now or clock.now()
                changes.append((name, d.state, new, why))
                d.state, d.since = new, now
                if new in (Comm.SUSPECT, Comm.LOST):
                    d.run_start_t, d.run_len = None, 0  # recovery starts from the next reply
            cs = self.states[name]
            if cs.state != new or cs.last_error != why:
                self.states[name] = CommState(name, self.protocol, new, d.since, why)
        if changes:
            self.transitions += len(changes)
            log_changes(self.log, self.what, changes, self.label, by_cause=self.by_cause)
        return self.states

    @staticmethod
    def _next(d: _Device, t: float, p: CommPolicy) -> tuple[Comm, str]:
        """The state ``d`` is in at ``t``, and why (empty when OK)."""
        if d.last_good_t is None:  # never answered (and, until first asked, no news at all)
            if d.started_t is not None and t - d.started_t >= p.comm_loss_s:
                return Comm.LOST, d.why or f"no answer for {p.comm_loss_s:g} s"
            return Comm.CONNECTING, d.why
        if d.state == Comm.CONNECTING:
            return Comm.OK, ""  # the first good reply
        age = t - d.last_good_t
        if age >= p.comm_loss_s:
            return Comm.LOST, d.why or f"no good reply for {p.comm_loss_s:g} s"
        if d.state == Comm.OK:
            if age >= p.stale_s:
                return Comm.SUSPECT, d.why or f"no good reply for {p.stale_s:g} s"
            return Comm.OK, ""
        # SUSPECT or LOST: OK again only after an unbroken run of good replies.
        run = d.run_start_t
        if run is not None and (p.recover_s == 0 or
                                (d.run_len >= 2 and t - run >= p.recover_s)):
            return Comm.OK, ""
        why = d.why if run is None else f"answering again for {t - run:.1f} s, not yet " \
                                         f"{p.recover_s:g} s"
        return d.state, why or f"no good reply for {p.stale_s:g} s"

    def quality(self, raw: np.ndarray, slices: Mapping[str, np.ndarray]) -> np.ndarray:
        """``raw`` (the points' quality as last read, in the source's row order) with each
        device's state applied: OK as read; SUSPECT questionable, LOST and CONNECTING
        invalid — plus oldData where the device's newest values were not refreshed."""
        q = np.array(raw, dtype=np.uint16)
        keep = np.uint16(0xFFFF & ~Q.VALIDITY_MASK)
        for name, d in self._dev.items():
            if d.state == Comm.OK:
                continue
            sl = slices[name]
            validity = Q.QUESTIONABLE if d.state == Comm.SUSPECT else Q.INVALID
            q[sl] = (q[sl] & keep) | validity | (0 if d.fresh else Q.OLD_DATA)
        return q


@dataclass(slots=True)
class _Bay:
    state: Comm
    since: object


class BayStates:
    """Each bay's state over its paths (see the module notes), with a stable ``since``."""

    def __init__(self) -> None:
        self._bays: dict[str, _Bay] = {}

    def combine(self, device: str, paths: list[CommState]) -> CommState:
        worst = max(paths, key=lambda c: RANK[c.state])
        b = self._bays.get(device)
        if b is None:
            b = self._bays[device] = _Bay(worst.state, worst.since)
        elif b.state != worst.state:
            b.state, b.since = worst.state, clock.now()
        if len(paths) == 1:
            c = paths[0]
            return CommState(device, c.protocol, c.state, b.since, c.last_error, (c,))
        down = [c for c in paths if c.state != Comm.OK]
        protocol = "+".join(c.protocol for c in (down or paths))
        err = "; ".join(f"{c.protocol} {c.state.value}"
                        + (f": {c.last_error}" if c.last_error else "") for c in down)
        return CommState(device, protocol, worst.state, b.since, err, tuple(paths))
