"""Studies in their own process: the same results as in this one, progress, cancel, crash."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from app.runtime.jobs import Cancelled, JobContext
from app.runtime.studyproc import StudyError, StudyProcess
from app.twin.state import OperatingPoint
from app.twin.studies import live_fault_levels


@pytest.fixture
def proc(station):
    p = StudyProcess(station.path)
    yield p
    p.close()
    assert p.proc is None


def live_point(engine):  # noqa: ANN001, ANN201 - ICT-2 out: not the base case
    engine.set_switch("Line.ICT2H_Q0", False)
    engine.set_switch("Line.ICT2L_Q0", False)
    return engine.solve()


def test_a_study_in_the_process_equals_one_here_and_reports_progress(proc, station, engine):
    state = live_point(engine)
    seen = []
    ctx = JobContext(on_progress=lambda f, t: seen.append(f))
    there = proc.run("fault_levels", OperatingPoint.of(state), ctx)
    here = live_fault_levels(station, state)
    assert [(f.asset_id, f.ka) for f in there] == \
        [(f.asset_id, pytest.approx(f.ka)) for f in here]
    assert seen and seen[-1] == 1.0
    first = proc.proc.pid
    res = proc.run("contingencies", OperatingPoint.of(state), JobContext())
    assert res[0].outage == "base case" and proc.proc.pid == first  # one process, reused


def test_cancel_stops_the_study_in_the_process(proc, engine):
    ctx = JobContext()
    ctx.on_progress = lambda f, t: ctx.cancel()  # cancel at its first step
    with pytest.raises(Cancelled):
        proc.run("contingencies", OperatingPoint.of(engine.solve()), ctx)
    # ... and the process serves the next one
    assert proc.run("fault_levels", OperatingPoint.of(engine.solve()), JobContext())


def test_a_dead_study_process_is_an_error_not_a_hang(proc, engine):
    """The process dies with a study under way (stopped, then killed, so that it cannot
    answer first): the job fails with a clear error; the next study starts a new process."""
    point = OperatingPoint.of(engine.solve())
    assert proc.run("fault_levels", point, JobContext())
    pid = proc.proc.pid
    os.kill(pid, signal.SIGSTOP)
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(StudyError, match="ended"):
        proc.run("contingencies", point, JobContext())
    assert proc.run("fault_levels", point, JobContext())  # a new process takes over
    assert proc.proc.pid != pid


def test_a_killed_idle_process_is_replaced(proc, engine):
    point = OperatingPoint.of(engine.solve())
    assert proc.run("fault_levels", point, JobContext())
    old = proc.proc
    old.kill()
    old.wait(10)
    assert proc.run("fault_levels", point, JobContext()) and proc.proc.pid != old.pid
