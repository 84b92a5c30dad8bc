"""The Health view: assessed on the job runner from a real historian, worst first, one
asset's history and forecast drawn, suggestions stored and counted; without a historian it
says what it needs."""

from __future__ import annotations

import pytest

from app.runtime.qt.jobs import JobRunner
from app.ui.health import HealthDock
from tests.analytics.test_health import recorded  # noqa: F401 - the five-day historian


@pytest.fixture
def runner(qtbot):
    r = JobRunner("test-health").start()
    yield r
    assert r.stop()


def test_the_view_assesses_on_the_runner_and_shows_the_worst_first(qtbot, runner,
                                                                   recorded):  # noqa: F811
    station, h, at = recorded
    dock = HealthDock(station, h, runner, now=lambda: at, schedule=False)
    qtbot.addWidget(dock)
    with qtbot.waitSignal(dock.assessed, timeout=120_000) as sig:
        dock.assess_now()
    results = sig.args[0]
    assert dock.model.rowCount() == len(results) > 100
    # Worst first: the faulty ICT1 (acetylene) is near the top and capped by its DGA.
    first = [dock.proxy.index(r, 0).data() for r in range(5)]
    assert "ICT1" in first
    assert dock.select_asset("ICT1")
    sel = dock.selected()
    assert sel is not None and sel.index.asset == "ICT1"
    html = dock.details.toHtml()
    assert "Capped by its worst factor (dga)" in html and "C57.104" in html
    assert "Suggested work" in html
    # History, forecast, band and the end-of-life line are on the plot.
    assert len(dock.plot.getPlotItem().items) >= 5
    assert "1 suggestion(s) added" in dock.status.text() or "added" in dock.status.text()
    assert dock.run_btn.isEnabled()
    # A second run updates the stored suggestions instead of adding more.
    with qtbot.waitSignal(dock.assessed, timeout=120_000):
        dock.assess_now()
    assert ": 0 suggestion(s) added" in dock.status.text()


def test_without_a_historian_the_view_says_what_it_needs(qtbot, station):
    dock = HealthDock(station, None, None)
    qtbot.addWidget(dock)
    assert not dock.run_btn.isEnabled()
    assert "needs the historian" in dock.status.text()
    assert dock.assess_now() is None
