"""Trainers find the fault-injection port: the HMI's own field-sim's control channel is in
the status bar and in Help ▸ About."""

from __future__ import annotations

from app.field.sim.control import ControlClient
from app.runtime.fieldsim import FieldSimProcess

from .conftest import ScriptedSource


def test_the_status_bar_and_about_show_where_faults_are_injected(make_hmi, plant):
    hmi = make_hmi(ScriptedSource(plant), start=False)
    win = hmi.win
    win.status.tick()
    assert not win.status.fault_label.isVisibleTo(win)  # a station it did not start
    assert "fault injection: not available" in win.about_text()
    # The HMI's own field-sim (as gridtwin run starts it): its real control address.
    sim = FieldSimProcess(mms=False).start()
    hmi.runtime.sim = sim  # the runtime stops it with everything else
    win.status.tick()
    host, port = sim.addresses["control"]
    assert win.status.fault_label.text() == f"fault injection: {host}:{port}"
    assert win.status.fault_label.isVisibleTo(win)
    assert f"fault injection (trainers): {host}:{port}" in win.about_text()
    with ControlClient(host, port) as c:  # and it is where faults really go in
        fid = c.inject("breaker_stuck", asset="F1_Q0")
        assert [i["id"] for i in c.status()["injections"]] == [fid]
