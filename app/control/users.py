"""Users, roles and sessions, and the defences of the login.

Roles, lowest first: viewer (watches), operator (operates switchgear, acknowledges alarms),
engineer (may bypass an interlock with a written reason, shelves by design), admin (manages
users). Passwords are hashed with scrypt (memory-hard: n=2^14, r=8, p=1, 16-byte salt) and
compared in constant time. There is no built-in account or default password: the first run
creates the administrator. Sessions expire after a period of inactivity (15 minutes unless
configured). A disabled account keeps its row (and its audit history) but cannot log in. A
new password must pass the password policy (:mod:`app.control.passwords`).

**Failed logins** (IEC 62443-3-3 SR 1.11; :class:`LockoutPolicy`, configurable): after 5
failed logins in a row an account is locked for 30 s, each further failure doubles the lock
(60 s, 120 s … at most 15 min), and after 100 in a row it stays locked until an
administrator unlocks it (``gridtwin users unlock NAME``, or *Unlock* in File ▸ Users…). A
success clears the count; a failure more than 24 h after the previous one starts it again.
The count and the lock's end are kept in the ``users`` table, so a restart does not reset
them. Online guessing thus gets 5 tries, then about 100 a day, and never more than 100
before an administrator must act. So that one person at the keyboard cannot lock an
account for good by accident, every lock but the last is for a time; the command line can
always unlock (whoever can write the configuration store administers it). Independently,
the workstation (``source``) is throttled the same way after 10 failed logins in a row for
any user names — against trying one password on many accounts; this is kept in memory only
(a restart clears it, the accounts' own locks stay).

**What a failure tells.** A wrong user name and a wrong password give the same answer
("wrong user name or password") after the same work (a scrypt check against a dummy hash
for an unknown name), and an unknown user name is counted and locked exactly like an account
(in memory), so a lock says nothing about whether the account exists. While an account is
locked its password is **not checked** (the same scrypt work is done on a dummy hash): the
answer — "locked, try again in N s" — is the same for the right and a wrong password, so
guessing gets nothing during a lock. (Telling "locked" only after a correct password would
turn the lock into an oracle that confirms a guessed password at full speed.) A disabled
account is named only after its correct password, as before. A failure for an unknown name
runs the same ``UPDATE`` as for an account (it matches no row), so the database write costs
the same too. Residual: unknown names' locks do not survive a restart.

Every login, failed login, lock, refusal during a lock (the first of each lock, with the
count of the others), unlock, logout and change to a user goes to the audit log. The
methods here run SQL and scrypt: call them from a worker thread, never the GUI thread.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import logging
import math
import re
import secrets
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from app.control.passwords import DEFAULT_POLICY, MIN_LENGTH, PasswordPolicy
from app.station import clock as wallclock

if TYPE_CHECKING:
    from app.control.audit import AuditSink

log = logging.getLogger(__name__)

ROLES = ("viewer", "operator", "engineer", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
MIN_PASSWORD = MIN_LENGTH  # the policy's default minimum (app.control.passwords)
DEFAULT_TIMEOUT = dt.timedelta(minutes=15)
MAX_GHOSTS = 4096  # unknown user names whose failures are remembered (in memory)


class AuthError(PermissionError):
    pass


class LockedOut(AuthError):
    """Refused without checking the password: too many failed logins."""


def hash_password(password: str) -> str:
    """The scrypt hash of ``password`` (the policy is checked by :class:`Accounts`)."""
    if not password:
        raise ValueError("field 'password': enter a password")
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
class LockoutPolicy:
    """When failed logins lock an account (and the workstation); see the module's text.

    ``failures`` in a row lock for ``lock_s``, doubling with each further failure up to
    ``max_lock_s``; ``hard_limit`` in a row lock until an administrator unlocks (0: never);
    a failure more than ``window_s`` after the previous one counts as the first again;
    ``source_failures`` in a row at one workstation, whatever the user names, throttle it
    the same way."""

    failures: int = 5
    lock_s: float = 30.0
    max_lock_s: float = 900.0
    hard_limit: int = 100
    window_s: float = 86_400.0
    source_failures: int = 10

    def __post_init__(self) -> None:
        for name in ("failures", "source_failures"):
            if not 1 <= getattr(self, name) <= 1000:
                raise ValueError(f"field '{name}': between 1 and 1000 failed logins")
        if not 0 < self.lock_s <= self.max_lock_s <= 86_400:
            raise ValueError("field 'lock': 0 < lock ≤ max ≤ 24 h")
        if self.hard_limit and self.hard_limit <= self.failures:
            raise ValueError("field 'limit': more than 'failures' (or 0: never)")
        if not self.window_s > 0:
            raise ValueError("field 'window': a positive time")

    def lock_for(self, failed: int, threshold: int | None = None) -> dt.timedelta | None:
        """How long ``failed`` failures in a row lock (None: not yet)."""
        first = threshold or self.failures
        if failed < first:
            return None
        return dt.timedelta(seconds=min(self.max_lock_s,
                                        self.lock_s * 2 ** min(failed - first, 40)))

    def hard_locked(self, failed: int) -> bool:
        return bool(self.hard_limit) and failed >= self.hard_limit

    @classmethod
    def parse(cls, spec: str) -> LockoutPolicy:
        """``failures=5,lock=30s,max=15m,limit=100,window=24h,source=10`` (any subset)."""
        names = {"failures": "failures", "lock": "lock_s", "max": "max_lock_s",
                 "limit": "hard_limit", "window": "window_s", "source": "source_failures"}
        kw: dict[str, float | int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, value = part.partition("=")
            if key not in names or not value:
                raise ValueError(f"--lockout {spec!r}: {part!r} is not one of "
                                 f"{', '.join(k + '=…' for k in names)}")
            field = names[key]
            try:
                kw[field] = _seconds(value) if field.endswith("_s") else int(value)
            except ValueError:
                raise ValueError(f"--lockout {spec!r}: field '{key}': {value!r} is not "
                                 f"{'a time (30s, 15m, 24h)' if field.endswith('_s') else 'a whole number'}"
                                 ) from None
        try:
            return cls(**kw)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"--lockout {spec!r}: {exc}") from None

    def describe(self) -> str:
        hard = (f"; after {self.hard_limit}, until an administrator unlocks it"
                if self.hard_limit else "")
        return (f"after {self.failures} failed logins in a row: locked {self.lock_s:g} s, "
                f"doubling up to {self.max_lock_s:g} s{hard}")


def _seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)?", text.strip())
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2) or "s"]


@dataclass(frozen=True, slots=True)
class LockState:
    """An account's failed logins and lock, as of a time."""

    failed: int
    locked: bool
    until: dt.datetime | None  # None while locked: until an administrator unlocks it

    def seconds_left(self, now: dt.datetime) -> int:
        return max(1, math.ceil((self.until - now).total_seconds())) if self.until else 0

    def text(self, now: dt.datetime) -> str:
        if not self.locked:
            return f"{self.failed} failed" if self.failed else ""
        if self.until is None:
            return "locked until unlocked"
        return f"locked for {self.seconds_left(now)} s"


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    password_hash: str
    email: str = ""
    disabled: bool = False
    created_at: dt.datetime | None = None
    last_login: dt.datetime | None = None
    failed_logins: int = 0
    last_failed_at: dt.datetime | None = None
    locked_until: dt.datetime | None = None


class UserRepository(Protocol):
    def get(self, username: str) -> User | None: ...
    def add(self, user: User) -> None: ...
    def count(self) -> int: ...
    def list(self) -> list[User]: ...
    def update(self, user: User) -> None: ...
    def set_last_login(self, username: str, when: dt.datetime) -> None: ...
    def set_login_state(self, username: str, failed: int, last_failed_at: dt.datetime | None,
                        locked_until: dt.datetime | None) -> None: ...


@dataclass
class _Tries:
    """Failed logins of an unknown user name or of a workstation (kept in memory)."""

    failed: int = 0
    last_failed_at: dt.datetime | None = None
    locked_until: dt.datetime | None = None


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

    def set_login_state(self, username: str, failed: int, last_failed_at: dt.datetime | None,
                        locked_until: dt.datetime | None) -> None:
        u = self._users.get(username)
        if u is not None:
            self._users[username] = replace(u, failed_logins=failed,
                                            last_failed_at=last_failed_at,
                                            locked_until=locked_until)


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


def workstation() -> str:
    """This workstation's name, the ``source`` of its logins."""
    try:
        return f"workstation {socket.gethostname() or 'local'}"
    except OSError:
        return "workstation local"


class Accounts:
    def __init__(self, repo: UserRepository, timeout: dt.timedelta = DEFAULT_TIMEOUT, *,
                 audit: AuditSink | None = None,
                 clock: Callable[[], dt.datetime] = wallclock.now,
                 passwords: PasswordPolicy = DEFAULT_POLICY,
                 lockout: LockoutPolicy | None = None, source: str | None = None) -> None:
        self.repo = repo
        self.timeout = timeout
        self.audit = audit
        self.clock = clock
        self.passwords = passwords
        self.lockout = lockout or LockoutPolicy()
        self.source = source or workstation()
        self._mutex = threading.RLock()
        self._ghosts: OrderedDict[str, _Tries] = OrderedDict()  # unknown user names
        self._sources: dict[str, _Tries] = {}
        self._refused: dict[str, int] = {}  # attempts refused during the current lock

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
        self.passwords.check(password, username)
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
        self.passwords.check(password, username)
        self.repo.update(replace(u, password_hash=hash_password(password)))
        detail = ""
        if not own and (u.failed_logins or u.locked_until):
            # an administrator who sets a new password gives the account back as well
            with self._mutex:
                self.repo.set_login_state(username, 0, None, None)
                self._refused.pop(username, None)
            detail = f"failed-login count ({u.failed_logins}) cleared"
        self._audit(actor, "set password", "done", detail, device=f"user {username}")

    def unlock(self, by: Actor, username: str) -> LockState:
        """An administrator (or the command line) clears an account's failed logins and
        lock — and the workstation's throttle. Returns the state it had."""
        actor = self._by(by, action="unlock user", target=username)
        u = self._existing(username)
        now = self.clock()
        with self._mutex:
            before = self.lock_state(u, now)
            self.repo.set_login_state(username, 0, None, None)
            self._refused.pop(username, None)
            self._sources.clear()
        detail = (f"was {before.text(now)} after {before.failed} failed logins"
                  if before.locked else f"was not locked ({before.failed} failed logins)")
        self._audit(actor, "unlock user", "done", detail, device=f"user {username}")
        log.info("user %s unlocked by %s", username, actor)
        return before

    def lock_state(self, user: User, now: dt.datetime | None = None) -> LockState:
        now = now or self.clock()
        return self._state(user.failed_logins, user.locked_until, now)

    def _state(self, failed: int, until: dt.datetime | None, now: dt.datetime) -> LockState:
        if self.lockout.hard_locked(failed):
            return LockState(failed, True, None)
        if until is not None and now < until:
            return LockState(failed, True, until)
        return LockState(failed, False, until)

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
    def login(self, username: str, password: str, now: dt.datetime | None = None, *,
              source: str | None = None) -> Session:
        """A session for ``username``, or :class:`AuthError` (:class:`LockedOut` during a
        lock). ``source`` is where the attempt comes from (default: this workstation)."""
        with self._mutex:
            return self._login(username, password, now or self.clock(), source or self.source)

    def _login(self, username: str, password: str, now: dt.datetime, src: str) -> Session:
        who = username or "(empty)"
        place = self._sources.setdefault(src, _Tries())
        if place.locked_until is not None and now < place.locked_until:
            wait = LockState(place.failed, True, place.locked_until).seconds_left(now)
            if self._refuse_once(f"source {src}"):
                self._audit(who, "login", "refused", f"{src} locked after {place.failed} "
                            f"failed logins in a row: {wait} s left")
            raise LockedOut(f"too many failed logins at this workstation: try again in "
                            f"{wait} s")
        user = self.repo.get(username)
        if user is not None:
            failed, last, until = user.failed_logins, user.last_failed_at, user.locked_until
        else:
            g = self._ghosts.get(username, _Tries())
            failed, last, until = g.failed, g.last_failed_at, g.locked_until
        state = self._state(failed, until, now)
        if state.locked:
            verify_password(password, _dummy_hash())  # the same work; the result is unused
            if self._refuse_once(username):
                self._audit(who, "login", "refused", f"locked after {failed} failed logins "
                            f"in a row ({state.text(now)})")
            if state.until is None:
                raise LockedOut(f"{username} is locked after {failed} failed logins in a row "
                                "until an administrator unlocks it")
            raise LockedOut(f"{username} is locked after {failed} failed logins in a row: try "
                            f"again in {state.seconds_left(now)} s (or ask an administrator "
                            "to unlock it)")
        ok = verify_password(password, user.password_hash if user else _dummy_hash())
        refused = self._refused.pop(username, 0)
        also = f"; {refused - 1} more attempts refused while locked" if refused > 1 else ""
        if user is None or not ok:
            self._fail(username, user, failed, last, now, src, also)
        if user.disabled:
            self._audit(username, "login", "refused", "account disabled" + also)
            raise AuthError(f"the account {username} is disabled")
        if failed or until is not None:
            self.repo.set_login_state(username, 0, None, None)
        place.failed, place.locked_until = 0, None
        self.repo.set_last_login(username, now)
        after = f"; after {failed} failed logins" if failed else ""
        self._audit(username, "login", "success", f"role {user.role}{after}{also}")
        log.info("%s logged in (%s)", username, user.role)
        return Session(username, user.role, now, now, self.timeout)

    def _refuse_once(self, key: str) -> bool:
        """Count an attempt refused during a lock; True for the first (the one audited), so
        hammering a locked account cannot flood the audit log."""
        n = self._refused.get(key, 0)
        self._refused[key] = n + 1
        return n == 0

    def _fail(self, username: str, user: User | None, failed: int,
              last: dt.datetime | None, now: dt.datetime, src: str, also: str) -> None:
        pol = self.lockout
        window = dt.timedelta(seconds=pol.window_s)
        failed = failed + 1 if last is not None and now - last <= window else 1
        lock = pol.lock_for(failed)
        until = now + lock if lock is not None else None
        # The same statement for an unknown name (it updates no row), so that a wrong name
        # costs what a wrong password does, database write included.
        self.repo.set_login_state(username, failed, now, until)
        if user is None:
            self._ghosts[username] = _Tries(failed, now, until)
            self._ghosts.move_to_end(username)
            while len(self._ghosts) > MAX_GHOSTS:
                self._ghosts.popitem(last=False)
        who = username or "(empty)"
        log.warning("failed login for %r (%d in a row)", username, failed)
        self._audit(who, "login", "failed",
                    f"wrong user name or password ({failed} in a row, {src}){also}")
        place = self._sources.setdefault(src, _Tries())
        place.failed = place.failed + 1 if place.last_failed_at is not None and \
            now - place.last_failed_at <= window else 1
        place.last_failed_at = now
        slock = pol.lock_for(place.failed, pol.source_failures)
        if slock is not None:
            place.locked_until = now + slock
            self._refused.pop(f"source {src}", None)
            self._audit(who, "login", "locked", f"{src}: {place.failed} failed logins in a "
                        f"row for any user: logins refused for {slock.total_seconds():g} s",
                        device="workstation")
        message = "wrong user name or password"
        if pol.hard_locked(failed):
            self._audit(who, "login", "locked", f"{failed} failed logins in a row: locked "
                        "until an administrator unlocks it")
            message += (f" — {failed} failed logins in a row: {username} is locked until an "
                        "administrator unlocks it")
        elif lock is not None:
            self._audit(who, "login", "locked", f"{failed} failed logins in a row: locked for "
                        f"{lock.total_seconds():g} s")
            message += (f" — {failed} failed logins in a row: {username} is locked for "
                        f"{lock.total_seconds():g} s")
        raise AuthError(message)

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
