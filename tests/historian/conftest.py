"""A real PostgreSQL 15 server for the historian tests: initdb and pg_ctl as the postgres
user in a temporary directory, on 127.0.0.1 and a free port; always stopped."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile

import pytest


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _as_postgres(cmd: list[str]) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def postgres_url():
    pg = _pg_bin()
    if pg is None:
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql-15)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg not installed")
    root = tempfile.mkdtemp(prefix="gridtwin-pg-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = _as_postgres([f"{pg}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    assert r.returncode == 0, r.stderr
    r = _as_postgres([f"{pg}/pg_ctl", "-D", data, "-l", os.path.join(root, "log"), "-w", "-o",
                      f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"])
    assert r.returncode == 0, r.stderr + open(os.path.join(root, "log")).read()
    try:
        r = _as_postgres([f"{pg}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                          "gridtwin"])
        assert r.returncode == 0, r.stderr
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/gridtwin"
    finally:
        _as_postgres([f"{pg}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)
