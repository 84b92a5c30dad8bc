"""The audit log's hash chain: rows deleted, edited, inserted or cut off with plain SQL are
found, through the service and through `gridtwin audit --verify`; what it cannot find (a
rewrite by someone holding the key) is shown too."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest
from sqlalchemy import text

from app.cli import main
from app.control.audit import DbAudit
from app.control.userdb import open_store
from app.historian.audit_chain import chain_files, key_id, load_key, row_mac
from app.historian.dss_versions import DssVersionStore
from app.station import clock
from app.twin.validate import validate_circuit_text


def write(audit: DbAudit, n: int, start: int = 0) -> None:
    now = clock.now()
    for i in range(start, start + n):
        audit.record(user="op", time=now, device=f"F{i % 4 + 1}_Q0", action="operate open",
                     before="closed", after="open", result="success", detail=f"n={i}")
    assert audit.flush()


@pytest.fixture
def store(tmp_path):
    engine = open_store("teststation", data_dir=str(tmp_path))
    audit = DbAudit(engine, retry_s=0.1)
    yield engine, audit, tmp_path
    audit.close()
    engine.dispose()


def sql(engine, statement: str) -> None:  # noqa: ANN001
    with engine.begin() as con:
        con.execute(text(statement))


def first(rep):  # noqa: ANN001, ANN201
    assert not rep.ok
    return rep.problems[0]


def test_an_intact_chain_verifies_and_its_files_are_private(store):
    engine, audit, tmp = store
    write(audit, 12)
    rep = audit.verify()
    assert rep.ok and (rep.rows, rep.chained, rep.first_seq, rep.last_seq) == (12, 12, 1, 12)
    assert rep.anchor.seq == 12 and rep.anchor.row_hash == rep.last_hash
    key, anchor = chain_files(engine)
    assert (key, anchor) == (tmp / "teststation.audit-key", tmp / "teststation.audit-anchor")
    for f in (key, anchor):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    with engine.connect() as con:
        head = con.execute(text("select seq, row_hash, key_id from audit_chain")).one()
    assert (head.seq, head.row_hash, head.key_id) == (12, rep.last_hash,
                                                       key_id(load_key(key)))


def test_a_deleted_row_is_found(store):
    engine, audit, _ = store
    write(audit, 10)
    sql(engine, "delete from audit_log where audit_id = 4")
    p = first(audit.verify())
    assert (p.audit_id, p.seq) == (5, 5)
    assert p.what == "chain number 4 missing before this row: deleted"


def test_an_edited_row_is_found_even_with_a_recomputed_plain_hash(store):
    engine, audit, _ = store
    write(audit, 10)
    sql(engine, "update audit_log set result = 'refused' where audit_id = 3")
    p = first(audit.verify())
    assert (p.audit_id, p.user, p.action) == (3, "op", "operate open")
    assert p.what.startswith("its content does not match its hash: edited")
    assert len(audit.verify().problems) == 1  # only that row: the chain goes on after it
    # Someone without the key recomputes a SHA-256 for the row: still found.
    sql(engine, "update audit_log set row_hash = "
                "'0000000000000000000000000000000000000000000000000000000000000000' "
                "where audit_id = 3")
    assert first(audit.verify()).audit_id == 3


def test_a_row_inserted_by_hand_is_found(store):
    engine, audit, _ = store
    write(audit, 5)
    sql(engine, "insert into audit_log (time_ms, user, device, action, result) "
                "values (1, 'admin', 'users', 'login', 'success')")
    p = first(audit.verify())
    assert p.audit_id == 6 and "inserted outside GridTwin's audit writer" in p.what


def test_a_cut_off_end_is_found_by_the_head_and_by_the_anchor_file(store, caplog):
    engine, audit, _ = store
    write(audit, 10)
    sql(engine, "delete from audit_log where audit_id > 7")
    rep = audit.verify()
    assert [p.what for p in rep.problems] == [
        "the log ends at chain number 7 but its head records 10: chain numbers 8–10 cut off "
        "at the end",
        "the log ends at chain number 7 but the anchor file recorded 10: chain numbers 8–10 "
        "missing at the end (cut off, or lost in a crash)"]
    # The head in the database rewritten as well: the anchor file outside it still knows.
    sql(engine, "update audit_chain set seq = 7, row_hash = "
                "(select row_hash from audit_log where seq = 7)")
    assert [p.what for p in audit.verify().problems] == [
        "the log ends at chain number 7 but the anchor file recorded 10: chain numbers 8–10 "
        "missing at the end (cut off, or lost in a crash)"]
    # The writer goes on from the end it finds, but never moves the anchor past the gap:
    # the numbers it reuses are not the anchored row.
    write(audit, 5, start=100)
    rep = audit.verify()
    assert rep.anchor.seq == 10 and rep.last_seq == 12
    assert first(rep).what == "chain number 10 is not the row the anchor file recorded: " \
        "the log was rewritten"
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == [
        f"audit log cut off or rewritten: the log ends at chain number 7 but the anchor file "
        f"recorded 10; the anchor file {audit.chain.anchor_path} is kept as evidence "
        "(gridtwin audit --verify)"]


def test_what_the_chain_cannot_find_a_rewrite_by_whoever_holds_the_key(store):
    """The documented limit: with the key file (and write access to the database) the whole
    log can be rewritten consistently. The chain does not claim otherwise."""
    engine, audit, tmp = store
    write(audit, 6)
    key = load_key(tmp / "teststation.audit-key")
    sql(engine, "update audit_log set result = 'refused' where audit_id = 2")
    prev = ""
    with engine.begin() as con:
        for r in con.execute(text("select * from audit_log order by seq")).mappings().all():
            h = row_mac(key, prev, r["seq"], r)
            con.execute(text("update audit_log set row_hash = :h where audit_id = :i"),
                        {"h": h, "i": r["audit_id"]})
            prev = h
        con.execute(text("update audit_chain set row_hash = :h"), {"h": prev})
    (tmp / "teststation.audit-anchor").write_text(
        json.dumps({"seq": 6, "row_hash": prev, "time_ms": 0}))
    assert audit.verify().ok


def test_rows_from_before_the_chain_are_not_covered_but_allowed(tmp_path):
    engine = open_store("teststation", data_dir=str(tmp_path))
    sql(engine, "insert into audit_log (time_ms, user, device, action, result) "
                "values (1, 'old', 'users', 'login', 'success'), "
                "(2, 'old', 'users', 'logout', 'done')")
    audit = DbAudit(engine)
    try:
        write(audit, 3)
        rep = audit.verify()
        assert rep.ok and (rep.rows, rep.legacy, rep.legacy_last_id, rep.first_seq) == \
            (5, 2, 2, 1)
        # Making chained rows look older (their numbers removed) is found.
        sql(engine, "update audit_log set seq = NULL, row_hash = NULL where audit_id = 3")
        assert first(audit.verify()).what == \
            "chain number 1 missing before this row: deleted"
    finally:
        audit.close()
        engine.dispose()


def test_two_writers_on_one_store_and_the_dss_versions_chain_in_turn(tmp_path, station):
    """The HMI, `gridtwin users` and `gridtwin dss` write the same log from separate
    processes (here separate engines): the head's lock puts them one after the other."""
    e1 = open_store("teststation", data_dir=str(tmp_path))
    e2 = open_store("teststation", data_dir=str(tmp_path))
    a1, a2 = DbAudit(e1), DbAudit(e2)
    try:
        for i in range(5):
            write(a1, 3, start=10 * i)
            write(a2, 2, start=10 * i + 5)
        store = DssVersionStore(e2)
        store.add(station.circuit_path.read_text(), created_by="eng")
        store.activate(1, by="eng", validate=validate_circuit_text)
        rep = a1.verify()
        assert rep.ok and rep.chained == 26 and rep.last_seq == 26
        with e1.connect() as con:
            assert con.execute(text("select action from audit_log where seq = 26")
                               ).scalar() == "activate"
    finally:
        a1.close()
        a2.close()
        e1.dispose()
        e2.dispose()


def test_a_missing_or_foreign_key_is_reported(store):
    engine, audit, tmp = store
    write(audit, 3)
    keyfile = tmp / "teststation.audit-key"
    keyfile.write_text("00" * 32 + "\n")
    assert "written under key" in audit.verify().problems[-1].what
    os.remove(keyfile)
    p = first(audit.verify())
    assert p.audit_id == 1 and "key file" in p.what and "is missing" in p.what


def test_a_nul_in_a_user_name_does_not_stop_the_writer(store):
    engine, audit, _ = store
    audit.record(user="op\x00x", time=clock.now(), device="users", action="login",
                 result="failed", detail="a\x00b")
    assert audit.flush()
    with engine.connect() as con:
        assert con.execute(text("select user, detail from audit_log")).one() == \
            ("op\ufffdx", "a\ufffdb")
    assert audit.verify().ok


# ---------------------------------------------------------------------------- the CLI
@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRIDTWIN_DATA_DIR", str(tmp_path))

    def run(*argv, stdin=""):
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_gridtwin_audit_verify(cli, station, tmp_path):
    code, out, _ = cli("audit", "--verify")
    assert code == 0 and out.startswith("audit log intact: 0 rows, none chained yet")
    pw = "correct horse battery\n"
    assert cli("users", "add", "root", stdin=pw)[0] == 0
    assert cli("users", "add", "op", "--role", "operator", stdin=pw)[0] == 0
    assert cli("users", "disable", "op")[0] == 0
    code, out, _ = cli("audit", "--verify")
    assert code == 0 and out.startswith("audit log intact: 3 rows, chain numbers 1–3")
    assert "head: 3 " in out
    engine = open_store(station.station.id, data_dir=str(tmp_path))
    sql(engine, "update audit_log set result = 'refused' where audit_id = 2")
    sql(engine, "delete from audit_log where audit_id = 3")
    engine.dispose()
    code, out, _ = cli("audit", "--verify")
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith("audit log TAMPERED: row 2 (chain number 2, ")
    assert lines[0].endswith("IST, cli:" + lines[0].split("IST, cli:")[1].split(":")[0]
                             + ": create user): its content does not match its hash: edited "
                             "after it was written (or written under another key)")
    assert lines[1] == "3 problems in all (--json lists them)"
    code, out, _ = cli("audit", "--verify", "--json")
    rep = json.loads(out)
    assert code == 1 and not rep["intact"] and rep["rows"] == 2
    assert [p["audit_id"] for p in rep["problems"]] == [2, None, None]
    assert "cut off at the end" in rep["problems"][1]["what"]
