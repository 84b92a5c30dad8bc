"""Users, roles and sessions.

Roles, lowest first: viewer (watches), operator (operates switchgear, acknowledges alarms),
engineer (may bypass an interlock with a written reason, shelves by design), admin (manages
users). Passwords are hashed with scrypt (memory-hard: n=2^14, r=8, p=1, 16-byte salt) and
compared in constant time. There is no built-in account or default password: the first run
creates the administrator. Sessions expire after a period of inactivity (15 minutes unless
configured). A disabled account keeps its row (and its audit history) but cannot log in.

Every login, failed login, logout and change to a user goes to the audit log. The methods
here run SQL and scrypt: call them from a worker thread, never the GUI thread.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from app.station import clock as wallclock

if TYPE_CHECKING:
    from app.control.audit import AuditSink

log = logging.getLogger(__name__)

ROLES = ("viewer", "operator", "engineer", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
MIN_PASSWORD = 8
DEFAULT_TIMEOUT = dt.timedelta(minutes=15)


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


@functools.cache
def _dummy_hash() -> str:
    """A hash to compare against when the user does not exist, so that a wrong user name
    costs the same time as a wrong password (no user-name probing by timing)."""
    return hash_password(secrets.token_hex(16))


def a_role(role: str) -> str:
    """'an operator', 'a viewer' — for messages."""
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


def role_at_least(role: str, needed: str) -> bool:
    return _RANK.get(role, -1) >= _RANK[needed]


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"field 'role': unknown role {role!r} (use {', '.join(ROLES)})")
    return role


def check_username(username: str) -> str:
    if not username or len(username) > 64 or \
            not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise ValueError("field 'username': 1-64 letters, digits, '.', '-' and '_' only")
    return username


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    password_hash: str
    email: str = ""
    disabled: bool = False
    created_at: dt.datetime | None = None
    last_login: dt.datetime | None = None


class UserRepository(Protocol):
    def get(self, username: str) -> User | None: ...
    def add(self, user: User) -> None: ...
    def count(self) -> int: ...
    def list(self) -> list[User]: ...
    def update(self, user: User) -> None: ...
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

    def list(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.username)

    def update(self, user: User) -> None:
        if user.username not in self._users:
            raise KeyError(f"no user '{user.username}'")
        self._users[user.username] = user

    def set_last_login(self, username: str, when: dt.datetime) -> None:
        u = self._users.get(username)
        if u is not None:
            self._users[username] = replace(u, last_login=when)


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

    @property
    def label(self) -> str:
        return f"{self.username} ({self.role})"


Actor = Session | str
"""Who makes a change to a user: a logged-in session (checked for its role), or a string
naming a trusted local administrator at the command line (``cli:<os user>``): whoever can
write the configuration store administers it."""


class Accounts:
    def __init__(self, repo: UserRepository, timeout: dt.timedelta = DEFAULT_TIMEOUT, *,
                 audit: AuditSink | None = None,
                 clock: Callable[[], dt.datetime] = wallclock.now) -> None:
        self.repo = repo
        self.timeout = timeout
        self.audit = audit
        self.clock = clock

    # ------------------------------------------------------------------ audit
    def _audit(self, user: str, action: str, result: str, detail: str = "",
               device: str = "") -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(user=user, time=self.clock(), device=device or "users",
                              action=action, before="", after="", result=result,
                              detail=detail)
        except Exception:
            log.exception("audit record failed: %s %s", user, action)

    def _by(self, actor: Actor, needed: str = "admin", *, action: str, target: str) -> str:
        if isinstance(actor, str):
            return actor
        try:
            self.require(actor, needed, self.clock())
        except AuthError as exc:
            self._audit(actor.username if actor else "(nobody)", action, "refused", str(exc),
                        device=f"user {target}")
            raise
        return actor.username

    # ------------------------------------------------------------------ creating users
    def needs_first_admin(self) -> bool:
        return self.repo.count() == 0

    def create_first_admin(self, username: str, password: str, *, by: str = "") -> User:
        """The first account, only while there is none: always an administrator."""
        if not self.needs_first_admin():
            raise AuthError("an administrator already exists")
        user = self._create(username, password, "admin")
        self._audit(by or username, "create first administrator", "done",
                    device=f"user {username}")
        return user

    def create_user(self, by: Actor, username: str, password: str, role: str,
                    now: dt.datetime | None = None, *, email: str = "") -> User:
        actor = self._by(by, action="create user", target=username)
        user = self._create(username, password, role, email)
        self._audit(actor, "create user", "done", f"role {role}", device=f"user {username}")
        return user

    def _create(self, username: str, password: str, role: str, email: str = "") -> User:
        check_role(role)
        check_username(username)
        if self.repo.get(username) is not None:
            raise ValueError(f"field 'username': user '{username}' exists")
        user = User(username, role, hash_password(password), email, False, self.clock())
        self.repo.add(user)
        log.info("user %s created (%s)", username, role)
        return user

    # ------------------------------------------------------------------ changing users
    def _existing(self, username: str) -> User:
        u = self.repo.get(username)
        if u is None:
            raise KeyError(f"no user '{username}'")
        return u

    def set_password(self, by: Actor, username: str, password: str,
                     old_password: str | None = None) -> None:
        """An admin sets anyone's password; a user changes their own with the old one."""
        own = isinstance(by, Session) and by.username == username
        if own:
            self.require(by, "viewer", self.clock())
            if old_password is None or not verify_password(old_password,
                                                           self._existing(username)
                                                           .password_hash):
                self._audit(username, "change password", "refused", "wrong old password",
                            device=f"user {username}")
                raise AuthError("the old password is wrong")
            actor = username
        else:
            actor = self._by(by, action="set password", target=username)
        u = self._existing(username)
        self.repo.update(replace(u, password_hash=hash_password(password)))
        self._audit(actor, "set password", "done", device=f"user {username}")

    def set_role(self, by: Actor, username: str, role: str) -> None:
        check_role(role)
        actor = self._by(by, action="set role", target=username)
        u = self._existing(username)
        if u.role == "admin" and role != "admin" and self._admins_left(excluding=username) == 0:
            raise ValueError(f"{username} is the last enabled administrator")
        self.repo.update(replace(u, role=role))
        self._audit(actor, "set role", "done", f"{u.role} → {role}", device=f"user {username}")

    def set_disabled(self, by: Actor, username: str, disabled: bool = True) -> None:
        action = "disable user" if disabled else "enable user"
        actor = self._by(by, action=action, target=username)
        u = self._existing(username)
        if disabled and u.role == "admin" and self._admins_left(excluding=username) == 0:
            raise ValueError(f"{username} is the last enabled administrator")
        self.repo.update(replace(u, disabled=disabled))
        self._audit(actor, action, "done", device=f"user {username}")

    def _admins_left(self, excluding: str) -> int:
        return sum(1 for u in self.repo.list()
                   if u.role == "admin" and not u.disabled and u.username != excluding)

    def users(self) -> list[User]:
        return self.repo.list()

    # ------------------------------------------------------------------ sessions
    def login(self, username: str, password: str, now: dt.datetime | None = None) -> Session:
        now = now or self.clock()
        user = self.repo.get(username)
        ok = verify_password(password, user.password_hash if user else _dummy_hash())
        if user is None or not ok:
            log.warning("failed login for %r", username)
            self._audit(username or "(empty)", "login", "failed",
                        "wrong user name or password")
            raise AuthError("wrong user name or password")
        if user.disabled:
            self._audit(username, "login", "refused", "account disabled")
            raise AuthError(f"the account {username} is disabled")
        self.repo.set_last_login(username, now)
        self._audit(username, "login", "success", f"role {user.role}")
        log.info("%s logged in (%s)", username, user.role)
        return Session(username, user.role, now, now, self.timeout)

    def logout(self, session: Session, reason: str = "") -> None:
        self._audit(session.username, "logout", "done", reason)
        log.info("%s logged out%s", session.username, f" ({reason})" if reason else "")

    def lock(self, session: Session) -> None:
        """The session timed out: controls are locked until the password is given again."""
        self._audit(session.username, "session locked", "done",
                    f"idle for more than {session.timeout.total_seconds() / 60:g} min")

    def require(self, session: Session | None, role: str, now: dt.datetime) -> Session:
        """The service-side check: refuses whatever the UI showed."""
        if session is None:
            raise AuthError("not logged in")
        if session.expired(now):
            raise AuthError(f"session of {session.username} timed out: log in again")
        if not role_at_least(session.role, role):
            raise AuthError(f"{session.username} is {a_role(session.role)}; this needs "
                            f"{a_role(role)}")
        session.touch(now)
        return session
