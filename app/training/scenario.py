"""Drill scenario files (TOML, in the top-level ``scenarios/`` folder).

A scenario says how the drill starts, what happens during it and what the trainee is expected
to do::

    [scenario]
    id = "overvoltage-400kv"          # default: the file's name without .toml
    title = "400 kV overvoltage (1.15 pu)"
    description = "…"
    duration_s = 600                  # simulated seconds
    seed = 7                          # the plant's random generator
    scan_s = 1.0                      # the trainee's scan period, simulated seconds

    [initial]
    time_of_day = "19:30"             # station local time (the date is the run's)
    load_pct = 100                    # loads × this share of their daily profile
    open = ["BR4_Q0"]                 # switching before the drill starts
    close = []

    [[event]]                         # timed, or conditional, fired once
    id = "ov"
    at_s = 30                         # after the start, or after its condition is met
    when = "B400_M1.V > 440"          # a point crossing a limit (TAG > | < | >= | <= VALUE)
    after = "open F4_Q0"              # … or another event, or a trainee action (VERB ASSET)
    kind = "inject"                   # inject | fault | clear | reset | message
    fault = "overvoltage"             # inject: a plant injection kind …
    params = { pu = 1.15 }            # … and its parameters
    # fault: bus, type (as gridtwin faults --type), rf_ohm, stuck = [breakers], permanent
    # clear: target = "<event id of an inject>";  message: text

    [[expect]]                        # what the trainee should do, by when
    id = "reactor-in"
    action = "close"                  # open | close | reset
    asset = "BR4_Q0"                  # not for reset
    after = "ov"                      # the event the time limit counts from (default: start)
    within_s = 120
    points = 10
    text = "Switch the 400 kV bus reactor in"

:func:`load_scenario` refuses a bad file with one :class:`ScenarioFileError` naming the file,
the line and the field. tomllib gives no line numbers for values, so the line is found in the
text: the key's line inside the n-th ``[[event]]`` / ``[[expect]]`` table, as the station
loader does. Nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.station import Station
from app.twin.faults import FAULT_TYPES

EVENT_KINDS = ("inject", "fault", "clear", "reset", "message")
ACTIONS = ("open", "close", "reset")
_COND = re.compile(r"^\s*([A-Za-z0-9_]+\.[A-Za-z0-9_]+)\s*(>=|<=|>|<)\s*"
                   r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_ACTION_REF = re.compile(r"^\s*(open|close)\s+([A-Za-z0-9_]+)\s*$|^\s*(reset)\s*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ScenarioFileError(ValueError):
    """A scenario (or trainee actions) file that cannot be used: file, line, field."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None,
                 field: str | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        where = self.path + (f", line {line}" if line is not None else "")
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")


# ============================================================================ the shapes
@dataclass(frozen=True, slots=True)
class Condition:
    """A point crossing a limit: ``tag op value``."""

    tag: str
    op: str
    value: float

    def met(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        return {">": x > self.value, "<": x < self.value, ">=": x >= self.value,
                "<=": x <= self.value}[self.op]

    def __str__(self) -> str:
        return f"{self.tag} {self.op} {self.value:g}"


@dataclass(frozen=True, slots=True)
class ScenarioEvent:
    id: str
    kind: str
    at_s: float = 0.0
    when: Condition | None = None
    after: str = ""
    """An event id, or a trainee action ``open ASSET`` / ``close ASSET`` / ``reset``."""
    fault: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    bus: str = ""
    fault_type: str = "LG"
    rf_ohm: float = 0.0
    stuck: tuple[str, ...] = ()
    permanent: bool = True
    target: str = ""
    text: str = ""
    line: int | None = None

    @property
    def timed(self) -> bool:
        """Fires at ``at_s`` after the start (no condition, no predecessor)."""
        return self.when is None and not self.after


def action_verb(action: str, asset: str) -> str:
    """How an action is named in triggers and the debrief: ``open F4_Q0``, ``reset``."""
    return action if action == "reset" else f"{action} {asset}"


@dataclass(frozen=True, slots=True)
class Expectation:
    id: str
    action: str
    asset: str = ""
    after: str = ""
    within_s: float = 300.0
    points: float = 10.0
    text: str = ""
    line: int | None = None

    @property
    def verb(self) -> str:
        return action_verb(self.action, self.asset)


@dataclass(frozen=True, slots=True)
class Initial:
    time_of_day: dt.time = dt.time(12, 0)
    load_pct: float = 100.0
    open: tuple[str, ...] = ()
    close: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    title: str
    path: Path
    description: str = ""
    duration_s: float = 600.0
    seed: int = 1
    scan_s: float = 1.0
    initial: Initial = Initial()
    events: tuple[ScenarioEvent, ...] = ()
    expect: tuple[Expectation, ...] = ()

    def event(self, event_id: str) -> ScenarioEvent:
        for e in self.events:
            if e.id == event_id:
                return e
        raise KeyError(event_id)

    def error(self, message: str, *, line: int | None = None,
              field: str | None = None) -> ScenarioFileError:
        return ScenarioFileError(self.path, message, line=line, field=field)


# ============================================================================ line finding
def key_line(text: str, table: str | None, index: int | None, key: str | None) -> int | None:
    """The 1-based line of ``key`` in the ``index``-th ``[[table]]`` (or in ``[table]`` when
    index is None; top level when table is None); without a key, the table's header line."""
    section, entry, header = "", -1, None
    want_header = (f"[[{table}]]" if index is not None else f"[{table}]") if table else ""
    pat = re.compile(rf"^\s*{re.escape(key)}\s*=") if key else None
    for no, raw in enumerate(text.splitlines(), 1):
        head = raw.split("#", 1)[0].strip()
        if head.startswith("["):
            section = head
            if section == want_header:
                entry += 1
                if index is None or entry == index:
                    header = no
            continue
        inside = section == want_header and (index is None or entry == index)
        if pat is not None and inside and pat.match(raw):
            return no
    return header


class _Reader:
    """Reads one table of the file, each refusal naming its line and field."""

    def __init__(self, path: Path, text: str, table: str | None, index: int | None,
                 raw: dict[str, Any], allowed: tuple[str, ...]) -> None:
        self.path, self.text, self.table, self.index, self.raw = path, text, table, index, raw
        name = table or ""
        self.prefix = f"{name}[{index + 1}]." if index is not None else (f"{name}." if name
                                                                         else "")
        for k in raw:
            if k not in allowed:
                self.fail(k, f"unknown field (use one of {', '.join(allowed)})")

    def line(self, key: str | None = None) -> int | None:
        return key_line(self.text, self.table, self.index, key)

    def fail(self, key: str | None, message: str) -> None:
        raise ScenarioFileError(self.path, message, line=self.line(key),
                                field=f"{self.prefix}{key}" if key else self.prefix.rstrip("."))

    def text_(self, key: str, default: str | None = None, *, required: bool = False) -> str:
        if key not in self.raw:
            if required or default is None:
                self.fail(None, f"'{key}' is required")
            return default or ""
        v = self.raw[key]
        if not isinstance(v, str):
            self.fail(key, f"must be text, not {type(v).__name__} ({v!r})")
        return v.strip()

    def number(self, key: str, default: float, *, low: float | None = None,
               high: float | None = None, positive: bool = False) -> float:
        v = self.raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            self.fail(key, f"must be a finite number, not {v!r}")
        x = float(v)
        if positive and x <= 0:
            self.fail(key, f"must be greater than 0 (got {x:g})")
        if low is not None and x < low:
            self.fail(key, f"must be at least {low:g} (got {x:g})")
        if high is not None and x > high:
            self.fail(key, f"must be at most {high:g} (got {x:g})")
        return x

    def names(self, key: str) -> tuple[str, ...]:
        v = self.raw.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.fail(key, f"must be a list of asset ids, not {v!r}")
        return tuple(x.strip() for x in v)

    def ident(self, key: str, default: str | None = None) -> str:
        v = self.text_(key, default, required=default is None)
        if not _ID.match(v):
            self.fail(key, f"'{v}' is not an id (letters, digits, _ . -)")
        return v


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ScenarioFileError(path, f"not valid TOML: {exc}",
                                line=int(m.group(1)) if m else None) from None


def _tables(path: Path, text: str, raw: dict[str, Any], name: str) -> list[dict[str, Any]]:
    v = raw.get(name, [])
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise ScenarioFileError(path, f"must be written as [[{name}]] tables",
                                line=key_line(text, None, None, name), field=name)
    return v


# ============================================================================ loading
def load_scenario(path: str | Path, station: Station | None = None) -> Scenario:
    """Read and check a scenario file; with ``station``, its asset and point names too."""
    path = Path(path)
    text, raw = _read_toml(path)
    for k in raw:
        if k not in ("scenario", "initial", "event", "expect"):
            raise ScenarioFileError(path, "unknown table (use [scenario], [initial], "
                                    "[[event]], [[expect]])", line=key_line(text, k, None, None)
                                    or key_line(text, None, None, k), field=k)
    head = raw.get("scenario")
    if not isinstance(head, dict):
        raise ScenarioFileError(path, "a [scenario] table with a title is required", line=1,
                                field="scenario")
    r = _Reader(path, text, "scenario", None, head,
                ("id", "title", "description", "duration_s", "seed", "scan_s"))
    sid = r.ident("id", path.stem)
    title = r.text_("title", required=True)
    desc = r.text_("description", "")
    duration = r.number("duration_s", 600.0, positive=True, high=7 * 86400)
    seed = r.number("seed", 1.0, low=0)
    if seed != int(seed):
        r.fail("seed", f"must be a whole number (got {seed:g})")
    scan = r.number("scan_s", 1.0, low=0.05, high=60.0)
    initial = _initial(path, text, raw.get("initial", {}))
    events = tuple(_event(path, text, k, e)
                   for k, e in enumerate(_tables(path, text, raw, "event")))
    expect = tuple(_expect(path, text, k, e)
                   for k, e in enumerate(_tables(path, text, raw, "expect")))
    sc = Scenario(id=sid, title=title, path=path, description=desc, duration_s=duration,
                  seed=int(seed), scan_s=scan, initial=initial, events=events, expect=expect)
    _check_links(sc, text)
    if station is not None:
        check_against_station(sc, station, text)
    return sc


def _initial(path: Path, text: str, raw: object) -> Initial:
    if not isinstance(raw, dict):
        raise ScenarioFileError(path, "must be a table", line=key_line(text, None, None,
                                                                        "initial"),
                                field="initial")
    r = _Reader(path, text, "initial", None, raw, ("time_of_day", "load_pct", "open", "close"))
    tod = r.text_("time_of_day", "12:00")
    m = re.match(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$", tod)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59 or int(m.group(3) or 0) > 59:
        r.fail("time_of_day", f"'{tod}' is not a time of day (HH:MM or HH:MM:SS)")
    t = dt.time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    load = r.number("load_pct", 100.0, low=10.0, high=200.0)
    opened, closed = r.names("open"), r.names("close")
    both = set(opened) & set(closed)
    if both:
        r.fail("close", f"{sorted(both)[0]} is both opened and closed")
    return Initial(t, load, opened, closed)


def _event(path: Path, text: str, k: int, raw: dict[str, Any]) -> ScenarioEvent:
    r = _Reader(path, text, "event", k, raw,
                ("id", "kind", "at_s", "when", "after", "fault", "params", "bus", "type",
                 "rf_ohm", "stuck", "permanent", "target", "text"))
    eid = r.ident("id", f"event-{k + 1}")
    kind = r.text_("kind", required=True)
    if kind not in EVENT_KINDS:
        r.fail("kind", f"'{kind}' is not an event kind (use one of {', '.join(EVENT_KINDS)})")
    at_s = r.number("at_s", 0.0, low=0.0)
    when = None
    if "when" in raw:
        w = r.text_("when")
        m = _COND.match(w)
        if not m:
            r.fail("when", f"'{w}' is not a condition (TAG > VALUE, TAG < VALUE, >=, <=)")
        when = Condition(m.group(1), m.group(2), float(m.group(3)))
    after = r.text_("after", "")
    if when is not None and after:
        r.fail("after", "an event has either 'when' or 'after', not both")
    kw: dict[str, Any] = {}
    if kind == "inject":
        kw["fault"] = r.text_("fault", required=True)
        params = raw.get("params", {})
        if not isinstance(params, dict):
            r.fail("params", f"must be a table of parameters, not {params!r}")
        kw["params"] = dict(params)
    elif kind == "fault":
        kw["bus"] = r.text_("bus", required=True).lower()
        ftype = r.text_("type", "LG")
        if ftype not in FAULT_TYPES:
            r.fail("type", f"'{ftype}' is not a fault type (use one of {', '.join(FAULT_TYPES)})")
        kw["fault_type"] = ftype
        kw["rf_ohm"] = r.number("rf_ohm", 0.0, low=0.0)
        kw["stuck"] = r.names("stuck")
        perm = raw.get("permanent", True)
        if not isinstance(perm, bool):
            r.fail("permanent", f"must be true or false, not {perm!r}")
        kw["permanent"] = perm
    elif kind == "clear":
        kw["target"] = r.ident("target")
    elif kind == "message":
        kw["text"] = r.text_("text", required=True)
    for key in ("fault", "params", "bus", "type", "rf_ohm", "stuck", "permanent", "target"):
        if key in raw and not ((kind == "inject" and key in ("fault", "params")) or
                               (kind == "fault" and key in ("bus", "type", "rf_ohm", "stuck",
                                                            "permanent")) or
                               (kind == "clear" and key == "target")):
            r.fail(key, f"not a field of a '{kind}' event")
    if kind != "message" and "text" in raw:
        kw["text"] = r.text_("text")
    return ScenarioEvent(id=eid, kind=kind, at_s=at_s, when=when, after=after,
                         line=r.line(), **kw)


def _expect(path: Path, text: str, k: int, raw: dict[str, Any]) -> Expectation:
    r = _Reader(path, text, "expect", k, raw,
                ("id", "action", "asset", "after", "within_s", "points", "text"))
    eid = r.ident("id", f"expect-{k + 1}")
    action = r.text_("action", required=True)
    if action not in ACTIONS:
        r.fail("action", f"'{action}' is not an action (use one of {', '.join(ACTIONS)})")
    asset = r.text_("asset", "")
    if action != "reset" and not asset:
        r.fail(None, f"'asset' is required for '{action}'")
    if action == "reset" and asset:
        r.fail("asset", "a protection reset names no asset")
    return Expectation(id=eid, action=action, asset=asset, after=r.text_("after", ""),
                       within_s=r.number("within_s", 300.0, positive=True),
                       points=r.number("points", 10.0, positive=True),
                       text=r.text_("text", ""), line=r.line())


def _check_links(sc: Scenario, text: str) -> None:
    ids: dict[str, int] = {}
    for k, e in enumerate(sc.events):
        if e.id in ids:
            raise sc.error(f"event id '{e.id}' is used twice",
                           line=key_line(text, "event", k, "id"), field=f"event[{k + 1}].id")
        ids[e.id] = k
    for k, e in enumerate(sc.events):
        if e.after and not _ACTION_REF.match(e.after) and e.after not in ids:
            raise sc.error(f"'{e.after}' is neither an event id nor a trainee action "
                           "(open ASSET, close ASSET, reset)",
                           line=key_line(text, "event", k, "after"), field=f"event[{k + 1}].after")
        if e.after == e.id:
            raise sc.error("an event cannot wait for itself",
                           line=key_line(text, "event", k, "after"), field=f"event[{k + 1}].after")
        if e.kind == "clear":
            tgt = ids.get(e.target)
            if tgt is None or sc.events[tgt].kind != "inject":
                raise sc.error(f"'{e.target}' is not the id of an inject event",
                               line=key_line(text, "event", k, "target"),
                               field=f"event[{k + 1}].target")
    seen: set[str] = set()
    for k, x in enumerate(sc.expect):
        if x.id in seen:
            raise sc.error(f"expectation id '{x.id}' is used twice",
                           line=key_line(text, "expect", k, "id"), field=f"expect[{k + 1}].id")
        seen.add(x.id)
        if x.after and x.after not in ids:
            raise sc.error(f"'{x.after}' is not an event id",
                           line=key_line(text, "expect", k, "after"),
                           field=f"expect[{k + 1}].after")


def check_against_station(sc: Scenario, station: Station, text: str | None = None) -> None:
    """Every asset, point and injection named exists (the plant's own checks of the
    parameters happen when the event fires)."""
    from app.field.sim.injections import INJECTIONS

    text = text if text is not None else sc.path.read_text(encoding="utf-8")
    ids = {a.id: a for a in station.assets}
    switches = {a.id for a in station.assets if a.type in ("breaker", "isolator",
                                                           "earth_switch")}
    tags = {f"{a.id}.{p.name}" for a in station.assets for p in a.points}
    for key in ("open", "close"):
        for name in getattr(sc.initial, key):
            if name not in switches:
                raise sc.error(f"'{name}' is not a breaker, disconnector or earth switch",
                               line=key_line(text, "initial", None, key),
                               field=f"initial.{key}")
    for k, e in enumerate(sc.events):
        def fail(key: str, msg: str, k: int = k) -> ScenarioFileError:
            return sc.error(msg, line=key_line(text, "event", k, key), field=f"event[{k + 1}]."
                            + key)
        if e.when is not None and e.when.tag not in tags:
            raise fail("when", f"'{e.when.tag}' is not a point of the station")
        m = _ACTION_REF.match(e.after) if e.after else None
        if m and m.group(2) and m.group(2) not in switches:
            raise fail("after", f"'{m.group(2)}' is not a switching device")
        if e.kind == "inject" and e.fault not in INJECTIONS:
            raise fail("fault", f"'{e.fault}' is not a fault kind (use one of "
                       f"{', '.join(INJECTIONS)})")
        for b in e.stuck:
            if b not in ids or ids[b].type != "breaker":
                raise fail("stuck", f"'{b}' is not a breaker")
    for k, x in enumerate(sc.expect):
        if x.asset and x.asset not in switches:
            raise sc.error(f"'{x.asset}' is not a breaker, disconnector or earth switch",
                           line=key_line(text, "expect", k, "asset"),
                           field=f"expect[{k + 1}].asset")


# ============================================================================ the library
def scenarios_dir() -> Path:
    """The shipped scenarios: ``scenarios/`` beside ``circuits/`` (checkout, wheel, bundle)."""
    from app.resources import project_root

    return project_root() / "scenarios"


def list_scenarios(folder: str | Path | None = None) -> list[Scenario]:
    folder = Path(folder) if folder is not None else scenarios_dir()
    return [load_scenario(p) for p in sorted(folder.glob("*.toml"))]


def find_scenario(name: str, folder: str | Path | None = None) -> Path:
    """A scenario by id or file name in the folder, or a path to a file."""
    p = Path(name)
    if p.suffix == ".toml" and p.is_file():
        return p
    folder = Path(folder) if folder is not None else scenarios_dir()
    direct = folder / f"{name}.toml"
    if direct.is_file():
        return direct
    for sc in list_scenarios(folder):
        if sc.id == name:
            return sc.path
    known = ", ".join(s.id for s in list_scenarios(folder)) or "none"
    raise ScenarioFileError(folder, f"no scenario '{name}' (known: {known})")


# ============================================================================ trainee actions
@dataclass(frozen=True, slots=True)
class TraineeAction:
    """One thing the trainee does at ``at_s`` simulated seconds after the start."""

    at_s: float
    action: str
    asset: str = ""
    bypass_reason: str | None = None
    line: int | None = None

    @property
    def verb(self) -> str:
        return action_verb(self.action, self.asset)


@dataclass(frozen=True, slots=True)
class ActionScript:
    trainee: str = "trainee"
    role: str = "operator"
    actions: tuple[TraineeAction, ...] = ()


def load_actions(path: str | Path) -> ActionScript:
    """A trainee's scripted actions (TOML)::

        trainee = "asha"
        role = "operator"            # operator | engineer (a bypass needs an engineer)
        [[action]]
        at_s = 45
        action = "close"             # open | close | reset
        asset = "BR4_Q0"
        bypass_reason = "…"          # an interlock bypass (scored unsafe)
    """
    path = Path(path)
    text, raw = _read_toml(path)
    top = _Reader(path, text, None, None, raw, ("trainee", "role", "action"))
    trainee = top.ident("trainee", "trainee")
    role = top.text_("role", "operator")
    if role not in ("operator", "engineer"):
        top.fail("role", f"'{role}' is not a trainee role (operator or engineer)")
    out = []
    for k, a in enumerate(_tables(path, text, raw, "action")):
        r = _Reader(path, text, "action", k, a, ("at_s", "action", "asset", "bypass_reason"))
        if "at_s" not in a:
            r.fail(None, "'at_s' is required")
        at_s = r.number("at_s", 0.0, low=0.0)
        verb = r.text_("action", required=True)
        if verb not in ACTIONS:
            r.fail("action", f"'{verb}' is not an action (use one of {', '.join(ACTIONS)})")
        asset = r.text_("asset", "")
        if verb != "reset" and not asset:
            r.fail(None, f"'asset' is required for '{verb}'")
        bypass = r.text_("bypass_reason") if "bypass_reason" in a else None
        out.append(TraineeAction(at_s, verb, asset, bypass, r.line()))
    return ActionScript(trainee, role, tuple(sorted(out, key=lambda x: x.at_s)))
