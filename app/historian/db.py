"""Where the historian lives and how it is opened.

SQLite by default: one file per station, ``<data dir>/<station id>.sqlite``, in WAL mode. The
data directory is, in order: the explicit ``data_dir`` (``--data-dir``), ``$GRIDTWIN_DATA_DIR``,
the platform's user data folder. PostgreSQL by URL (``--db postgresql+psycopg://…``). The
schema is brought up to date with Alembic every time the database is opened.

Every failure to open — a URL no driver understands, a server that does not answer, a file
that is not a database — is a :class:`HistorianError` naming the URL (password hidden) or the
file, in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

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


def describe(url: object) -> str:
    """The database as a person names it: the file of a SQLite URL, else the URL without its
    password."""
    try:
        u = make_url(str(url)) if not hasattr(url, "render_as_string") else url
    except ArgumentError:
        return str(url)
    if u.get_backend_name() == "sqlite" and u.database:
        return u.database
    return u.render_as_string(hide_password=True)


def first_line(exc: BaseException) -> str:
    """The driver's own message, first line, without SQLAlchemy's decoration."""
    msg = str(getattr(exc, "orig", None) or exc).strip()
    return msg.splitlines()[0] if msg else type(exc).__name__


def create_db_engine(url: str) -> Engine:
    try:
        u = make_url(url)
    except ArgumentError:
        raise HistorianError(f"--db {url!r} is not a database URL (e.g. "
                             "postgresql+psycopg://user@host/db or sqlite:///file)") from None
    try:
        if u.get_backend_name() == "sqlite":
            if u.database and u.database != ":memory:":
                parent = Path(u.database).parent
                if not parent.is_dir():
                    raise HistorianError(f"{u.database}: its folder {parent} does not exist")
            eng = create_engine(u, connect_args={"check_same_thread": False, "timeout": 10})

            @event.listens_for(eng, "connect")
            def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            return eng
        return create_engine(u, pool_pre_ping=True)
    except HistorianError:
        raise
    except (ArgumentError, ImportError) as exc:  # no such dialect or driver
        raise HistorianError(f"{describe(u)}: no database driver for this URL "
                             f"({first_line(exc)})") from None


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is). A database that
    cannot be reached or read raises :class:`HistorianError` naming it."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise HistorianError(f"{describe(engine.url)}: cannot open the database: "
                             f"{first_line(exc)}") from None
