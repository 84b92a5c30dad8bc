"""The drill as a frame source (Qt-free): wall time advances the engine, the instructor's
commands run on the stepping thread, a backtrack swaps the engine and frames stay in order."""

from __future__ import annotations

import datetime as dt

import pytest

from app.runtime.drill import DrillFrameSource
from app.training.drill import DrillEngine
from app.training.scenario import TraineeAction, load_scenario
from tests.drill_scenarios import reactor_scenario

SC = reactor_scenario("src", "Source test", duration_s=300, scan_s=1.0, within_s=200)


@pytest.fixture
def source(station, tmp_path):
    (tmp_path / "sc.toml").write_text(SC, encoding="utf-8")
    sc = load_scenario(tmp_path / "sc.toml", station)
    eng = DrillEngine(station, sc, day=dt.date(2025, 1, 15), out_dir=tmp_path / "out")
    return DrillFrameSource(eng, period_s=0.1)


def test_steps_follow_wall_time_speed_and_freeze(source):
    f1 = source.step(2.0)
    assert source.t_s == pytest.approx(2.0)
    source.call(lambda e: e.set_speed(5.0))
    f2 = source.step(1.0)
    assert source.t_s == pytest.approx(7.0)
    fut = source.call(lambda e: e.freeze())
    source.step(10.0)
    assert fut.done() and fut.exception() is None
    assert source.t_s == pytest.approx(7.0)
    assert source.status.state == "FROZEN"
    f3 = source.step(1.0)  # frozen: the same instant, a new frame all the same
    assert f1.seq < f2.seq < f3.seq
    assert f3.t_acquired == f2.t_acquired
    assert f2.t_acquired - f1.t_acquired == dt.timedelta(seconds=5)


def test_refused_command_comes_back_in_the_future(source):
    fut = source.call(lambda e: e.inject("overvoltage", pu=7.0))
    source.step(0.1)
    with pytest.raises(ValueError, match="not plausible"):
        fut.result(timeout=0)
    fut = source.call(lambda e: e.set_speed(100.0))
    source.step(0.1)
    assert "outside 0.5x-20x" in str(fut.exception())


def test_snapshot_and_backtrack_swap_the_engine(source):
    source.step(10.0)
    snap = source.call(lambda e: e.snapshot("ten"))
    source.step(20.0)
    source.call(lambda e: e.freeze())
    source.step(0.1)
    assert source.t_s == pytest.approx(30.0)
    old = source.engine
    fut = source.backtrack(snap.result(timeout=0))
    frame = source.step(0.1)
    assert fut.result(timeout=0) is source.engine is not old
    assert source.t_s == pytest.approx(10.0)  # back, and still frozen
    assert source.status.generation == 1 and source.status.frozen
    assert frame.seq > 0 and frame.t_acquired == source.engine.now()
    assert any(e.kind == "backtrack" for e in source.status.soe)


def test_an_action_judged_through_the_source_is_scored_and_replayed(source):
    source.step(5.0)
    a = TraineeAction(source.t_s, "close", "BR4_Q0")
    assert source.unsafe_reason(a) == ""
    snap = source.call(lambda e: e.snapshot("before"))
    source.step(0.1)
    v = source.judge(a, True, "BR4_Q0 closed")
    assert v.verdict == "correct" and v.asset == "BR4_Q0"
    source.step(1.0)
    assert [x.verdict for x in source.status.actions] == ["correct"]
    assert source.status.score == 100.0
    # The action after the snapshot is undone by going back to it.
    source.backtrack(snap.result(timeout=0))
    source.step(0.0)
    assert source.status.actions == ()


def test_close_refuses_what_is_still_queued(source):
    fut = source.call(lambda e: e.freeze())
    source.close()
    assert isinstance(fut.exception(timeout=0), RuntimeError)
    assert isinstance(source.call(lambda e: None).exception(timeout=0), RuntimeError)


def test_an_expected_action_reads_open_then_overdue_then_missed(source):
    """The instructor is not told "missed" while the trainee still has time."""
    from app.ui.drill.instructor import expectation_verdict

    source.step(50.0)
    (x,) = source.status.expectations
    assert x["deadline_s"] == pytest.approx(200.0)  # counted from the start
    assert expectation_verdict(x, source.t_s, False) == ("OPEN (150 s left)", "pending")
    source.call(lambda e: e.set_speed(20.0))
    source.step(10.0)
    (x,) = source.status.expectations
    assert source.t_s > 200 and expectation_verdict(x, source.t_s, False) == ("OVERDUE", "late")
    assert expectation_verdict(x, source.t_s, True) == ("MISSED", "missed")
    waiting = {**x, "after": "fault", "deadline_s": None}
    assert expectation_verdict(waiting, 10.0, False) == ("WAITING for fault", "pending")


def _process(proc, source, wall_s):  # noqa: ANN001, ANN202
    return proc.process(source.step(wall_s))


def test_a_backtrack_puts_the_trainees_alarm_state_back(source, station):
    """Each snapshot is a checkpoint of the HMI's alarm state and the SOE's previous scan;
    going back to it restores them — no alarm from the undone minutes stays on the list — and
    the same snapshot can be gone back to again."""
    from app.runtime.scan import ScanProcessor

    proc = ScanProcessor(station, source.points, clock=source.now)
    proc.marks = source.take_marks
    for _ in range(5):
        out = _process(proc, source, 1.0)
    assert out.alarms is None or not out.alarms.rows
    fut = source.call(lambda e: e.snapshot("before"))
    _process(proc, source, 0.0)
    snap = fut.result(timeout=0)
    t_snap = source.engine.start + dt.timedelta(seconds=snap.t_s)
    source.call(lambda e: e.inject("overvoltage", pu=1.15))
    raised = None
    for _ in range(60):
        out = _process(proc, source, 1.0)
        if out.alarms is not None and out.alarms.rows:
            raised = out.alarms
            break
    assert raised is not None, "the overvoltage raised no alarm"
    keys = {r.key for r in raised.rows}
    assert out.rewound_to is None

    for _ in range(2):  # twice: the checkpoint is copied, not used up
        source.backtrack(snap)
        out = _process(proc, source, 0.0)
        assert out.rewound_to is not None and out.rewound_to <= t_snap
        assert out.alarms is not None  # the whole list again, though it did not "change"
        assert not keys & {r.key for r in out.alarms.rows}, out.alarms.rows
        assert proc.alarms.engine.alarms == {} or all(
            a.key not in keys or not a.active for a in proc.alarms.engine.alarms.values())
        # The undone overvoltage is not re-detected as a change, nor raised again.
        out = _process(proc, source, 1.0)
        assert out.alarms is None or not keys & {r.key for r in out.alarms.rows}
        source.call(lambda e: e.inject("overvoltage", pu=1.15))
        for _ in range(60):
            out = _process(proc, source, 1.0)
            if out.alarms is not None and keys & {r.key for r in out.alarms.rows}:
                break
        else:
            raise AssertionError("the overvoltage after the backtrack raised no alarm")


def test_going_back_to_a_snapshot_with_no_checkpoint_starts_the_alarms_afresh(source, station):
    """A snapshot loaded from a file was never a checkpoint of this HMI: the alarm state
    starts afresh at its instant (nothing from the undone minutes listed)."""
    from app.runtime.scan import ScanProcessor
    from app.training.drill import Snapshot

    proc = ScanProcessor(station, source.points, clock=source.now)
    proc.marks = source.take_marks
    _process(proc, source, 1.0)
    fut = source.call(lambda e: e.snapshot("here"))
    _process(proc, source, 1.0)
    snap = fut.result(timeout=0)
    source.call(lambda e: e.inject("overvoltage", pu=1.15))
    for _ in range(60):
        out = _process(proc, source, 1.0)
        if proc.alarms.engine.alarms and any(a.active for a in proc.alarms.engine.alarms.values()):
            break
    else:
        raise AssertionError("the overvoltage raised no alarm")
    from_file = Snapshot(snap.t_s, snap.label, snap.live)  # another object: no checkpoint
    source.backtrack(from_file)
    out = _process(proc, source, 0.0)
    assert out.rewound_to == source.engine.now()
    assert out.alarms is not None and out.alarms.rows == ()
    assert proc.alarms.engine.alarms == {} or not any(
        a.active for a in proc.alarms.engine.alarms.values())
