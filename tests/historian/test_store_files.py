"""The configuration store (password hashes, the audit log) is created private: its folder
0700, the SQLite file and its -wal/-shm journals 0600, whatever the umask."""

from __future__ import annotations

import os
import stat

import pytest

from app.control.audit import DbAudit
from app.control.userdb import DbUsers, open_store
from app.control.users import Accounts
from app.historian.db import database_url


def mode(path) -> int:  # noqa: ANN001
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)  # the usual default, under which files are created 0644
    yield
    os.umask(old)


def test_a_new_store_and_its_journals_are_private(tmp_path, umask_022):
    d = tmp_path / "new" / "data"
    engine = open_store("teststation", data_dir=str(d))
    audit = DbAudit(engine)
    try:
        acc = Accounts(DbUsers(engine), audit=audit)
        acc.create_first_admin("admin", "correct horse battery")
        acc.login("admin", "correct horse battery")
        assert audit.flush()
        db = d / "teststation.sqlite"
        assert os.path.exists(f"{db}-wal") and os.path.exists(f"{db}-shm")
        assert mode(d) == 0o700
        assert mode(tmp_path / "new") == 0o755  # parents as the umask makes them
        for f in (db, f"{db}-wal", f"{db}-shm", d / "teststation.audit-key",
                  d / "teststation.audit-anchor"):
            assert mode(f) == 0o600, f
    finally:
        audit.close()
        engine.dispose()


def test_an_existing_world_readable_store_is_tightened(tmp_path, umask_022):
    named = tmp_path / "shared"
    named.mkdir(mode=0o755)
    os.chmod(named, 0o755)
    engine = open_store("teststation", data_dir=str(named))
    engine.dispose()
    db = named / "teststation.sqlite"
    os.chmod(db, 0o644)
    for suffix in ("-wal", "-shm"):
        p = named / f"teststation.sqlite{suffix}"
        p.touch()
        os.chmod(p, 0o644)
    engine = open_store("teststation", data_dir=str(named))  # a journal left by a crash
    try:
        assert mode(db) == 0o600
        assert mode(named / "teststation.sqlite-wal") == 0o600
        assert mode(named / "teststation.sqlite-shm") == 0o600
    finally:
        engine.dispose()
    # A folder someone named is theirs: created 0700 if new, never chmod-ed if it exists.
    assert mode(named) == 0o755


def test_the_default_data_folder_is_made_private(tmp_path, monkeypatch, umask_022):
    import platformdirs

    default = tmp_path / "home" / "gridtwin"
    default.mkdir(parents=True)
    os.chmod(default, 0o755)
    monkeypatch.delenv("GRIDTWIN_DATA_DIR", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda name: str(default))
    url = database_url("teststation")
    assert url == f"sqlite:///{default / 'teststation.sqlite'}"
    assert mode(default) == 0o700
