"""Studies ▸ fault levels and N-1 on the live state: a job with progress and Cancel, a
sortable table with CSV export, the results painted on the diagram."""

from __future__ import annotations

import csv

import pytest

from app.runtime.qt.jobs import JobRunner
from app.twin import TwinEngine
from app.ui.sld import SldView
from app.ui.studies import StudiesDock


@pytest.fixture
def studies(qtbot, station):
    engine = TwinEngine(station.circuit_path)
    engine.set_switch("Line.ICT2H_Q0", False)  # the live state: ICT-2 out
    engine.set_switch("Line.ICT2L_Q0", False)
    state = engine.solve()
    from app.station.points import build_point_table

    sld = SldView(station, build_point_table(station))
    qtbot.addWidget(sld)
    runner = JobRunner("studies-test").start()
    dock = StudiesDock(station, lambda: state, runner)
    qtbot.addWidget(dock)
    dock.fault_levels_ready.connect(sld.overlay.show_fault_levels)
    dock.contingencies_ready.connect(sld.overlay.show_contingencies)
    dock.cleared.connect(sld.overlay.clear)
    yield dock, sld, state
    assert runner.stop()


def test_fault_levels_fill_the_table_and_the_diagram(qtbot, studies, tmp_path):
    dock, sld, _ = studies
    progress = []
    h = dock.run_fault_levels()
    h.progress.connect(lambda f, _t: progress.append(f))
    assert not dock.fault_btn.isEnabled() and dock.cancel_btn.isEnabled()
    with qtbot.waitSignal(dock.fault_levels_ready, timeout=30_000):
        pass
    assert dock.model.rowCount() == len(dock.results) >= 6
    bars = {r[0]: r for r in dock.shown_rows()}
    assert 40 < float(bars["B400_M1"][3]) < 50  # 3ph kA at 400 kV
    # ICT-2 out: the 220 kV level is that of one ICT (~6-7 kA, not 11)
    assert float(bars["B220_M1"][3]) < 8
    assert sld.overlay.kind == "fault levels" and "kA" in sld.overlay.labels["B220_M1"]
    # sorted by 3ph kA, descending: the 400 kV bars first
    dock.table.sortByColumn(3, dock.table.horizontalHeader().sortIndicatorOrder().__class__
                            .DescendingOrder)
    assert dock.shown_rows()[0][0].startswith("B400")
    path = dock.export_csv(str(tmp_path / "fl.csv"))
    rows = list(csv.reader(open(path)))
    assert rows[0][:4] == ["Busbar", "Bus", "Base kV", "3ph kA"] and len(rows) == 1 + len(bars)
    assert "exported" in dock.status.text()
    dock.cleared.emit()
    assert sld.overlay.kind is None and not sld.overlay.labels


def test_n1_marks_what_an_outage_would_overload(qtbot, studies):
    dock, sld, _ = studies
    dock.run_contingencies()
    with qtbot.waitSignal(dock.contingencies_ready, timeout=60_000):
        pass
    rows = {r[0]: r for r in dock.shown_rows()}
    assert "base case" in rows and "ICT1" in rows
    assert rows["ICT1"][1] == "no"  # with ICT-2 already out, losing ICT-1 is not secure
    assert "N-1" in dock.status.text() and dock.fault_btn.isEnabled()
    assert sld.overlay.kind == "N-1"


def test_a_study_can_be_cancelled(qtbot, studies):
    """Cancel while it waits behind another job: it never runs, the dock says so and is
    ready again."""
    import threading

    dock, sld, _ = studies
    gate = threading.Event()
    blocker = dock.runner.call("hold", lambda: gate.wait(10))
    h = dock.run_contingencies()
    dock.cancel()
    gate.set()
    with qtbot.waitSignals([blocker.done, h.cancelled], timeout=30_000):
        pass
    assert "cancelled" in dock.status.text() and dock.fault_btn.isEnabled()
    assert sld.overlay.kind is None


def test_the_hmi_runs_its_studies_in_their_own_process(qtbot, make_hmi, station):
    """As gridtwin run assembles it: the study goes to the study process (the GUI does not
    compete with it for the interpreter), which the Hmi stops when it closes."""
    from app.field.sim.plant import PlantSimulator
    from app.runtime.sources import PlantFrameSource

    from .conftest import T0

    hmi = make_hmi(PlantFrameSource(PlantSimulator(station, seed=2, start=T0)), control=False)
    win = hmi.win
    qtbot.waitUntil(lambda: win.last_snapshot is not None, timeout=15_000)
    with qtbot.waitSignal(win.studies.fault_levels_ready, timeout=60_000):
        win.studies.run_fault_levels()
    proc = hmi.study_process.proc
    assert proc is not None and proc.poll() is None
    assert "kA" in win.sld.overlay.labels["B400_M1"]
    hmi.close()
    assert proc.poll() is not None and hmi.study_process.proc is None
