"""The alarm engine: rules, the ISA-18.2 / IEC 62682 state machine, shelving, suppression,
chattering and flood detection, and the alarm-performance report (Qt-free).

Rules
    Analog rules are the seed's ``alarm_rules`` (parameter, condition, threshold, severity)
    extended with deadband, on-delay, off-delay and priority; a rule applies to every point
    whose quantity (or ``ASSET.POINT`` tag) matches its parameter, optionally restricted to an
    asset type. Where no rule covers a point, its station-file ``lo``/``hi`` limits are rules.
    Digital alarms: breaker trip (opened without a command), protection operated,
    communication lost, data invalid.

State machine (per alarm)::

    NORMAL ──active──► UNACK ──ack──► ACKED ──clear──► NORMAL
                         │ clear                ▲
                         ▼                      │
                     RTN_UNACK ──ack────────────┘      (active again → UNACK)
    any ──shelve(reason, expiry)──► SHELVED ──unshelve / expiry──► re-evaluated
    any ──out_of_service──► OUT_OF_SERVICE ──return_to_service──► re-evaluated
    SUPPRESSED (by design) while its suppression condition holds (e.g. the bay is dead).

Evaluation is vectorised over the compiled rule set: one numpy pass per scan, Python work
only for the alarms that change state (``gridtwin bench alarms`` measures it).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.field import quality as Q
from app.field.frame import Comm, ScanFrame
from app.field.points import KIND_ANALOG, POS_CLOSED, POS_OPEN, PointTable

SEVERITY_PRIORITY = {"critical": 1, "high": 2, "medium": 3, "low": 4}
FLOOD_COUNT = 10
FLOOD_WINDOW = dt.timedelta(minutes=10)
CHATTER_COUNT = 3
CHATTER_WINDOW = dt.timedelta(seconds=60)


class AlarmState(enum.Enum):
    NORMAL = "normal"
    UNACK = "unacknowledged"
    ACKED = "acknowledged"
    RTN_UNACK = "returned-to-normal unacknowledged"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed by design"
    OUT_OF_SERVICE = "out of service"


ANNUNCIATED = (AlarmState.UNACK, AlarmState.ACKED, AlarmState.RTN_UNACK)


@dataclass(frozen=True, slots=True)
class AlarmRule:
    rule_id: str
    parameter: str
    """A point quantity (``top_oil_c``) or one tag (``ICT1.TOP_OIL``)."""
    condition: str  # ">", "<", ">=", "<=", "="
    threshold: float
    severity: str = "medium"
    asset_type: str | None = None
    deadband: float = 0.0
    on_delay_s: float = 0.0
    off_delay_s: float = 0.0
    priority: int | None = None
    enabled: bool = True
    message: str = ""

    def __post_init__(self) -> None:
        if self.condition not in (">", "<", ">=", "<=", "="):
            raise ValueError(f"rule {self.rule_id}: field 'condition': unknown condition "
                             f"{self.condition!r} (use >, <, >=, <=, =)")
        if self.severity not in SEVERITY_PRIORITY:
            raise ValueError(f"rule {self.rule_id}: field 'severity': unknown severity "
                             f"{self.severity!r} (use {', '.join(SEVERITY_PRIORITY)})")
        if self.deadband < 0 or self.on_delay_s < 0 or self.off_delay_s < 0:
            raise ValueError(f"rule {self.rule_id}: deadband and delays must be >= 0")
        if not np.isfinite(self.threshold):
            raise ValueError(f"rule {self.rule_id}: field 'threshold' must be a number")

    @property
    def effective_priority(self) -> int:
        return self.priority or SEVERITY_PRIORITY[self.severity]


@dataclass
class Alarm:
    key: str
    tag: str
    asset: str
    kind: str  # "analog", "trip", "protection", "comm", "invalid"
    priority: int
    message: str
    state: AlarmState = AlarmState.NORMAL
    active: bool = False
    value: float = float("nan")
    since: dt.datetime | None = None
    acked_by: str | None = None
    shelved_until: dt.datetime | None = None
    shelve_reason: str = ""
    activations: deque = field(default_factory=lambda: deque(maxlen=64))
    chattering: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    time: dt.datetime
    key: str
    tag: str
    asset: str
    priority: int
    before: AlarmState
    after: AlarmState
    message: str
    user: str | None = None


class AlarmEngine:
    def __init__(self, points: PointTable, rules: Iterable[AlarmRule] = (), *,
                 asset_types: dict[str, str] | None = None,
                 suppress: Callable[[ScanFrame], np.ndarray] | None = None) -> None:
        """``asset_types`` maps asset id → type (for rules restricted to a type).
        ``suppress(frame)`` returns a per-point mask of alarms suppressed by design."""
        self.points = points
        self.asset_types = asset_types or {}
        self.suppress = suppress
        self.alarms: dict[str, Alarm] = {}
        self.transitions: deque[Transition] = deque(maxlen=100_000)
        self._new_times: deque[dt.datetime] = deque()
        self._activation_log: deque[tuple[dt.datetime, str]] = deque(maxlen=200_000)
        self._commanded: dict[str, dt.datetime] = {}
        self._prev_pos: np.ndarray | None = None
        self.compile(rules)

    # ================================================================== rules
    def compile(self, rules: Iterable[AlarmRule]) -> None:
        """Build the vectorised rule table: one entry per (rule, point)."""
        pt = self.points
        rows, thr, sign, dbd, on_d, off_d, prio, keys, msgs = ([] for _ in range(9))
        covered: set[tuple[int, str]] = set()
        by_q: dict[str, list[int]] = {}
        for i, q in enumerate(pt.quantity):
            by_q.setdefault(q, []).append(i)
        for r in rules:
            if not r.enabled:
                continue
            targets = [pt.index[r.parameter]] if r.parameter in pt.index else \
                by_q.get(r.parameter, [])
            if not targets:
                raise ValueError(f"rule {r.rule_id}: field 'parameter': no point or quantity "
                                 f"{r.parameter!r}")
            for i in targets:
                if r.asset_type and self.asset_types.get(pt.asset[i]) != r.asset_type:
                    continue
                direction = "hi" if r.condition in (">", ">=") else "lo" \
                    if r.condition in ("<", "<=") else "eq"
                covered.add((i, direction))
                rows.append(i)
                thr.append(r.threshold)
                sign.append({">": 1, ">=": 1, "<": -1, "<=": -1, "=": 0}[r.condition])
                dbd.append(r.deadband)
                on_d.append(r.on_delay_s)
                off_d.append(r.off_delay_s)
                prio.append(r.effective_priority)
                keys.append(f"{pt.tags[i]}:{r.rule_id}")
                msgs.append(r.message or f"{pt.tags[i]} {r.condition} {r.threshold:g} "
                                         f"{pt.unit[i]}".rstrip())
        # Station-file limits for the rest.
        analog = pt.kind == KIND_ANALOG
        for i in np.flatnonzero(analog & ~np.isnan(pt.hi)):
            if (i, "hi") not in covered:
                rows.append(i)
                thr.append(float(pt.hi[i]))
                sign.append(1)
                rng = pt.range_hi[i] - pt.range_lo[i]
                dbd.append(0.005 * rng if np.isfinite(rng) else 0.0)
                on_d.append(0.0)
                off_d.append(0.0)
                slow = pt.quantity[i].startswith(("gas_", "tdcg", "bushing", "oil_moisture"))
                prio.append(3 if slow else 2)
                keys.append(f"{pt.tags[i]}:hi")
                msgs.append(f"{pt.tags[i]} high (> {pt.hi[i]:g} {pt.unit[i]})")
        for i in np.flatnonzero(analog & ~np.isnan(pt.lo)):
            if (i, "lo") not in covered:
                rows.append(i)
                thr.append(float(pt.lo[i]))
                sign.append(-1)
                rng = pt.range_hi[i] - pt.range_lo[i]
                dbd.append(0.005 * rng if np.isfinite(rng) else 0.0)
                on_d.append(0.0)
                off_d.append(0.0)
                prio.append(2)
                keys.append(f"{pt.tags[i]}:lo")
                msgs.append(f"{pt.tags[i]} low (< {pt.lo[i]:g} {pt.unit[i]})")
        self._rows = np.asarray(rows, dtype=np.intp)
        self._thr = np.asarray(thr, dtype=float)
        self._sign = np.asarray(sign, dtype=np.int8)
        self._dbd = np.asarray(dbd, dtype=float)
        self._on = np.asarray(on_d, dtype=float)
        self._off = np.asarray(off_d, dtype=float)
        self._prio = np.asarray(prio, dtype=np.int8)
        self._keys = keys
        self._msgs = msgs
        n = len(rows)
        self._raw_active = np.zeros(n, dtype=bool)  # condition (with deadband) now
        self._active = np.zeros(n, dtype=bool)  # after delays
        self._changed_at = np.zeros(n)  # epoch s when _raw_active last changed
        self._quantity = np.array(self.points.quantity)
        self._protection = np.array([q in ("operated", "breaker_failure_operated", "trip",
                                           "buchholz_trip", "pressure_relief") for q in
                                     self.points.quantity])
        self._position = np.array([q == "position" for q in self.points.quantity])
        self._breaker_pos = self._position & np.array(
            [self.asset_types.get(a) == "breaker" for a in self.points.asset])

    @property
    def rule_count(self) -> int:
        return len(self._rows)

    # ================================================================== scans
    def note_command(self, asset_id: str, when: dt.datetime) -> None:
        """The control service tells the engine of an operator command, so the breaker
        opening that follows is not a trip."""
        self._commanded[asset_id] = when

    def evaluate(self, frame: ScanFrame) -> list[Transition]:
        now = frame.t_acquired
        t = now.timestamp()
        v, q = frame.values, frame.quality
        good = (q & Q.VALIDITY_MASK) == Q.GOOD
        out: list[Transition] = []

        # --- analog rules, vectorised
        x = v[self._rows]
        g = good[self._rows]
        s = self._sign
        with np.errstate(invalid="ignore"):
            on_cond = np.where(s > 0, x > self._thr, np.where(s < 0, x < self._thr,
                                                                 np.isclose(x, self._thr)))
            off_cond = np.where(s > 0, x < self._thr - self._dbd,
                                np.where(s < 0, x > self._thr + self._dbd,
                                         ~np.isclose(x, self._thr)))
        raw = np.where(self._raw_active, ~off_cond, on_cond) & g
        # Bad quality holds the last state (the quality alarm speaks for the point).
        raw = np.where(g, raw, self._raw_active)
        flip = raw != self._raw_active
        self._changed_at[flip] = t
        self._raw_active = raw
        held = t - self._changed_at
        want = np.where(raw, held >= self._on, ~(held >= self._off))
        want = np.where(raw == self._active, self._active, want)
        changes = np.flatnonzero(want != self._active)
        self._active = want
        pt = self.points
        for k in changes:
            i = int(self._rows[k])
            out += self._set_active(self._keys[k], pt.tags[i], pt.asset[i], "analog",
                                    int(self._prio[k]), self._msgs[k], bool(want[k]),
                                    float(v[i]), now)

        # --- digital alarms
        prot = self._protection & good & (v >= 0.5)
        for i in np.flatnonzero(self._protection & good):
            key = f"{pt.tags[i]}:operated"
            a = self.alarms.get(key)
            if prot[i] or (a is not None and a.active):
                out += self._set_active(key, pt.tags[i], pt.asset[i], "protection", 1,
                                        f"{pt.tags[i]} protection operated", bool(prot[i]),
                                        float(v[i]), now)
        pos = np.round(v).astype(np.int64)
        if self._prev_pos is not None:
            opened = self._breaker_pos & good & (pos == POS_OPEN) & (self._prev_pos == POS_CLOSED)
            for i in np.flatnonzero(opened):
                asset = pt.asset[i]
                cmd = self._commanded.pop(asset, None)
                if cmd is not None and (now - cmd) < dt.timedelta(seconds=30):
                    continue  # an operator opened it
                out += self._set_active(f"{asset}:trip", pt.tags[i], asset, "trip", 1,
                                        f"{asset} tripped", True, float(v[i]), now)
            closed = self._breaker_pos & good & (pos == POS_CLOSED)
            for i in np.flatnonzero(closed & (self._prev_pos != POS_CLOSED)):
                key = f"{pt.asset[i]}:trip"
                if key in self.alarms and self.alarms[key].active:
                    out += self._set_active(key, pt.tags[i], pt.asset[i], "trip", 1,
                                            f"{pt.asset[i]} tripped", False, float(v[i]), now)
        self._prev_pos = np.where(good, pos, self._prev_pos if self._prev_pos is not None
                                  else pos)
        lost = {d for d, c in frame.comm.items() if c.state == Comm.LOST}
        for d, c in frame.comm.items():
            key = f"{d}:comm"
            if d in lost or (key in self.alarms and self.alarms[key].active):
                out += self._set_active(key, d, d, "comm", 2,
                                        f"{d}: communication lost ({c.protocol})",
                                        d in lost, float("nan"), now)
        bad_rows = np.flatnonzero(~good)
        bad_keys = set()
        for i in bad_rows:
            if pt.device_of[i] in lost:
                continue
            key = f"{pt.tags[i]}:invalid"
            bad_keys.add(key)
            if key not in self.alarms or not self.alarms[key].active:
                out += self._set_active(key, pt.tags[i], pt.asset[i], "invalid", 3,
                                        f"{pt.tags[i]} data {Q.describe(int(q[i]))}", True,
                                        float(v[i]), now)
        for key, a in list(self.alarms.items()):
            if a.kind == "invalid" and a.active and key not in bad_keys:
                out += self._set_active(key, a.tag, a.asset, "invalid", 3, a.message, False,
                                        float("nan"), now)

        # --- suppression by design, shelving expiry
        if self.suppress is not None:
            mask = self.suppress(frame)
            out += self._apply_suppression(mask, now)
        for a in list(self.alarms.values()):
            if a.state == AlarmState.SHELVED and a.shelved_until and now >= a.shelved_until:
                out += self._reenter(a, now, None, "shelving expired")
        self.transitions.extend(out)
        return out

    # ------------------------------------------------------------------ state machine
    def _alarm(self, key: str, tag: str, asset: str, kind: str, prio: int, msg: str) -> Alarm:
        a = self.alarms.get(key)
        if a is None:
            a = self.alarms[key] = Alarm(key, tag, asset, kind, prio, msg)
        return a

    def _move(self, a: Alarm, to: AlarmState, now: dt.datetime, user: str | None = None,
              note: str = "") -> list[Transition]:
        if a.state == to:
            return []
        tr = Transition(now, a.key, a.tag, a.asset, a.priority, a.state, to,
                        f"{a.message}{' — ' + note if note else ''}", user)
        a.state = to
        return [tr]

    def _set_active(self, key: str, tag: str, asset: str, kind: str, prio: int, msg: str,
                    active: bool, value: float, now: dt.datetime) -> list[Transition]:
        a = self._alarm(key, tag, asset, kind, prio, msg)
        a.value = value
        if a.active == active:
            return []
        a.active = active
        if active:
            a.activations.append(now)
            self._activation_log.append((now, key))
            recent = [x for x in a.activations if now - x <= CHATTER_WINDOW]
            a.chattering = len(recent) >= CHATTER_COUNT
        if a.state in (AlarmState.SHELVED, AlarmState.SUPPRESSED, AlarmState.OUT_OF_SERVICE):
            return []  # the condition is tracked; nothing is annunciated
        if active:
            a.since = now
            a.acked_by = None
            if a.state in (AlarmState.NORMAL, AlarmState.RTN_UNACK):
                if a.state == AlarmState.NORMAL:
                    self._new_times.append(now)
                return self._move(a, AlarmState.UNACK, now)
            return []
        if a.state == AlarmState.UNACK:
            return self._move(a, AlarmState.RTN_UNACK, now)
        if a.state == AlarmState.ACKED:
            return self._move(a, AlarmState.NORMAL, now)
        return []

    def _reenter(self, a: Alarm, now: dt.datetime, user: str | None, note: str
                 ) -> list[Transition]:
        a.shelved_until, a.shelve_reason = None, ""
        if a.active:
            self._new_times.append(now)
            a.since = now
            return self._move(a, AlarmState.UNACK, now, user, note)
        return self._move(a, AlarmState.NORMAL, now, user, note)

    def _apply_suppression(self, mask: np.ndarray, now: dt.datetime) -> list[Transition]:
        out: list[Transition] = []
        tags = self.points.index
        for a in self.alarms.values():
            row = tags.get(a.tag)
            if row is None or a.kind not in ("analog", "invalid"):
                continue
            sup = bool(mask[row])
            if sup and a.state not in (AlarmState.SUPPRESSED, AlarmState.OUT_OF_SERVICE,
                                       AlarmState.SHELVED):
                out += self._move(a, AlarmState.SUPPRESSED, now, None, "suppressed by design")
            elif not sup and a.state == AlarmState.SUPPRESSED:
                out += self._reenter(a, now, None, "suppression ended")
        return out

    # ------------------------------------------------------------------ operator actions
    def acknowledge(self, key: str, user: str, now: dt.datetime) -> list[Transition]:
        a = self.alarms.get(key)
        if a is None:
            raise KeyError(f"no alarm '{key}'")
        if a.state == AlarmState.UNACK:
            a.acked_by = user
            out = self._move(a, AlarmState.ACKED, now, user, "acknowledged")
        elif a.state == AlarmState.RTN_UNACK:
            a.acked_by = user
            out = self._move(a, AlarmState.NORMAL, now, user, "acknowledged")
        else:
            out = []
        self.transitions.extend(out)
        return out

    def acknowledge_all(self, keys: Sequence[str], user: str, now: dt.datetime
                        ) -> list[Transition]:
        out = []
        for k in keys:
            out += self.acknowledge(k, user, now)
        return out

    def shelve(self, key: str, user: str, reason: str, until: dt.datetime, now: dt.datetime
               ) -> list[Transition]:
        if not reason.strip():
            raise ValueError("shelving needs a reason")
        if until <= now:
            raise ValueError("shelving needs an expiry in the future")
        if until - now > dt.timedelta(hours=24):
            raise ValueError("an alarm may be shelved for at most 24 hours")
        a = self.alarms.get(key)
        if a is None:
            raise KeyError(f"no alarm '{key}'")
        a.shelved_until, a.shelve_reason = until, reason
        out = self._move(a, AlarmState.SHELVED, now, user, f"shelved until "
                         f"{until.isoformat(timespec='minutes')}: {reason}")
        self.transitions.extend(out)
        return out

    def unshelve(self, key: str, user: str, now: dt.datetime) -> list[Transition]:
        a = self.alarms[key]
        out = self._reenter(a, now, user, "unshelved") if a.state == AlarmState.SHELVED else []
        self.transitions.extend(out)
        return out

    def remove_from_service(self, key: str, user: str, reason: str, now: dt.datetime
                            ) -> list[Transition]:
        if not reason.strip():
            raise ValueError("removing an alarm from service needs a reason")
        a = self.alarms[key]
        out = self._move(a, AlarmState.OUT_OF_SERVICE, now, user, reason)
        self.transitions.extend(out)
        return out

    def return_to_service(self, key: str, user: str, now: dt.datetime) -> list[Transition]:
        a = self.alarms[key]
        out = self._reenter(a, now, user, "returned to service") \
            if a.state == AlarmState.OUT_OF_SERVICE else []
        self.transitions.extend(out)
        return out

    # ------------------------------------------------------------------ views
    def annunciated(self) -> list[Alarm]:
        """What the alarm list shows: unacknowledged first, then by priority and time."""
        rows = [a for a in self.alarms.values() if a.state in ANNUNCIATED]
        order = {AlarmState.UNACK: 0, AlarmState.RTN_UNACK: 1, AlarmState.ACKED: 2}
        rows.sort(key=lambda a: (order[a.state], a.priority,
                                 -(a.since.timestamp() if a.since else 0)))
        return rows

    def flood(self, now: dt.datetime) -> bool:
        """More than 10 new alarms in the last 10 minutes."""
        while self._new_times and now - self._new_times[0] > FLOOD_WINDOW:
            self._new_times.popleft()
        return len(self._new_times) > FLOOD_COUNT

    def performance_report(self, now: dt.datetime, hours: float = 24.0) -> dict:
        """Alarm-system performance per ISA-18.2: rate per 10 minutes, standing alarms,
        chattering and most frequent alarms."""
        start = now - dt.timedelta(hours=hours)
        acts = [(t, k) for t, k in self._activation_log if t >= start]
        n_buckets = max(1, int(hours * 6))
        buckets = Counter(min(int((t - start).total_seconds() // 600), n_buckets - 1)
                          for t, _ in acts)
        per10 = [buckets.get(i, 0) for i in range(n_buckets)]
        standing = [a for a in self.alarms.values()
                    if a.active and a.since and now - a.since > dt.timedelta(hours=24)]
        freq = Counter(k for _, k in acts)
        chatter = sorted((a for a in self.alarms.values() if a.chattering),
                         key=lambda a: -len(a.activations))
        return {
            "window_h": hours,
            "alarms": len(acts),
            "per_10min_avg": round(sum(per10) / n_buckets, 3),
            "per_10min_max": max(per10) if per10 else 0,
            "pct_10min_over_10": round(100.0 * sum(x > 10 for x in per10) / n_buckets, 2),
            "standing": [a.key for a in standing],
            "top_chattering": [(a.key, len(a.activations)) for a in chatter[:10]],
            "most_frequent": freq.most_common(10),
            "annunciated_now": len(self.annunciated()),
            "shelved_now": sum(a.state == AlarmState.SHELVED for a in self.alarms.values()),
        }
