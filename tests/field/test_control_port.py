"""The fault-injection control channel's port: the documented 10199 by default, a free one
only when that is taken (and then named where trainers look for it)."""

from __future__ import annotations

import argparse
import socket

import pytest

from app.cli.field import add_field_sim_arguments, field_sim_options
from app.field.sim.control import ControlClient
from app.field.sim.plant import PlantSimulator
from app.field.sim.runner import DEFAULT_CONTROL_PORT, open_control_channel
from app.runtime.fieldsim import FieldSimProcess


def _taken_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_the_documented_port_is_the_default():
    p = argparse.ArgumentParser()
    add_field_sim_arguments(p)
    opts = field_sim_options(p.parse_args([]))
    assert DEFAULT_CONTROL_PORT == 10199
    assert opts.control == ("127.0.0.1", 10199) and opts.control_fallback is False
    opts = field_sim_options(p.parse_args(["--control-fallback"]))
    assert opts.control_fallback is True
    assert FieldSimProcess().control_port == 10199


def test_a_taken_port_falls_back_to_a_free_one_only_when_asked(station):
    plant = PlantSimulator(station, seed=1)
    with _taken_port() as held:
        port = held.getsockname()[1]
        with pytest.raises(OSError):
            open_control_channel(plant, "127.0.0.1", port)
        ch = open_control_channel(plant, "127.0.0.1", port, fallback=True).start()
        try:
            assert ch.port != port
            with ControlClient(ch.host, ch.port) as c:
                assert c.status()["injections"] == []
        finally:
            ch.stop()


def test_the_hmis_field_sim_reports_where_its_control_channel_really_listens():
    """``gridtwin run``'s field-sim asks for the fixed port with fallback; when that port is
    taken, the READY line's address (a free port) is what the HMI shows."""
    with _taken_port() as held:
        port = held.getsockname()[1]
        sim = FieldSimProcess(mms=False, control_port=port).start()
        try:
            host, real = sim.addresses["control"]
            assert real != port
            with ControlClient(host, real) as c:
                assert c.status()["injections"] == []
        finally:
            sim.stop()
    assert sim.exit_code == 0
