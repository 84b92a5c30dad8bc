"""The program's one wall clock.

Every wall-clock "now" in GridTwin — the historian's retention and compaction, queries' "last
N hours", alarm shelving expiry, login sessions and their idle lock, control selections, the
plant simulator's start, the source time of polled values, the HMI's clock — is read here,
never from ``datetime.now`` or ``time.time`` directly. (Intervals — timeouts, scan pacing,
rates — use ``time.monotonic``, which no calendar logic meets.)

**Test aid:** ``$GRIDTWIN_CLOCK_SHIFT_DAYS`` (a number of days, may be fractional or negative)
moves this clock, and only this clock, by that much, in this process and in every child process
it starts (they inherit the environment). ``GRIDTWIN_CLOCK_SHIFT_DAYS=400 make test`` runs the
suite as if it were 400 days later: a test that met wall-clock logic with a fixed calendar date
fails then. It is not a setting for a station: a real station's clock is its NTP-synchronised
system clock.
"""

from __future__ import annotations

import datetime as dt
import os
import time as _time

SHIFT_ENV = "GRIDTWIN_CLOCK_SHIFT_DAYS"


def _read_shift(env: dict[str, str] | os._Environ[str] = os.environ) -> dt.timedelta:
    text = env.get(SHIFT_ENV, "").strip()
    if not text:
        return dt.timedelta(0)
    try:
        days = float(text)
    except ValueError:
        raise ValueError(f"${SHIFT_ENV}: {text!r} is not a number of days "
                         "(e.g. 400, -1.5)") from None
    if not abs(days) < 36_500:  # also refuses nan and inf
        raise ValueError(f"${SHIFT_ENV}: {text!r} is out of range (|days| < 36500)")
    return dt.timedelta(days=days)


_SHIFT: dt.timedelta | None = None


def shift() -> dt.timedelta:
    """How far this clock is ahead of the system clock (zero unless the test aid is set)."""
    global _SHIFT
    if _SHIFT is None:
        _SHIFT = _read_shift()
    return _SHIFT


def now() -> dt.datetime:
    """Now, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC) + shift()


def time() -> float:
    """Now as seconds since the Unix epoch (the clock ``time.time()`` would be)."""
    return _time.time() + shift().total_seconds()


def time_ns() -> int:
    """Now as nanoseconds since the Unix epoch."""
    s = shift()
    return _time.time_ns() + (s.days * 86_400 + s.seconds) * 1_000_000_000 + s.microseconds * 1000
