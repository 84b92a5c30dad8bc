"""gridtwin users / gridtwin audit: headless set-up of users, passwords never as arguments."""

from __future__ import annotations

import io
import json
import os

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
    assert code == 2 and "at least 8 characters" in err
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
