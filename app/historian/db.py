"""Where the historian lives and how it is opened.

SQLite by default: one file per station, ``<data dir>/<station id>.sqlite``, in WAL mode. The
data directory is, in order: the explicit ``data_dir`` (``--data-dir``), ``$GRIDTWIN_DATA_DIR``,
the platform's user data folder. PostgreSQL by URL (``--db postgresql://…``). The schema is
brought up to date with Alembic every time the database is opened.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class HistorianError(RuntimeError):
    pass


def data_dir(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("GRIDTWIN_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("gridtwin"))


def database_url(station_id: str, *, data_dir_path: str | Path | None = None,
                 db_url: str | None = None) -> str:
    if db_url:
        return db_url
    d = data_dir(data_dir_path)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HistorianError(f"{d}: cannot create the data directory: {exc.strerror}") from None
    return f"sqlite:///{d / (station_id + '.sqlite')}"


def create_db_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return eng
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
