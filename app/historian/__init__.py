"""Configuration store and time-series historian (SQLAlchemy; SQLite by default).

* :mod:`app.historian.models` — the tables; :mod:`app.historian.db` — where the database
  lives, how it is opened, Alembic migrations;
* :mod:`app.historian.compress` — swinging-door compression and compressed blocks;
* :mod:`app.historian.store` — :class:`Historian`: the writer thread and the queries.

May import app.station and the field data contracts; never Qt, never the twin.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, insert

from app.field.points import PointTable
from app.historian.compress import deviations
from app.historian.db import HistorianError, create_db_engine, data_dir, database_url, migrate
from app.historian.models import Asset, Point
from app.historian.store import Historian, HistorianStatus, Retention, Trend
from app.station import Station

__all__ = ["Historian", "HistorianError", "HistorianStatus", "Retention", "Trend",
           "data_dir", "open_historian", "sync_station"]


def sync_station(engine, station: Station, points: PointTable) -> None:  # noqa: ANN001
    """Write the station's assets and points into the configuration store."""
    dev = deviations(points)
    kinds = {0: "analog", 1: "status", 2: "counter"}
    with engine.begin() as con:
        con.execute(delete(Point))
        con.execute(delete(Asset))
        con.execute(insert(Asset), [{
            "asset_id": a.id, "asset_type": a.type, "name": a.name, "location": a.bay,
            "commissioned_date": a.nameplate.commissioned.isoformat(),
            "manufacturer": a.nameplate.maker, "model": a.nameplate.model,
            "rated_voltage_kv": a.nameplate.rated_kv, "rated_current_a": a.nameplate.rated_a,
            "rated_power_mva": a.nameplate.rated_mva, "status": "operational"}
            for a in station.assets])
        con.execute(insert(Point), [{
            "point_id": i, "tag": points.tags[i], "asset_id": points.asset[i],
            "kind": kinds[int(points.kind[i])], "quantity": points.quantity[i],
            "unit": points.unit[i], "deviation": float(dev[i])} for i in range(len(points))])


def open_historian(station: Station, points: PointTable, *, data_dir: str | Path | None = None,
                   db_url: str | None = None, **kw: object) -> Historian:
    """Open (creating and migrating as needed) the station's historian and start its writer."""
    url = database_url(station.station.id, data_dir_path=data_dir, db_url=db_url)
    engine = create_db_engine(url)
    migrate(engine)
    sync_station(engine, station, points)
    return Historian(engine, points, **kw)
