"""Configuration store and time-series historian (SQLAlchemy; SQLite by default).

* :mod:`app.historian.models` — the tables; :mod:`app.historian.db` — where the database
  lives, how it is opened, Alembic migrations;
* :mod:`app.historian.compress` — swinging-door compression and compressed blocks;
* :mod:`app.historian.api` — what its users hold a historian by, whichever the backend:
  :class:`HistorianWriter`, :class:`HistorianReader`, :class:`HistorianBackend` (both);
* :mod:`app.historian.store` — :class:`Historian`: the writer thread and the queries;
* :mod:`app.historian.influx` — the optional InfluxDB time-series backend;
* :mod:`app.historian.dss_versions` — circuit model versions.

May import app.station and the field data contracts; never Qt, never the twin.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Unpack

import numpy as np
from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from app.historian.api import HistorianBackend, HistorianReader, HistorianWriter
from app.historian.compress import deviations
from app.historian.db import (
    HistorianError,
    create_db_engine,
    data_dir,
    database_url,
    describe,
    first_line,
    migrate,
)
from app.historian.models import Asset, Point
from app.historian.store import Historian, HistorianStatus, Retention, Trend, WriterOptions
from app.station import Station, clock
from app.station.points import PointTable

__all__ = ["Historian", "HistorianBackend", "HistorianError", "HistorianOptions",
           "HistorianReader",
           "HistorianStatus", "HistorianWriter", "InfluxSettings", "Retention", "Trend",
           "active_circuit", "data_dir", "open_config_store", "open_historian", "sync_station"]

log = logging.getLogger(__name__)

_KINDS = {0: "analog", 1: "status", 2: "counter"}
_ASSET_COLS = ("asset_type", "name", "location", "commissioned_date", "manufacturer", "model",
               "rated_voltage_kv", "rated_current_a", "rated_power_mva")
_POINT_COLS = ("asset_id", "kind", "quantity", "unit", "deviation")


def sync_station(engine: Engine, station: Station, points: PointTable) -> np.ndarray:
    """Bring the configuration store's assets and points in line with the station file, and
    return each point-table row's permanent point id.

    Nothing is deleted or renumbered: an asset or point already stored keeps its key and is
    updated in place; a new one is inserted (a new point gets the next free id); one no longer
    in the station file is marked retired (``assets.status = 'retired'``,
    ``points.retired_at``) and keeps its history, its maintenance records and every other row
    that refers to it."""
    for attempt in range(3):  # another process may be opening the same station right now
        try:
            return _sync(engine, station, points)
        except (IntegrityError, OperationalError) as exc:
            if attempt == 2:
                raise HistorianError(f"{describe(engine.url)}: cannot store the station's "
                                     f"assets and points: {first_line(exc)}") from None
            log.warning("station sync raced another writer (%s); trying again", first_line(exc))
        except SQLAlchemyError as exc:
            raise HistorianError(f"{describe(engine.url)}: cannot store the station's assets "
                                 f"and points: {first_line(exc)}") from None
    raise AssertionError("unreachable")


def _sync(engine: Engine, station: Station, points: PointTable) -> np.ndarray:
    now = clock.now().isoformat(timespec="seconds")
    dev = deviations(points)
    want_assets = {a.id: {
        "asset_type": a.type, "name": a.name, "location": a.bay,
        "commissioned_date": a.nameplate.commissioned.isoformat(),
        "manufacturer": a.nameplate.maker, "model": a.nameplate.model,
        "rated_voltage_kv": a.nameplate.rated_kv, "rated_current_a": a.nameplate.rated_a,
        "rated_power_mva": a.nameplate.rated_mva} for a in station.assets}
    want_points = {points.tags[i]: {
        "asset_id": points.asset[i], "kind": _KINDS[int(points.kind[i])],
        "quantity": points.quantity[i], "unit": points.unit[i], "deviation": float(dev[i])}
        for i in range(len(points))}
    with engine.begin() as con:
        have = {r.asset_id: r for r in con.execute(select(Asset))}
        new = [{"asset_id": k, **v, "status": "operational", "created_at": now}
               for k, v in want_assets.items() if k not in have]
        changed = [{"b_id": k, **v, "status": "operational" if have[k].status == "retired"
                    else have[k].status}
                   for k, v in want_assets.items() if k in have and (
                       have[k].status == "retired"
                       or any(getattr(have[k], c) != v[c] for c in _ASSET_COLS))]
        gone = [k for k, r in have.items() if k not in want_assets and r.status != "retired"]
        if new:
            con.execute(insert(Asset), new)
        if changed:
            con.execute(update(Asset).where(Asset.asset_id == bindparam("b_id"))
                        .values({c: bindparam(c) for c in (*_ASSET_COLS, "status")}), changed)
        if gone:
            con.execute(update(Asset).where(Asset.asset_id.in_(gone)).values(status="retired"))
            log.info("assets no longer in the station file, retired: %s", ", ".join(gone))

        have_p = {r.tag: r for r in con.execute(select(Point))}
        next_id = max((r.point_id for r in have_p.values()), default=-1) + 1
        new_p = []
        for tag, v in want_points.items():
            if tag not in have_p:
                new_p.append({"point_id": next_id, "tag": tag, **v, "retired_at": None})
                next_id += 1
        changed_p = [{"b_tag": t, **v} for t, v in want_points.items() if t in have_p and (
            have_p[t].retired_at is not None
            or any(getattr(have_p[t], c) != v[c] for c in _POINT_COLS))]
        gone_p = [t for t, r in have_p.items() if t not in want_points and r.retired_at is None]
        if new_p:
            con.execute(insert(Point), new_p)
        if changed_p:
            con.execute(update(Point).where(Point.tag == bindparam("b_tag"))
                        .values({**{c: bindparam(c) for c in _POINT_COLS}, "retired_at": None}),
                        changed_p)
        if gone_p:
            con.execute(update(Point).where(Point.tag.in_(gone_p)).values(retired_at=now))
            log.info("%d points no longer in the station file, retired (history kept)",
                     len(gone_p))
        ids = dict(con.execute(select(Point.tag, Point.point_id)).all())
    return np.array([ids[t] for t in points.tags], dtype=np.int64)


class InfluxSettings:
    """Where the optional InfluxDB time-series backend is (see :mod:`app.historian.influx`)."""

    def __init__(self, url: str, database: str = "gridtwin", *, token: str | None = None,
                 username: str | None = None, password: str | None = None,
                 create_database: bool = True) -> None:
        self.url, self.database, self.token = url, database, token
        self.username, self.password = username, password
        self.create_database = create_database


class HistorianOptions(WriterOptions, total=False):
    """:func:`open_historian`'s options beyond where the station is: the time-series backend
    and the writer's settings (``gridtwin run`` and ``record`` build them from their command
    line)."""

    influx: InfluxSettings | None


def open_config_store(station: Station, *, data_dir: str | Path | None = None,
                      db_url: str | None = None) -> Engine:
    """The station's configuration store (created and migrated as needed)."""
    from app.historian.audit_chain import use_data_dir

    url = database_url(station.station.id, data_dir_path=data_dir, db_url=db_url)
    engine = create_db_engine(url)
    use_data_dir(engine, data_dir)  # a server store's audit key and anchor live there
    migrate(engine)
    return engine


def open_historian(station: Station, points: PointTable, *, data_dir: str | Path | None = None,
                   db_url: str | None = None, influx: InfluxSettings | None = None,
                   **kw: Unpack[WriterOptions]) -> HistorianBackend:
    """Open (creating and migrating as needed) the station's historian and start its writer.

    The configuration store (and events) are always SQL — SQLite in the data folder or
    ``db_url``. Time series go there too, or to InfluxDB when ``influx`` is given (then the
    returned object is an :class:`~app.historian.influx.InfluxHistorian` with the same
    interface). Keyword arguments go to :class:`Historian` (``retention``, ``flush_s`` …)."""
    engine = open_config_store(station, data_dir=data_dir, db_url=db_url)
    ids = sync_station(engine, station, points)
    if influx is None:
        return Historian(engine, points, point_ids=ids, **kw)
    from app.historian.influx import InfluxHistorian

    config = Historian(engine, points, point_ids=ids, **kw)
    try:
        return InfluxHistorian(influx.url, points, database=influx.database,
                               token=influx.token, username=influx.username,
                               password=influx.password,
                               create_database=influx.create_database, config_store=config)
    except Exception:
        config.close()
        raise


def active_circuit(station: Station, engine: Engine, *,
                   data_dir_path: str | Path | None = None) -> Path:
    """The circuit file the twin compiles: the active DSS version of the configuration store,
    written to ``<data dir>/<station id>.active.dss`` — or the station's own circuit file when
    no version has been activated."""
    from app.historian.dss_versions import DssVersionStore

    path = data_dir(data_dir_path) / f"{station.station.id}.active.dss"
    return DssVersionStore(engine).materialise(path) or station.circuit_path
