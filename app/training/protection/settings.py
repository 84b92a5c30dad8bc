"""Protection relay settings as data: ``circuits/protection.toml``.

One ``[[relays]]`` table per protection relay of the station file (the assets of type
``relay``), with the functions that relay runs: phase and earth overcurrent (IEC 60255-151
IDMT and definite-time stages), distance zones, transformer / reactor / busbar differential,
breaker failure and auto-reclose; plus the station's breaker operating times and the
disturbance recorder's settings. Currents are primary amperes (the CT ratio is stated so that
secondary values can be shown and setting ranges checked), times seconds unless the name says
otherwise.

Every refusal is one :class:`ProtectionFileError` naming the file, the line, the relay and the
field, as the station file's loader does.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.station import Station
from app.station.model import Asset

Curve = Literal["SI", "VI", "EI", "LTI"]
SETTINGS_FILE = "protection.toml"

#: IDMT pickup range of the relays, in multiples of the CT's rated primary current.
PICKUP_RANGE_CT = (0.05, 4.0)


class ProtectionFileError(ValueError):
    """A protection settings file that cannot be used, with where the problem is."""

    def __init__(self, path: str | Path, message: str, *, relay: str | None = None,
                 field: str | None = None, line: int | None = None) -> None:
        self.path = str(path)
        self.relay = relay
        self.field = field
        self.line = line
        where = self.path
        if line is not None:
            where += f", line {line}"
        if relay is not None:
            where += f": relay '{relay}'"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class IdmtStage(_Frozen):
    """Inverse-time stage, IEC 60255-151: t = TMS * k / ((I/Is)^alpha - 1)."""

    pickup_a: float = Field(gt=0)
    tms: float = Field(ge=0.01, le=1.5)
    curve: Curve


class DefiniteStage(_Frozen):
    """Definite-time (high-set) stage: operates after ``delay_s`` above ``pickup_a``."""

    pickup_a: float = Field(gt=0)
    delay_s: float = Field(ge=0, le=60)


class Overcurrent(_Frozen):
    """Phase (51/50) or earth (51N/50N, from the residual current) overcurrent."""

    idmt: IdmtStage | None = None
    high_set: DefiniteStage | None = None
    #: Earth fault only: directional by the zero-sequence voltage (-3V0 polarising).
    directional: Literal["none", "forward", "reverse"] = "none"
    #: Angle by which -3V0 leads 3I0 for a forward fault (the source's zero-sequence angle).
    characteristic_angle_deg: float = Field(default=75.0, ge=0, le=90)

    @model_validator(mode="after")
    def _has_a_stage(self) -> Overcurrent:
        if self.idmt is None and self.high_set is None:
            raise ValueError("needs an 'idmt' or a 'high_set' stage")
        return self


class Zone(_Frozen):
    """A distance zone: reach along the line angle, in % of the line or in ohms."""

    name: str = Field(pattern=r"^Z[1-5]$")
    reach_pct: float | None = Field(default=None, gt=0, le=1000)
    reach_ohm: float | None = Field(default=None, gt=0)
    time_s: float = Field(ge=0, le=10)
    direction: Literal["forward", "reverse"] = "forward"

    @model_validator(mode="after")
    def _one_reach(self) -> Zone:
        if (self.reach_pct is None) == (self.reach_ohm is None):
            raise ValueError("give exactly one of reach_pct and reach_ohm")
        return self


class Distance(_Frozen):
    """Distance protection (21/21N) of one line."""

    line: str
    characteristic: Literal["mho", "quad"] = "mho"
    #: Quadrilateral only: the resistive reach, ohm (primary).
    resistive_reach_ohm: float | None = Field(default=None, gt=0)
    zones: tuple[Zone, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Distance:
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ValueError("a zone is listed twice")
        if self.characteristic == "quad" and self.resistive_reach_ohm is None:
            raise ValueError("a quadrilateral characteristic needs resistive_reach_ohm")
        return self


class DiffEnd(_Frozen):
    """One end of a transformer or reactor differential zone: a breaker's CT and its kV."""

    breaker: str
    kv: float = Field(gt=0)


class Differential(_Frozen):
    """Biased differential (87T, 87R, 87B): operates when Id > max(pickup, slope * Ibias),
    with ``slope1`` up to ``knee_a`` of bias and ``slope2`` above (currents referred to the
    first end's voltage)."""

    kind: Literal["transformer", "reactor", "busbar"]
    pickup_a: float = Field(gt=0)
    slope1: float = Field(gt=0, le=1.0)
    slope2: float = Field(gt=0, le=1.5)
    knee_a: float = Field(gt=0)
    ends: tuple[DiffEnd, ...] = ()
    #: Reactor: the shunt element whose neutral-side current closes the zone.
    shunt_element: str | None = None
    #: Busbar: the busbars (asset ids), one discriminating zone each.
    zones: tuple[str, ...] = ()
    #: Busbar: trip a zone only when the check zone (the whole voltage level) operates too.
    check_zone: bool = True
    #: Transformer: take the zero-sequence current out of each end (earthed star windings
    #: and a delta tertiary feed earth faults outside the zone).
    zero_sequence_filter: bool = False

    @model_validator(mode="after")
    def _check(self) -> Differential:
        if self.kind == "transformer" and len(self.ends) < 2:
            raise ValueError("a transformer differential needs two or more ends")
        if self.kind == "reactor" and (len(self.ends) != 1 or not self.shunt_element):
            raise ValueError("a reactor differential needs one end and its shunt_element")
        if self.kind == "busbar" and not self.zones:
            raise ValueError("a busbar differential needs its zones (busbar asset ids)")
        if self.slope2 < self.slope1:
            raise ValueError("slope2 must not be below slope1")
        return self


class BreakerFailure(_Frozen):
    """Breaker failure (50BF / LBB): re-trip, then back-up trip of the bus zone."""

    breakers: tuple[str, ...] = Field(min_length=1)
    current_check_a: float = Field(gt=0)
    retrip_s: float = Field(ge=0, le=1)
    backup_s: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _order(self) -> BreakerFailure:
        if self.backup_s <= self.retrip_s:
            raise ValueError("backup_s must be after retrip_s")
        return self


class AutoReclose(_Frozen):
    """Line auto-reclose (79): one shot, single-pole for earth faults (``1p``), three-pole
    for all faults (``3p``), or both (``1p3p``); a fault in the reclaim time locks out."""

    mode: Literal["1p", "3p", "1p3p"]
    dead_time_1p_s: float = Field(default=1.0, gt=0, le=10)
    dead_time_3p_s: float = Field(default=1.0, gt=0, le=60)
    reclaim_s: float = Field(gt=0, le=300)
    initiate_zones: tuple[str, ...] = ("Z1",)


class Relay(_Frozen):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    ct: str | None = None
    ct_ratio: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?/[15]$")
    vt: str | None = None
    vt_ratio: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?/\d+(\.\d+)?$")
    #: The breakers its trips open (busbar protection trips its zone's breakers instead).
    breakers: tuple[str, ...] = ()
    start_time_ms: float | None = Field(default=None, ge=0, le=100)
    min_operate_ms: float | None = Field(default=None, ge=0, le=200)
    overcurrent: Overcurrent | None = None
    earth_fault: Overcurrent | None = None
    distance: Distance | None = None
    differential: Differential | None = None
    breaker_failure: BreakerFailure | None = None
    autoreclose: AutoReclose | None = None

    @model_validator(mode="after")
    def _check(self) -> Relay:
        if not any((self.overcurrent, self.earth_fault, self.distance, self.differential,
                    self.breaker_failure)):
            raise ValueError("a relay needs at least one protection function")
        if (self.overcurrent or self.earth_fault or self.distance) and not self.ct:
            raise ValueError("overcurrent, earth fault and distance need the relay's 'ct'")
        if self.ct and not self.ct_ratio:
            raise ValueError("a relay with a 'ct' states its ct_ratio")
        if self.distance and not self.vt:
            raise ValueError("distance protection needs the relay's 'vt'")
        if self.earth_fault and self.earth_fault.directional != "none" and not self.vt:
            raise ValueError("a directional earth fault element needs the relay's 'vt'")
        if self.autoreclose and not self.distance:
            raise ValueError("auto-reclose is started by distance protection: add 'distance'")
        if self.autoreclose:
            names = {z.name for z in self.distance.zones}
            for z in self.autoreclose.initiate_zones:
                if z not in names:
                    raise ValueError(f"auto-reclose initiate zone '{z}' is not a zone")
        needs_breakers = self.overcurrent or self.earth_fault or self.distance or (
            self.differential and self.differential.kind != "busbar")
        if needs_breakers and not self.breakers:
            raise ValueError("a relay that trips needs its 'breakers'")
        return self

    @property
    def ct_primary_a(self) -> float | None:
        return float(self.ct_ratio.split("/")[0]) if self.ct_ratio else None


class Defaults(_Frozen):
    #: From fault inception to a relay's start (pickup) signal.
    start_time_ms: float = Field(default=10.0, ge=0, le=100)
    #: Shortest operate time of an "instantaneous" element (its measuring time).
    min_operate_ms: float = Field(default=20.0, ge=0, le=200)


class BreakerTime(_Frozen):
    voltage_kv: float = Field(gt=0)
    #: Trip command to contact separation (the current stops at the next current zero).
    break_time_ms: float = Field(gt=0, le=200)
    close_time_ms: float = Field(gt=0, le=300)


class Recorder(_Frozen):
    """Disturbance recorder: COMTRADE records of each fault."""

    sample_rate_hz: int = Field(ge=1000, le=4000)
    pre_fault_ms: float = Field(ge=20, le=1000)
    post_trip_ms: float = Field(ge=20, le=2000)
    max_duration_s: float = Field(gt=0, le=60)
    format: Literal["BINARY", "ASCII"] = "BINARY"


class ProtectionSettings(_Frozen):
    defaults: Defaults = Defaults()
    breaker_times: tuple[BreakerTime, ...] = Field(min_length=1)
    recorder: Recorder
    relays: tuple[Relay, ...] = Field(min_length=1)

    def relay(self, relay_id: str) -> Relay:
        for r in self.relays:
            if r.id == relay_id:
                return r
        raise KeyError(f"no settings for relay '{relay_id}'")

    def breaker_time(self, voltage_kv: float) -> BreakerTime:
        """The operating times of a breaker at ``voltage_kv`` (the nearest level listed)."""
        return min(self.breaker_times, key=lambda b: abs(b.voltage_kv - voltage_kv))


# ----------------------------------------------------------------------------- loading
def default_settings_path(station: Station) -> Path:
    base = station.path.parent if station.path is not None else Path("circuits")
    return base / SETTINGS_FILE


def load_protection(station: Station, path: str | Path | None = None) -> ProtectionSettings:
    """Read, validate and cross-check the settings against ``station``."""
    path = Path(path) if path is not None else default_settings_path(station)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProtectionFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ProtectionFileError(path, f"not valid TOML: {exc}",
                                  line=int(m.group(1)) if m else None) from None
    try:
        settings = ProtectionSettings.model_validate(raw)
    except ValidationError as exc:
        raise _explain(path, raw, text, exc) from None
    _check_references(path, text, station, settings)
    return settings


def _explain(path: Path, raw: dict[str, Any], text: str, exc: ValidationError
             ) -> ProtectionFileError:
    errors = exc.errors()
    # A misspelt key is reported as itself, not as the key it left missing.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = list(err["loc"])
    relay = None
    line = None
    if len(loc) >= 2 and loc[0] == "relays" and isinstance(loc[1], int):
        items = raw.get("relays") or []
        idx = loc[1]
        relay = str(items[idx].get("id", f"#{idx + 1}")) if idx < len(items) else f"#{idx + 1}"
        sub = items[idx] if idx < len(items) else {}
        line = _line_in_block(text, "relays", idx, loc[2:])
        loc = loc[2:]
    elif loc and isinstance(loc[0], str):
        items = raw.get(loc[0])
        if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(items, list):
            line = _line_in_block(text, loc[0], loc[1], loc[2:])
        else:
            line = _line_in_block(text, loc[0], None, loc[1:])
        sub = raw
    else:
        sub = raw
    parts: list[str] = []
    node: Any = sub
    for part in loc:
        if isinstance(part, int):
            name = None
            if isinstance(node, list) and part < len(node) and isinstance(node[part], dict):
                name = node[part].get("name")
            parts[-1] = f"{parts[-1]}[{name or part}]" if parts else f"[{part}]"
        else:
            parts.append(str(part))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    msg = err["msg"]
    got = err.get("input")
    if err["type"] != "missing" and not isinstance(got, dict | list):
        msg += f" (got {got!r})"
    return ProtectionFileError(path, msg, relay=relay, field=".".join(parts) or None,
                               line=line)


def _block(lines: list[str], table: str, index: int | None) -> tuple[int, int]:
    """Line range [start, end) of the ``index``-th ``[[table]]`` (or of ``[table]``)."""
    hdr = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]" if index is not None
                     else rf"^\s*\[\s*{re.escape(table)}\s*\]")
    starts = [k for k, s in enumerate(lines) if hdr.match(s)]
    if index is None:
        if not starts:
            return 0, len(lines)
        start = starts[0]
    else:
        if index >= len(starts):
            return 0, len(lines)
        start = starts[index]
    end = len(lines)
    for k in range(start + 1, len(lines)):
        s = lines[k].lstrip()
        if s.startswith("[[") and not s.startswith(f"[[{table}."):
            end = k
            break
        if s.startswith("[") and not s.startswith("[[") and \
                not s.startswith(f"[{table}."):
            end = k
            break
    return start, end


def _line_in_block(text: str, table: str, index: int | None, loc: list) -> int | None:
    """Best line for a field of a table: the line that sets the deepest key found."""
    lines = text.splitlines()
    start, end = _block(lines, table, index)
    pos = start
    for part in loc:
        if isinstance(part, int):
            # The part-th item of an inline array (one item a line) or array of tables.
            seen = -1
            for k in range(pos + 1, end):
                s = lines[k].lstrip()
                if s.startswith("{") or s.startswith("[["):
                    seen += 1
                    if seen == part:
                        pos = k
                        break
            continue
        key = re.compile(rf"(^|[\s{{,.\[]){re.escape(str(part))}\s*(=|\]|\.)")
        for k in range(pos, end):
            if key.search(lines[k]):
                pos = k
                break
        else:
            break
    return pos + 1


def _check_references(path: Path, text: str, st: Station, s: ProtectionSettings) -> None:
    def fail(idx: int, relay: str, field: str, msg: str) -> None:
        raise ProtectionFileError(path, msg, relay=relay, field=field,
                                  line=_line_in_block(text, "relays", idx,
                                                      field.replace("[", ".").split(".")))

    def asset_of(idx: int, r: str, field: str, asset_id: str, types: tuple[str, ...]
                 ) -> Asset:
        if not st.has_asset(asset_id):
            fail(idx, r, field, f"'{asset_id}' is not an asset of the station")
        a = st.asset(asset_id)
        if a.type not in types:
            fail(idx, r, field, f"'{asset_id}' is a {a.type}, not a {' or '.join(types)}")
        return a

    seen: set[str] = set()
    for idx, r in enumerate(s.relays):
        if r.id in seen:
            fail(idx, r.id, "id", "relay is listed twice")
        seen.add(r.id)
        asset_of(idx, r.id, "id", r.id, ("relay",))
        if r.ct:
            ct = asset_of(idx, r.id, "ct", r.ct, ("ct",))
            stated = (ct.nameplate.ratio or "").replace(" ", "").removesuffix("A")
            if stated and stated != r.ct_ratio:
                fail(idx, r.id, "ct_ratio", f"{r.ct_ratio} differs from {r.ct}'s nameplate "
                     f"ratio {ct.nameplate.ratio}")
            lo, hi = (x * r.ct_primary_a for x in PICKUP_RANGE_CT)
            for fname, oc in (("overcurrent", r.overcurrent), ("earth_fault", r.earth_fault)):
                if oc and oc.idmt and not lo <= oc.idmt.pickup_a <= hi:
                    fail(idx, r.id, f"{fname}.idmt.pickup_a", f"{oc.idmt.pickup_a:g} A is "
                         f"outside the relay's range {lo:g}-{hi:g} A "
                         f"({PICKUP_RANGE_CT[0]:g}-{PICKUP_RANGE_CT[1]:g} x {r.ct_ratio})")
        if r.vt:
            asset_of(idx, r.id, "vt", r.vt, ("cvt",))
        for b in r.breakers:
            asset_of(idx, r.id, "breakers", b, ("breaker",))
        if r.distance:
            line = asset_of(idx, r.id, "distance.line", r.distance.line, ("line", "feeder"))
            if not (line.element or "").lower().startswith("line."):
                fail(idx, r.id, "distance.line", f"'{line.id}' is not a Line in the circuit")
        if r.differential:
            d = r.differential
            for k, end in enumerate(d.ends):
                asset_of(idx, r.id, f"differential.ends[{k}].breaker", end.breaker,
                         ("breaker",))
            for z in d.zones:
                asset_of(idx, r.id, "differential.zones", z, ("busbar",))
            if d.shunt_element and not any((a.element or "").lower() == d.shunt_element.lower()
                                           for a in st.assets):
                fail(idx, r.id, "differential.shunt_element",
                     f"no asset of the station maps to '{d.shunt_element}'")
        if r.breaker_failure:
            for b in r.breaker_failure.breakers:
                asset_of(idx, r.id, "breaker_failure.breakers", b, ("breaker",))
