"""The alarm engine: rules, the ISA-18.2 / IEC 62682 state machine, shelving, suppression,
chattering and flood detection, and the alarm-performance report (Qt-free).

Rules
    Analog rules are the seed's ``alarm_rules`` (parameter, condition, threshold, severity)
    extended with deadband, on-delay, off-delay and priority. A rule's parameter is one tag
    (``ICT1.TOP_OIL``), a point quantity (``top_oil_c``) or a generic name that ``aliases``
    maps to quantities (the seed's ``temperature``); it may be restricted to an asset type.
    Conditions ``>``, ``>=``, ``<``, ``<=``, ``=`` compare with the threshold; ``range`` is
    the seed's deviation band: more than ``threshold`` percent above or below the point's
    nominal value (two alarms, high and low; the deadband is then in percent too).
    :mod:`app.alarms.rules` loads them from the configuration store.
    Digital alarms: breaker trip (opened without an operator's open command), protection
    operated, alarm indications set / health indications lost, communication lost, data
    invalid.

State machine (per alarm)::

    NORMAL ──active──► UNACK ──ack──► ACKED ──clear──► NORMAL
                         │ clear                ▲
                         ▼                      │
                     RTN_UNACK ──ack────────────┘      (active again → UNACK)
    any ──shelve(reason, expiry ≤ 24 h)──► SHELVED ──unshelve / expiry──► re-evaluated
    any ──remove_from_service──► OUT_OF_SERVICE ──return_to_service──► re-evaluated
    SUPPRESSED (by design) while the point's section is de-energised: the low alarms of an
    electrical point in a dead bay; a trip, a protection operation or a high is never
    suppressed. Also while the link to the point is lost: a device that is LOST raises its
    one communication alarm (the parent) and every alarm of the points behind it is
    suppressed ("F4 communication lost"), released with its true state when it is back.

Rationalisation (ISA-18.2 / IEC 62682)
    * One alarm per measurement: the entries of one rule family on the points of one asset
      and quantity (a VT's six voltages, a CT's three currents, a relay's three phase trips)
      are one alarm, ``ASSET.measurement:FAMILY``; its message names the worst phase, the
      value with its unit and the limit.
    * Common cause: when no device answers at all, one Urgent ``acquisition:comm`` alarm
      (the front-end, network, RTU gateway or a stalled host) and the devices' own comm
      alarms suppressed by design until it is over (and ``COMMON_GRACE`` after).
    * Communication lost only when the device is LOST — ``comm_loss_s`` without a good reply
      (app.field.commstate; configured in alarm_rules.toml ``[communication]``); SUSPECT
      raises nothing.
    * Chattering: an alarm whose condition comes back ``CHATTER_COUNT`` times within
      ``CHATTER_WINDOW`` (3 in 60 s, EEMUA 191) is not annunciated the third time but shelved
      by the system (user ``system``, reason "chattering") for ``chatter_shelve`` (10 min),
      then auto-unshelved and re-evaluated; the report lists these shelves.
    * Priorities from the priority matrix (consequence × time to respond): see
      :mod:`app.alarms.rules` and circuits/alarm_rules.toml; indications in
      :data:`INDICATION_PRIORITY`.
    * One severity vocabulary: :data:`PRIORITY_NAME` (Urgent, High, Medium, Low).

Evaluation is vectorised over the compiled rule set and the digital points: one numpy pass
per scan, Python work only for the alarms that change (``gridtwin bench alarms``). The engine
is not thread-safe: one thread owns it (the runtime's solver thread) and everything else talks
to it through that thread.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from app.alarms.report import performance_report
from app.station import quality as Q
from app.station.frame import Comm, ScanFrame
from app.station.points import POS_CLOSED, POS_OPEN, PointTable

#: The one severity vocabulary (alarm list, event log, report, CLI): priority 1-4 is Urgent,
#: High, Medium, Low. "critical" is still read (older rule files and stores) as "urgent".
SEVERITY_PRIORITY = {"urgent": 1, "high": 2, "medium": 3, "low": 4}
SEVERITY_ALIASES = {"critical": "urgent"}
PRIORITY_SEVERITY = {p: s for s, p in SEVERITY_PRIORITY.items()}
PRIORITY_NAME = MappingProxyType({1: "Urgent", 2: "High", 3: "Medium", 4: "Low"})
CONDITIONS = (">", ">=", "<", "<=", "=", "range")
FLOOD_COUNT = 10
FLOOD_WINDOW = dt.timedelta(minutes=10)
CHATTER_COUNT = 3
CHATTER_WINDOW = dt.timedelta(seconds=60)
#: How long a chattering alarm is shelved by the system (then auto-unshelved).
CHATTER_SHELVE = dt.timedelta(minutes=10)
#: The user the system's own actions (auto-shelving a chattering alarm) are audited as.
SYSTEM_USER = "system"
#: The parent alarm when no device answers at all (the acquisition, not the bays).
ACQUISITION = "acquisition"
ACQUISITION_KEY = f"{ACQUISITION}:comm"
COMMON_MIN_DEVICES = 3
#: After such an episode, how long a device still LOST is not annunciated on its own (the
#: bays' recovery hysteresis brings them back one by one).
COMMON_GRACE = dt.timedelta(seconds=10)
#: Units as an operator reads them (the station file's ASCII spellings on the left).
UNIT_TEXT = MappingProxyType({"degC": "°C", "W/m2": "W/m²", "deg": "°"})
#: How long an operator's command explains a breaker movement.
COMMAND_WINDOW = dt.timedelta(seconds=30)
MAX_SHELVE = dt.timedelta(hours=24)

#: Indications whose "1" is a protection operation (priority 1).
PROTECTION = frozenset({"operated", "trip", "zone_operated", "breaker_failure_operated",
                        "buchholz_trip", "pressure_relief", "oltc_surge_relay"})
#: Indications whose "1" is abnormal (priority 2).
STATUS_ON = frozenset({"sf6_low_alarm", "sf6_lockout", "buchholz_alarm", "pole_discrepancy",
                       "fire_alarm", "dc_earth_fault", "annunciator", "interlock_bypassed",
                       "test_mode"})
#: Priorities of indications other than the defaults (protection operated 1, others 2), from
#: the priority matrix (alarm_rules.toml ``[indication_priority]`` adds to or overrides it):
#: an SF6 lockout blocks the breaker (severe, respond at once); a fire alarm likewise; a
#: relay in test mode, an annunciator, a lost time sync can wait.
INDICATION_PRIORITY = MappingProxyType({
    "sf6_lockout": 1, "fire_alarm": 1, "buchholz_alarm": 2, "sf6_low_alarm": 2,
    "test_mode": 3, "annunciator": 3, "time_sync_ok": 3, "interlock_bypassed": 2})
#: Indications whose "0" is abnormal: a supervision lost (priority 2).
STATUS_OFF = frozenset({"healthy", "trip_circuit_healthy", "spring_charged", "dc_supply_ok",
                        "ac_supply_ok", "time_sync_ok", "vt_mcb_healthy", "charger_healthy",
                        "dc_mcb_healthy", "lt_supply_ok", "motor_supply_ok"})


def unit_text(unit: str) -> str:
    """A station-file unit as shown on screen: one spelling, ``°C`` never ``degC``."""
    return UNIT_TEXT.get(unit, unit)


def severity_name(severity: str) -> str:
    """``"critical"`` / ``"urgent"`` → ``"Urgent"``, … (the vocabulary shown everywhere)."""
    s = SEVERITY_ALIASES.get(severity, severity)
    return PRIORITY_NAME.get(SEVERITY_PRIORITY.get(s, 0), severity.capitalize())


#: Measurement names of point quantities (one alarm per measurement, not per phase).
_QUANTITY_SUFFIXES = ("_kv", "_ka", "_a", "_c", "_pct", "_mw", "_mvar", "_mva", "_hz", "_ppm",
                      "_pf", "_bar", "_ma", "_kw", "_km", "_h", "_deg")


def measurement_name(quantity: str) -> str:
    """``voltage_kv`` → ``voltage``, ``bushing_tan_delta_pct`` → ``bushing tan delta``."""
    for suf in _QUANTITY_SUFFIXES:
        if quantity.endswith(suf) and len(quantity) > len(suf):
            quantity = quantity[: -len(suf)]
            break
    return quantity.replace("_", " ")


class AlarmState(enum.Enum):
    NORMAL = "normal"
    UNACK = "unacknowledged"
    ACKED = "acknowledged"
    RTN_UNACK = "returned-to-normal unacknowledged"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed by design"
    OUT_OF_SERVICE = "out of service"


ANNUNCIATED = (AlarmState.UNACK, AlarmState.ACKED, AlarmState.RTN_UNACK)
#: Display order: unacknowledged first, then acknowledged, then the hidden states.
STATE_ORDER = MappingProxyType({AlarmState.UNACK: 0, AlarmState.RTN_UNACK: 1,
                                AlarmState.ACKED: 2, AlarmState.SHELVED: 3,
                                AlarmState.SUPPRESSED: 4, AlarmState.OUT_OF_SERVICE: 5,
                                AlarmState.NORMAL: 6})
_HIDDEN = (AlarmState.SHELVED, AlarmState.SUPPRESSED, AlarmState.OUT_OF_SERVICE)


def _finite(rule_id: str, name: str, x: object) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"rule {rule_id}: field '{name}': {x!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"rule {rule_id}: field '{name}': {x!r} is not a finite number")
    return v


@dataclass(frozen=True, slots=True)
class AlarmRule:
    rule_id: str
    parameter: str
    """One tag (``ICT1.TOP_OIL``), a point quantity (``top_oil_c``) or an alias."""
    condition: str  # ">", ">=", "<", "<=", "=", "range"
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
        rid = self.rule_id or "(no id)"
        if not self.rule_id or not str(self.rule_id).strip():
            raise ValueError("rule (no id): field 'rule_id': a rule needs an id")
        if not self.parameter or not str(self.parameter).strip():
            raise ValueError(f"rule {rid}: field 'parameter': empty")
        if self.condition not in CONDITIONS:
            raise ValueError(f"rule {rid}: field 'condition': unknown condition "
                             f"{self.condition!r} (use {', '.join(CONDITIONS)})")
        object.__setattr__(self, "severity",
                           SEVERITY_ALIASES.get(self.severity, self.severity))
        if self.severity not in SEVERITY_PRIORITY:
            raise ValueError(f"rule {rid}: field 'severity': unknown severity "
                             f"{self.severity!r} (use {', '.join(SEVERITY_PRIORITY)})")
        for name in ("threshold", "deadband", "on_delay_s", "off_delay_s"):
            v = _finite(rid, name, getattr(self, name))
            object.__setattr__(self, name, v)
            if name != "threshold" and v < 0:
                raise ValueError(f"rule {rid}: field '{name}': must be >= 0, not {v:g}")
        if self.condition == "range" and self.threshold <= 0:
            raise ValueError(f"rule {rid}: field 'threshold': a 'range' rule's threshold is a "
                             f"deviation in percent of nominal and must be > 0")
        if self.priority is not None and self.priority not in (1, 2, 3, 4):
            raise ValueError(f"rule {rid}: field 'priority': {self.priority!r} is not 1-4")

    @property
    def effective_priority(self) -> int:
        return self.priority or SEVERITY_PRIORITY[self.severity]


def rule_targets(points: PointTable, rule: AlarmRule, *,
                 asset_types: Mapping[str, str] | None = None,
                 aliases: Mapping[str, Sequence[str]] | None = None,
                 nominal: np.ndarray | None = None) -> list[int]:
    """The point rows a rule applies to; ValueError naming the rule and field if none."""
    types = asset_types or {}
    if rule.parameter in points.index:
        rows = [points.index[rule.parameter]]
    else:
        quantities = set((aliases or {}).get(rule.parameter, (rule.parameter,)))
        rows = [i for i, q in enumerate(points.quantity) if q in quantities]
    if not rows:
        raise ValueError(f"rule {rule.rule_id}: field 'parameter': no point, quantity or "
                         f"alias {rule.parameter!r}")
    if rule.asset_type:
        rows = [i for i in rows if types.get(points.asset[i]) == rule.asset_type]
        if not rows:
            raise ValueError(f"rule {rule.rule_id}: field 'asset_type': no {rule.parameter!r} "
                             f"point on an asset of type {rule.asset_type!r}")
    if rule.condition == "range":
        nom = nominal if nominal is not None else np.full(len(points), np.nan)
        rows = [i for i in rows if np.isfinite(nom[i]) and nom[i] != 0]
        if not rows:
            raise ValueError(f"rule {rule.rule_id}: field 'condition': 'range' needs a nominal "
                             f"value and {rule.parameter!r} has none")
    return rows


@dataclass
class Alarm:
    key: str
    tag: str
    asset: str
    kind: str  # "analog", "trip", "protection", "status", "comm", "invalid"
    priority: int
    message: str
    row: int = -1
    """Point row (-1 for a device's communication alarm)."""
    suppressible: bool = False
    """A low alarm, or a questionable reading, of an electrical point: suppressed by design
    while its section is dead."""
    state: AlarmState = AlarmState.NORMAL
    active: bool = False
    value: float = float("nan")
    since: dt.datetime | None = None
    acked_by: str | None = None
    shelved_until: dt.datetime | None = None
    shelve_reason: str = ""
    activations: deque = field(default_factory=lambda: deque(maxlen=64))
    chattering: bool = False
    unit: str = ""
    """The value's unit as shown (``°C``)."""
    states: tuple[str, ...] | None = None
    """A status point's state texts (``Normal``/``Operated``), from the station file."""
    members: tuple[int, ...] = ()
    """The point rows of the measurement (all phases) an analog alarm speaks for."""
    out_rows: tuple[int, ...] = ()
    """Of those, the ones out of limit now."""
    suppressed_by: str = ""
    """Why it is suppressed by design (the lost link, the dead section); empty otherwise."""
    shelved_by: str | None = None


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
    value: float = float("nan")

    @property
    def is_ack(self) -> bool:
        return (self.user is not None and self.before in (AlarmState.UNACK, AlarmState.RTN_UNACK)
                and self.after in (AlarmState.ACKED, AlarmState.NORMAL))


@dataclass(frozen=True, slots=True)
class AlarmRow:
    """One alarm as the alarm list shows it (immutable: crosses to the GUI thread)."""

    key: str
    tag: str
    asset: str
    kind: str
    priority: int
    state: AlarmState
    message: str
    value: float
    since: dt.datetime | None
    active: bool
    acked_by: str | None
    shelved_until: dt.datetime | None
    shelve_reason: str
    chattering: bool
    unit: str = ""
    """The unit of ``value`` as shown (``kV``, ``°C``; empty for indications)."""
    points: tuple[int, ...] = ()
    """Point rows out of limit now (an analog alarm's phases beyond the limit)."""
    suppressed_by: str = ""
    """Why the alarm is suppressed by design ("F4 communication lost", "section
    de-energised"); empty when it is not."""
    shelved_by: str | None = None
    """Who shelved it (``system`` for a chattering alarm shelved automatically)."""
    states: tuple[str, ...] | None = None
    """A status point's state texts: its value reads as one (``Operated``, not ``1``)."""

    @property
    def priority_name(self) -> str:
        return PRIORITY_NAME.get(self.priority, str(self.priority))

    @property
    def value_text(self) -> str:
        """The value with its unit (``203.1 kV``), or a status point's state text
        (``Operated``); empty when there is none."""
        if self.value != self.value:
            return ""
        if self.states:
            k = int(round(self.value))
            return self.states[k] if 0 <= k < len(self.states) else f"state {self.value:g}"
        return f"{self.value:.4g} {self.unit}".rstrip()


@dataclass(frozen=True, slots=True)
class AssetAlarms:
    """What the diagram needs to mark one object: its alarms summed up (immutable)."""

    asset: str
    priority: int
    """Highest (most urgent: lowest number) priority of its annunciated alarms — unacknowledged,
    acknowledged or returned unacknowledged; 0 when it has none annunciated."""
    count: int
    """Annunciated alarms."""
    unacked: bool
    """Any of them unacknowledged (blink the marker)."""
    unacked_priority: int
    """Highest priority of the unacknowledged ones; 0 when none."""
    tripped: bool
    """A breaker trip not yet acknowledged (show the trip flag)."""
    points: Mapping[int, int]
    """Point row → priority, for every point out of limit now (draw the value in the
    priority colour)."""
    hidden: int
    """Alarms shelved, suppressed by design or out of service (not in ``count``)."""


_NO_ASSETS: Mapping[str, AssetAlarms] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class AlarmView:
    """Every alarm not in NORMAL, the counts and the flood flag, after one scan or action.

    ``assets`` is the per-object summary the diagram draws its alarm markers from: asset id →
    :class:`AssetAlarms` (highest priority, count, unacknowledged, unacknowledged trip, out-of-
    limit point rows → priority). A communication alarm's asset is the device (the bay, e.g.
    ``F4``). Built on the solver thread with the view; on the GUI thread a dict lookup."""

    time: dt.datetime
    rows: tuple[AlarmRow, ...]
    transitions: tuple[Transition, ...]
    counts: Mapping[str, int]
    """Per AlarmState value."""
    by_priority: Mapping[int, int]
    """Annunciated alarms per priority."""
    flood: bool
    new_in_window: int
    """New alarms in the last 10 minutes (the flood figure)."""
    assets: Mapping[str, AssetAlarms] = field(default_factory=lambda: _NO_ASSETS)
    """Per asset id, its alarms summed up (only assets with an alarm not in NORMAL)."""


def asset_summary(rows: Iterable[AlarmRow]) -> Mapping[str, AssetAlarms]:
    """Per asset, its alarms summed up for the diagram's markers (see :class:`AssetAlarms`)."""
    acc: dict[str, list] = {}
    for r in rows:
        e = acc.setdefault(r.asset, [0, 0, False, 0, False, {}, 0])
        if r.state not in ANNUNCIATED:
            e[6] += 1
            continue
        e[0] = r.priority if not e[0] else min(e[0], r.priority)
        e[1] += 1
        if r.state in (AlarmState.UNACK, AlarmState.RTN_UNACK):
            e[2] = True
            e[3] = r.priority if not e[3] else min(e[3], r.priority)
            if r.kind == "trip":
                e[4] = True
        if r.active:
            for p in r.points:
                e[5][p] = min(e[5].get(p, 9), r.priority)
    return MappingProxyType({
        a: AssetAlarms(a, e[0], e[1], e[2], e[3], e[4], MappingProxyType(e[5]), e[6])
        for a, e in acc.items()})


@dataclass(slots=True)
class _Command:
    close: bool
    when: dt.datetime


def _key(tag: str, rule_id: str, suffix: str = "") -> str:
    base = rule_id if rule_id.startswith(f"{tag}:") else f"{tag}:{rule_id}"
    return f"{base}:{suffix}" if suffix else base


class AlarmEngine:
    def __init__(self, points: PointTable, rules: Iterable[AlarmRule] = (), *,
                 asset_types: Mapping[str, str] | None = None,
                 aliases: Mapping[str, Sequence[str]] | None = None,
                 nominal: np.ndarray | None = None,
                 indication_priority: Mapping[str, int] | None = None,
                 chatter_shelve: dt.timedelta | None = CHATTER_SHELVE) -> None:
        """``asset_types`` maps asset id → type (for rules restricted to a type and to find
        the breakers); ``aliases`` maps a generic parameter to point quantities; ``nominal``
        is each point's nominal value (NaN where none), for ``range`` rules;
        ``indication_priority`` overrides :data:`INDICATION_PRIORITY` (quantity → 1-4);
        ``chatter_shelve``: how long a chattering alarm is shelved by the system (None: never
        shelved, only flagged)."""
        self.points = points
        self.indication_priority = {**INDICATION_PRIORITY, **(indication_priority or {})}
        for qn, p in self.indication_priority.items():
            if p not in (1, 2, 3, 4):
                raise ValueError(f"indication priority {qn}: {p!r} is not 1-4")
        self.chatter_shelve = chatter_shelve
        self._link = np.zeros(len(points), dtype=bool)
        self._common_at: dt.datetime | None = None
        self._in_common = False
        self._link_dev: dict[int, str] = {}
        self.asset_types = dict(asset_types or {})
        self.aliases = {k: tuple(v) for k, v in (aliases or {}).items()}
        self.nominal = nominal if nominal is not None else np.full(len(points), np.nan)
        self.alarms: dict[str, Alarm] = {}
        self.transitions: deque[Transition] = deque(maxlen=100_000)
        self._by_row: dict[int, list[Alarm]] = {}
        self._new_times: deque[dt.datetime] = deque()
        self._commanded: dict[str, _Command] = {}
        self._shelved: set[str] = set()
        self._dirty: set[str] = set()
        self._rows: dict[str, AlarmRow] = {}
        self._last_flood: bool | None = None
        n = len(points)
        self._prev_pos: np.ndarray | None = None
        self._sup = np.zeros(n, dtype=bool)
        self._bad = np.zeros(n, dtype=bool)
        q = points.quantity
        self._protection = np.array([x in PROTECTION for x in q], dtype=bool)
        self._status_on = np.array([x in STATUS_ON for x in q], dtype=bool)
        self._status_off = np.array([x in STATUS_OFF for x in q], dtype=bool)
        self._digital = self._protection | self._status_on | self._status_off
        self._dig = np.zeros(n, dtype=bool)
        self._breaker_pos = np.array(
            [x == "position" and self.asset_types.get(a) == "breaker"
             for x, a in zip(q, points.asset, strict=True)], dtype=bool)
        # One alarm per indication of an asset, not per phase: TRIP_A, TRIP_B, TRIP_C of a
        # relay are its one "trip operated" alarm.
        by_ind: dict[tuple[str, str], list[int]] = {}
        for i in np.flatnonzero(self._digital):
            by_ind.setdefault((points.asset[i], q[i]), []).append(int(i))
        self._dig_key: dict[int, str] = {}
        self._dig_members: dict[str, tuple[int, ...]] = {}
        for (asset, qn), rows in by_ind.items():
            phased = [r for r in rows if points.phase[r]]
            if len(phased) < 2:
                continue
            suffix = "operated" if qn in PROTECTION else "status"
            key = f"{asset}.{qn}:{suffix}"
            self._dig_members[key] = tuple(phased)
            for r in phased:
                self._dig_key[r] = key
        self.compile(rules)

    # ================================================================== rules
    def compile(self, rules: Iterable[AlarmRule]) -> None:
        """Build the vectorised rule table: one entry per (rule, point, direction), and the
        alarms they make: one per *measurement* — the entries of one rule family on the
        points of one asset and quantity (the phases V_A … V_CA of a VT, I_A … I_C of a CT)
        share one alarm, keyed ``ASSET.measurement:FAMILY`` (``B220_M1_CVT.voltage:lo``); an
        entry alone in its measurement keeps its own key ``TAG:RULE``. The station limits
        ``TAG:hi`` / ``TAG:lo`` of one measurement are one family (``hi`` / ``lo``)."""
        pt = self.points
        rows, thr, sign, dbd, on_d, off_d, prio, keys, msgs = ([] for _ in range(9))
        fams: list[str] = []
        self.rules: tuple[AlarmRule, ...] = tuple(r for r in rules if r.enabled)
        seen: set[str] = set()
        for r in self.rules:
            if r.rule_id in seen:
                raise ValueError(f"rule {r.rule_id}: field 'rule_id': defined twice")
            seen.add(r.rule_id)
            targets = rule_targets(pt, r, asset_types=self.asset_types, aliases=self.aliases,
                                   nominal=self.nominal)
            for i in targets:
                unit = unit_text(pt.unit[i])
                limit_family = r.rule_id in (f"{pt.tags[i]}:hi", f"{pt.tags[i]}:lo")
                if r.condition == "range":
                    nom = float(self.nominal[i])
                    band = abs(nom) * r.threshold / 100.0
                    for s, suffix, word in ((1, "hi", "above"), (-1, "lo", "below")):
                        rows.append(i)
                        thr.append(nom + s * band)
                        sign.append(s)
                        dbd.append(abs(nom) * r.deadband / 100.0)
                        on_d.append(r.on_delay_s)
                        off_d.append(r.off_delay_s)
                        prio.append(r.effective_priority)
                        keys.append(_key(pt.tags[i], r.rule_id, suffix))
                        fams.append(f"{r.rule_id}:{suffix}")
                        msgs.append(r.message or f"{pt.tags[i]} {r.threshold:g} % {word} "
                                                 f"nominal {nom:.4g} {unit}".rstrip())
                    continue
                rows.append(i)
                thr.append(r.threshold)
                sign.append({">": 1, ">=": 1, "<": -1, "<=": -1, "=": 0}[r.condition])
                dbd.append(r.deadband)
                on_d.append(r.on_delay_s)
                off_d.append(r.off_delay_s)
                prio.append(r.effective_priority)
                keys.append(_key(pt.tags[i], r.rule_id))
                fams.append(r.rule_id.rsplit(":", 1)[1] if limit_family else r.rule_id)
                msgs.append(r.message or f"{pt.tags[i]} {r.condition} {r.threshold:g} "
                                         f"{unit}".rstrip())
        dup = len(keys) - len(set(keys))
        if dup:
            raise ValueError(f"{dup} alarm keys defined twice: rule ids must be unique per point")
        # --- one alarm per measurement
        groups: dict[tuple[str, str, str], list[int]] = {}
        for k, i in enumerate(rows):
            groups.setdefault((pt.asset[i], pt.quantity[i], fams[k]), []).append(k)
        grp = np.zeros(len(rows), dtype=np.intp)
        self._g_keys: list[str] = []
        self._g_members: list[np.ndarray] = []
        self._g_prio: list[int] = []
        self._g_single: list[bool] = []
        for g, ((asset, quantity, fam), ks) in enumerate(groups.items()):
            grp[ks] = g
            self._g_members.append(np.asarray(ks, dtype=np.intp))
            self._g_prio.append(min(prio[k] for k in ks))
            single = len({rows[k] for k in ks}) == 1 and len(ks) == 1
            self._g_single.append(single)
            self._g_keys.append(keys[ks[0]] if single
                                else f"{asset}.{measurement_name(quantity)}:{fam}")
        if len(set(self._g_keys)) != len(self._g_keys):
            raise ValueError("alarm keys of two measurements coincide: rename a rule")
        self._grp = grp
        self._g_active = np.zeros(len(groups), dtype=bool)
        self._rows_ix = np.asarray(rows, dtype=np.intp)
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
        # The worst value since the condition last came on: an alarm raised after its
        # on-delay names the excursion that raised it, not a value back inside the deadband.
        self._worst = np.full(n, np.nan)

    def _group_change(self, g: int, want: np.ndarray, x: np.ndarray, now: dt.datetime
                      ) -> list[Transition]:
        """A measurement whose entries changed: its one alarm, named by the worst entry."""
        pt = self.points
        ks = self._g_members[g]
        on = want[ks]
        active = bool(on.any())
        s = self._sign[ks].astype(float)
        thr = self._thr[ks]
        # Entries in alarm read as their worst value since they came on (see _worst).
        x = x.copy()
        held = ks[want[ks] & np.isfinite(self._worst[ks])]
        x[held] = self._worst[held]
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(s == 0, 0.0, s * (x[ks] - thr) / np.maximum(np.abs(thr), 1e-9))
        score = np.where(np.isfinite(score), score, -np.inf)
        cand = np.flatnonzero(on) if active else np.arange(len(ks))
        w = int(ks[cand[int(np.argmax(score[cand]))]])
        i = int(self._rows_ix[w])
        members = tuple(dict.fromkeys(int(self._rows_ix[k]) for k in ks))
        if self._g_single[g]:
            msg = self._msgs[w]
        else:
            unit = unit_text(pt.unit[i])
            word = "high" if self._sign[w] > 0 else "low" if self._sign[w] < 0 else "at"
            ph = pt.phase[i]
            which = f"phase {ph}" if ph else pt.tags[i].split(".", 1)[-1]
            msg = (f"{pt.asset[i]} {measurement_name(pt.quantity[i])} {word}: "
                   f"{x[w]:.4g} {unit} ({which}), limit {self._thr[w]:.4g} {unit}")
        a = self._alarm(self._g_keys[g], pt.tags[i] if self._g_single[g] else
                        f"{pt.asset[i]}.{measurement_name(pt.quantity[i])}", pt.asset[i],
                        "analog", int(self._g_prio[g]), msg, members[0],
                        suppressible=bool(self._sign[w] < 0), members=members)
        a.unit = unit_text(pt.unit[i])
        out_rows = tuple(dict.fromkeys(int(self._rows_ix[k]) for k in ks[on]))
        if out_rows != a.out_rows:
            a.out_rows = out_rows
            self._dirty.add(a.key)
        if active and (not a.active or a.state in _HIDDEN):
            a.message = msg
        return self._set_active(a, active, float(x[w]), now)

    @property
    def rule_count(self) -> int:
        """Compiled (rule, point, direction) entries."""
        return len(self._rows_ix)

    # ================================================================== commands
    def note_command(self, asset_id: str, close: bool, when: dt.datetime) -> None:
        """An operator command is under way: the movement that follows is not a trip. Only an
        *open* command explains an opening; the entry is cleared by the scan that shows the
        commanded position, or after 30 s."""
        self._commanded[asset_id] = _Command(close, when)

    def _commanded_open(self, asset: str, now: dt.datetime) -> bool:
        c = self._commanded.get(asset)
        if c is None or c.close or now - c.when > COMMAND_WINDOW:
            return False
        del self._commanded[asset]  # the confirming scan
        return True

    # ================================================================== scans
    def evaluate(self, frame: ScanFrame, suppressed: np.ndarray | None = None
                 ) -> list[Transition]:
        """One scan. ``suppressed``: per point, True where the point's section is
        de-energised (its low alarms are suppressed by design)."""
        now = frame.t_acquired
        t = now.timestamp()
        v, q = frame.values, frame.quality
        good = (q & Q.VALIDITY_MASK) == Q.GOOD
        pt = self.points
        out: list[Transition] = []
        sup = self._sup if suppressed is None else np.asarray(suppressed, dtype=bool)
        flipped = np.flatnonzero(sup != self._sup)
        self._sup = sup.copy()
        # A lost link (a device LOST: its one comm alarm is the parent) suppresses by design
        # every alarm of the points behind it, until it is back.
        link = np.zeros(len(pt), dtype=bool)
        link_dev: dict[int, str] = {}
        for d, c in frame.comm.items():
            if c.state == Comm.LOST:
                try:
                    rows = pt.device(d).points
                except KeyError:
                    continue
                link[rows] = True
                for r in np.atleast_1d(rows):
                    link_dev[int(r)] = d
        lflip = np.flatnonzero(link != self._link)
        self._link, self._link_dev = link, link_dev
        # Suppression starts before this scan's alarms are evaluated (a bay that dies
        # raises its lows in the very scan it dies) and ends after (its lows clear first).
        out += self._apply_suppression(
            np.union1d(flipped[sup[flipped]], lflip[link[lflip]]), now)

        # --- analog rules, vectorised
        # An over-range reading (questionable|outOfRange, the value held at the instrument's
        # range limit) is a bound, not noise: the true value is at least that far out, so it
        # is judged against the limits like a good one. Otherwise a measurement that jumps
        # past its range in one scan (the other ICT trips, this one takes both loads) would
        # raise only "data questionable", never its overload alarm.
        usable = good | (((q & Q.VALIDITY_MASK) == Q.QUESTIONABLE)
                         & ((q & (Q.OUT_OF_RANGE | Q.OVERFLOW)) != 0))
        x = v[self._rows_ix]
        g = usable[self._rows_ix]
        s = self._sign
        with np.errstate(invalid="ignore"):
            on_cond = np.where(s > 0, x > self._thr, np.where(s < 0, x < self._thr,
                                                                 np.isclose(x, self._thr)))
            off_cond = np.where(s > 0, x < self._thr - self._dbd,
                                np.where(s < 0, x > self._thr + self._dbd,
                                         ~np.isclose(x, self._thr)))
        raw = np.where(self._raw_active, ~off_cond, on_cond)
        # Bad quality holds the last state (the data-invalid alarm speaks for the point).
        raw = np.where(g, raw, self._raw_active)
        flip = raw != self._raw_active
        self._changed_at[flip] = t
        self._raw_active = raw
        with np.errstate(invalid="ignore"):
            worse = np.where(s > 0, x > self._worst, x < self._worst)
        self._worst = np.where(raw & g & (flip | worse | np.isnan(self._worst)), x,
                               np.where(raw, self._worst, np.nan))
        held = t - self._changed_at
        want = np.where(raw, held >= self._on, ~(held >= self._off))
        want = np.where(raw == self._active, self._active, want)
        changes = np.flatnonzero(want != self._active)
        self._active = want
        for g in np.unique(self._grp[changes]):
            out += self._group_change(int(g), want, x, now)

        # --- protection operated and status indications (bad quality holds)
        with np.errstate(invalid="ignore"):
            on = v >= 0.5
        cond = (self._protection | self._status_on) & on | self._status_off & ~on
        dig = np.where(good & self._digital, cond, self._dig)
        done: set[str] = set()
        for i in np.flatnonzero(dig != self._dig):
            i = int(i)
            tag = pt.tags[i]
            prio = self.indication_priority.get(pt.quantity[i],
                                                1 if self._protection[i] else 2)
            kind = "protection" if self._protection[i] else "status"
            what = ("protection operated" if self._protection[i] else
                    "active" if self._status_on[i] else "not healthy")
            gkey = self._dig_key.get(i)
            if gkey is not None:
                if gkey in done:
                    continue
                done.add(gkey)
                members = self._dig_members[gkey]
                on_rows = [r for r in members if dig[r]]
                phases = ", ".join(str(pt.phase[r]) for r in on_rows)
                name = f"{pt.asset[i]}.{pt.quantity[i]}"
                a = self._alarm(gkey, name, pt.asset[i], kind, prio,
                                f"{name} {what}", members[0], members=members)
                if on_rows:
                    a.message = f"{name} {what} (phase {phases})"
                a.out_rows = tuple(on_rows)
                self._dirty.add(gkey)
                out += self._set_active(a, bool(on_rows), float(len(on_rows) > 0), now)
                continue
            suffix = "operated" if self._protection[i] else "status"
            a = self._alarm(f"{tag}:{suffix}", tag, pt.asset[i], kind, prio,
                            f"{tag} {what}", i)
            a.out_rows = (i,) if dig[i] else ()
            out += self._set_active(a, bool(dig[i]), float(v[i]), now)
        self._dig = dig

        # --- breaker trips: opened with no operator's open command. Positions are compared
        # with the last *definite* one, so closed → intermediate → open is still an opening.
        pos = np.round(np.nan_to_num(v)).astype(np.int64)
        definite = good & ((pos == POS_OPEN) | (pos == POS_CLOSED))
        if self._prev_pos is not None:
            for i in np.flatnonzero(self._breaker_pos & definite & (pos != self._prev_pos)):
                asset = pt.asset[i]
                key = f"{asset}:trip"
                if pos[i] == POS_OPEN:
                    if self._prev_pos[i] == POS_CLOSED and not self._commanded_open(asset, now):
                        a = self._alarm(key, pt.tags[i], asset, "trip", 1, f"{asset} tripped",
                                        int(i))
                        out += self._set_active(a, True, float(v[i]), now)
                else:
                    c = self._commanded.get(asset)
                    if c is not None and c.close:
                        del self._commanded[asset]  # the confirming scan of a close
                    if key in self.alarms:
                        out += self._set_active(self.alarms[key], False, float(v[i]), now)
            self._prev_pos = np.where(definite, pos, self._prev_pos)
        else:
            self._prev_pos = pos
        for asset in [a for a, c in self._commanded.items() if now - c.when > COMMAND_WINDOW]:
            del self._commanded[asset]

        # --- communication lost (one alarm per device) and data invalid (per point). A device
        # that is LOST raises the comm alarm; one that is SUSPECT (no good reply for a while,
        # not yet comm_loss_s: app.field.commstate) or still CONNECTING raises none yet. In
        # neither case do its points' quality alarms speak: their quality is the link's.
        # Common cause: when no device answers at all (every one not OK, some LOST), it is
        # the acquisition that failed — the front-end, the network, the RTU gateway, a
        # stalled host — not each bay: ONE parent alarm, and the devices' own alarms are
        # suppressed by design until it is over and COMMON_GRACE more (the bays' own
        # hysteresis brings them back one by one).
        lost = {d for d, c in frame.comm.items() if c.state == Comm.LOST}
        not_ok = {d for d, c in frame.comm.items() if c.state != Comm.OK}
        n_dev = len(frame.comm)
        common = n_dev >= COMMON_MIN_DEVICES and len(not_ok) == n_dev and bool(lost)
        if common:
            self._common_at = now
        was_common = self._in_common
        self._in_common = (self._common_at is not None
                           and now - self._common_at <= COMMON_GRACE)
        ackey = ACQUISITION_KEY
        if common or (ackey in self.alarms and self.alarms[ackey].active):
            protocols = "+".join(sorted({p for c in frame.comm.values()
                                         for p in c.protocol.split("+") if p}))
            a = self._alarm(ackey, ACQUISITION, ACQUISITION, "comm", 1,
                            f"acquisition lost: no good reply from any of the {n_dev} devices "
                            f"({protocols}) — front-end, network or RTU gateway, not each bay",
                            -1)
            out += self._set_active(a, common, float("nan"), now)
        for d, c in frame.comm.items():
            key = f"{d}:comm"
            if d in lost or (key in self.alarms and self.alarms[key].active):
                a = self._alarm(key, d, d, "comm", 2, f"{d}: communication lost "
                                f"({c.protocol})", -1)
                out += self._set_active(a, d in lost, float("nan"), now)
        if was_common and not self._in_common:
            for a in self.alarms.values():
                if a.kind == "comm" and a.state == AlarmState.SUPPRESSED:
                    out += self._reenter(a, now, None, "released: acquisition restored")
        bad = ~good
        for d in not_ok:
            try:
                bad[pt.device(d).points] = False  # one alarm per lost device, not per point
            except KeyError:
                pass
        for i in np.flatnonzero(bad != self._bad):
            tag = pt.tags[i]
            a = self._alarm(f"{tag}:invalid", tag, pt.asset[i], "invalid", 3,
                            f"{tag} data {Q.describe(int(q[i]))}", int(i))
            if bad[i]:
                a.message = f"{tag} data {Q.describe(int(q[i]))}"
                # A questionable reading in a dead section (a dead line's frequency is out of
                # range) is expected: suppressed by design. A failed sensor is not.
                a.suppressible = int(q[i]) & Q.VALIDITY_MASK == Q.QUESTIONABLE
            out += self._set_active(a, bool(bad[i]), float(v[i]), now)
        self._bad = bad

        out += self._apply_suppression(
            np.union1d(flipped[~sup[flipped]], lflip[~link[lflip]]), now)
        for key in list(self._shelved):
            a = self.alarms[key]
            if a.shelved_until is not None and now >= a.shelved_until:
                if a.shelved_by == SYSTEM_USER:
                    a.activations.clear()
                    out += self._reenter(a, now, SYSTEM_USER,
                                         "auto-unshelved: chattering shelve expired")
                else:
                    out += self._reenter(a, now, None, "shelving expired")
        self.transitions.extend(out)
        return out

    # ------------------------------------------------------------------ state machine
    def _alarm(self, key: str, tag: str, asset: str, kind: str, prio: int, msg: str, row: int,
               *, suppressible: bool = False, members: tuple[int, ...] = ()) -> Alarm:
        a = self.alarms.get(key)
        if a is None:
            a = self.alarms[key] = Alarm(key, tag, asset, kind, prio, msg, row, suppressible,
                                         members=members or ((row,) if row >= 0 else ()))
            if row >= 0:
                a.unit = unit_text(self.points.unit[row]) if kind == "analog" else ""
                texts = (self.points.states[row] if kind != "analog"
                         and row < len(self.points.states) else None)
                a.states = tuple(texts) if texts else None
            for r in a.members:
                self._by_row.setdefault(r, []).append(a)
        return a

    def _move(self, a: Alarm, to: AlarmState, now: dt.datetime, user: str | None = None,
              note: str = "") -> list[Transition]:
        if a.state == to:
            return []
        tr = Transition(now, a.key, a.tag, a.asset, a.priority, a.state, to,
                        f"{a.message}{' — ' + note if note else ''}", user, a.value)
        if a.state == AlarmState.SHELVED and to != AlarmState.SHELVED:
            self._shelved.discard(a.key)
            a.shelved_until, a.shelve_reason, a.shelved_by = None, "", None
        if to != AlarmState.SUPPRESSED:
            a.suppressed_by = ""
        a.state = to
        self._dirty.add(a.key)
        return [tr]

    def _annunciate(self, a: Alarm, now: dt.datetime, user: str | None = None,
                    note: str = "") -> list[Transition]:
        self._new_times.append(now)
        a.since = now
        a.acked_by = None
        return self._move(a, AlarmState.UNACK, now, user, note)

    def _set_active(self, a: Alarm, active: bool, value: float, now: dt.datetime
                    ) -> list[Transition]:
        a.value = value
        if a.active == active:
            return []
        a.active = active
        self._dirty.add(a.key)
        if active:
            a.activations.append(now)
            recent = [x for x in a.activations if now - x <= CHATTER_WINDOW]
            a.chattering = len(recent) >= CHATTER_COUNT
        if a.state in _HIDDEN:
            return []  # the condition is tracked; nothing is annunciated
        if active:
            why = self._suppression(a)
            if why:
                return self._suppress(a, now, why)
            if a.state in (AlarmState.NORMAL, AlarmState.RTN_UNACK):
                if a.chattering and self.chatter_shelve is not None:
                    return self._shelve_chattering(a, now)
                return self._annunciate(a, now)
            return []
        if a.state == AlarmState.UNACK:
            return self._move(a, AlarmState.RTN_UNACK, now)
        if a.state == AlarmState.ACKED:
            return self._move(a, AlarmState.NORMAL, now)
        return []

    def _suppression(self, a: Alarm) -> str:
        """Why the alarm is suppressed by design now ("" when it is not): the link to its
        points is lost (any alarm of the points), or — a low alarm or a questionable reading
        of an electrical point — its section is de-energised."""
        if a.kind == "comm" and a.key != ACQUISITION_KEY and self._in_common:
            return "acquisition lost (no device answers)"
        for r in a.members:
            if self._link[r]:
                return f"{self._link_dev.get(r, 'the device')} communication lost"
        if a.suppressible and any(self._sup[r] for r in a.members):
            return "section de-energised"
        return ""

    def _suppress(self, a: Alarm, now: dt.datetime, why: str, user: str | None = None
                  ) -> list[Transition]:
        out = self._move(a, AlarmState.SUPPRESSED, now, user, f"suppressed by design: {why}")
        a.suppressed_by = why
        self._dirty.add(a.key)
        return out

    def _shelve_chattering(self, a: Alarm, now: dt.datetime) -> list[Transition]:
        """The chattering policy (EEMUA 191 / ISA-18.2 §11): an alarm annunciated
        ``CHATTER_COUNT`` times within ``CHATTER_WINDOW`` is not annunciated again but shelved
        by the system for ``chatter_shelve``, then auto-unshelved (re-evaluated: annunciated
        if still active). Both are audited as ``system``; the report counts them."""
        assert self.chatter_shelve is not None
        until = now + self.chatter_shelve
        n = sum(now - x <= CHATTER_WINDOW for x in a.activations)
        out = self._move(a, AlarmState.SHELVED, now, SYSTEM_USER,
                         f"shelved: chattering ({n} annunciations within "
                         f"{CHATTER_WINDOW.total_seconds():g} s) until "
                         f"{until.isoformat(timespec='minutes')}, auto-unshelved then")
        a.shelved_until, a.shelve_reason, a.shelved_by = until, "chattering", SYSTEM_USER
        self._shelved.add(a.key)
        self._dirty.add(a.key)
        return out

    def _reenter(self, a: Alarm, now: dt.datetime, user: str | None, note: str
                 ) -> list[Transition]:
        if a.active:
            why = self._suppression(a)
            if why:
                out = self._move(a, AlarmState.SUPPRESSED, now, user,
                                 f"{note}; suppressed by design: {why}")
                a.suppressed_by = why
                return out
            return self._annunciate(a, now, user, note)
        return self._move(a, AlarmState.NORMAL, now, user, note)

    def _apply_suppression(self, rows: np.ndarray, now: dt.datetime) -> list[Transition]:
        out: list[Transition] = []
        seen: set[str] = set()
        for r in rows:
            for a in self._by_row.get(int(r), ()):
                if a.key in seen:
                    continue
                seen.add(a.key)
                why = self._suppression(a)
                if why:
                    if a.active and a.state in ANNUNCIATED:
                        out += self._suppress(a, now, why)
                    elif a.state == AlarmState.SUPPRESSED and why != a.suppressed_by:
                        a.suppressed_by = why
                        self._dirty.add(a.key)
                elif a.state == AlarmState.SUPPRESSED:
                    released = ("released: communication restored"
                                if "communication" in a.suppressed_by else "suppression ended")
                    out += self._reenter(a, now, None, released)
        return out

    # ------------------------------------------------------------------ operator actions
    def _get(self, key: str) -> Alarm:
        a = self.alarms.get(key)
        if a is None:
            raise KeyError(f"no alarm '{key}'")
        return a

    def acknowledge(self, key: str, user: str, now: dt.datetime) -> list[Transition]:
        a = self._get(key)
        if a.state == AlarmState.UNACK:
            a.acked_by = user
            out = self._move(a, AlarmState.ACKED, now, user, f"acknowledged by {user}")
        elif a.state == AlarmState.RTN_UNACK:
            a.acked_by = user
            out = self._move(a, AlarmState.NORMAL, now, user, f"acknowledged by {user}")
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
        if until - now > MAX_SHELVE:
            raise ValueError("an alarm may be shelved for at most 24 hours")
        a = self._get(key)
        if a.state == AlarmState.OUT_OF_SERVICE:
            raise ValueError(f"{key} is out of service: return it to service first")
        out = self._move(a, AlarmState.SHELVED, now, user, f"shelved by {user} until "
                         f"{until.isoformat(timespec='minutes')}: {reason}")
        a.shelved_until, a.shelve_reason, a.shelved_by = until, reason, user
        self._shelved.add(key)
        self._dirty.add(key)
        self.transitions.extend(out)
        return out

    def unshelve(self, key: str, user: str, now: dt.datetime) -> list[Transition]:
        a = self._get(key)
        out = self._reenter(a, now, user, f"unshelved by {user}") \
            if a.state == AlarmState.SHELVED else []
        self.transitions.extend(out)
        return out

    def remove_from_service(self, key: str, user: str, reason: str, now: dt.datetime
                            ) -> list[Transition]:
        if not reason.strip():
            raise ValueError("removing an alarm from service needs a reason")
        a = self._get(key)
        out = self._move(a, AlarmState.OUT_OF_SERVICE, now, user,
                         f"removed from service by {user}: {reason}")
        self.transitions.extend(out)
        return out

    def return_to_service(self, key: str, user: str, now: dt.datetime) -> list[Transition]:
        a = self._get(key)
        out = self._reenter(a, now, user, f"returned to service by {user}") \
            if a.state == AlarmState.OUT_OF_SERVICE else []
        self.transitions.extend(out)
        return out

    # ------------------------------------------------------------------ views
    def annunciated(self) -> list[Alarm]:
        """What the alarm list shows: unacknowledged first, then by priority and time."""
        rows = [a for a in self.alarms.values() if a.state in ANNUNCIATED]
        rows.sort(key=lambda a: (STATE_ORDER[a.state], a.priority,
                                 -(a.since.timestamp() if a.since else 0)))
        return rows

    def flood(self, now: dt.datetime) -> bool:
        """More than 10 new alarms in the last 10 minutes."""
        return self.new_in_window(now) > FLOOD_COUNT

    def new_in_window(self, now: dt.datetime) -> int:
        while self._new_times and now - self._new_times[0] > FLOOD_WINDOW:
            self._new_times.popleft()
        return len(self._new_times)

    def invalidate_view(self) -> None:
        """The next :meth:`take_view` returns the whole list even if nothing changed (the
        screens were showing another state's)."""
        self._last_flood = None

    def take_view(self, now: dt.datetime, transitions: Sequence[Transition] = ()
                  ) -> AlarmView | None:
        """The alarm list's new content, or None when nothing changed since the last one."""
        flood = self.flood(now)
        if not self._dirty and flood == self._last_flood:
            return None
        self._last_flood = flood
        for key in self._dirty:
            a = self.alarms[key]
            if a.state == AlarmState.NORMAL:
                self._rows.pop(key, None)
            else:
                self._rows[key] = AlarmRow(a.key, a.tag, a.asset, a.kind, a.priority, a.state,
                                           a.message, a.value, a.since, a.active, a.acked_by,
                                           a.shelved_until, a.shelve_reason, a.chattering,
                                           a.unit, a.out_rows if a.active else (),
                                           a.suppressed_by, a.shelved_by, a.states)
        self._dirty.clear()
        rows = tuple(self._rows.values())
        counts = dict.fromkeys((s.value for s in AlarmState if s != AlarmState.NORMAL), 0)
        by_prio = dict.fromkeys((1, 2, 3, 4), 0)
        for r in rows:
            counts[r.state.value] += 1
            if r.state in ANNUNCIATED:
                by_prio[r.priority] = by_prio.get(r.priority, 0) + 1
        return AlarmView(now, rows, tuple(transitions), MappingProxyType(counts),
                         MappingProxyType(by_prio), flood, len(self._new_times),
                         asset_summary(rows))

    def performance_report(self, now: dt.datetime, hours: float = 24.0) -> dict:
        """Alarm-system performance per ISA-18.2 from the transitions kept in memory."""
        rep = performance_report(((t.time, t.key, t.before.value, t.after.value, t.user)
                                  for t in self.transitions), now, hours)
        rep["annunciated_now"] = sum(a.state in ANNUNCIATED for a in self.alarms.values())
        return rep
