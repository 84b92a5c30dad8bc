"""The station's asset health from its historian: condition gathered, indices, forecasts,
maintenance suggestions stored without duplicates.

:func:`assess` is what ``gridtwin health`` and the HMI's Health view run (the view on its job
runner: daily and on demand). For every asset of a type with a health model
(:data:`ml.health.HEALTH_TYPES`) it reads from the historian

* the latest good value of each condition quantity at ``at`` (bad, invalid or questionable
  samples are not condition data);
* dated DGA analyses over the last year (the last value of each day the on-line monitor
  reported all five key gases) for the IEEE C57.104 status, levels, deltas and rates;
* the SF6 density of the last 90 days (daily) for the leak rate;
* the tap-changer's operation counter;

and scores the index (:func:`ml.health.health_index`) today and at each of the last
``history_days`` days (the same condition read at that day's end) for the 30-day forecast.
An asset whose historian holds nothing gets an index from its age alone, and says so
(``missing``).

:func:`store_suggestions` writes the poor factors' work to ``maintenance_schedule``: one
open row per ``<asset>:<factor>`` code (the code leads the notes), so a rerun updates the
open row's evidence and due date instead of adding another; a row completed
(``completed_date`` set) lets a new one be raised.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.historian.api import HistorianReader
from app.historian.models import MaintenanceSchedule
from app.station import quality as Q
from app.station.model import Asset, Station
from ml.health import (
    HEALTH_TYPES,
    Condition,
    HealthForecast,
    HealthIndex,
    Suggestion,
    forecast,
    health_index,
    suggestions,
)

log = logging.getLogger(__name__)

#: The quantities whose latest value is condition data.
CONDITION_QUANTITIES = ("ageing_rate", "loss_of_life_h", "oil_moisture_ppm",
                        "bushing_tan_delta_pct", "contact_wear_pct", "operations",
                        "sf6_pressure_bar", "resistive_leakage_ma", "tap_operations")
GAS_QUANTITIES = {"gas_h2_ppm": "H2", "gas_ch4_ppm": "CH4", "gas_c2h6_ppm": "C2H6",
                  "gas_c2h4_ppm": "C2H4", "gas_c2h2_ppm": "C2H2", "gas_co_ppm": "CO",
                  "gas_co2_ppm": "CO2"}
KEY_GASES = ("H2", "CH4", "C2H6", "C2H4", "C2H2")
DGA_DAYS, SF6_DAYS, HISTORY_DAYS = 365, 90, 30
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class AssetHealth:
    """One asset's index now, its daily history and its forecast."""

    index: HealthIndex
    history: tuple[tuple[dt.datetime, float], ...]
    forecast: HealthForecast
    suggestions: tuple[Suggestion, ...]

    def as_dict(self) -> dict[str, object]:
        d = self.index.as_dict()
        d["history"] = [[t.isoformat(), round(v, 1)] for t, v in self.history]
        d["forecast_30d"] = self.forecast.as_dict()
        d["remaining_life_years"] = round(self.forecast.remaining_life_years, 1)
        d["suggestions"] = [s.as_dict() for s in self.suggestions]
        return d


def _tags(asset: Asset, quantities: Iterable[str]) -> dict[str, list[str]]:
    want = set(quantities)
    out: dict[str, list[str]] = {}
    for p in asset.points:
        if p.quantity in want:
            out.setdefault(p.quantity, []).append(f"{asset.id}.{p.name}")
    return out


def _daily_last(reader: HistorianReader, tags: Sequence[str], t0: dt.datetime,
                t1: dt.datetime) -> dict[str, dict[int, float]]:
    """tag → {day number since the epoch: the last value that day} over [t0, t1)."""
    if not tags:
        return {}
    days = max(1, int((t1 - t0) / DAY))
    out: dict[str, dict[int, float]] = {}
    for tr in reader.trend(tags, t0, t1, max_points=2 * days + 2):
        per: dict[int, float] = {}
        good = (np.ones(len(tr.value), bool) if len(tr.quality) != len(tr.value)
                else (tr.quality & Q.VALIDITY_MASK) == Q.GOOD)
        for t_ns, v, ok in zip(tr.t_ns.tolist(), tr.value.tolist(), good.tolist(),
                               strict=True):
            if ok and math.isfinite(v):
                per[int(t_ns // 86_400_000_000_000)] = float(v)
        out[tr.tag] = per
    return out


def _day_end(day: int) -> dt.datetime:
    """The last instant (to the µs) of UTC day number ``day``: still that day."""
    return dt.datetime.fromtimestamp((day + 1) * 86400, tz=dt.UTC) - dt.timedelta(
        microseconds=1)


class HealthAssessor:
    """Reads one asset's condition at any day from the historian (one query per kind of
    data and asset, shared by the index of today and those of the history days)."""

    def __init__(self, reader: HistorianReader, asset: Asset, at: dt.datetime,
                 history_days: int) -> None:
        self.asset, self.at = asset, at
        cond_tags = _tags(asset, CONDITION_QUANTITIES)
        gas_tags = _tags(asset, GAS_QUANTITIES)
        t_hist0 = at - (history_days + 1) * DAY
        t_dga0 = at - DGA_DAYS * DAY
        flat = [t for ts in cond_tags.values() for t in ts]
        self.cond_tags = cond_tags
        self.cond = _daily_last(reader, flat, min(t_hist0, at - SF6_DAYS * DAY), at)
        self.latest: dict[str, float] = {}
        for tag in flat:
            got = reader.value_at(tag, at)
            if got is not None and Q.is_good(got[1]) and math.isfinite(got[0]):
                self.latest[tag] = float(got[0])
        self.gas_tags = {GAS_QUANTITIES[q]: ts[0] for q, ts in gas_tags.items()}
        self.gas = _daily_last(reader, list(self.gas_tags.values()), t_dga0, at)

    def condition(self, at: dt.datetime, *, latest: bool = False) -> Condition:
        day = int(at.timestamp() // 86400)
        values: dict[str, list[float]] = {}
        for q, tags in self.cond_tags.items():
            for tag in tags:
                v = self.latest.get(tag) if latest else None
                if v is None:
                    per = self.cond.get(tag, {})
                    known = [d for d in per if d <= day]
                    v = per[max(known)] if known else None
                if v is not None:
                    values.setdefault(q, []).append(v)
        dga: list[tuple[dt.datetime, dict[str, float]]] = []
        if self.gas_tags:
            per_gas = {g: self.gas.get(tag, {}) for g, tag in self.gas_tags.items()}
            days = sorted(set().union(*(set(p) for p in per_gas.values())))
            for d in days:
                if d > day:
                    break
                sample = {g: p[d] for g, p in per_gas.items() if d in p}
                if all(g in sample for g in KEY_GASES):
                    dga.append((min(_day_end(d), at), sample))
        sf6: list[tuple[dt.datetime, float]] = []
        for tag in self.cond_tags.get("sf6_pressure_bar", [])[:1]:
            per = self.cond.get(tag, {})
            sf6 = [(min(_day_end(d), at), v) for d, v in sorted(per.items())
                   if day - SF6_DAYS <= d <= day]
        ops = values.pop("tap_operations", None)
        return Condition(self.asset, at, values, tuple(dga), tuple(sf6),
                         oltc_ops_since_overhaul=max(ops) if ops else None)


def assess_asset(reader: HistorianReader, asset: Asset, at: dt.datetime, *,
                 history_days: int = HISTORY_DAYS) -> AssetHealth:
    """One asset's index at ``at``, its daily history and forecast, and its suggestions."""
    a = HealthAssessor(reader, asset, at, history_days)
    cond = a.condition(at, latest=True)
    now = health_index(cond)
    history: list[tuple[dt.datetime, float]] = []
    has_data = bool(a.cond) or bool(a.gas)
    if has_data:
        today = int(at.timestamp() // 86400)
        for k in range(history_days, 0, -1):
            # At the end of each past day: a day's condition is its last reading, and read
            # at any earlier instant of that day it would take readings from after it.
            t = _day_end(today - k)
            c = a.condition(t)
            if c.latest or c.dga_history:  # a day before the data began is no history
                history.append((t, health_index(c).index))
    fc = forecast(now, history, cond)
    return AssetHealth(now, tuple(history), fc, tuple(suggestions(now)))


def health_assets(station: Station, asset_id: str | None = None) -> list[Asset]:
    """The assets with a health model (or the one asked for: an unknown or unscored id is
    a ValueError naming it)."""
    assets = [a for a in station.assets if a.type in HEALTH_TYPES]
    if asset_id is None:
        return assets
    ids = {a.id: a for a in station.assets}
    if asset_id not in ids:
        raise ValueError(f"--asset: no asset {asset_id!r} in {station.path}")
    if ids[asset_id].type not in HEALTH_TYPES:
        raise ValueError(f"--asset: {asset_id} is a {ids[asset_id].type}, which has no "
                         f"health model (those that do: {', '.join(HEALTH_TYPES)})")
    return [ids[asset_id]]


def assess(station: Station, reader: HistorianReader, at: dt.datetime, *,
           asset_id: str | None = None, history_days: int = HISTORY_DAYS,
           progress: Callable[[int, int], None] | None = None,
           cancelled: Callable[[], bool] = lambda: False) -> list[AssetHealth]:
    """Every scored asset's health (worst first); ``progress(done, total)`` as it goes."""
    assets = health_assets(station, asset_id)
    out: list[AssetHealth] = []
    for k, asset in enumerate(assets):
        if cancelled():
            break
        out.append(assess_asset(reader, asset, at, history_days=history_days))
        if progress is not None:
            progress(k + 1, len(assets))
    out.sort(key=lambda h: h.index.index)
    return out


# ---------------------------------------------------------------------------- the table
def _notes(s: Suggestion) -> str:
    return f"[{s.code}] {s.action}. Reason: {s.reason}. Evidence: {s.evidence}"


def store_suggestions(engine: Engine, items: Iterable[Suggestion]) -> tuple[int, int]:
    """Write suggestions to ``maintenance_schedule``: (added, updated). An open row (not
    completed) with the same code is updated, never duplicated."""
    added = updated = 0
    with Session(engine) as db, db.begin():
        open_rows = db.scalars(select(MaintenanceSchedule).where(
            MaintenanceSchedule.completed_date.is_(None))).all()
        by_code = {}
        for r in open_rows:
            notes = r.notes or ""
            if notes.startswith("[") and "]" in notes:
                by_code[notes[1:notes.index("]")]] = r
        for s in items:
            row = by_code.get(s.code)
            if row is None:
                row = MaintenanceSchedule(schedule_id=str(uuid.uuid4()), asset_id=s.asset,
                                          maintenance_type=s.maintenance_type,
                                          scheduled_date=s.due.isoformat(),
                                          performed_by="gridtwin health", notes=_notes(s))
                db.add(row)
                by_code[s.code] = row
                added += 1
            else:
                # The earlier of the two due dates stands: a rerun never postpones work.
                due = min(row.scheduled_date or s.due.isoformat(), s.due.isoformat())
                row.scheduled_date, row.notes = due, _notes(s)
                row.maintenance_type = s.maintenance_type
                updated += 1
    return added, updated


def open_suggestions(engine: Engine) -> list[tuple[str, str, str, str]]:
    """Open rows of ``maintenance_schedule``: (asset, type, due, notes), soonest first."""
    with Session(engine) as db:
        rows = db.scalars(select(MaintenanceSchedule).where(
            MaintenanceSchedule.completed_date.is_(None))).all()
        return sorted(((r.asset_id, r.maintenance_type, r.scheduled_date or "", r.notes or "")
                       for r in rows), key=lambda r: (r[2], r[0]))
