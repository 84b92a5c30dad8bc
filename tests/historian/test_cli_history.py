"""gridtwin record / history / dss, end to end over the real protocols."""

from __future__ import annotations

import csv

import numpy as np

from app.cli import main
from app.station import clock


def test_record_then_query(tmp_path, capsys):
    d = str(tmp_path)
    assert main(["record", "--duration", "4", "--data-dir", d]) == 0
    out = capsys.readouterr().out
    assert "recorded" in out and "historian: ok" in out
    assert main(["history", "trend", "B220_M1.V", "ICT1.LOADING", "--last", "10m",
                 "--data-dir", d, "--csv", str(tmp_path / "t.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert {r["point"] for r in rows} == {"B220_M1.V", "ICT1.LOADING"}
    assert all(200 < float(r["value"]) < 240 for r in rows if r["point"] == "B220_M1.V")
    assert main(["history", "events", "--data-dir", d, "--csv", str(tmp_path / "e.csv")]) == 0
    assert open(tmp_path / "e.csv").readline().startswith("time_utc,type,severity")


def test_dss_versions_from_the_cli(tmp_path, capsys, station):
    d = str(tmp_path)
    assert main(["dss", "add", "--data-dir", d, "--note", "as built"]) == 0
    broken = tmp_path / "broken.dss"
    broken.write_text(station.circuit_path.read_text().replace("New Line.F1_LINE",
                                                               "New Lime.F1_LINE"))
    assert main(["dss", "add", str(broken), "--data-dir", d]) == 0
    assert main(["dss", "activate", "1", "--data-dir", d]) == 0
    capsys.readouterr()
    assert main(["dss", "activate", "2", "--data-dir", d]) == 2
    err = capsys.readouterr().err
    assert "version 2 refused" in err and "lime" in err.lower()
    assert main(["dss", "list", "--data-dir", d]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("*   1") and listing[1].startswith("    2")


def test_bad_times_are_refused_clearly(tmp_path, capsys):
    assert main(["history", "trend", "B220_M1.V", "--from", "yesterday",
                 "--data-dir", str(tmp_path)]) == 2
    assert "--from: 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err
    assert main(["history", "trend", "B220_M1.V", "--last", "5 weeks",
                 "--data-dir", str(tmp_path)]) == 2


def test_record_stores_events_with_the_database_locked(tmp_path, capsys, monkeypatch):
    """`gridtwin record` with another writer holding the database lock for the first scans:
    the scan loop goes on (every frame reaches the writer, none dropped), no SQL runs on the
    scan path (here the main thread) while scanning, and every event submitted from the
    scan path is stored once the lock is released."""
    import sqlite3
    import threading
    import time

    from sqlalchemy import event

    import app.historian as historian
    from app.alarms.changes import ChangeDetector, Event

    d = tmp_path
    state = {"lock": None, "scanning": False, "frames": 0, "locked_frames": 0,
             "events": 0, "sql_on_scan_path": [], "hist": None}
    real_open = historian.open_historian
    main_thread = threading.current_thread()

    def open_locked(*a, **kw):
        h = real_open(*a, **kw)
        state["hist"] = h

        @event.listens_for(h.engine, "before_cursor_execute")
        def _where(conn, cursor, statement, *x):  # noqa: ANN001
            if state["scanning"] and threading.current_thread() is main_thread:
                state["sql_on_scan_path"].append(statement)

        real_submit = h.submit

        def submit(frame):  # noqa: ANN001
            state["scanning"] = True
            state["frames"] += 1
            if state["lock"] is not None:
                state["locked_frames"] += 1
            real_submit(frame)

        h.submit = submit
        lock = sqlite3.connect(d / "GT-KA-400.sqlite", isolation_level=None,
                               check_same_thread=False)
        lock.execute("BEGIN IMMEDIATE")
        state["lock"] = lock
        return h

    real_changes = ChangeDetector.changes

    def changes(self, frame):  # noqa: ANN001
        out = real_changes(self, frame)
        if frame.seq % 3 == 0:  # a breaker operation every third scan
            out.append(Event(clock.now(), "state", "F1_Q0", "F1_Q0.POS",
                             f"F1_Q0.POS closed → open (scan {frame.seq})", "medium",
                             "closed", "open"))
        state["events"] += len(out)
        return out

    def release() -> None:  # the other writer lets go after 15 scans
        while state["locked_frames"] < 15:
            time.sleep(0.02)
        state["lock"].execute("ROLLBACK")
        state["lock"].close()
        state["lock"] = None

    monkeypatch.setattr(historian, "open_historian", open_locked)
    monkeypatch.setattr(ChangeDetector, "changes", changes)
    releaser = threading.Thread(target=release, name="test-release-lock")
    releaser.start()
    try:
        code = main(["record", "--duration", "4", "--data-dir", str(d)])
    finally:
        if state["lock"] is None:
            releaser.join(10)
    out = capsys.readouterr().out
    assert code == 0 and "historian: ok" in out, out
    h = state["hist"]
    assert state["locked_frames"] >= 15  # scans went on while the database was locked
    assert h.status.frames == state["frames"] and h.status.dropped_frames == 0
    assert state["sql_on_scan_path"] == []
    assert state["events"] > 0 and h.status.events_written == state["events"]
    from app.station import load_station

    h2 = real_open(load_station(), h.points, data_dir=d, start_writer=False)
    try:
        assert len(h2.events(limit=10_000)) == state["events"]
    finally:
        h2.close()


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    return err


def test_bad_input_gets_one_clear_line(tmp_path, capsys):
    import socket

    d = str(tmp_path)
    assert main(["dss", "add", str(tmp_path / "nope.dss"), "--data-dir", d]) == 2
    _one_line_error(capsys, "nope.dss", "no such circuit file")
    assert main(["history", "events", "--db", "bogus://x"]) == 2
    _one_line_error(capsys, "bogus://x")
    assert main(["history", "events", "--db", "not a url"]) == 2
    _one_line_error(capsys, "not a url", "not a database URL")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{port}/gridtwin"
    assert main(["history", "events", "--db", url]) == 2
    err = _one_line_error(capsys, f"127.0.0.1:{port}/gridtwin", "cannot open the database")
    assert "secret" not in err
    (tmp_path / "c").mkdir()
    corrupt = tmp_path / "c" / "GT-KA-400.sqlite"
    corrupt.write_bytes(b"this is not a database, it is a text file\n" * 100)
    assert main(["history", "events", "--data-dir", str(corrupt.parent)]) == 2
    _one_line_error(capsys, str(corrupt), "file is not a database")
    assert main(["dss", "activate", "abc", "--data-dir", d]) == 2
    _one_line_error(capsys, "dss activate: 'abc' is not a version number")
    assert main(["dss", "diff", "1", "x", "--data-dir", d]) == 2
    _one_line_error(capsys, "'x' is not a version number")
    assert main(["dss", "activate", "7", "--data-dir", d]) == 2
    _one_line_error(capsys, "no circuit version 7")


def test_bad_numbers_are_refused_by_the_parser(tmp_path, capsys):
    import pytest

    for argv, needle in ((["history", "trend", "B220_M1.V", "--points", "0"], "--points"),
                         (["history", "events", "--limit", "many"], "--limit"),
                         (["record", "--duration", "-3"], "--duration"),
                         (["record", "--period", "0"], "--period"),
                         (["record", "--retention", "raw=forever"], "--retention")):
        with pytest.raises(SystemExit) as ei:
            main([*argv, "--data-dir", str(tmp_path)])
        assert ei.value.code == 2
        err = capsys.readouterr().err
        assert needle in err.splitlines()[-1], err


def test_record_serves_and_polls_the_station_it_is_given(tmp_path, capsys, station_copy):
    """`record --station FILE` starts its field-sim on that station too (it used to start it
    on the default one while polling with FILE's points): an industrial load doubled in the
    copy's circuit reads doubled in the historian."""
    from app.field.sim.plant import PlantSimulator
    from app.station import load_station

    dss = station_copy.with_name("station.dss")
    dss.write_text(dss.read_text().replace("New Load.IND1_LOAD bus1=IND1_C phases=3 kv=33 "
                                           "kw=15000", "New Load.IND1_LOAD bus1=IND1_C "
                                           "phases=3 kv=33 kw=30000"))
    d = str(tmp_path / "data")
    assert main(["record", "--station", str(station_copy), "--duration", "3",
                 "--data-dir", d]) == 0
    assert main(["history", "trend", "IND1_LOAD.P", "--last", "10m", "--station",
                 str(station_copy), "--data-dir", d, "--csv", str(tmp_path / "p.csv")]) == 0
    stored = [float(r["value"]) for r in csv.DictReader(open(tmp_path / "p.csv"))]
    assert stored
    now = clock.now()

    def expected(station_file):  # noqa: ANN001, ANN202
        plant = PlantSimulator(load_station(station_file), seed=1, start=now)
        s = plant.step(0.1)
        return float(s.values[plant.points.row("IND1_LOAD.P")])

    doubled, default = expected(station_copy), expected(None)
    assert doubled > 1.6 * default
    assert abs(np.median(stored) - doubled) < 0.25 * doubled, (stored, doubled, default)
