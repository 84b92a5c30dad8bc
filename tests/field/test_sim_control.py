"""The field-sim's local control channel: fault injection from another process."""

from __future__ import annotations

import json
import socket

import pytest

from app.field.sim.control import ControlChannel, ControlClient
from app.field.sim.plant import PlantSimulator


@pytest.fixture
def channel(station):
    plant = PlantSimulator(station, seed=2)
    ch = ControlChannel(plant, "127.0.0.1", 0).start()
    try:
        yield plant, ch
    finally:
        ch.stop()


def test_inject_status_clear(channel):
    plant, ch = channel
    with ControlClient(ch.host, ch.port) as c:
        fid = c.inject("breaker_stuck", asset="F1_Q0")
        assert "F1_Q0" in plant.stuck
        st = c.status()
        assert [i["id"] for i in st["injections"]] == [fid]
        assert c.clear(fid) == [fid]
        assert not plant.stuck
        r = c.call("operate", asset="F1_Q0", close=False)
        assert r["ok"] is True


def test_bad_requests_get_clear_errors_and_the_channel_survives(channel):
    plant, ch = channel
    with socket.create_connection((ch.host, ch.port), timeout=5) as s:
        f = s.makefile("rwb")

        def ask(raw: bytes) -> dict:
            f.write(raw + b"\n")
            f.flush()
            return json.loads(f.readline())

        assert "not JSON" in ask(b"{nope")["error"]
        assert "field 'cmd'" in ask(b'{"cmd": "explode"}')["error"]
        assert "field 'kind'" in ask(b'{"cmd": "inject", "kind": "x"}')["error"]
        r = ask(b'{"cmd": "inject", "kind": "breaker_stuck", "params": {"asset": "NOPE"}}')
        assert r["ok"] is False and "NOPE" in r["error"]
        assert "fields 'asset'" in ask(b'{"cmd": "operate", "asset": "F1_Q0"}')["error"]
        assert ask(b'{"cmd": "status"}')["ok"] is True  # still serving
    with ControlClient(ch.host, ch.port) as c, pytest.raises(ValueError, match="unknown fault"):
        c.inject("teleport")
