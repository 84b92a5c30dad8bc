"""gridtwin users / gridtwin audit: headless set-up of users, passwords never as arguments."""

from __future__ import annotations

import io
import json
import os
import re

import pytest

from app.cli import main
from app.control.userdb import DbUsers, open_store
from app.control.users import Accounts, AuthError

PW = "correct horse battery"


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRIDTWIN_DATA_DIR", str(tmp_path))

    def run(*argv, stdin=""):
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_first_user_is_the_admin_then_roles_passwords_and_disable(cli, station):
    code, out, _ = cli("users", "list")
    assert code == 0 and "no users yet" in out
    code, _, err = cli("users", "add", "op", "--role", "operator", stdin=PW + "\n")
    assert code == 2 and "the first one is the administrator" in err
    assert cli("users", "add", "root", stdin=PW + "\n")[:2] == (0, "user root created (admin)\n")
    assert cli("users", "add", "op", "--role", "operator", stdin=PW + "\n")[0] == 0
    assert cli("users", "add", "guest", stdin=PW + "\n")[1] == "user guest created (viewer)\n"
    code, _, err = cli("users", "add", "x", stdin="short\n")
    assert code == 2 and "at least 15 characters" in err
    code, _, err = cli("users", "add", "y")
    assert code == 2 and "no password on stdin" in err
    assert cli("users", "passwd", "op", stdin="a new long password\n")[0] == 0
    assert cli("users", "role", "op", "--role", "engineer")[0] == 0
    assert cli("users", "disable", "guest")[0] == 0
    code, _, err = cli("users", "disable", "root")
    assert code == 2 and "last enabled administrator" in err
    code, _, err = cli("users", "passwd", "nobody")
    assert code == 2 and "no user 'nobody'" in err
    code, out, _ = cli("users", "list", "--json")
    users = {u["username"]: u for u in json.loads(out)}
    assert (users["op"]["role"], users["guest"]["enabled"]) == ("engineer", False)

    engine = open_store(station.station.id, data_dir=os.environ["GRIDTWIN_DATA_DIR"])
    acc = Accounts(DbUsers(engine))
    assert acc.login("op", "a new long password").role == "engineer"
    with pytest.raises(AuthError, match="disabled"):
        acc.login("guest", PW)
    engine.dispose()

    code, out, _ = cli("audit", "--json")
    rows = json.loads(out)
    assert [(r["user"].split(":")[0], r["action"], r["device"]) for r in rows[:4]] == [
        ("cli", "disable user", "user guest"), ("cli", "set role", "user op"),
        ("cli", "set password", "user op"), ("cli", "create user", "user guest")]
    code, out, _ = cli("audit", "--device", "user op")
    assert code == 0 and "set role" in out and "user guest" not in out


def test_a_password_is_never_an_argument(cli):
    with pytest.raises(SystemExit):
        cli("users", "add", "root", "--password", PW)


def test_locked_user_is_listed_and_unlocked_from_the_command_line(cli, station):
    assert cli("users", "add", "root", stdin=PW + "\n")[0] == 0
    assert cli("users", "add", "op", "--role", "operator", stdin=PW + "\n")[0] == 0
    engine = open_store(station.station.id, data_dir=os.environ["GRIDTWIN_DATA_DIR"])
    acc = Accounts(DbUsers(engine))
    for _ in range(5):
        with pytest.raises(AuthError):
            acc.login("op", "not the password at all")
    with pytest.raises(AuthError, match="op is locked after 5 failed logins"):
        acc.login("op", PW)
    code, out, _ = cli("users", "list")
    op_line = next(line for line in out.splitlines() if line.startswith("op "))
    assert code == 0 and re.search(r"  LOCKED FOR \d+ S  ", op_line), out
    code, out, _ = cli("users", "list", "--json")
    op = {u["username"]: u for u in json.loads(out)}["op"]
    assert (op["locked"], op["failed_logins"]) == (True, 5) and op["locked_until"]
    code, out, _ = cli("users", "unlock", "op")
    assert code == 0 and out.startswith("user op unlocked (was locked for ")
    assert out.endswith("after 5 failed logins)\n")
    assert acc.login("op", PW).role == "operator"
    engine.dispose()
    code, out, _ = cli("users", "unlock", "op")
    assert (code, out) == (0, "user op was not locked; 0 failed logins cleared\n")
    code, _, err = cli("users", "unlock", "nobody")
    assert (code, err) == (2, "gridtwin: no user 'nobody'\n")
    code, _, err = cli("users", "unlock")
    assert code == 2 and "users unlock needs a user NAME" in err
    code, out, _ = cli("audit", "--action", "unlock", "--json")
    assert [(r["action"], r["device"], r["result"]) for r in json.loads(out)] == [
        ("unlock user", "user op", "done"), ("unlock user", "user op", "done")]
    code, out, _ = cli("audit", "--verify")
    assert code == 0 and out.startswith("audit log intact")


def test_the_command_line_refuses_weak_passwords_naming_why(cli):
    code, _, err = cli("users", "add", "root", stdin="aaaaaaaaaaaaaaaaaaaa\n")
    assert (code, err) == (2, "gridtwin: field 'password': it is one character repeated "
                              "('a')\n")
    code, _, err = cli("users", "add", "root", stdin="GT-KA-400 is my station\n")
    assert code == 2 and "it contains 'gtka400', the name of the program or the station" in err
    assert cli("users", "add", "root", stdin=PW + "\n")[0] == 0
    code, _, err = cli("users", "passwd", "root", stdin="password12345678\n")
    assert code == 2 and "made of common passwords and patterns ('password' + " \
        "'12345678')" in err
