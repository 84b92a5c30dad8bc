"""The alarm-system performance report (ISA-18.2 / EEMUA 191 key figures), Qt-free.

Computed from alarm transitions — the engine's own (in memory) or the ``alarm`` events stored
in the historian — so the HMI's dialog and ``gridtwin alarms report`` give the same figures:

* alarms per 10 minutes (average, maximum, share of 10-minute periods with more than 10);
* standing alarms (in alarm at the end of the window) and stale ones (for more than 24 h);
* the top chattering alarms (3 or more annunciations within 60 s), the chattering alarms the
  system shelved (its chattering policy: :meth:`app.alarms.engine.AlarmEngine.
  _shelve_chattering`) and the most frequent.

An *alarm* here is an annunciation: a transition into "unacknowledged". Times are shown in
IST, like every screen (``from`` / ``to`` / ``since`` carry their +05:30 offset).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from app.station.timezone import IST

if TYPE_CHECKING:
    from sqlalchemy import Engine

UNACK = "unacknowledged"
ACTIVE_STATES = ("unacknowledged", "acknowledged")
CHATTER_COUNT = 3
CHATTER_WINDOW = dt.timedelta(seconds=60)
STALE_AFTER = dt.timedelta(hours=24)
BUCKET = dt.timedelta(minutes=10)
SHELVED = "shelved"
#: Who the system's own actions are recorded as (app.alarms.engine.SYSTEM_USER).
SYSTEM_USER = "system"


def performance_report(transitions: Iterable[tuple], now: dt.datetime,
                       hours: float = 24.0) -> dict:
    """``transitions``: ``(time, alarm key, state before, state after[, user])`` in any
    order, the states as :class:`~app.alarms.engine.AlarmState` values, the user who made
    the transition (None for the process itself, ``system`` for its automatic shelving)."""
    if hours <= 0:
        raise ValueError("--hours: the window must be longer than 0 hours")
    start = now - dt.timedelta(hours=hours)
    rows = sorted(((tr[0], tr[1], tr[2], tr[3], tr[4] if len(tr) > 4 else None)
                   for tr in transitions if start <= tr[0] <= now),
                  key=lambda r: (r[0], r[1]))
    auto_shelved: Counter[str] = Counter(k for _t, k, _b, a, u in rows
                                         if a == SHELVED and u == SYSTEM_USER)
    n_buckets = max(1, int(round(hours * 6)))
    per10 = [0] * n_buckets
    freq: Counter[str] = Counter()
    recent: dict[str, deque] = defaultdict(deque)
    chatter_peak: Counter[str] = Counter()
    last: dict[str, tuple[dt.datetime, str]] = {}
    since: dict[str, dt.datetime] = {}
    for t, key, _before, after, _user in rows:
        last[key] = (t, after)
        if after != UNACK:
            continue
        since[key] = t
        per10[min(int((t - start) / BUCKET), n_buckets - 1)] += 1
        freq[key] += 1
        win = recent[key]
        win.append(t)
        while t - win[0] > CHATTER_WINDOW:
            win.popleft()
        chatter_peak[key] = max(chatter_peak[key], len(win))
    standing = sorted(((since.get(k, t), k) for k, (t, state) in last.items()
                       if state in ACTIVE_STATES))
    chattering = sorted((k for k, n in chatter_peak.items() if n >= CHATTER_COUNT),
                        key=lambda k: (-freq[k], k))
    total = sum(per10)
    return {
        "window_h": hours,
        "from": start.astimezone(IST).isoformat(timespec="seconds"),
        "to": now.astimezone(IST).isoformat(timespec="seconds"),
        "alarms": total,
        "per_10min": per10,
        "per_10min_avg": round(total / n_buckets, 3),
        "per_10min_max": max(per10),
        "pct_10min_over_10": round(100.0 * sum(x > 10 for x in per10) / n_buckets, 2),
        "standing": [{"key": k, "since": s.astimezone(IST).isoformat(timespec="seconds"),
                      "age_h": round((now - s).total_seconds() / 3600, 2)} for s, k in standing],
        "stale": sum(now - s > STALE_AFTER for s, _ in standing),
        "top_chattering": [(k, freq[k]) for k in chattering[:10]],
        "chattering_shelved": sorted(auto_shelved.items(), key=lambda kv: (-kv[1], kv[0])),
        "most_frequent": sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:10],
        "shelved": sorted(k for k, (_, state) in last.items() if state == "shelved"),
    }


def stored_transitions(db_engine: Engine, start: dt.datetime, end: dt.datetime
                       ) -> list[tuple[dt.datetime, str, str, str, str | None]]:
    """The alarm transitions stored in the historian's ``events`` table (``event_type``
    "alarm": ``tag`` is the alarm key, ``before`` / ``after`` the states, ``acknowledged_by``
    who made the transition)."""
    from sqlalchemy import select

    from app.historian.models import Event

    s = (select(Event.time_ms, Event.tag, Event.before, Event.after, Event.acknowledged_by)
         .where(Event.event_type == "alarm", Event.time_ms >= int(start.timestamp() * 1000),
                Event.time_ms <= int(end.timestamp() * 1000))
         .order_by(Event.time_ms, Event.event_id))
    with db_engine.connect() as con:
        return [(dt.datetime.fromtimestamp(t / 1000, dt.UTC), k or "", b or "", a or "", u)
                for t, k, b, a, u in con.execute(s)]


def report_from_store(db_engine: Engine, now: dt.datetime, hours: float = 24.0) -> dict:
    if hours <= 0:
        raise ValueError("--hours: the window must be longer than 0 hours")
    start = now - dt.timedelta(hours=hours)
    return performance_report(stored_transitions(db_engine, start, now), now, hours)


def format_report(rep: dict) -> str:
    """The report as text (the CLI and the HMI's dialog)."""
    def ist(iso: str) -> str:
        return dt.datetime.fromisoformat(iso).astimezone(IST).strftime("%d %b %Y %H:%M")

    lines = [f"Alarm performance, last {rep['window_h']:g} h ({ist(rep['from'])} to "
             f"{ist(rep['to'])} IST)",
             "",
             f"  alarms                     {rep['alarms']}",
             f"  per 10 minutes             average {rep['per_10min_avg']:.2f}, "
             f"maximum {rep['per_10min_max']}   (ISA-18.2: ~1 acceptable, 2 manageable)",
             f"  10-min periods over 10     {rep['pct_10min_over_10']:.1f} %   "
             "(ISA-18.2: < 1 %)",
             f"  standing now               {len(rep['standing'])}, of which "
             f"{rep['stale']} for more than 24 h",
             f"  shelved now                {len(rep['shelved'])}",
             f"  chattering                 {len(rep['top_chattering'])} alarms annunciated "
             f"3+ times within 60 s; {sum(n for _, n in rep.get('chattering_shelved', ()))} "
             f"shelved by the system for chattering", ""]
    if rep["top_chattering"]:
        lines.append("  top chattering (3+ within 60 s):")
        lines += [f"    {n:5d}  {k}" for k, n in rep["top_chattering"]]
    if rep.get("chattering_shelved"):
        lines.append("  shelved by the system for chattering (times):")
        lines += [f"    {n:5d}  {k}" for k, n in rep["chattering_shelved"]]
    if rep["most_frequent"]:
        lines.append("  most frequent:")
        lines += [f"    {n:5d}  {k}" for k, n in rep["most_frequent"]]
    if rep["standing"]:
        lines.append("  standing (oldest first):")
        lines += [f"    {s['age_h']:7.2f} h  {s['key']}" for s in rep["standing"][:20]]
    return "\n".join(lines)
