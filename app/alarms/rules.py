"""Alarm rules: the rule file next to the station, the station file's limits and the
configuration store's ``alarm_rules`` table (Qt-free).

On first open (an empty ``alarm_rules`` table) the store is seeded with

* the rules of ``alarm_rules.toml`` beside the station file (the seed document's rules: its
  generic parameters such as ``voltage`` or ``temperature`` and its ``range`` condition), and
* one rule per limit in the station file (``lo`` → ``<``, ``hi`` → ``>``, rule id
  ``TAG:lo`` / ``TAG:hi``, deadband 0.5 % of the instrument range but at most 2 % of the
  limit, so a limit low in a wide range — a differential current — still clears);

from then on the table is the configuration: engineers edit rules there. Every start loads
the table; a rule that cannot be used — an unknown parameter or asset type, a bad condition,
severity or number — is refused with a message naming the rule and the field, logged, and
skipped: it never stops the HMI from starting. The rule file's ``[parameters]`` table maps the
seed's generic parameters to point quantities (it is read at every start, so the store can
keep the seed's names).
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from app.alarms.engine import INDICATION_PRIORITY, PRIORITY_SEVERITY, AlarmRule, rule_targets
from app.station import Station, clock
from app.station.points import KIND_ANALOG, PointTable

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

RULE_FILE = "alarm_rules.toml"
#: The alarm_rules columns a rule record may carry (the file uses the same names).
FIELDS = ("rule_id", "asset_type", "parameter", "condition", "threshold_value", "severity",
          "deadband", "on_delay_s", "off_delay_s", "priority", "enabled")
#: Quantities that develop over hours (monitoring, not operation): their limits are medium.
SLOW_QUANTITIES = ("gas_", "tdcg", "bushing", "oil_moisture", "contact_wear", "loss_of_life")


#: The rationalisation's columns: time to respond.
RESPONSE_TIMES = ("< 5 min", "5-15 min", "15-30 min", "> 30 min")
#: The default matrix (the rule file's [priority_matrix] replaces it).
PRIORITY_MATRIX = MappingProxyType({"severe": (1, 1, 2, 3), "major": (1, 2, 3, 3),
                                    "minor": (2, 3, 4, 4)})
#: A limit the file does not classify: major, 5-15 min.
DEFAULT_LIMIT_CLASS = ("major", "5-15 min")


@dataclass(frozen=True, slots=True, eq=False)
class AlarmSettings:
    """The rule file's settings beside its rules: the priority matrix and the limits'
    classes, indication priorities, the communication-loss time and the chattering shelve."""

    matrix: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: PRIORITY_MATRIX)
    limit_class: Mapping[str, tuple[str, str]] = field(
        default_factory=lambda: MappingProxyType({}))
    """``quantity:hi`` / ``quantity:lo`` → (consequence, time to respond)."""
    indication_priority: Mapping[str, int] = field(
        default_factory=lambda: INDICATION_PRIORITY)
    stale_s: float | None = None
    comm_loss_s: float | None = None
    """A device is annunciated "communication lost" after this long without a good reply
    (None: the comm-state default, app.field.commstate)."""
    recover_s: float | None = None
    chatter_shelve_min: float = 10.0
    problems: tuple[str, ...] = ()

    def priority(self, consequence: str, respond: str) -> int:
        return self.matrix[consequence][RESPONSE_TIMES.index(respond)]

    def limit_priority(self, quantity: str, suffix: str) -> int:
        return self.priority(*self.limit_class.get(f"{quantity}:{suffix}",
                                                   DEFAULT_LIMIT_CLASS))


def read_settings(path: Path) -> AlarmSettings:
    """The settings tables of the rule file; a bad entry is a problem (named by table and
    key) and the default is used instead. A missing file: all defaults."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return AlarmSettings()  # read_rule_file reports it
    problems: list[str] = []

    def table(name: str) -> dict:
        t = doc.get(name, {})
        if not isinstance(t, dict):
            problems.append(f"{path}: [{name}] must be a table")
            return {}
        return t

    matrix = dict(PRIORITY_MATRIX)
    for k, row in table("priority_matrix").items():
        if (not isinstance(row, list) or len(row) != len(RESPONSE_TIMES)
                or not all(isinstance(p, int) and 1 <= p <= 4 for p in row)):
            problems.append(f"{path}: priority_matrix.{k}: must be {len(RESPONSE_TIMES)} "
                            "priorities 1-4 (one per time to respond)")
            continue
        matrix[k] = tuple(row)
    classes: dict[str, tuple[str, str]] = {}
    for k, v in table("limit_priority").items():
        if (not isinstance(v, list) or len(v) != 2 or v[0] not in matrix
                or v[1] not in RESPONSE_TIMES or ":" not in k
                or k.rsplit(":", 1)[1] not in ("hi", "lo")):
            problems.append(f"{path}: limit_priority.{k}: must be \"quantity:hi|lo\" = "
                            f"[{' | '.join(matrix)}, {' | '.join(RESPONSE_TIMES)}]")
            continue
        classes[k] = (v[0], v[1])
    ind = dict(INDICATION_PRIORITY)
    for k, p in table("indication_priority").items():
        if not isinstance(p, int) or isinstance(p, bool) or not 1 <= p <= 4:
            problems.append(f"{path}: indication_priority.{k}: {p!r} is not a priority 1-4")
            continue
        ind[k] = p
    comm: dict[str, float | None] = {"stale_s": None, "comm_loss_s": None, "recover_s": None}
    for k, v in table("communication").items():
        if k not in comm:
            problems.append(f"{path}: communication.{k}: unknown (use {', '.join(comm)})")
        elif isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 3600:
            problems.append(f"{path}: communication.{k}: {v!r} is not a time in seconds "
                            "(0-3600)")
        else:
            comm[k] = float(v)
    if (comm["stale_s"] and comm["comm_loss_s"] and comm["comm_loss_s"] < comm["stale_s"]):
        problems.append(f"{path}: communication.comm_loss_s: {comm['comm_loss_s']:g} s is "
                        f"shorter than stale_s {comm['stale_s']:g} s; using stale_s")
        comm["comm_loss_s"] = comm["stale_s"]
    shelve = 10.0
    ch = table("chattering").get("shelve_min", 10.0)
    if isinstance(ch, bool) or not isinstance(ch, int | float) or not 0 <= ch <= 24 * 60:
        problems.append(f"{path}: chattering.shelve_min: {ch!r} is not 0-1440 minutes")
    else:
        shelve = float(ch)
    for p in problems:
        log.error("alarm rule file: %s", p)
    return AlarmSettings(MappingProxyType(matrix), MappingProxyType(classes),
                         MappingProxyType(ind), comm["stale_s"], comm["comm_loss_s"],
                         comm["recover_s"], shelve, tuple(problems))


@dataclass(frozen=True, slots=True, eq=False)
class RuleSet:
    """The rules the engine runs, with what it needs to resolve them."""

    rules: tuple[AlarmRule, ...]
    aliases: Mapping[str, tuple[str, ...]]
    nominal: np.ndarray
    problems: tuple[str, ...]
    """One message per refused rule (and per unusable part of the rule file)."""
    source: str
    """Where the rules came from: the store's URL or the rule file."""
    settings: AlarmSettings = field(default_factory=AlarmSettings)
    """The rule file's settings: indication priorities, communication loss, chattering."""


# ----------------------------------------------------------------------------- the file
def rule_file(station: Station) -> Path:
    base = station.path.parent if station.path is not None else Path("circuits")
    return base / RULE_FILE


def read_rule_file(path: Path) -> tuple[dict[str, tuple[str, ...]], list[dict], list[str]]:
    """(aliases, rule records, problems). A missing or unreadable file is a problem, not an
    error: the station's limits still alarm."""
    problems: list[str] = []
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return {}, [], [f"{path}: cannot read the alarm rule file: {exc.strerror}"]
    except tomllib.TOMLDecodeError as exc:
        return {}, [], [f"{path}: {exc}"]
    aliases: dict[str, tuple[str, ...]] = {}
    params = doc.get("parameters", {})
    if not isinstance(params, dict):
        problems.append(f"{path}: [parameters] must be a table of name = [quantities]")
        params = {}
    for name, qs in params.items():
        if isinstance(qs, str):
            qs = [qs]
        if not isinstance(qs, list) or not all(isinstance(x, str) for x in qs):
            problems.append(f"{path}: parameters.{name}: must be a list of point quantities")
            continue
        aliases[name] = tuple(qs)
    records = doc.get("rules", [])
    if not isinstance(records, list):
        problems.append(f"{path}: 'rules' must be an array of tables ([[rules]])")
        records = []
    out = []
    for k, rec in enumerate(records):
        if not isinstance(rec, dict):
            problems.append(f"{path}: rules[{k}] is not a table")
            continue
        unknown = set(rec) - set(FIELDS)
        if unknown:
            rid = rec.get("rule_id", f"#{k + 1}")
            problems.append(f"{path}: rule {rid}: field '{sorted(unknown)[0]}': unknown field "
                            f"(use {', '.join(FIELDS)})")
            continue
        out.append(dict(rec))
    return aliases, out, problems


# ----------------------------------------------------------------------------- records
def _number(rid: str, name: str, x: object) -> float:
    if isinstance(x, bool):
        raise ValueError(f"rule {rid}: field '{name}': {x!r} is not a number")
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"rule {rid}: field '{name}': {x!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"rule {rid}: field '{name}': {x!r} is not a finite number")
    return v


def rule_from_record(rec: Mapping[str, object]) -> AlarmRule:
    """An engine rule from an ``alarm_rules`` record; ValueError naming rule and field."""
    rid = str(rec.get("rule_id") or "").strip()
    if not rid:
        raise ValueError("rule (no id): field 'rule_id': a rule needs an id")
    for name in ("parameter", "condition", "threshold_value", "severity"):
        if rec.get(name) is None or rec.get(name) == "":
            raise ValueError(f"rule {rid}: field '{name}': missing")
    prio = rec.get("priority")
    if prio is not None:
        p = _number(rid, "priority", prio)
        if p != int(p) or not 1 <= p <= 4:
            raise ValueError(f"rule {rid}: field 'priority': {prio!r} is not 1-4")
        prio = int(p)
    enabled = rec.get("enabled", True)
    if enabled is None:
        enabled = True
    if not isinstance(enabled, bool | int):
        raise ValueError(f"rule {rid}: field 'enabled': {enabled!r} is not true or false")
    return AlarmRule(
        rule_id=rid, parameter=str(rec["parameter"]).strip(),
        condition=str(rec["condition"]).strip(),
        threshold=_number(rid, "threshold_value", rec["threshold_value"]),
        severity=str(rec["severity"]).strip().lower(),
        asset_type=(str(rec["asset_type"]).strip() or None) if rec.get("asset_type") else None,
        deadband=_number(rid, "deadband", rec.get("deadband") or 0.0),
        on_delay_s=_number(rid, "on_delay_s", rec.get("on_delay_s") or 0.0),
        off_delay_s=_number(rid, "off_delay_s", rec.get("off_delay_s") or 0.0),
        priority=prio, enabled=bool(enabled))


def station_limit_records(points: PointTable, settings: AlarmSettings | None = None
                          ) -> list[dict]:
    """One rule record per ``lo`` / ``hi`` limit of an analog point in the station file, its
    priority from the quantity's class in the priority matrix (``settings``; without: high,
    medium for the slow monitoring quantities)."""
    out = []
    for i in np.flatnonzero(points.kind == KIND_ANALOG):
        tag, q = points.tags[i], points.quantity[i]
        rng = points.range_hi[i] - points.range_lo[i]
        slow = q.startswith(SLOW_QUANTITIES)
        for lim, cond, suffix in ((points.hi[i], ">", "hi"), (points.lo[i], "<", "lo")):
            if np.isfinite(lim):
                dbd = min(0.005 * float(rng) if np.isfinite(rng) else 0.0, 0.02 * abs(lim))
                dbd = float(f"{dbd:.3g}")
                if settings is not None:
                    prio = settings.limit_priority(q, suffix)
                else:
                    prio = 3 if slow and suffix == "hi" else 2
                out.append({"rule_id": f"{tag}:{suffix}", "asset_type": None, "parameter": tag,
                            "condition": cond, "threshold_value": float(lim),
                            "severity": PRIORITY_SEVERITY[prio],
                            "deadband": dbd, "on_delay_s": 0.0, "off_delay_s": 0.0,
                            "priority": prio, "enabled": True})
    return out


def nominal_values(station: Station, points: PointTable) -> np.ndarray:
    """Per point, the nominal value a ``range`` rule deviates from (NaN where none): a
    voltage's is its bay's nominal kV (phase-to-neutral ones ÷ √3); a frequency's the
    station's."""
    nom = np.full(len(points), np.nan)
    bay_kv = {b.id: b.voltage_kv for b in station.bays}
    bay_of = {a.id: a.bay for a in station.assets}
    for i, q in enumerate(points.quantity):
        if q == "voltage_kv":
            kv = bay_kv.get(bay_of.get(points.asset[i], ""), float("nan"))
            nom[i] = kv / math.sqrt(3) if points.phase[i] in ("A", "B", "C") else kv
        elif q == "frequency_hz":
            nom[i] = station.station.frequency_hz
    nom.setflags(write=False)
    return nom


def _rationalised(rec: dict, points: PointTable, settings: AlarmSettings) -> dict:
    """A station-limit rule stored without a priority (a store seeded before the priority
    matrix) takes the matrix's priority for its quantity; any other record as stored."""
    rid, tag = str(rec.get("rule_id") or ""), str(rec.get("parameter") or "")
    if rec.get("priority") is not None or rid not in (f"{tag}:hi", f"{tag}:lo") \
            or tag not in points.index:
        return rec
    prio = settings.limit_priority(points.quantity[points.index[tag]], rid.rsplit(":", 1)[1])
    return {**rec, "priority": prio}


def validate(records: Iterable[Mapping[str, object]], points: PointTable, *,
             asset_types: Mapping[str, str], aliases: Mapping[str, Sequence[str]],
             nominal: np.ndarray, where: str) -> tuple[list[AlarmRule], list[str]]:
    """The usable rules and one message per refused one (each also logged)."""
    rules: list[AlarmRule] = []
    problems: list[str] = []
    seen: set[str] = set()
    for rec in records:
        try:
            r = rule_from_record(rec)
            if r.rule_id in seen:
                raise ValueError(f"rule {r.rule_id}: field 'rule_id': defined twice")
            if r.enabled:
                rule_targets(points, r, asset_types=asset_types, aliases=aliases,
                             nominal=nominal)
        except ValueError as exc:
            msg = f"{where}: {exc}; rule skipped"
            log.error("alarm rule refused: %s", msg)
            problems.append(msg)
            continue
        seen.add(r.rule_id)
        rules.append(r)
    return rules, problems


# ----------------------------------------------------------------------------- the store
def seed_store(db_engine: Engine, station: Station, points: PointTable) -> tuple[int, list[str]]:
    """On first open (no rules stored yet) write the rule file's rules and the station
    limits into ``alarm_rules``. Returns (rules written, problems with the file)."""
    from sqlalchemy import func, insert, select

    from app.historian.models import AlarmRule as AlarmRuleRow

    with db_engine.begin() as con:
        if con.execute(select(func.count()).select_from(AlarmRuleRow)).scalar():
            return 0, []
        _aliases, file_records, problems = read_rule_file(rule_file(station))
        settings = read_settings(rule_file(station))
        now = clock.now().isoformat(timespec="seconds")
        rows = []
        ids: set[str] = set()
        for rec in file_records + station_limit_records(points, settings):
            row = {f: rec.get(f) for f in FIELDS}
            rid = str(row["rule_id"] or "").strip()
            if not rid or rid in ids:
                problems.append(f"{rule_file(station)}: rule {rid or '(no id)'}: field "
                                f"'rule_id': {'missing' if not rid else 'defined twice'}; "
                                "not stored")
                continue
            ids.add(rid)
            row["rule_id"] = rid
            for f in ("deadband", "on_delay_s", "off_delay_s"):
                row[f] = row[f] if row[f] is not None else 0.0
            row["enabled"] = True if row["enabled"] is None else row["enabled"]
            row["created_at"] = now
            rows.append(row)
        if rows:
            con.execute(insert(AlarmRuleRow), rows)
    log.info("alarm_rules seeded with %d rules", len(rows))
    return len(rows), problems


def store_records(db_engine: Engine) -> list[dict]:
    """The stored rules as raw records: no type conversion on the way out, so a value the
    database let through (text in a number column on SQLite) is refused by name, not lost
    in a driver error."""
    with db_engine.connect() as con:
        res = con.exec_driver_sql(f"SELECT {', '.join(FIELDS)} FROM alarm_rules "
                                  "ORDER BY rule_id")
        return [dict(zip(FIELDS, r, strict=True)) for r in res]


def rules_for_station(station: Station, points: PointTable, db_engine: Engine | None = None
                      ) -> RuleSet:
    """The rules to run: from the configuration store (seeding it on first open), or —
    without a store — from the rule file and the station limits directly."""
    path = rule_file(station)
    aliases, file_records, problems = read_rule_file(path)
    for p in problems:
        log.error("alarm rule file: %s", p)
    settings = read_settings(path)
    problems += list(settings.problems)
    types = {a.id: a.type for a in station.assets}
    nominal = nominal_values(station, points)
    records: list[dict] = []
    source = str(path)
    if db_engine is not None:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            _, seed_problems = seed_store(db_engine, station, points)
            records = store_records(db_engine)
            source = db_engine.url.render_as_string()
            problems += [p for p in seed_problems if p not in problems]
        except SQLAlchemyError as exc:
            msg = (f"{db_engine.url.render_as_string()}: alarm_rules cannot be read "
                   f"({exc.__class__.__name__}: {str(exc).splitlines()[0]}); running the rule "
                   f"file and the station limits instead")
            log.error("%s", msg)
            problems.append(msg)
            db_engine = None
    if db_engine is None:
        records = file_records + station_limit_records(points, settings)
    else:
        records = [_rationalised(r, points, settings) for r in records]
    rules, refused = validate(records, points, asset_types=types, aliases=aliases,
                              nominal=nominal, where=source)
    return RuleSet(tuple(rules), MappingProxyType(aliases), nominal,
                   tuple(problems + refused), source, settings)
