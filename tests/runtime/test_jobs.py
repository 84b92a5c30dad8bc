"""The job runner: Qt-free jobs on a worker thread, progress / done / failed / cancel."""

from __future__ import annotations

import threading

import pytest

from app.runtime.jobs import Cancelled, Job, JobContext, run_job
from app.runtime.qt.jobs import JobRunner


def counting(n: int, gate: threading.Event | None = None) -> Job:
    def run(ctx: JobContext) -> int:
        for k in range(n):
            if gate is not None:
                gate.wait(5)
            ctx.check()
            ctx.progress((k + 1) / n, f"step {k + 1}")
        return n

    return Job(f"count {n}", run)


def test_a_job_runs_without_qt():
    seen = []
    ctx = JobContext(on_progress=lambda f, t: seen.append(t), min_interval_s=0.0)
    assert run_job(counting(3), ctx) == 3
    assert seen == ["step 1", "step 2", "step 3"]


def test_progress_reports_are_rate_limited_but_the_last_always_arrives():
    """A study reporting every outage must not repaint a progress bar a thousand times a
    second: reports inside the interval are dropped, the first and the final one pass."""
    seen = []
    ctx = JobContext(on_progress=lambda f, t: seen.append(t), min_interval_s=3600.0)
    assert run_job(counting(50), ctx) == 50
    assert seen == ["step 1", "step 50"]


@pytest.fixture
def runner(qtbot):
    r = JobRunner("test-jobs").start()
    yield r
    assert r.stop()


def test_progress_and_result_arrive_on_the_gui_thread(qtbot, runner):
    h = runner.submit(counting(4))
    got = []
    h.progress.connect(lambda f, t: got.append((threading.current_thread().name, f)))
    with qtbot.waitSignal(h.done, timeout=5000) as sig:
        pass
    assert sig.args == [4] and h.result == 4 and not runner.busy
    assert all(name == "MainThread" for name, _ in got)


def test_a_failure_is_reported_not_lost(qtbot, runner):
    def boom(_ctx):
        raise ValueError("bad station file, line 3")

    calls = []
    h = runner.submit(Job("boom", boom), lambda r, e: calls.append((r, e)))
    with qtbot.waitSignal(h.failed, timeout=5000) as sig:
        pass
    assert sig.args == ["ValueError: bad station file, line 3"]
    assert calls and isinstance(calls[0][1], ValueError)
    # the thread lives on: the next job runs
    with qtbot.waitSignal(runner.submit(counting(1)).done, timeout=5000):
        pass


def test_cancel_stops_a_running_job_and_a_queued_one_never_starts(qtbot, runner):
    gate = threading.Event()
    first = runner.submit(counting(100, gate))
    second = runner.submit(counting(1))
    first.cancel()
    second.cancel()
    gate.set()
    with qtbot.waitSignals([first.cancelled, second.cancelled], timeout=5000):
        pass
    assert isinstance(first.error, Cancelled) and first.result is None


def test_jobs_run_in_the_order_submitted(qtbot, runner):
    order = []
    handles = [runner.call(f"j{k}", lambda k=k: order.append(k)) for k in range(5)]
    with qtbot.waitSignal(handles[-1].done, timeout=5000):
        pass
    assert order == list(range(5))
