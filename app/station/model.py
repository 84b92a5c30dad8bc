"""Immutable models of the station description.

The station file (``circuits/station.toml``) lists every asset with its bay, nameplate, the
OpenDSS element (or bus) it maps to, its IEC 61850 logical node and its measurement points.
These models are frozen pydantic models holding tuples, so a loaded station can be shared
between threads without copying.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

AssetType = Literal[
    "breaker",
    "isolator",
    "earth_switch",
    "busbar",
    "ict",
    "transformer",
    "reactor",
    "capacitor_bank",
    "line",
    "feeder",
    "ct",
    "cvt",
    "lightning_arrester",
    "relay",
    "bay_controller",
    "dc_system",
    "station",
]

#: Asset types whose position is a switching state in the circuit.
SWITCHING_TYPES: frozenset[str] = frozenset({"breaker", "isolator", "earth_switch"})

#: The OpenDSS element classes (lower case) each asset type may map to with ``element``.
#: Switching devices must moreover be switch elements (``Line`` with ``switch=yes``), and
#: lines and feeder lines must not be. Types missing here have no circuit element.
ELEMENT_CLASSES: dict[str, frozenset[str]] = {
    "breaker": frozenset({"line"}),
    "isolator": frozenset({"line"}),
    "earth_switch": frozenset({"line"}),
    "ict": frozenset({"transformer"}),
    "transformer": frozenset({"transformer"}),
    "reactor": frozenset({"reactor"}),
    "capacitor_bank": frozenset({"capacitor"}),
    "line": frozenset({"line"}),
    "feeder": frozenset({"line", "load"}),
    # A CT measures the current of the element it sits on (a bay's breaker, a bushing).
    "ct": frozenset({"line", "transformer", "reactor", "capacitor"}),
}

#: Asset types that sit on a bus (``bus``), never on an element: busbars, voltage
#: transformers, surge arresters.
BUS_TYPES: frozenset[str] = frozenset({"busbar", "cvt", "lightning_arrester"})

_CLASS_WORDS = {"line": "a Line", "transformer": "a Transformer", "reactor": "a Reactor",
                "capacitor": "a Capacitor", "load": "a Load"}

BayKind = Literal[
    "line",
    "feeder",
    "transformer_hv",
    "transformer_lv",
    "coupler",
    "section",
    "reactor",
    "capacitor",
    "load",
    "busbar",
    "station",
]

_ID = r"^[A-Za-z][A-Za-z0-9_]*$"
_ELEMENT = r"^[A-Za-z]+\.[A-Za-z0-9_]+$"


class StationFileError(ValueError):
    """A station file that cannot be used, with where the problem is."""

    def __init__(self, path: str | Path, message: str, *, asset: str | None = None,
                 field: str | None = None, line: int | None = None) -> None:
        self.path = str(path)
        self.asset = asset
        self.field = field
        self.line = line
        where = self.path
        if line is not None:
            where += f", line {line}"
        if asset is not None:
            where += f": asset '{asset}'"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Point(_Frozen):
    """One measurement point of an asset: a value with a unit and alarm limits."""

    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    unit: str = ""
    kind: Literal["analog", "status", "counter"]
    #: What physical quantity the point carries (``p_mw``, ``voltage_kv``, ``position`` …).
    quantity: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    phase: Literal["A", "B", "C", "N", "AB", "BC", "CA"] | None = None
    lo: float | None = None
    hi: float | None = None
    #: Instrument range (engineering units) used for scaling and sanity checks.
    range: tuple[float, float] | None = None
    #: What the point is called on screen, when its quantity's description does not say
    #: (two trip circuits, three distance zones, an annunciator's window).
    description: str | None = Field(default=None, min_length=1)
    #: A status point's state texts (value 0, 1, …), when not its quantity's.
    states: tuple[str, ...] | None = None

    @field_validator("states")
    @classmethod
    def _states_texts(cls, states: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _check_states(states)

    @model_validator(mode="after")
    def _limits_ordered(self) -> Point:
        if self.lo is not None and self.hi is not None and self.lo >= self.hi:
            raise ValueError(f"lo ({self.lo}) must be below hi ({self.hi})")
        if self.range is not None and self.range[0] >= self.range[1]:
            raise ValueError(f"range {self.range} must be increasing")
        if self.kind != "analog" and (self.lo is not None or self.hi is not None):
            raise ValueError(f"a {self.kind} point has no analog limits")
        if self.states is not None and self.kind != "status":
            raise ValueError(f"a {self.kind} point has no state texts (only status points)")
        return self


def _check_states(states: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if states is None:
        return None
    if len(states) < 2:
        raise ValueError("states needs a text for each value, at least two (0 and 1)")
    if any(not s.strip() for s in states):
        raise ValueError("a state text is empty")
    return tuple(s.strip() for s in states)


#: A switch position's state texts are indexed by the IEC 61850 Dbpos code (0 intermediate,
#: 1 open, 2 closed, 3 bad state): it needs all four.
POSITION_STATES = 4


class Quantity(_Frozen):
    """What a measured quantity is called on screen, and a status quantity's state texts."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    states: tuple[str, ...] | None = None

    @field_validator("states")
    @classmethod
    def _states_texts(cls, states: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _check_states(states)


class Nameplate(_Frozen):
    rated_kv: float = Field(gt=0)
    rated_a: float | None = Field(default=None, gt=0)
    rated_mva: float | None = Field(default=None, gt=0)
    maker: str = Field(min_length=1)
    model: str = ""
    commissioned: dt.date
    # Type-specific ratings.
    breaking_ka: float | None = Field(default=None, gt=0)
    ratio: str | None = None
    accuracy_class: str | None = None
    vector_group: str | None = None
    impedance_pct: float | None = Field(default=None, gt=0)
    #: A three-winding transformer's (an ICT's) tertiary winding.
    tertiary_kv: float | None = Field(default=None, gt=0)
    tertiary_mva: float | None = Field(default=None, gt=0)
    cooling: str | None = None
    function: str | None = None
    mcov_kv: float | None = Field(default=None, gt=0)
    rated_ka: float | None = Field(default=None, gt=0)
    # SF6 gas-density monitor of a gas breaker (bar absolute at 20 °C): the rated filling,
    # the first stage (low-density alarm) and the second stage (lockout).
    sf6_rated_bar: float | None = Field(default=None, gt=0)
    sf6_alarm_bar: float | None = Field(default=None, gt=0)
    sf6_lockout_bar: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _sf6_stages(self) -> Nameplate:
        stages = (self.sf6_lockout_bar, self.sf6_alarm_bar, self.sf6_rated_bar)
        if any(x is not None for x in stages):
            if any(x is None for x in stages):
                raise ValueError("sf6_rated_bar, sf6_alarm_bar and sf6_lockout_bar go together")
            if not self.sf6_lockout_bar < self.sf6_alarm_bar < self.sf6_rated_bar:
                raise ValueError("SF6 stages must satisfy sf6_lockout_bar < sf6_alarm_bar < "
                                 "sf6_rated_bar")
        return self


class Asset(_Frozen):
    id: str = Field(pattern=_ID)
    type: AssetType
    name: str = Field(min_length=1)
    bay: str
    #: IEC 61850 logical node class (XCBR, XSWI, YPTR, MMXU, TCTR …).
    logical_node: str = Field(pattern=r"^[A-Z]{4}$")
    #: OpenDSS element the asset is in the circuit as, e.g. ``Line.L1_Q0``.
    element: str | None = Field(default=None, pattern=_ELEMENT)
    #: OpenDSS bus a voltage-measuring or shunt device sits on.
    bus: str | None = Field(default=None, pattern=_ID)
    nameplate: Nameplate
    points: tuple[Point, ...] = ()

    @field_validator("points")
    @classmethod
    def _unique_points(cls, points: tuple[Point, ...]) -> tuple[Point, ...]:
        seen: set[str] = set()
        for p in points:
            if p.name in seen:
                raise ValueError(f"point '{p.name}' is listed twice")
            seen.add(p.name)
        return points

    @model_validator(mode="after")
    def _switch_has_element(self) -> Asset:
        if self.type in SWITCHING_TYPES and self.element is None:
            raise ValueError(f"a {self.type} must name its circuit element")
        return self

    def element_kind_error(self, switch_names: set[str] | None = None) -> str | None:
        """Why this asset's ``element`` is the wrong kind of circuit element, or None.

        ``switch_names`` (lower case) are the circuit's switch elements; without them only the
        element class is checked.
        """
        if self.element is None:
            return None
        cls = self.element.split(".", 1)[0].lower()
        allowed = ELEMENT_CLASSES.get(self.type)
        what = self.type.replace("_", " ")
        if not allowed:
            where = "a bus (field 'bus')" if self.type in BUS_TYPES else "no circuit element"
            return f"a {what} maps to {where}, not to element '{self.element}'"
        if cls not in allowed:
            kinds = " or ".join(_CLASS_WORDS.get(c, c) for c in sorted(allowed))
            if self.type in SWITCHING_TYPES:
                kinds = "a switch element (a Line with switch=yes)"
            return f"a {what} must map to {kinds}, not '{self.element}'"
        if switch_names is not None and cls == "line":
            is_switch = self.element.lower() in switch_names
            if self.type in SWITCHING_TYPES and not is_switch:
                return (f"a {what} must map to a switch element (a Line with switch=yes); "
                        f"'{self.element}' is not a switch")
            if self.type in ("line", "feeder") and is_switch:
                return (f"a {what} must map to a real line, not to the switch element "
                        f"'{self.element}'")
        return None

    @property
    def is_switch(self) -> bool:
        return self.type in SWITCHING_TYPES

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(f"asset {self.id} has no point {name}")


class Bay(_Frozen):
    id: str = Field(pattern=_ID)
    name: str
    voltage_kv: float = Field(gt=0)
    kind: BayKind


class VoltageLevel(_Frozen):
    """A nominal voltage with its steady-state operating band (Indian Grid Code)."""

    nominal_kv: float = Field(gt=0)
    min_kv: float = Field(gt=0)
    max_kv: float = Field(gt=0)

    @model_validator(mode="after")
    def _band(self) -> VoltageLevel:
        if not self.min_kv < self.nominal_kv < self.max_kv:
            raise ValueError("min_kv < nominal_kv < max_kv must hold")
        return self


class Contingency(_Frozen):
    """An N-1 outage: the asset taken out and the breakers opened to do it."""

    asset: str
    open: tuple[str, ...] = Field(min_length=1)


class StationInfo(_Frozen):
    id: str
    name: str
    owner: str = ""
    circuit: str = Field(min_length=1)
    frequency_hz: float = Field(gt=0)
    timezone: str = "Asia/Kolkata"


class Station(_Frozen):
    """The whole station description: immutable, Qt-free, safe to share between threads."""

    station: StationInfo
    voltage_levels: tuple[VoltageLevel, ...] = Field(min_length=1)
    bays: tuple[Bay, ...] = Field(min_length=1)
    #: Descriptions and state texts per quantity (the displays' vocabulary); when given,
    #: every quantity a point uses is listed and every status point has state texts.
    quantities: tuple[Quantity, ...] = ()
    contingencies: tuple[Contingency, ...] = ()
    assets: tuple[Asset, ...] = Field(min_length=1)

    _path: Path | None = PrivateAttr(default=None)
    _by_id: dict[str, Asset] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: object) -> None:
        self._by_id = {a.id: a for a in self.assets}

    # -- where it came from -------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def circuit_path(self) -> Path:
        base = self._path.parent if self._path is not None else Path.cwd()
        return (base / self.station.circuit).resolve()

    # -- look-ups -------------------------------------------------------------------------
    def asset(self, asset_id: str) -> Asset:
        try:
            return self._by_id[asset_id]
        except KeyError:
            raise KeyError(f"no asset '{asset_id}' in station {self.station.id}") from None

    def has_asset(self, asset_id: str) -> bool:
        return asset_id in self._by_id

    def assets_of_type(self, *types: str) -> tuple[Asset, ...]:
        return tuple(a for a in self.assets if a.type in types)

    def switches(self) -> tuple[Asset, ...]:
        return tuple(a for a in self.assets if a.is_switch)

    def bay(self, bay_id: str) -> Bay:
        for b in self.bays:
            if b.id == bay_id:
                return b
        raise KeyError(f"no bay '{bay_id}'")

    def band_for(self, base_kv: float) -> VoltageLevel | None:
        """The voltage band of the level nearest ``base_kv`` (within 5 %), if any."""
        best = min(self.voltage_levels, key=lambda v: abs(v.nominal_kv - base_kv))
        return best if abs(best.nominal_kv - base_kv) <= 0.05 * best.nominal_kv else None

    def quantity(self, quantity_id: str) -> Quantity | None:
        return next((q for q in self.quantities if q.id == quantity_id), None)

    def point_count(self) -> int:
        return sum(len(a.points) for a in self.assets)

    # -- cross-checks ---------------------------------------------------------------------
    def check_circuit(self, element_names: Iterable[str], bus_names: Iterable[str],
                      switch_names: Iterable[str] | None = None) -> None:
        """Refuse a station whose assets point at elements or buses the circuit lacks, or at
        the wrong kind of element (a breaker on a transformer, an ICT on a reactor, …).

        ``switch_names`` are the circuit's switch elements; given, switching devices must map
        to one and lines must not.
        """
        elements = {e.lower() for e in element_names}
        buses = {b.lower() for b in bus_names}
        switches = None if switch_names is None else {s.lower() for s in switch_names}
        where = self._path or "station"
        for a in self.assets:
            if a.element is not None and a.element.lower() not in elements:
                raise StationFileError(
                    where,
                    f"circuit element '{a.element}' does not exist in {self.station.circuit}",
                    asset=a.id, field="element", line=self._line_of(a.id))
            wrong = a.element_kind_error(switches)
            if wrong is not None:
                raise StationFileError(where, wrong, asset=a.id, field="element",
                                       line=self._line_of(a.id))
            if a.bus is not None and a.bus.lower() not in buses:
                raise StationFileError(
                    where, f"bus '{a.bus}' does not exist in {self.station.circuit}",
                    asset=a.id, field="bus", line=self._line_of(a.id))

    def _line_of(self, asset_id: str) -> int | None:
        if self._path is None:
            return None
        try:
            return line_of_asset(self._path.read_text(encoding="utf-8"), asset_id)
        except OSError:
            return None


def line_of_asset(text: str, asset_id: str) -> int | None:
    """The 1-based line of ``id = "<asset_id>"`` in a station file's text."""
    m = re.search(rf'^\s*id\s*=\s*"{re.escape(asset_id)}"', text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None
