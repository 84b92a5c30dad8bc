"""The single-line diagram's layout file (``resources/single_line/station.json``), Qt-free.

All positions live in the file, none in code. Top level: ``width``, ``height``, ``title`` and

* ``busbars``: ``{asset, bus, x1, x2, y, kv, tag}`` — the busbar asset, its circuit bus (for
  energised / dead colouring), extent, nominal kV and the point shown as its voltage
  (beside its right end, or at ``value_pos``);
* ``devices``: ``{asset, symbol, x, y, bus, …}`` — one per drawn asset; ``symbol`` is one of
  breaker, isolator, earth_switch, transformer, ct, cvt, arrester, reactor, capacitor, feeder,
  line; ``bus`` is the circuit node it sits on; optional ``tag`` (its position point),
  ``branch`` (circuit element whose flow is animated), ``p``/``q`` (measured MW/MVAr points),
  ``lv_bus`` (a transformer's LV node), ``label``, ``horizontal``, ``flow_at`` (where a
  breaker's MW/Mvar go when beside it is crowded), ``tags_extra`` (a transformer's values:
  ``[tag, name]`` pairs), ``text_side``;
* ``wires``: ``{points: [[x, y], …], bus}`` — conductors, coloured by their circuit node;
* ``labels``: ``{text, x, y, size, anchor}`` (anchor left, center or right);
* optional ``text_scale``: every font on the diagram is multiplied by it (sizes in the file
  are points at 1:1; the diagram is normally seen zoomed out to fit the screen, so text is
  drawn larger than the symbols' own scale would suggest). Optional ``text_side`` on a
  transformer: ``"left"`` puts its nameplate text on the left.

:func:`load_layout` validates it against the station (and the point table) and refuses a bad
file with a message naming the file, the entry and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.station import Station
from app.station.points import PointTable

SYMBOLS = {"breaker", "isolator", "earth_switch", "transformer", "ct", "cvt", "arrester",
           "reactor", "capacitor", "feeder", "line"}


class LayoutError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Layout:
    path: Path
    width: float
    height: float
    title: str
    busbars: tuple[dict[str, Any], ...]
    devices: tuple[dict[str, Any], ...]
    wires: tuple[dict[str, Any], ...]
    labels: tuple[dict[str, Any], ...]
    text_scale: float = 1.0


def default_layout_path() -> Path:
    from app.resources import resources_dir

    return resources_dir() / "single_line" / "station.json"


def load_layout(station: Station, points: PointTable, path: str | Path | None = None,
                bus_names: set[str] | None = None) -> Layout:
    path = Path(path) if path else default_layout_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LayoutError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise LayoutError(f"{path}, line {exc.lineno}: not valid JSON: {exc.msg}") from None

    def fail(where: str, field: str, msg: str) -> None:
        raise LayoutError(f"{path}: {where}: field '{field}': {msg}")

    def num(entry: dict, where: str, key: str) -> None:
        if not isinstance(entry.get(key), int | float):
            fail(where, key, f"a number is required (got {entry.get(key)!r})")

    def tag(entry: dict, where: str, key: str) -> None:
        if key in entry and entry[key] not in points.index:
            fail(where, key, f"no point '{entry[key]}' in the station")

    def bus(entry: dict, where: str, key: str) -> None:
        if bus_names is not None and key in entry and entry[key].lower() not in bus_names:
            fail(where, key, f"no circuit bus '{entry[key]}'")

    for key in ("width", "height"):
        num(raw, "layout", key)
    if "text_scale" in raw:
        num(raw, "layout", "text_scale")
        if not 0.25 <= raw["text_scale"] <= 5:
            fail("layout", "text_scale", f"must be between 0.25 and 5 (got {raw['text_scale']})")
    seen: set[str] = set()
    for k, b in enumerate(raw.get("busbars", [])):
        where = f"busbars[{b.get('asset', k)}]"
        if not station.has_asset(str(b.get("asset"))):
            fail(where, "asset", f"no asset '{b.get('asset')}' in the station")
        for key in ("x1", "x2", "y", "kv"):
            num(b, where, key)
        tag(b, where, "tag")
        bus(b, where, "bus")
    for k, d in enumerate(raw.get("devices", [])):
        where = f"devices[{d.get('asset', k)}]"
        a = str(d.get("asset"))
        if not station.has_asset(a):
            fail(where, "asset", f"no asset '{a}' in the station")
        if a in seen:
            fail(where, "asset", "drawn twice")
        seen.add(a)
        if d.get("symbol") not in SYMBOLS:
            fail(where, "symbol", f"unknown symbol {d.get('symbol')!r} "
                                  f"(use one of {', '.join(sorted(SYMBOLS))})")
        for key in ("x", "y"):
            num(d, where, key)
        for key in ("tag", "p", "q"):
            tag(d, where, key)
        bus(d, where, "bus")
        bus(d, where, "lv_bus")
        for e in d.get("tags_extra", []):
            t = e if isinstance(e, str) else (e[0] if isinstance(e, list) and len(e) == 2
                                              else None)
            if t is None:
                fail(where, "tags_extra", f"entries are a tag or [tag, name] (got {e!r})")
            if t not in points.index:
                fail(where, "tags_extra", f"no point '{t}' in the station")
        for key in ("flow_at",):
            if key in d and not (isinstance(d[key], list) and len(d[key]) == 2):
                fail(where, key, "an [x, y] pair is required")
    for k, w in enumerate(raw.get("wires", [])):
        pts = w.get("points")
        if not isinstance(pts, list) or len(pts) < 2 or not all(
                isinstance(p, list) and len(p) == 2 for p in pts):
            fail(f"wires[{k}]", "points", "a list of at least two [x, y] pairs is required")
        bus(w, f"wires[{k}]", "bus")
    missing = [a.id for a in station.switches() if a.id not in seen]
    if missing:
        raise LayoutError(f"{path}: devices: switching devices not on the diagram: "
                          f"{', '.join(missing)}")
    return Layout(path, float(raw["width"]), float(raw["height"]), str(raw.get("title", "")),
                  tuple(raw.get("busbars", [])), tuple(raw.get("devices", [])),
                  tuple(raw.get("wires", [])), tuple(raw.get("labels", [])),
                  float(raw.get("text_scale", 1.0)))
