"""The drill HMI: the trainee's window (the HMI of ``gridtwin run`` on a drill engine, marked
DRILL) and the instructor station, as ``gridtwin drill`` builds them. Offscreen; no timed
assertions (every wait is for a condition)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from app.runtime.qt.threads import running_threads
from app.ui import theme
from tests.drill_scenarios import reactor_scenario

SC = reactor_scenario("ui-drill", "Reactor back in service", duration_s=900, scan_s=1.0,
                     within_s=800, description="Close the 400 kV reactor breaker.",
                     expect_extra='points = 10\ntext = "Put the reactor back in service"\n')


@pytest.fixture
def make_drill(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from app.ui.drill.app import DrillOptions, build_drill

    made = []
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "ui-drill.toml").write_text(SC, encoding="utf-8")

    def make(*, start: bool = True, **kw):
        opts = DrillOptions(**{"scenario": "ui-drill", "folder": str(tmp_path / "scenarios"),
                               "data_dir": str(tmp_path / "live"), "trainee": "asha",
                               "no_3d": True, "speed": 20.0, **kw})
        drill = build_drill(opts, settings=QSettings(str(tmp_path / "hmi.ini"),
                                                     QSettings.Format.IniFormat))
        qtbot.addWidget(drill.win)
        qtbot.addWidget(drill.instructor)
        made.append(drill)
        if start:
            drill.start()
            qtbot.waitUntil(lambda: drill.win.sessions.session is not None, timeout=20_000)
            qtbot.waitUntil(lambda: drill.win.last_snapshot is not None, timeout=20_000)
        return drill

    yield make
    for d in made:
        d.close()
    assert running_threads() == []


def _wait(qtbot, fut, timeout: int = 60_000):
    qtbot.waitUntil(fut.done, timeout=timeout)
    assert fut.exception() is None, fut.exception()
    return fut.result()


def test_the_trainee_window_is_marked_drill_and_has_no_instructor_controls(make_drill):
    d = make_drill()
    win = d.win
    assert win.windowTitle().startswith("DRILL — ")
    label = win.drill_banner_label
    assert label.text() == "DRILL — Reactor back in service — not the live station"
    assert label.isVisible() and theme.DRILL.name() in label.styleSheet()
    assert theme.DRILL.name() not in {c.name() for c in theme.PRIORITY.values()}
    assert not d.win.drill_banner.toggleViewAction().isVisible()  # cannot be hidden
    win.status.tick()
    assert win.status.clock_label.text().startswith("DRILL simulated")
    assert win.drill_status_mark.isVisible() and "DRILL" in win.drill_status_mark.text()
    assert win.status.historian_label.text() == "history: off"
    assert d.instructor.isWindow() and d.instructor.parent() is None
    trainee_actions = {a.text() for a in win.findChildren(QAction)}
    assert not trainee_actions & {"❚❚ Freeze", "▶ Run", "Finish drill…", "Snapshot now"}
    assert "asha" in win.status.user_label.text()


def test_a_trainee_operate_through_the_faceplate_is_scored(qtbot, make_drill):
    from app.control.audit import read_audit

    d = make_drill()
    win = d.win
    win.open_faceplate("BR4_Q0")
    fp = win.commands.faceplates["BR4_Q0"]
    qtbot.waitUntil(lambda: fp.buttons["Select close"].isEnabled(), timeout=20_000)
    fp.buttons["Select close"].click()
    qtbot.waitUntil(lambda: fp.state != "selecting", timeout=20_000)
    assert fp.state == "selected"
    fp.buttons["Operate"].click()
    qtbot.waitUntil(lambda: fp.state == "idle", timeout=60_000)
    qtbot.waitUntil(lambda: len(d.source.status.actions) == 1, timeout=20_000)
    v = d.source.status.actions[0]
    assert (v.action, v.asset, v.ok, v.verdict) == ("close", "BR4_Q0", True, "correct")
    assert d.source.status.expectations[0]["verdict"] == "correct"
    assert d.source.status.score == 100.0
    qtbot.waitUntil(lambda: d.instructor.actions.rowCount() == 1, timeout=20_000)
    assert d.instructor.actions.item(0, 4).text() == "CORRECT"
    # The command is in the drill's own audit log, as the live HMI's are in the live one.
    rows = read_audit(d.hmi.runtime.store, device="BR4_Q0")
    assert any(r["result"] == "success" and r["user"] == "asha" for r in rows)


def test_a_refused_select_is_a_wrong_action(qtbot, make_drill):
    d = make_drill()
    done = []
    # BR4_Q0 is open: selecting it to open is refused ("already open") and judged.
    d.hmi.control.select(d.win.sessions.session, "BR4_Q0", False,
                         lambda r, e: done.append((r, e)))
    qtbot.waitUntil(lambda: bool(done), timeout=20_000)
    assert done[0][1] is not None
    qtbot.waitUntil(lambda: len(d.source.status.actions) == 1, timeout=20_000)
    v = d.source.status.actions[0]
    assert (v.action, v.ok, v.verdict) == ("open", False, "wrong")


def test_freeze_speed_snapshot_inject_backtrack_and_finish(qtbot, make_drill, monkeypatch,
                                                           tmp_path):
    d = make_drill()
    instr, src = d.instructor, d.source
    stats = d.hmi.pipeline.stats

    _wait(qtbot, instr.freeze())
    t_frozen = src.t_s
    n = stats.frames
    qtbot.waitUntil(lambda: stats.frames >= n + 3, timeout=20_000)
    assert src.t_s == t_frozen  # scans go on, simulated time stands still
    qtbot.waitUntil(lambda: instr.state_label.text().startswith("FROZEN"), timeout=20_000)
    qtbot.waitUntil(lambda: d.win.drill_banner_label.text().endswith(
        "not the live station — FROZEN by the instructor"), timeout=20_000)
    assert not instr.freeze_action.isEnabled() and instr.run_action.isEnabled()

    _wait(qtbot, instr.set_speed(10.0))
    assert src.status.speed == 10.0
    snap = _wait(qtbot, instr.take_snapshot("before the malfunction"))
    assert snap.t_s == t_frozen
    qtbot.waitUntil(lambda: any("before the malfunction" in instr.snap_list.item(i).text()
                                for i in range(instr.snap_list.count())), timeout=20_000)

    _wait(qtbot, instr.resume())
    qtbot.waitUntil(lambda: src.t_s > snap.t_s + 10, timeout=30_000)
    qtbot.waitUntil(lambda: d.win.drill_banner_label.text().endswith("not the live station"),
                    timeout=20_000)
    _wait(qtbot, instr.inject("overvoltage", {"pu": 1.12}))
    qtbot.waitUntil(lambda: any(e.source == "instructor" and e.kind == "inject"
                                for e in src.status.soe), timeout=20_000)

    def soe_text() -> str:
        t = instr.soe
        return "\n".join(t.item(r, 4).text() for r in range(t.rowCount()) if t.item(r, 4))

    qtbot.waitUntil(lambda: "overvoltage" in soe_text(), timeout=20_000)
    # The trainee sees it: an alarm raised, logged after the snapshot's instant.
    t_snap_ms = (src.engine.start.timestamp() + snap.t_s) * 1000
    model = d.win.alarms.model
    qtbot.waitUntil(lambda: len(model.rows) > 0, timeout=30_000)
    raised = {r.key for r in model.rows}
    qtbot.waitUntil(lambda: any(e.time_ms > t_snap_ms for e in d.win.events.live_buffer),
                    timeout=20_000)

    # Back to the snapshot (confirmed): the drill is where it was, the malfunction undone,
    # the trainee's trends start again at its time.
    assert d.win.trends.add_tag("B400_M1.V")
    qtbot.waitUntil(lambda: d.win.trends.series["B400_M1.V"].last_t() > snap.t_s + 10
                    + d.source.engine.start.timestamp(), timeout=20_000)
    _wait(qtbot, instr.freeze())
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    for i in range(instr.snap_list.count()):
        if "before the malfunction" in instr.snap_list.item(i).text():
            instr.snap_list.setCurrentRow(i)
    instr.ask_backtrack()
    qtbot.waitUntil(lambda: src.status.generation == 1, timeout=60_000)
    assert src.t_s == pytest.approx(snap.t_s)
    assert not any(e.kind == "inject" for e in src.status.soe)
    qtbot.waitUntil(lambda: "overvoltage" not in soe_text(), timeout=20_000)
    # … and so do the trainee's alarm list and event log: the snapshot's, not the undone
    # minutes' (the alarms not left behind as "returned, unacknowledged").
    qtbot.waitUntil(lambda: not raised & {r.key for r in model.rows}, timeout=20_000)
    assert not any(e.time_ms > t_snap_ms for e in d.win.events.live_buffer)
    assert all(e.time_ms <= t_snap_ms for e in d.win.events.model.rows)
    # Its "Last hour" ends at the drill's simulated time, not the wall clock's.
    from app.ui.event_log import _from_qdatetime

    shown_to = _from_qdatetime(d.win.events.to.dateTime())
    assert abs((shown_to - src.now()).total_seconds()) < 2
    t_back = d.source.engine.start.timestamp() + snap.t_s
    qtbot.waitUntil(lambda: "B400_M1.V" in d.win.trends.series
                    and 0 < d.win.trends.series["B400_M1.V"].last_t() <= t_back + 1e-3,
                    timeout=20_000)

    # A snapshot saved to a file, and loaded back as the place to go back to.
    saved = instr.ask_save_snapshot(str(tmp_path / "snap.json"))
    assert saved is not None and saved.exists()

    # Finish: the score and the debrief, written and stored for the trainee.
    instr.ask_finish()
    qtbot.waitUntil(lambda: instr.result is not None, timeout=120_000)
    res = instr.result
    assert Path(res.report["html"]).exists() and Path(res.report["pdf"]).exists()
    assert Path(res.report["html"]).parent == d.out_dir
    assert (d.root / "asha" / "results.jsonl").exists()
    qtbot.waitUntil(lambda: instr.state_label.text().startswith("FINISHED"), timeout=20_000)
    assert not instr.finish_action.isEnabled()


def test_the_malfunction_dialog_checks_what_is_typed(qtbot, make_drill):
    from app.ui.drill.instructor import MalfunctionDialog

    d = make_drill(start=False)
    dlg = MalfunctionDialog("overvoltage", d.hmi.runtime.station, d.source.points)
    qtbot.addWidget(dlg)
    dlg.fields["pu"].setText("9")
    dlg.check()
    assert "parameter 'pu'" in dlg.error.text() and dlg.result() == 0
    dlg.fields["pu"].setText("1.1")
    dlg.check()
    assert dlg.params == {"pu": 1.1} and dlg.result() == 1
    # A fault through the protection: the circuit's buses to choose from.
    buses = tuple(d.source.engine.plant.engine.bus_names)
    f = MalfunctionDialog("fault", d.hmi.runtime.station, d.source.points, buses=buses)
    qtbot.addWidget(f)
    f.fields["bus"].setCurrentText("l2_t")
    f.fields["stuck"].setText("L2_Q0")
    f.check()
    assert f.params == {"bus": "l2_t", "type": "LG", "stuck": "L2_Q0", "permanent": "true"}


def _tree_hash(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()
            and "drills" not in p.relative_to(root).parts}


def test_the_live_stores_are_untouched(qtbot, make_drill, station, tmp_path):
    from app.control.userdb import open_store

    live = tmp_path / "live"
    eng = open_store(station.station.id, data_dir=str(live))  # the live station's store
    eng.dispose()
    before = _tree_hash(live)
    assert before
    d = make_drill()
    assert d.hmi.historian is None
    assert d.out_dir.is_relative_to(live / "drills" / "asha")
    n = d.hmi.pipeline.stats.frames
    qtbot.waitUntil(lambda: d.hmi.pipeline.stats.frames >= n + 5, timeout=20_000)
    d.close()
    assert _tree_hash(live) == before
    assert (d.out_dir / f"{station.station.id}.sqlite").exists()  # the drill's own store


def test_a_bad_snapshot_file_is_one_line_and_exit_status_2(qtbot, tmp_path, capsys):
    from app.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "format": "gridtwin-drill-snapshot",\n  "version": 1,\n'
                   '  "scenario": "breaker-failure",\n  "t_s": "soon"\n}\n', encoding="utf-8")
    code = main(["drill", "breaker-failure", "--from-snapshot", str(bad), "--data-dir",
                 str(tmp_path / "d"), "--screenshot", str(tmp_path / "shots"), "--no-3d"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert err.startswith(f"gridtwin: {bad}:5: field 't_s'")


def test_a_drill_starts_from_a_snapshot_file(qtbot, make_drill, station, tmp_path):
    import datetime as dt

    from app.training.drill import DrillEngine
    from app.training.scenario import load_scenario
    from app.training.snapshots import save_snapshot

    sc = load_scenario(tmp_path / "scenarios" / "ui-drill.toml", station)
    day = dt.date(2025, 1, 15)
    eng = DrillEngine(station, sc, day=day, out_dir=tmp_path / "prep")
    eng.advance_wall(40.0)
    eng.inject("overvoltage", pu=1.1)
    eng.advance_wall(20.0)
    path = save_snapshot(tmp_path / "s.json", sc.id, eng.snapshot("prepared"), day)

    d = make_drill(start=False, scenario=None, from_snapshot=str(path), speed=1.0)
    assert d.source.t_s == pytest.approx(60.0)
    assert d.source.engine.day == day
    kinds = [(e.source, e.kind) for e in d.source.status.soe]
    assert ("instructor", "inject") in kinds and ("instructor", "snapshot") in kinds
    assert [s.label for s in d.source.status.snapshots] == ["prepared"]


def test_the_scenario_picker_lists_the_scenarios(qtbot, tmp_path):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialog

    from app.ui.drill.app import pick_scenario

    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "ui-drill.toml").write_text(SC, encoding="utf-8")
    seen = []

    def choose() -> None:
        dlg = QApplication.activeModalWidget()
        if not isinstance(dlg, QDialog):
            QTimer.singleShot(20, choose)
            return
        seen.append([dlg.picker_list.item(i).text() for i in range(dlg.picker_list.count())])
        dlg.accept()

    QTimer.singleShot(0, choose)
    assert pick_scenario(str(tmp_path / "sc")) == tmp_path / "sc" / "ui-drill.toml"
    assert seen == [["Reactor back in service   [ui-drill, 15 min]"]]


def test_earthing_a_live_feeder_and_a_bypass_from_the_hmi_are_unsafe(qtbot, make_drill):
    d = make_drill()
    session = d.win.sessions.session
    done = []
    d.hmi.control.select(session, "F1_Q8", True, lambda r, e: done.append(e))
    qtbot.waitUntil(lambda: len(done) == 1, timeout=20_000)
    d.hmi.control.select(session, "F1_Q8", True, lambda r, e: done.append(e),
                         bypass_reason="the line is surely dead by now")
    qtbot.waitUntil(lambda: len(done) == 2, timeout=20_000)
    assert all(e is not None for e in done)  # both refused by the HMI's control service
    qtbot.waitUntil(lambda: len(d.source.status.actions) == 2, timeout=20_000)
    first, second = d.source.status.actions
    assert first.verdict == "unsafe" and first.reason.startswith("earthing a live section")
    assert second.verdict == "unsafe" and second.reason == "interlock bypass"
    assert d.source.status.score == 0.0


def test_gridtwin_drill_scenario_screenshots_both_windows(qtbot, tmp_path):
    """The command line end to end, in a process of its own (as ``gridtwin run --headless``
    is tested: a QApplication that has run ``exec`` is spent for the rest of a process)."""
    import os
    import subprocess
    import sys

    from PySide6.QtGui import QImage

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "ui-drill.toml").write_text(SC, encoding="utf-8")
    shots = tmp_path / "shots"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TMPDIR": str(tmp_path),
           "PYTHONPATH": str(root)}
    r = subprocess.run([sys.executable, "-m", "app.cli", "drill", "ui-drill", "--folder",
                        str(tmp_path / "sc"), "--data-dir", str(tmp_path / "d"), "--trainee",
                        "asha", "--no-3d", "--screenshot", str(shots), "--duration", "2"],
                       cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "drill folder:" in r.stdout and "screenshots saved" in r.stdout
    for name in ("trainee.png", "instructor.png"):
        img = QImage(str(shots / name))
        assert (img.width(), img.height()) == (1920, 1080)
    assert list((tmp_path / "d" / "drills" / "asha").glob("ui-drill-*"))


def test_an_operators_open_is_not_a_trip_when_the_drill_is_ahead_of_the_wall_clock(
        qtbot, make_drill):
    import datetime as dt

    from app.station import clock

    # The drill's day two days ahead of the wall clock: a command noted at wall time would
    # be half a minute old at once and the open annunciated as a trip.
    d = make_drill(date=clock.now().date() + dt.timedelta(days=2), speed=1.0)
    views = []
    d.hmi.pipeline.alarms_ready.connect(views.append)
    done = []
    session = d.win.sessions.session
    d.hmi.control.select(session, "F4_Q0", False, lambda r, e: done.append((r, e)))
    qtbot.waitUntil(lambda: bool(done), timeout=20_000)
    d.hmi.control.operate(session, done[0][0], lambda r, e: done.append((r, e)))
    qtbot.waitUntil(lambda: len(done) == 2, timeout=30_000)
    assert done[1][1] is None and done[1][0].ok
    n = d.hmi.pipeline.stats.frames
    qtbot.waitUntil(lambda: d.hmi.pipeline.stats.frames >= n + 10, timeout=20_000)
    qtbot.waitUntil(lambda: d.win.last_snapshot.seq >= n + 5, timeout=20_000)
    assert views  # the alarm list did change (the drill's own alarms at the start)
    trips = [r for v in views for r in v.rows if r.tag == "F4_Q0.POS"]
    assert trips == []
    assert d.source.status.actions[-1].verdict == "wrong"  # not expected in this scenario


def test_the_instructor_lists_and_clears_malfunctions_in_force(qtbot, make_drill,
                                                                monkeypatch):
    d = make_drill()
    instr = d.instructor
    _wait(qtbot, instr.inject("frequency_excursion", {"target_hz": 49.2, "ramp_s": 10.0}))
    qtbot.waitUntil(lambda: instr.active_list.count() == 1, timeout=20_000)
    assert instr.active_list.item(0).text().startswith("frequency_excursion-")
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    instr.active_list.setCurrentRow(0)
    instr.ask_clear()
    qtbot.waitUntil(lambda: instr.active_list.count() == 0, timeout=20_000)
    assert not instr.clear_button.isEnabled()
    assert any(e.kind == "clear" and e.source == "instructor" for e in d.source.status.soe)


def test_a_fault_injected_live_gives_a_record_the_instructor_opens(qtbot, make_drill):
    """A line fault from the malfunction menu: relays, breakers, its COMTRADE record listed,
    and *Open record* shows it in the record viewer with the bay's channels."""
    from app.ui.records import RecordViewer

    d = make_drill()
    instr = d.instructor
    _wait(qtbot, instr.inject("fault", {"bus": "f1_r", "type": "LG"}))
    qtbot.waitUntil(lambda: instr.record_list.count() == 1, timeout=30_000)
    assert "LG" in instr.record_list.item(0).text()
    instr.record_list.setCurrentRow(0)
    v = instr.open_selected_record()
    assert isinstance(v, RecordViewer) and v.isVisible()
    assert [a.name for a in v.record.analogs][:3] == ["F1 IA", "F1 IB", "F1 IC"]
    assert "F1_21 TRIP" in [s.name for s in v.record.statuses]
    assert "IST" in v.header.text()  # the station's time beside UTC
    v.close()


def test_the_instructor_sees_an_expected_actions_time_left_count_down(qtbot, make_drill):
    d = make_drill()
    instr = d.instructor

    def left() -> float | None:
        it = instr.expect.item(0, 4)
        if it is None or not it.text().startswith("OPEN ("):
            return None
        return float(it.text().split("(")[1].split()[0])

    qtbot.waitUntil(lambda: left() is not None, timeout=20_000)
    first = left()
    qtbot.waitUntil(lambda: left() is not None and left() <= first - 5, timeout=30_000)
    assert left() == pytest.approx(800 - d.source.t_s, abs=25)  # within 800 s from the start
