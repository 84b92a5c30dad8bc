"""Where the historian lives and how it is opened.

SQLite by default: one file per station, ``<data dir>/<station id>.sqlite``, in WAL mode. The
data directory is, in order: the explicit ``data_dir`` (``--data-dir``), ``$GRIDTWIN_DATA_DIR``,
the platform's user data folder. PostgreSQL by URL (``--db postgresql+psycopg://…``). The
schema is brought up to date with Alembic every time the database is opened.

Every failure to open — a URL no driver understands, a server that does not answer, a file
that is not a database — is a :class:`HistorianError` naming the URL (password hidden) or the
file, in one line.

**Private files.** The store holds password hashes and the audit log, so it is created
readable by its owner only: a data directory GridTwin creates is made ``0700`` (the platform's
default one is also tightened to ``0700`` when found looser; a folder named with
``--data-dir`` or ``$GRIDTWIN_DATA_DIR`` that already exists is left as its owner made it),
and the SQLite file is created ``0600`` before SQLite opens it (an existing one is tightened
to ``0600``). SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions,
so they are ``0600`` too; ones left looser by an older version are tightened at open.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

log = logging.getLogger(__name__)


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


def private_dir(d: Path, *, tighten: bool = False) -> Path:
    """Create the data directory ``0700`` (its missing parents as usual). An existing one is
    tightened to ``0700`` only with ``tighten`` (GridTwin's own default folder), never a
    folder someone named."""
    made = not d.exists()
    try:
        d.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        if made or tighten:
            _tighten(d, PRIVATE_DIR)
    except OSError as exc:
        raise HistorianError(f"{d}: cannot create the data directory: {exc.strerror}") from None
    return d


def _tighten(path: Path, mode: int) -> None:
    """chmod ``path`` to ``mode`` if it grants more (a file we do not own: one log line)."""
    try:
        now = stat.S_IMODE(path.stat().st_mode)
        if now & ~mode:
            os.chmod(path, now & mode)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("%s: cannot make it private (%s): %s", path, oct(mode), exc.strerror)


def private_sqlite_file(path: str | Path) -> None:
    """Make the SQLite database file ``0600`` before SQLite opens it: created empty (a valid
    empty database) with that mode if missing, tightened if looser, and the same for ``-wal``
    and ``-shm`` files left by an older version (SQLite creates them with the database's
    mode)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise HistorianError(f"{path}: cannot create the database: {exc.strerror}") from None
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        _tighten(p, PRIVATE_FILE)


def database_url(station_id: str, *, data_dir_path: str | Path | None = None,
                 db_url: str | None = None) -> str:
    if db_url:
        return db_url
    named = data_dir_path or os.environ.get("GRIDTWIN_DATA_DIR")
    d = private_dir(data_dir(data_dir_path), tighten=not named)
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
                if not u.database.startswith("file:"):
                    private_sqlite_file(u.database)
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
