"""CLI verbs for users and the audit log (for administrators and headless set-up).

    gridtwin users add NAME [--role R]   create a user (the first one is the administrator)
    gridtwin users list                  users, roles, state, last login
    gridtwin users passwd NAME           set a user's password
    gridtwin users role NAME --role R    change a user's role
    gridtwin users disable|enable NAME   stop / allow a user's logins (the row and its audit
                                         history stay)
    gridtwin users unlock NAME           clear a user's failed logins and lock-out
    gridtwin audit                       the audit log, newest first
    gridtwin audit --verify              check the audit log's hash chain: exit 0 intact,
                                         1 with the first broken row named

Passwords are read from a prompt (twice) when stdin is a terminal, else from the first line of
stdin (``printf '%s\\n' "$PW" | gridtwin users add op --role operator``) — never from an
argument, which other users could read in the process list. A new password must pass the
password policy (app.control.passwords: 15 characters or more, not a common password, not
the user or station name, not only patterns). Whoever can write the configuration store
administers it: changes made here are audited as ``cli:<login name>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TYPE_CHECKING, TextIO

from app.cli.output import table
from app.control.users import ROLES, AuthError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.control.audit import DbAudit
    from app.control.users import Accounts


def _accounts(args: argparse.Namespace) -> tuple[Accounts, DbAudit, Engine]:
    from app.control.audit import DbAudit
    from app.control.passwords import DEFAULT_POLICY
    from app.control.userdb import DbUsers, open_store
    from app.control.users import Accounts
    from app.station import load_station

    station = load_station(args.station)
    engine = open_store(station.station.id, data_dir=args.data_dir, db_url=args.db)
    try:
        audit = DbAudit(engine)
    except BaseException:
        engine.dispose()
        raise
    policy = DEFAULT_POLICY.with_context(station.station.id, station.station.name)
    return Accounts(DbUsers(engine), audit=audit, passwords=policy), audit, engine


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def read_password(prompt: str, stream: TextIO | None = None) -> str:
    """A new password from a terminal prompt (asked twice) or the first line of stdin."""
    stream = stream or sys.stdin
    if stream.isatty():
        pw = getpass.getpass(f"{prompt}: ")
        if getpass.getpass("again: ") != pw:
            raise ValueError("the two passwords differ")
    else:
        pw = stream.readline().rstrip("\r\n")
        if not pw:
            raise ValueError("no password on stdin (give it as the first line)")
    return pw


def cmd_users(args: argparse.Namespace) -> int:
    if args.action != "list" and not args.name:
        print(f"gridtwin: users {args.action} needs a user NAME", file=sys.stderr)
        return 2
    acc, audit, engine = _accounts(args)
    try:
        return _users(acc, args)
    except AuthError as exc:
        print(f"gridtwin: {exc}", file=sys.stderr)
        return 1
    finally:
        audit.flush()
        audit.close()
        engine.dispose()


def _users(acc: Accounts, args: argparse.Namespace) -> int:
    by = _actor()
    if args.action == "list":
        users = acc.users()
        now = acc.clock()
        states = [acc.lock_state(u, now) for u in users]
        rows = [{"username": u.username, "role": u.role, "enabled": not u.disabled,
                 "created": u.created_at.isoformat() if u.created_at else None,
                 "last_login": u.last_login.isoformat() if u.last_login else None,
                 "failed_logins": st.failed, "locked": st.locked,
                 "locked_until": (st.until.isoformat() if st.locked and st.until else None)}
                for u, st in zip(users, states, strict=True)]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        if not rows:
            print("no users yet: `gridtwin users add NAME` creates the administrator")
            return 0

        print(table([(r["username"], r["role"], "yes" if r["enabled"] else "DISABLED",
                       st.text(now).upper() if st.locked else st.text(now),
                       r["last_login"] or "never") for r, st in zip(rows, states, strict=True)],
                     ("user", "role", "enabled", "logins", "last login (UTC)")))
        return 0
    name = args.name
    if args.action == "add":
        first = acc.needs_first_admin()
        role = args.role or ("admin" if first else "viewer")
        if first and role != "admin":
            raise ValueError("there are no users yet: the first one is the administrator "
                             "(--role admin)")
        pw = read_password(f"password for {name}")
        if first:
            acc.create_first_admin(name, pw, by=by)
        else:
            acc.create_user(by, name, pw, role)
        print(f"user {name} created ({role})")
    elif args.action == "passwd":
        if acc.repo.get(name) is None:
            raise KeyError(f"no user '{name}'")
        acc.set_password(by, name, read_password(f"new password for {name}"))
        print(f"password of {name} set")
    elif args.action == "role":
        if not args.role:
            raise ValueError("users role needs --role")
        acc.set_role(by, name, args.role)
        print(f"{name} is now {args.role}")
    elif args.action in ("disable", "enable"):
        acc.set_disabled(by, name, args.action == "disable")
        print(f"user {name} {args.action}d")
    elif args.action == "unlock":
        was = acc.unlock(by, name)
        print(f"user {name} unlocked (was {was.text(acc.clock())} after {was.failed} failed "
              "logins)" if was.locked else
              f"user {name} was not locked; {was.failed} failed logins cleared")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from app.control.audit import read_audit
    from app.control.userdb import open_store
    from app.station import load_station

    station = load_station(args.station)
    engine = open_store(station.station.id, data_dir=args.data_dir, db_url=args.db)
    try:
        if args.verify:
            return _verify(engine, args)
        rows = read_audit(engine, user=args.user, device=args.device, action=args.action,
                          limit=args.limit)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps([{**r, "time": r["time"].isoformat()} for r in rows], indent=2))
        return 0
    from app.station.timezone import IST

    print(table([(r["time"].astimezone(IST).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], r["user"],
                   r["device"], r["action"], r["before"], r["after"], r["result"],
                   r["detail"]) for r in rows],
                 ("time (IST)", "user", "device", "action", "before", "after", "result",
                  "detail")))
    return 0


def _when(time_ms: int | None) -> str:
    import datetime as dt

    from app.station.timezone import IST

    if time_ms is None:
        return ""
    t = dt.datetime.fromtimestamp(time_ms / 1000, dt.UTC).astimezone(IST)
    return t.strftime("%Y-%m-%d %H:%M:%S IST")


def _verify(engine: Engine, args: argparse.Namespace) -> int:
    """``gridtwin audit --verify``: 0 intact, 1 tampered (the first broken row named)."""
    from app.historian.audit_chain import chain_for, verify

    ch = chain_for(engine)
    rep = verify(engine, key_path=ch.key_path, anchor_path=ch.anchor_path)
    if args.json:
        print(json.dumps({
            "intact": rep.ok, "rows": rep.rows, "chained": rep.chained,
            "before_chain": rep.legacy, "first_seq": rep.first_seq, "last_seq": rep.last_seq,
            "head": {"seq": rep.last_seq, "hash": rep.last_hash},
            "anchor": ({"seq": rep.anchor.seq, "hash": rep.anchor.row_hash}
                       if rep.anchor else None),
            "key_file": rep.key_file, "anchor_file": rep.anchor_file,
            "problems": [{"audit_id": p.audit_id, "seq": p.seq, "time": _when(p.time_ms),
                          "user": p.user, "action": p.action, "what": p.what}
                         for p in rep.problems],
            "more_problems": rep.more_problems}, indent=2))
        return 0 if rep.ok else 1
    legacy = (f"; {rep.legacy} rows from before the chain (ids up to {rep.legacy_last_id}) "
              "are not covered" if rep.legacy else "")
    if rep.ok:
        if rep.chained:
            print(f"audit log intact: {rep.rows} rows, chain numbers {rep.first_seq}–"
                  f"{rep.last_seq}{legacy}")
            print(f"head: {rep.last_seq} {rep.last_hash} (keep a copy elsewhere to detect a "
                  "rewrite of the whole log)")
        else:
            print(f"audit log intact: {rep.rows} rows, none chained yet{legacy}")
        return 0
    p = rep.problems[0]
    where = (f"row {p.audit_id} (chain number {p.seq}, {_when(p.time_ms)}, {p.user}: "
             f"{p.action}): " if p.audit_id is not None else "")
    print(f"audit log TAMPERED: {where}{p.what}")
    n = len(rep.problems) + rep.more_problems
    if n > 1:
        print(f"{n} problems in all (--json lists them)")
    print(f"checked {rep.rows} rows with the key {rep.key_file}{legacy}")
    return 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``users`` and ``audit`` to the ``gridtwin`` subparsers."""
    from app.cli.history import add_common

    sp = sub.add_parser("users", help="users and roles in the configuration store",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("action", choices=("add", "list", "passwd", "role", "disable", "enable",
                                       "unlock"))
    sp.add_argument("name", nargs="?", metavar="NAME")
    sp.add_argument("--role", choices=ROLES, help="viewer, operator, engineer or admin "
                                                  "(add: default viewer; the first user is "
                                                  "the admin)")
    add_common(sp)
    sp.add_argument("--json", action="store_true", help="print JSON (list)")
    sp.set_defaults(func=cmd_users)

    sp = sub.add_parser("audit", help="the audit log: commands, bypasses, logins, user changes",
                        description="Print the audit log newest first: who did what to which "
                                    "device, when, the position before and after, the result. "
                                    "--verify checks its hash chain.")
    add_common(sp)
    sp.add_argument("--user", help="only this user's entries")
    sp.add_argument("--device", help="only this device (e.g. F1_Q0, or 'user op')")
    sp.add_argument("--action", help="only actions starting with this (select, operate, login…)")
    sp.add_argument("--limit", type=int, default=200)
    sp.add_argument("--verify", action="store_true",
                    help="check the hash chain of the whole log instead: exit 0 intact, 1 "
                         "with the first broken row (deleted, edited, inserted, cut off)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_audit)


