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

An immutable or append-only file (``chattr +i`` / ``+a``) is refused before each transaction
(:class:`UnwritableFileError`, a SQLAlchemy error, so the historian's writer turns it into
*degraded* with one log line): SQLite maps ``-shm`` into memory, and a write to the mapping
of an immutable file is not an error but SIGBUS, which kills the process with no log line.
Closing a connection checkpoints through the map as well, so while a file is flagged every
connection of the engine is told not to checkpoint on close (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE;
undone when the flag goes): a process that ends then leaves its WAL for the next open instead
of dying. (A flag set in the middle of a transaction can still do that: the check narrows
the window to the transaction itself.)
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import sqlite3
import stat
import struct
import sys
import weakref
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError, StatementError
from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

log = logging.getLogger(__name__)

_FS_IOC_GETFLAGS = 0x80086601  # linux/fs.h
_FS_IMMUTABLE_FL = 0x10
_FS_APPEND_FL = 0x20


class HistorianError(RuntimeError):
    pass


class UnwritableFileError(SQLAlchemyError):
    """A database file SQLite must not touch (immutable or append-only)."""


def file_flags_problem(path: str | Path) -> str | None:
    """Why ``path`` must not be written through a memory map (immutable or append-only
    inode flag), or None. Files that do not exist, and filesystems without inode flags, are
    fine here (SQLite itself reports what else goes wrong)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, _FS_IOC_GETFLAGS, struct.pack("i", 0)))[0]
    except OSError:  # tmpfs before 6.0, network filesystems: no flags to read
        return None
    finally:
        os.close(fd)
    if flags & _FS_IMMUTABLE_FL:
        return f"{path} is immutable (chattr +i): not written"
    if flags & _FS_APPEND_FL:
        return f"{path} is append-only (chattr +a): not written"
    return None


_SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE = 1006  # sqlite3.h


def _libsqlite() -> ctypes.CDLL | None:
    import _sqlite3  # the library Python's sqlite3 module uses, already loaded

    try:
        lib = ctypes.CDLL(_sqlite3.__file__)
        lib.sqlite3_db_config.restype = ctypes.c_int
        return lib
    except (OSError, AttributeError):
        return None


def no_checkpoint_on_close(dbapi_conn: sqlite3.Connection, on: bool) -> bool:
    """Tell a SQLite connection (not) to checkpoint when it closes. True when done."""
    if sys.version_info >= (3, 12):
        dbapi_conn.setconfig(sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on)
        return True
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return False
    lib = _libsqlite()
    if lib is None:
        return False
    # CPython 3.11's pysqlite_Connection: PyObject_HEAD, then the sqlite3 * handle.
    handle = ctypes.c_void_p.from_address(id(dbapi_conn) + object.__basicsize__).value
    if not handle:
        return False
    now = ctypes.c_int(-1)  # the setting as it stands after the call, read back
    rc = lib.sqlite3_db_config(ctypes.c_void_p(handle), _SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                               ctypes.c_int(int(on)), ctypes.byref(now))
    return rc == 0 and now.value == int(on)


def sqlite_files(database: str | Path) -> tuple[str, str, str]:
    return str(database), f"{database}-wal", f"{database}-shm"


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


def describe(url: str | URL) -> str:
    """The database as a person names it: the file of a SQLite URL, else the URL without its
    password."""
    try:
        u = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return str(url)
    if u.get_backend_name() == "sqlite" and u.database:
        return u.database
    return u.render_as_string(hide_password=True)


def first_line(exc: BaseException) -> str:
    """The driver's own message, first line, without SQLAlchemy's decoration."""
    cause = exc.orig if isinstance(exc, StatementError) else None
    msg = str(cause or exc).strip()
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
            files = sqlite_files(u.database) if u.database and u.database != ":memory:" \
                else ()
            opened: weakref.WeakSet = weakref.WeakSet()  # the pool's connection records
            flagged = [False]

            # Checked as each Connection starts, not at the pool's checkout: an error there
            # closes the SQLite connection, and closing one checkpoints — through the map.
            @event.listens_for(eng, "engine_connect")
            def _writable(_conn: Connection) -> None:
                why = next(filter(None, map(file_flags_problem, files)), None)
                if bool(why) != flagged[0]:
                    flagged[0] = bool(why)
                    for rec in list(opened):
                        c = rec.dbapi_connection
                        if c is not None and not no_checkpoint_on_close(c, flagged[0]) and why:
                            log.warning("%s: cannot keep SQLite from checkpointing on close",
                                        u.database)
                if why:
                    raise UnwritableFileError(why)

            @event.listens_for(eng, "connect")
            def _pragmas(dbapi_conn: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
                opened.add(record)
                if flagged[0]:
                    no_checkpoint_on_close(dbapi_conn, True)
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
