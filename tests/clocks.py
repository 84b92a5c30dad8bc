"""Times for tests, relative to the program's clock (app.station.clock), never fixed dates.

Anything a test stores and then meets wall-clock logic with — the historian's retention, a
query's "last 7 days", shelving expiry, a session's idle lock — must be dated relative to now,
or the test breaks on the day its date falls out of the window. These helpers give such times,
rounded where a test needs whole hours or days. They read the same clock as the program, so
the suite also passes with ``GRIDTWIN_CLOCK_SHIFT_DAYS`` set (``.ci/run`` runs it a year ahead).
"""

from __future__ import annotations

import datetime as dt

from app.station import clock
from app.station.timezone import IST


def now() -> dt.datetime:
    return clock.now()


def hours_ago(hours: float) -> dt.datetime:
    """The start of the hour ``hours`` hours ago (UTC), e.g. ``hours_ago(3)`` at 14:25 → 11:00."""
    t = clock.now() - dt.timedelta(hours=hours)
    return t.replace(minute=0, second=0, microsecond=0)


def midnight_days_ago(days: int) -> dt.datetime:
    """UTC midnight ``days`` days ago."""
    t = clock.now() - dt.timedelta(days=days)
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def recent_weekday_ist(hour: int, minute: int = 0) -> dt.datetime:
    """The latest Monday–Friday at ``hour:minute`` IST that is at least an hour in the past
    (1–4 days ago), in UTC: for tests that need the plant's weekday load profile at a given
    time of day and data young enough for every retention and "last N days" window."""
    t = (clock.now() - dt.timedelta(hours=1)).astimezone(IST)
    t = t.replace(hour=hour, minute=minute, second=0, microsecond=0)
    while t > clock.now() - dt.timedelta(hours=1) or t.weekday() >= 5:
        t -= dt.timedelta(days=1)
    return t.astimezone(dt.UTC)
