"""The runtime's typed seams: every frame source satisfies FrameSource and makes the
commander for the field behind it, and every commander satisfies Commander — nothing is told
apart by the attributes it happens to have."""

from __future__ import annotations

import pytest

from app.field.sim.plant import PlantSimulator
from app.runtime.commander import NoCommandPath, PlantCommander, ProtocolCommander
from app.runtime.sources import FrameSource, PlantFrameSource, ProtocolFrameSource
from app.station.commands import Commander
from app.station.points import build_point_table
from tests.protocols import protocol_problems


def _submit(coro):  # noqa: ANN001, ANN202
    coro.close()
    raise RuntimeError("the poller is not running")


def test_a_plant_source_makes_a_plant_commander(station):
    src = PlantFrameSource(PlantSimulator(station, seed=1))
    assert protocol_problems(src, FrameSource) == []
    cmd = src.commander(_submit, select_timeout_s=5.0)
    assert isinstance(cmd, PlantCommander)
    assert protocol_problems(cmd, Commander) == []
    assert cmd.path("F1_Q0") == "plant"


def test_a_protocol_source_makes_a_protocol_commander(station):
    pts = build_point_table(station)
    # In-process Modbus poller: nothing connects until the first scan, nothing to stop.
    src = ProtocolFrameSource(pts, modbus=("127.0.0.1", 9), modbus_in_process=True)
    try:
        assert protocol_problems(src, FrameSource) == []
        cmd = src.commander(_submit, select_timeout_s=7.0)
        assert isinstance(cmd, ProtocolCommander)
        assert protocol_problems(cmd, Commander) == []
        assert cmd.select_timeout_s == 7.0
        rtu_switch = next(iter(cmd._rtu_device))
        assert cmd.path(rtu_switch) == "modbus"  # no MMS: every switch over the RTU
        assert cmd.path("no such device") is None
        assert cmd.termination(rtu_switch) is None
    finally:
        src.close()


def test_a_source_with_nothing_to_command_refuses_every_command():
    cmd = NoCommandPath()
    assert protocol_problems(cmd, Commander) == []
    assert cmd.path("F1_Q0") is None
    r = cmd.select("F1_Q0", True)
    assert not r.ok and r.message == "F1_Q0 has no command path"
    assert not cmd.operate("F1_Q0", True).ok
    assert cmd.termination("F1_Q0") is None


def test_the_test_and_bench_sources_satisfy_the_protocol(station):
    from bench.alarms import FloodSource
    from tests.ui.conftest import ScriptedSource

    plant = PlantSimulator(station, seed=2)
    for src in (ScriptedSource(plant), FloodSource(plant)):
        assert protocol_problems(src, FrameSource) == [], type(src).__name__
        assert isinstance(src.commander(_submit), PlantCommander)


def test_the_control_tests_commander_satisfies_the_protocol(station):
    from tests.control.test_control import PlantCommander as TestCommander

    assert protocol_problems(TestCommander(PlantSimulator(station, seed=3)), Commander) == []


def test_a_device_not_heard_from_yet_is_not_selected(station):
    """Before the first scan the RTU path is CONNECTING: the commander refuses with why,
    sending nothing (the control thread gets an answer, never an exception)."""
    pts = build_point_table(station)
    src = ProtocolFrameSource(pts, modbus=("127.0.0.1", 9), modbus_in_process=True)
    try:
        cmd = src.commander(_submit)
        sw = next(iter(cmd._rtu_device))
        r = cmd.select(sw, True)
        assert not r.ok and "is not answering (connecting)" in r.message
    finally:
        src.close()


def test_run_on_refuses_a_loop_that_is_not_running():
    import asyncio

    from app.runtime.commander import run_on

    loop = asyncio.new_event_loop()
    coro = asyncio.sleep(0)
    try:
        with pytest.raises(RuntimeError, match="the poller is not running"):
            run_on(loop, coro)
    finally:
        coro.close()
        loop.close()
