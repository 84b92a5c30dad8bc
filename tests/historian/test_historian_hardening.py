"""The historian under a frozen file, a full disk and an unkind umask (issue 11): degraded
with one log line, never killed, every loss counted, its files private."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event

from app.field.sim.plant import PlantSimulator
from app.historian import open_historian
from app.historian.db import file_flags_problem, no_checkpoint_on_close, sqlite_files
from app.station.frame import ScanFrame
from tests.clocks import hours_ago

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plant(station):
    return PlantSimulator(station, seed=4, start=hours_ago(6))


def frame(plant):
    s = plant.step(0.1)
    return ScanFrame(s.seq, s.timestamp, plant.points, s.values, s.quality, s.t_source_ns, {})


def wait_for(cond, timeout=30.0, what=""):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"condition not met in time: {what}"
        time.sleep(0.02)


def _chattr(flag: str, *paths: str) -> bool:
    if not shutil.which("chattr"):
        return False
    r = subprocess.run(["chattr", flag, *paths], capture_output=True)
    return r.returncode == 0


# ------------------------------------------------------------------ a frozen file
WRITER = textwrap.dedent("""
    import sys, logging
    logging.basicConfig(level=logging.WARNING, format="LOG %(levelname)s %(message)s")
    from app.station import load_station
    from app.field.sim.plant import PlantSimulator
    from app.station.frame import ScanFrame
    from app.historian import open_historian
    st = load_station()
    p = PlantSimulator(st, seed=2)
    h = open_historian(st, p.points, data_dir=sys.argv[1], flush_s=0.1)
    print("READY", flush=True)
    for line in sys.stdin:  # one command a line: "frames N", "status", "close"
        cmd = line.split()
        if cmd[0] == "frames":
            for _ in range(int(cmd[1])):
                s = p.step(0.1)
                h.submit(ScanFrame(s.seq, s.timestamp, p.points, s.values, s.quality,
                                   s.t_source_ns, {}))
        if cmd[0] == "close":
            h.close()
        st_ = h.status
        # one write: print's pieces are separate writes, and a log line from the writer
        # thread (stderr shares the pipe) could land between them
        sys.stdout.write(f"STATUS {int(st_.ok)} {st_.samples_written} "
                         f"{st_.pending_samples} {st_.lost_samples}\\n")
        sys.stdout.flush()
        if cmd[0] == "close":
            break
""")


def test_an_immutable_database_degrades_in_one_line_and_never_kills_the_writer(tmp_path):
    """chattr +i on the database, its WAL and its shared-memory file while the writer
    runs: before, the next write through SQLite's map of -shm raised SIGBUS and the process
    died with no log line. Now: degraded, one line; it recovers when the flag goes, and a
    process that closes while the files are still frozen ends normally, its loss counted."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    if not _chattr("+i", str(probe)):
        pytest.skip("chattr +i is not available here (needs root and ext2/3/4, xfs, btrfs)")
    _chattr("-i", str(probe))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    files = [f for f in sqlite_files(tmp_path / "GT-KA-400.sqlite") if os.path.exists(f)]
    out: list[str] = []
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in
                                              iter(proc.stdout.readline, "")] + [lines.put("")],
                              daemon=True, name="writer-output")
    reader.start()

    def ask(cmd: str) -> list[int]:
        proc.stdin.write(cmd + "\n")
        proc.stdin.flush()
        while True:
            # never wait for ever: a reply not seen in 60 s fails the test, it does not hang CI
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                raise AssertionError("no reply from the writer in 60 s:\n" + "".join(out)) \
                    from None
            assert line, "the writer process died:\n" + "".join(out)
            out.append(line)
            # The child's log lines share its output: a STATUS line may come glued to one.
            m = re.search(r"STATUS (\d+) (\d+) (\d+) (\d+)", line)
            if m:
                return [int(x) for x in m.groups()]

    try:
        assert lines.get(timeout=60).startswith("READY")
        wait_for(lambda: ask("frames 5")[1] > 0, what="first samples written")
        files = [f for f in sqlite_files(tmp_path / "GT-KA-400.sqlite") if os.path.exists(f)]
        assert len(files) == 3  # the database, its WAL and its -shm
        assert _chattr("+i", *files)
        os.sync()  # written back: the next write to a mapped page faults
        wait_for(lambda: ask("frames 5")[0] == 0, what="degraded")
        for _ in range(20):
            ok, _written, pending, _lost = ask("frames 5")
            assert not ok and pending > 0  # held for retry, the writer alive
        _chattr("-i", *files)
        wait_for(lambda: ask("frames 1")[0] == 1 and ask("status")[2] == 0, what="recovered")
        assert _chattr("+i", *files)
        wait_for(lambda: ask("frames 5")[0] == 0, what="degraded again")
        ok, _written, pending, lost = ask("close")
        assert proc.wait(30) == 0, "".join(out)
        assert lost > 0 and pending == 0
    finally:
        _chattr("-i", *files)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdin.close()
        reader.join(10)  # the child is gone: its output ends
        proc.stdout.close()
    logs = [x for x in out if x.startswith("LOG")]
    degraded = [x for x in logs if "historian degraded" in x]
    assert len(degraded) == 2 and all("is immutable (chattr +i)" in x for x in degraded)
    assert sum("writes again" in x for x in logs) == 1
    assert sum("closed with" in x and "(lost)" in x for x in logs) == 1
    assert len(logs) == 4, logs  # nothing else: no traceback, no line per retry
    import sqlite3

    con = sqlite3.connect(tmp_path / "GT-KA-400.sqlite")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT COUNT(*) FROM ts_recent").fetchone()[0] > 0
    finally:
        con.close()


def test_flags_are_read_and_a_connection_can_skip_its_closing_checkpoint(tmp_path):
    f = tmp_path / "x"
    f.write_text("x")
    assert file_flags_problem(f) is None and file_flags_problem(tmp_path / "nope") is None
    if _chattr("+a", str(f)):
        try:
            assert "append-only (chattr +a)" in file_flags_problem(f)
        finally:
            _chattr("-a", str(f))
    import sqlite3

    db = tmp_path / "t.sqlite"
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (a)")
    con.execute("INSERT INTO t VALUES (1)")
    con.commit()
    assert no_checkpoint_on_close(con, True)
    con.close()
    assert (tmp_path / "t.sqlite-wal").exists()  # not checkpointed away on close
    con = sqlite3.connect(db)
    assert con.execute("SELECT a FROM t").fetchall() == [(1,)]  # nothing lost
    con.close()


# ------------------------------------------------------------------ losses are counted
def test_what_is_left_at_close_is_counted_as_lost_with_one_line(tmp_path, plant, caplog):
    h = open_historian(plant.station, plant.points, data_dir=tmp_path, flush_s=0.05)

    @event.listens_for(h.engine, "connect")
    def _ro(dbapi_conn, _rec):  # noqa: ANN001
        dbapi_conn.execute("PRAGMA query_only=ON")

    h.engine.dispose()
    for _ in range(20):
        h.submit(frame(plant))
    h.submit_events([{"event_type": "state", "severity": "low", "message": "x",
                      "time_ms": 1}])
    wait_for(lambda: not h.status.ok and h.status.frames == 20, what="degraded")
    pending = h.status.pending_samples
    caplog.set_level(logging.ERROR, logger="app.historian.store")
    h.close()
    assert pending > 0 and h.status.lost_samples >= pending and h.status.lost_events == 1
    assert h.status.pending_samples == 0 and h.status.pending_events == 0
    lines = [r.getMessage() for r in caplog.records if "closed with" in r.getMessage()]
    assert len(lines) == 1 and "(lost)" in lines[0] and "1 events" in lines[0]


def test_the_record_summary_names_every_loss():
    from app.cli.history import record_summary
    from app.historian import HistorianStatus

    s = HistorianStatus(ok=False, last_error="database or disk is full", frames=300,
                        samples_written=4100, dropped_frames=2, lost_samples=3736,
                        lost_events=5, events_written=7)
    text = record_summary(s, s)
    assert text == ("historian: DEGRADED: database or disk is full; 300 frames, 4100 samples "
                    "kept, 7 events stored; lost: 2 frames, 3736 samples, 5 events")


@contextlib.contextmanager
def small_filesystem(where: Path, size: str):
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                        str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_loses_nothing_it_does_not_count(tmp_path, plant):
    """A real full filesystem (a 16 MB tmpfs filled up): the writer degrades, holds what it
    cannot write, writes it all once there is room, and what is still unwritten when it
    closes on a full disk is counted, to the sample."""
    with small_filesystem(tmp_path / "fs", "16m") as fs:
        h = open_historian(plant.station, plant.points, data_dir=fs, flush_s=0.05)
        try:
            for _ in range(10):
                h.submit(frame(plant))
            wait_for(lambda: h.status.frames == 10 and h.status.pending_samples == 0)
            filler = fs / "filler"
            with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            n = 10
            while h.status.ok:  # until a batch does not fit
                h.submit(frame(plant))
                n += 1
                wait_for(lambda n=n: h.status.frames == n)
                assert n < 5000
            assert "full" in h.status.last_error
            for _ in range(30):
                h.submit(frame(plant))
            n += 30
            wait_for(lambda: h.status.frames == n)
            held = h.status.pending_samples
            assert held > 0
            filler.unlink()
            wait_for(lambda: h.status.ok and h.status.pending_samples == 0, what="recovered")
            assert h.status.lost_samples == 0 and h.status.dropped_frames == 0
            written = h.status.samples_written
            with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            while h.status.ok:
                h.submit(frame(plant))
                n += 1
                wait_for(lambda n=n: h.status.frames == n)
                assert n < 10000
        finally:
            h.close()
        assert h.status.samples_written >= written
        assert h.status.lost_samples > 0  # the last batches: counted, not "0 dropped"
        rows = h.status.samples_written
        h.engine.dispose()
        import sqlite3

        con = sqlite3.connect(fs / "GT-KA-400.sqlite")
        try:
            stored = con.execute("SELECT COUNT(*) FROM ts_recent").fetchone()[0]
        finally:
            con.close()
        assert stored >= rows - 1  # everything it says it wrote is there


# ------------------------------------------------------------------ private files
def test_the_data_dir_and_database_files_are_private(tmp_path, plant):
    old = os.umask(0o022)
    try:
        d = tmp_path / "new" / "data"
        h = open_historian(plant.station, plant.points, data_dir=d, flush_s=0.05)
        try:
            h.submit(frame(plant))
            wait_for(lambda: h.status.samples_written > 0)
            assert stat.S_IMODE(d.stat().st_mode) == 0o700
            for f in sqlite_files(d / "GT-KA-400.sqlite"):
                assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
        finally:
            h.close()
            h.engine.dispose()
        # A database left 0644 by an earlier release is tightened when opened.
        for f in sqlite_files(d / "GT-KA-400.sqlite"):
            if os.path.exists(f):
                os.chmod(f, 0o644)
        h = open_historian(plant.station, plant.points, data_dir=d, start_writer=False)
        h.close()
        h.engine.dispose()
        assert stat.S_IMODE((d / "GT-KA-400.sqlite").stat().st_mode) == 0o600
    finally:
        os.umask(old)
