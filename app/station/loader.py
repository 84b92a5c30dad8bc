"""Load and validate a station file (TOML).

Every refusal is a :class:`StationFileError` whose message names the file and, where it can,
the line, the asset and the field.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.station.model import (
    POSITION_STATES,
    Quantity,
    Station,
    StationFileError,
    line_of_asset,
)


def default_station_path() -> Path:
    """The station file shipped with GridTwin, or ``$GRIDTWIN_STATION`` when set."""
    env = os.environ.get("GRIDTWIN_STATION")
    if env:
        return Path(env)
    from app.resources import circuits_dir

    return circuits_dir() / "station.toml"


def load_station(path: str | Path | None = None) -> Station:
    """Read, validate and return the station description at ``path``."""
    path = Path(path) if path is not None else default_station_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StationFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise StationFileError(path, f"not valid TOML: {exc}",
                               line=int(m.group(1)) if m else None) from None
    station = _validate(path, raw, text)
    _check_references(path, station, text)
    station._path = path.resolve()
    return station


def _validate(path: Path, raw: dict[str, Any], text: str) -> Station:
    try:
        return Station.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        asset = None
        if len(loc) >= 2 and loc[0] == "assets" and isinstance(loc[1], int):
            idx = loc[1]
            items = raw.get("assets") or []
            asset = str(items[idx].get("id", f"#{idx + 1}")) if idx < len(items) else f"#{idx + 1}"
            loc = loc[2:]
        elif len(loc) >= 2 and isinstance(loc[1], int):
            section = loc[0]
            idx = loc[1]
            items = raw.get(section) or []
            ident = items[idx].get("id") or items[idx].get("asset") if idx < len(items) else None
            loc = [f"{section}[{ident or idx + 1}]", *loc[2:]]
        # Points are addressed by name, not index, so the message reads as the file does.
        field_parts: list[str] = []
        for i, part in enumerate(loc):
            if isinstance(part, int) and i > 0 and loc[i - 1] == "points" and asset:
                pts = next((a.get("points") for a in raw.get("assets", [])
                            if str(a.get("id")) == asset), None) or []
                name = pts[part].get("name") if part < len(pts) else None
                field_parts[-1] = f"points[{name or part}]"
            else:
                field_parts.append(str(part))
        field = ".".join(field_parts) or None
        got = err.get("input")
        msg = err["msg"]
        if err["type"] not in ("missing",) and not isinstance(got, dict | list):
            msg += f" (got {got!r})"
        line = line_of_asset(text, asset) if asset else None
        raise StationFileError(path, msg, asset=asset, field=field, line=line) from None


def _key_lines(text: str, table: str, key: str) -> list[tuple[int, str, int]]:
    """Each ``key = "value"`` written directly in a ``[[table]]`` of the file, in order:
    (1-based line, value, index of that table entry)."""
    out: list[tuple[int, str, int]] = []
    section, entry = "", -1
    pattern = re.compile(rf'^\s*{re.escape(key)}\s*=\s*"([^"]*)"')
    for no, line in enumerate(text.splitlines(), 1):
        head = line.strip()
        if head.startswith("["):
            section = head.split("#", 1)[0].strip()
            if section == f"[[{table}]]":
                entry += 1
            continue
        if section == f"[[{table}]]" and (m := pattern.match(line)):
            out.append((no, m.group(1), entry))
    return out


def _check_references(path: Path, st: Station, text: str = "") -> None:
    asset_ids = _key_lines(text, "assets", "id")
    seen: set[str] = set()
    for a in st.assets:
        if a.id in seen:
            lines = [no for no, v, _ in asset_ids if v == a.id]
            raise StationFileError(path, f"asset id is used twice (first on line {lines[0]})"
                                   if len(lines) > 1 else "asset id is used twice",
                                   asset=a.id, field="id",
                                   line=lines[1] if len(lines) > 1 else None)
        seen.add(a.id)
    bays = {b.id for b in st.bays}
    if len(bays) != len(st.bays):
        dup = next(b.id for b in st.bays if sum(x.id == b.id for x in st.bays) > 1)
        lines = [no for no, v, _ in _key_lines(text, "bays", "id") if v == dup]
        raise StationFileError(path, f"bay '{dup}' is listed twice", field="bays",
                               line=lines[1] if len(lines) > 1 else None)
    asset_bays = _key_lines(text, "assets", "bay")
    for k, a in enumerate(st.assets):
        if a.bay not in bays:
            line = next((no for no, _v, entry in asset_bays if entry == k), None)
            raise StationFileError(path, f"bay '{a.bay}' is not in [[bays]]", asset=a.id,
                                   field="bay", line=line)
    _check_quantities(path, st, text)
    breakers = {a.id for a in st.assets if a.type == "breaker"}
    cont_lines = _key_lines(text, "contingencies", "asset")
    for k, c in enumerate(st.contingencies):
        line = next((no for no, _v, entry in cont_lines if entry == k), None)
        if c.asset not in seen:
            raise StationFileError(path, f"contingency names unknown asset '{c.asset}'",
                                   field="contingencies.asset", line=line)
        for b in c.open:
            if b not in breakers:
                raise StationFileError(path, f"contingency for '{c.asset}' opens '{b}', "
                                       "which is not a breaker", field="contingencies.open",
                                       line=line)


def _check_quantities(path: Path, st: Station, text: str) -> None:
    """The displays' vocabulary: each quantity listed once; with a quantities table, every
    point's quantity in it and every status point with state texts; a switch position with
    a text for each Dbpos code."""
    q_lines = _key_lines(text, "quantities", "id")
    by_id: dict[str, Quantity] = {}
    for k, q in enumerate(st.quantities):
        if q.id in by_id:
            line = next((no for no, _v, entry in q_lines if entry == k), None)
            raise StationFileError(path, f"quantity '{q.id}' is listed twice",
                                   field="quantities.id", line=line)
        by_id[q.id] = q
        if q.id == "position" and q.states is not None and len(q.states) != POSITION_STATES:
            line = next((no for no, _v, entry in q_lines if entry == k), None)
            raise StationFileError(path, "a switch position needs 4 state texts (Dbpos 0 "
                                   "intermediate, 1 open, 2 closed, 3 bad state), got "
                                   f"{len(q.states)}", field="quantities.states", line=line)
    for a in st.assets:
        for p in a.points:
            q = by_id.get(p.quantity)
            problem = None
            if by_id and q is None and p.description is None:
                problem = (f"quantity '{p.quantity}' is not in [[quantities]] (give it a "
                           "description there, or the point one)")
            elif p.kind == "status":
                states = p.states or (q.states if q is not None else None)
                if by_id and states is None:
                    problem = (f"a status point needs state texts (states = [...] on the "
                               f"point or on quantity '{p.quantity}')")
                elif (p.quantity == "position" and p.states is not None
                      and len(p.states) != POSITION_STATES):
                    problem = "a switch position needs 4 state texts (Dbpos 0…3)"
            if problem is not None:
                raise StationFileError(path, problem, asset=a.id, field=f"points[{p.name}]",
                                       line=_line_of_point(text, a.id, p.name))


def _line_of_point(text: str, asset_id: str, point: str) -> int | None:
    """The line of point ``point`` of asset ``asset_id`` (else the asset's own line)."""
    start = line_of_asset(text, asset_id)
    if start is None:
        return None
    lines = text.splitlines()
    for no in range(start, len(lines)):
        if no > start and lines[no].strip() == "[[assets]]":
            break
        if re.search(rf'\bname\s*=\s*"{re.escape(point)}"', lines[no]):
            return no + 1
    return start
