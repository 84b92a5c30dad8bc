"""Drill snapshots on file: save one, load it, start a drill from it.

A snapshot is the scenario, the simulated instant and everything done live before it (the
trainee's actions, the instructor's malfunctions); the drill is deterministic (the scenario's
seed), so replaying the scenario with those reaches the same state
(:meth:`app.training.drill.DrillEngine.backtrack`). The file is JSON, one live item a line::

    {
      "format": "gridtwin-drill-snapshot",
      "version": 1,
      "scenario": "breaker-failure",
      "t_s": 95.0,
      "label": "before the reset",
      "day": "2026-03-02",
      "live": [
        {"t_s": 40.0, "type": "malfunction", "kind": "overvoltage", "params": {"pu": 1.15}},
        {"t_s": 62.5, "type": "action", "action": "open", "asset": "F4_Q0"}
      ]
    }

A bad file is refused with one :class:`SnapshotFileError` naming the file, the line and the
field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.station import Station
from app.training.drill import DrillEngine, Malfunction, Snapshot
from app.training.scenario import ActionScript, Scenario, TraineeAction

if TYPE_CHECKING:
    from app.training.drill_goose import DrillGoose

FORMAT = "gridtwin-drill-snapshot"
VERSION = 1
_ACTIONS = ("open", "close", "reset")


class SnapshotFileError(ValueError):
    """A snapshot file that cannot be used: ``FILE:LINE: field 'F': why``."""

    def __init__(self, path: Path, message: str, *, line: int | None = None,
                 field: str | None = None) -> None:
        where = f"{path}:{line}" if line else str(path)
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{message}")
        self.path, self.line, self.field = path, line, field


def _item(t_s: float, item: TraineeAction | Malfunction) -> dict[str, Any]:
    if isinstance(item, TraineeAction):
        d: dict[str, Any] = {"t_s": round(t_s, 6), "type": "action", "action": item.action,
                             "asset": item.asset}
        if item.bypass_reason is not None:
            d["bypass_reason"] = item.bypass_reason
        return d
    return {"t_s": round(t_s, 6), "type": "malfunction", "kind": item.kind,
            "params": dict(item.params)}


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    """What a snapshot file holds: the scenario's id, the snapshot, and the simulated day
    the drill was set on (None: not recorded; the caller chooses)."""

    scenario: str
    snapshot: Snapshot
    day: dt.date | None = None


def dumps(scenario_id: str, snap: Snapshot, day: dt.date | None = None) -> str:
    """The snapshot file's text (one live item a line, so an error can name its line)."""
    head: dict[str, Any] = {"format": FORMAT, "version": VERSION, "scenario": scenario_id,
                            "t_s": round(snap.t_s, 6), "label": snap.label}
    if day is not None:
        head["day"] = day.isoformat()
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    items = [json.dumps(_item(t, x)) for t, x in snap.live]
    if items:
        lines.append('  "live": [')
        lines += [f"    {s}{',' if k < len(items) - 1 else ''}" for k, s in enumerate(items)]
        lines.append("  ]")
    else:
        lines.append('  "live": []')
    lines.append("}")
    return "\n".join(lines) + "\n"


def save_snapshot(path: str | Path, scenario_id: str, snap: Snapshot,
                  day: dt.date | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(scenario_id, snap, day), encoding="utf-8")
    return path


def _key_line(text: str, key: str, nth: int = 0, after: int = 0) -> int | None:
    """The line of the ``nth`` occurrence of ``"key":`` at or after line ``after``."""
    pat = re.compile(r'"' + re.escape(key) + r'"\s*:')
    seen = 0
    for k, line in enumerate(text.splitlines(), 1):
        if k < after:
            continue
        if pat.search(line):
            if seen == nth:
                return k
            seen += 1
    return None


def _number(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    x = float(v)
    return x if math.isfinite(x) else None


def load_snapshot(path: str | Path) -> SnapshotFile:
    """The scenario id, snapshot and day of a file written by :func:`save_snapshot`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotFileError(path, f"cannot read: {exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotFileError(path, f"not JSON: {exc.msg} (column {exc.colno})",
                                line=exc.lineno) from None
    if not isinstance(raw, dict):
        raise SnapshotFileError(path, "not a snapshot (a JSON object is expected)", line=1)

    def fail(field: str, message: str, line: int | None = None) -> SnapshotFileError:
        return SnapshotFileError(path, message, field=field,
                                 line=line if line is not None else _key_line(text, field))

    if raw.get("format") != FORMAT:
        raise fail("format", f"not a drill snapshot (expected \"{FORMAT}\")")
    if raw.get("version") != VERSION:
        raise fail("version", f"version {raw.get('version')!r} is not supported "
                              f"(this program reads {VERSION})")
    sc = raw.get("scenario")
    if not isinstance(sc, str) or not sc:
        raise fail("scenario", "a scenario id (text) is required")
    t_s = _number(raw.get("t_s"))
    if t_s is None or t_s < 0:
        raise fail("t_s", f"{raw.get('t_s')!r} is not a simulated time (seconds >= 0)")
    label = raw.get("label", "")
    if not isinstance(label, str):
        raise fail("label", "must be text")
    day = None
    if raw.get("day") is not None:
        try:
            day = dt.date.fromisoformat(str(raw["day"]))
        except ValueError:
            raise fail("day", f"{raw['day']!r} is not a date (YYYY-MM-DD)") from None
    items = raw.get("live", [])
    if not isinstance(items, list):
        raise fail("live", "must be a list")
    live_line = _key_line(text, "live") or 0
    live: list[tuple[float, TraineeAction | Malfunction]] = []
    for k, it in enumerate(items):
        line = live_line + 1 + k if live_line else None
        name = f"live[{k}]"
        if not isinstance(it, dict):
            raise fail(name, "must be an object", line)
        at = _number(it.get("t_s"))
        if at is None or at < 0 or at > t_s + 1e-9:
            raise fail(f"{name}.t_s", f"{it.get('t_s')!r} is not a time between 0 and the "
                                      f"snapshot's {t_s:g} s", line)
        typ = it.get("type")
        if typ == "action":
            act = it.get("action")
            if act not in _ACTIONS:
                raise fail(f"{name}.action", f"{act!r} is not one of {', '.join(_ACTIONS)}",
                           line)
            asset = it.get("asset", "")
            if not isinstance(asset, str) or (act != "reset" and not asset):
                raise fail(f"{name}.asset", "an asset id is required", line)
            bypass = it.get("bypass_reason")
            if bypass is not None and not isinstance(bypass, str):
                raise fail(f"{name}.bypass_reason", "must be text", line)
            live.append((at, TraineeAction(at, act, asset, bypass)))
        elif typ == "malfunction":
            kind = it.get("kind")
            if not isinstance(kind, str) or not kind:
                raise fail(f"{name}.kind", "a malfunction kind is required", line)
            params = it.get("params", {})
            if not isinstance(params, dict):
                raise fail(f"{name}.params", "must be an object", line)
            live.append((at, Malfunction(kind, tuple(sorted(params.items())))))
        else:
            raise fail(f"{name}.type", f"{typ!r} is not 'action' or 'malfunction'", line)
    return SnapshotFile(sc, Snapshot(t_s, label or f"{t_s:.0f} s", tuple(live)), day)


def engine_at(station: Station, scenario: Scenario, snap: Snapshot, *, day: dt.date,
              out_dir: str | Path, script: ActionScript | None = None,
              snapshot_every_s: float | None = None,
              goose: DrillGoose | None = None) -> DrillEngine:
    """A drill engine at ``snap``: the scenario replayed with what was done live before it,
    scan by scan as the first run went (the way :meth:`DrillEngine.backtrack` does)."""
    if snap.t_s > scenario.duration_s + 1e-9:
        raise ValueError(f"snapshot at {snap.t_s:g} s is past the end of scenario "
                         f"'{scenario.id}' ({scenario.duration_s:g} s)")
    eng = DrillEngine(station, scenario, day=day, out_dir=out_dir, script=script,
                      snapshot_every_s=snapshot_every_s, replay=snap.live, goose=goose)
    while eng.t_s < snap.t_s - 1e-9:
        eng.run_until(min(snap.t_s, eng.t_s + scenario.scan_s))
    eng.snapshots = [snap]
    eng._live = list(snap.live)
    eng._soe("instructor", "snapshot", f"started from snapshot {snap.label}")
    return eng
