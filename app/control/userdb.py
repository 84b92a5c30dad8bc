"""Users in the configuration store's ``users`` table (SQLite or PostgreSQL).

A disabled account keeps its row; its stored hash is prefixed with ``!`` (as a locked
password in ``/etc/shadow``), which no password can match. The lock-out state (failed logins
in a row, the last one, the lock's end) has columns of its own, so a restart keeps it. Times
are ISO 8601 UTC strings, as elsewhere in the configuration store (to the millisecond for the
lock-out). Every method runs SQL: call them off the GUI thread.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Engine, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.control.users import User
from app.historian.models import User as UserRow
from app.station import clock

_LOCK = "!"


def _iso(t: dt.datetime | None, timespec: str = "seconds") -> str | None:
    return t.astimezone(dt.UTC).isoformat(timespec=timespec) if t else None


def _time(s: str | None) -> dt.datetime | None:
    if not s:
        return None
    t = dt.datetime.fromisoformat(s)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _user(r: Row[tuple[UserRow]]) -> User:
    """An account from its ``users`` row (read by column name)."""
    h = r.password_hash
    return User(r.username, r.role, h.removeprefix(_LOCK), r.email or "", h.startswith(_LOCK),
                _time(r.created_at), _time(r.last_login), int(r.failed_logins or 0),
                _time(r.last_failed_at), _time(r.locked_until))


class DbUsers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, username: str) -> User | None:
        with self.engine.connect() as con:
            r = con.execute(select(UserRow).where(UserRow.username == username)).first()
        return _user(r) if r else None

    def add(self, user: User) -> None:
        row = {"user_id": str(uuid.uuid4()), "username": user.username,
               "password_hash": (_LOCK if user.disabled else "") + user.password_hash,
               "role": user.role, "email": user.email or None,
               "created_at": _iso(user.created_at or clock.now()),
               "last_login": _iso(user.last_login)}
        try:
            with self.engine.begin() as con:
                con.execute(insert(UserRow), [row])
        except IntegrityError:
            raise ValueError(f"field 'username': user '{user.username}' exists") from None

    def count(self) -> int:
        with self.engine.connect() as con:
            return int(con.execute(select(func.count()).select_from(UserRow)).scalar_one())

    def list(self) -> list[User]:
        with self.engine.connect() as con:
            rows = con.execute(select(UserRow).order_by(UserRow.username)).all()
        return [_user(r) for r in rows]

    def update(self, user: User) -> None:
        with self.engine.begin() as con:
            n = con.execute(update(UserRow).where(UserRow.username == user.username).values(
                password_hash=(_LOCK if user.disabled else "") + user.password_hash,
                role=user.role, email=user.email or None)).rowcount
        if not n:
            raise KeyError(f"no user '{user.username}'")

    def set_last_login(self, username: str, when: dt.datetime) -> None:
        with self.engine.begin() as con:
            con.execute(update(UserRow).where(UserRow.username == username)
                        .values(last_login=_iso(when)))

    def set_login_state(self, username: str, failed: int, last_failed_at: dt.datetime | None,
                        locked_until: dt.datetime | None) -> None:
        with self.engine.begin() as con:
            con.execute(update(UserRow).where(UserRow.username == username).values(
                failed_logins=failed, last_failed_at=_iso(last_failed_at, "milliseconds"),
                locked_until=_iso(locked_until, "milliseconds")))


def open_store(station_id: str, *, data_dir: str | None = None,
               db_url: str | None = None) -> Engine:
    """The configuration store (created and migrated as needed), for users and the audit
    log, also when no history is recorded."""
    from app.historian.audit_chain import use_data_dir
    from app.historian.db import create_db_engine, database_url, migrate

    engine = create_db_engine(database_url(station_id, data_dir_path=data_dir, db_url=db_url))
    use_data_dir(engine, data_dir)
    migrate(engine)
    return engine
