"""CLI verbs for users and the audit log (for administrators and headless set-up).

    gridtwin users add NAME [--role R]   create a user (the first one is the administrator)
    gridtwin users list                  users, roles, state, last login
    gridtwin users passwd NAME           set a user's password
    gridtwin users role NAME --role R    change a user's role
    gridtwin users disable|enable NAME   stop / allow a user's logins (the row and its audit
                                         history stay)
    gridtwin audit                       the audit log, newest first

Passwords are read from a prompt (twice) when stdin is a terminal, else from the first line of
stdin (``printf '%s\\n' "$PW" | gridtwin users add op --role operator``) — never from an
argument, which other users could read in the process list. Whoever can write the
configuration store administers it: changes made here are audited as ``cli:<login name>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from app.control.users import ROLES, AuthError


def _accounts(args: argparse.Namespace):  # noqa: ANN202
    from app.control.audit import DbAudit
    from app.control.userdb import DbUsers, open_store
    from app.control.users import Accounts
    from app.station import load_station

    station = load_station(args.station)
    engine = open_store(station.station.id, data_dir=args.data_dir, db_url=args.db)
    audit = DbAudit(engine)
    return Accounts(DbUsers(engine), audit=audit), audit, engine


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def read_password(prompt: str, stream=None) -> str:  # noqa: ANN001
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


def _users(acc, args: argparse.Namespace) -> int:  # noqa: ANN001
    by = _actor()
    if args.action == "list":
        users = acc.users()
        rows = [{"username": u.username, "role": u.role, "enabled": not u.disabled,
                 "created": u.created_at.isoformat() if u.created_at else None,
                 "last_login": u.last_login.isoformat() if u.last_login else None}
                for u in users]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        if not rows:
            print("no users yet: `gridtwin users add NAME` creates the administrator")
            return 0
        from app.cli import _table

        print(_table([(r["username"], r["role"], "yes" if r["enabled"] else "DISABLED",
                       r["last_login"] or "never") for r in rows],
                     ("user", "role", "enabled", "last login (UTC)")))
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
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from app.control.audit import read_audit
    from app.control.userdb import open_store
    from app.station import load_station

    station = load_station(args.station)
    engine = open_store(station.station.id, data_dir=args.data_dir, db_url=args.db)
    try:
        rows = read_audit(engine, user=args.user, device=args.device, action=args.action,
                          limit=args.limit)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps([{**r, "time": r["time"].isoformat()} for r in rows], indent=2))
        return 0
    from app.cli import _table
    from app.cli_history import IST

    print(_table([(r["time"].astimezone(IST).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], r["user"],
                   r["device"], r["action"], r["before"], r["after"], r["result"],
                   r["detail"]) for r in rows],
                 ("time (IST)", "user", "device", "action", "before", "after", "result",
                  "detail")))
    return 0


def add_parsers(sub) -> None:  # noqa: ANN001
    from app.cli_history import add_common

    sp = sub.add_parser("users", help="users and roles in the configuration store",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("action", choices=("add", "list", "passwd", "role", "disable", "enable"))
    sp.add_argument("name", nargs="?", metavar="NAME")
    sp.add_argument("--role", choices=ROLES, help="viewer, operator, engineer or admin "
                                                  "(add: default viewer; the first user is "
                                                  "the admin)")
    add_common(sp)
    sp.add_argument("--json", action="store_true", help="print JSON (list)")
    sp.set_defaults(func=cmd_users)

    sp = sub.add_parser("audit", help="the audit log: commands, bypasses, logins, user changes",
                        description="Print the audit log newest first: who did what to which "
                                    "device, when, the position before and after, the result.")
    add_common(sp)
    sp.add_argument("--user", help="only this user's entries")
    sp.add_argument("--device", help="only this device (e.g. F1_Q0, or 'user op')")
    sp.add_argument("--action", help="only actions starting with this (select, operate, login…)")
    sp.add_argument("--limit", type=int, default=200)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_audit)
