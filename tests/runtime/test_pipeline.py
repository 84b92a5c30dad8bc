"""The worker threads: frames flow poller → solver → GUI and every thread stops cleanly."""

from __future__ import annotations

import pytest

from app.field.sim.plant import PlantSimulator
from app.runtime.commander import NoCommandPath, Submit
from app.runtime.compose import FieldSpec, compose
from app.runtime.qt.pipeline import Pipeline
from app.runtime.qt.threads import running_threads
from app.runtime.sources import PlantFrameSource


class ListSink:
    def __init__(self) -> None:
        self.frames = []

    def submit(self, frame) -> None:  # noqa: ANN001
        self.frames.append(frame)

    def submit_events(self, rows) -> None:  # noqa: ANN001
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def pipeline(qtbot, station):
    plant = PlantSimulator(station, seed=4, tick_s=0.05)
    sink = ListSink()
    p = Pipeline(compose(station, plant.points, field=FieldSpec(source=PlantFrameSource(plant)),
                         historian=sink))
    p.plant = plant  # p.sink is the ListSink
    yield p
    assert p.stop()
    assert running_threads() == []


def test_snapshots_conditions_and_events_reach_the_gui_thread(qtbot, pipeline):
    snaps, events = [], []
    pipeline.snapshot_ready.connect(snaps.append)
    pipeline.events_ready.connect(events.extend)
    pipeline.start()
    qtbot.waitUntil(lambda: len(snaps) >= 3, timeout=10_000)
    assert snaps[-1].twin.converged and snaps[-1].residual is not None
    assert sorted(running_threads()) == ["poller", "solver"]
    pipeline.plant.operate("TR2H_Q0", False)
    qtbot.waitUntil(lambda: snaps[-1].twin is not None
                    and not snaps[-1].twin.bus("B33_B").energised, timeout=10_000)
    qtbot.waitUntil(lambda: any(e.tag == "TR2H_Q0.POS" for e in events), timeout=10_000)
    assert pipeline.sink.frames and pipeline.stats.scan_hz() > 0


def test_stop_is_clean_and_idempotent(qtbot, pipeline):
    pipeline.start()
    qtbot.waitUntil(lambda: pipeline.stats.solved >= 2, timeout=10_000)
    assert pipeline.stop() and pipeline.stop()
    assert running_threads() == []


def test_a_failing_source_does_not_kill_the_gui(qtbot, station, caplog):
    class Broken:
        period_s = 0.1

        async def run(self, emit, stop):  # noqa: ANN001
            raise RuntimeError("socket exploded")

        def close(self) -> None:
            pass

        def commander(self, submit: Submit, *, select_timeout_s: float = 30.0
                      ) -> NoCommandPath:
            return NoCommandPath()

    p = Pipeline(compose(station, PlantSimulator(station, seed=1).points,
                         field=FieldSpec(source=Broken())))
    p.start()
    qtbot.waitUntil(lambda: "poller thread stopped by an error" in caplog.text, timeout=5000)
    assert p.stop()
