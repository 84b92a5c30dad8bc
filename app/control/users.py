"""Users, roles and sessions.

Passwords are hashed with scrypt (memory-hard: n=2^14, r=8, p=1, 16-byte salt) and compared
in constant time. There is no built-in account or default password: the first run creates
the admin. Sessions expire after a period of inactivity.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

ROLES = ("viewer", "operator", "engineer", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
MIN_PASSWORD = 8
DEFAULT_TIMEOUT = dt.timedelta(minutes=30)


class AuthError(PermissionError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    b64 = base64.b64encode
    return (f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}$"
            f"{b64(salt).decode()}${b64(dk).decode()}")


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, dk = stored.split("$")
        if algo != "scrypt":
            return False
        want = base64.b64decode(dk)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def role_at_least(role: str, needed: str) -> bool:
    return _RANK.get(role, -1) >= _RANK[needed]


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    password_hash: str
    email: str = ""


class UserRepository(Protocol):
    def get(self, username: str) -> User | None: ...
    def add(self, user: User) -> None: ...
    def count(self) -> int: ...
    def set_last_login(self, username: str, when: dt.datetime) -> None: ...


class MemoryUsers:
    """In-memory repository (tests, the trainer's offline sessions)."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}

    def get(self, username: str) -> User | None:
        return self._users.get(username)

    def add(self, user: User) -> None:
        if user.username in self._users:
            raise ValueError(f"user '{user.username}' exists")
        self._users[user.username] = user

    def count(self) -> int:
        return len(self._users)

    def set_last_login(self, username: str, when: dt.datetime) -> None:
        pass


@dataclass
class Session:
    username: str
    role: str
    started: dt.datetime
    last_seen: dt.datetime
    timeout: dt.timedelta = DEFAULT_TIMEOUT

    def expired(self, now: dt.datetime) -> bool:
        return now - self.last_seen > self.timeout

    def touch(self, now: dt.datetime) -> None:
        self.last_seen = now


class Accounts:
    def __init__(self, repo: UserRepository, timeout: dt.timedelta = DEFAULT_TIMEOUT) -> None:
        self.repo = repo
        self.timeout = timeout

    def needs_first_admin(self) -> bool:
        return self.repo.count() == 0

    def create_first_admin(self, username: str, password: str) -> User:
        if not self.needs_first_admin():
            raise AuthError("an administrator already exists")
        return self._create(username, password, "admin")

    def create_user(self, admin: Session, username: str, password: str, role: str,
                    now: dt.datetime) -> User:
        self.require(admin, "admin", now)
        return self._create(username, password, role)

    def _create(self, username: str, password: str, role: str) -> User:
        if role not in ROLES:
            raise ValueError(f"field 'role': unknown role {role!r} (use {', '.join(ROLES)})")
        if not username or not username.replace("_", "").replace(".", "").isalnum():
            raise ValueError("field 'username': letters, digits, '.' and '_' only")
        user = User(username, role, hash_password(password))
        self.repo.add(user)
        return user

    def login(self, username: str, password: str, now: dt.datetime) -> Session:
        user = self.repo.get(username)
        if user is None or not verify_password(password, user.password_hash):
            raise AuthError("wrong user name or password")
        self.repo.set_last_login(username, now)
        return Session(username, user.role, now, now, self.timeout)

    def require(self, session: Session | None, role: str, now: dt.datetime) -> Session:
        """The service-side check: refuses whatever the UI showed."""
        if session is None:
            raise AuthError("not logged in")
        if session.expired(now):
            raise AuthError(f"session of {session.username} timed out: log in again")
        if not role_at_least(session.role, role):
            raise AuthError(f"{session.username} is a {session.role}; this needs {role}")
        session.touch(now)
        return session
