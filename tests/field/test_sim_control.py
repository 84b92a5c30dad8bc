"""The field-sim's local control channel: fault injection from another process."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import pytest

from app.field.sim.control import (
    ControlBindError,
    ControlChannel,
    ControlClient,
    check_bind,
    is_loopback,
)
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


# ---------------------------------------------------------------- hardening (issue 11)
def _wait_for(cond, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def plant(station):
    return PlantSimulator(station, seed=2)


@contextlib.contextmanager
def serving(plant, **kw):
    ch = ControlChannel(plant, "127.0.0.1", 0, **kw).start()
    try:
        yield ch
    finally:
        ch.stop()


def _asker(sock):
    f = sock.makefile("rwb")

    def ask(raw: bytes) -> dict:
        f.write(raw + b"\n")
        f.flush()
        line = f.readline()
        assert line, "the channel closed the connection"
        return json.loads(line)

    return ask


MALFORMED = [
    (b"[" * 50_000, "nested deeper than 32"),
    (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper than 32"),
    (b'{"cmd": "inject", "params": {"factor": ' + b"9" * 5000 + b"}}", "4300 digits"),
    (b'{"cmd": "st\xffatus"}', "not UTF-8: byte 0xff at position 11"),
    (b'{"cmd": "status"}\x00', "NUL byte at position 17"),
    (b"\x00\x00\x00", "NUL byte at position 0"),
    (b"[1, 2]", "must be a JSON object, not list"),
    (b'"status"', "must be a JSON object, not str"),
    (b"42", "must be a JSON object, not int"),
    (b'{"cmd": "status", "x": NaN}', "NaN is not a number JSON allows"),
    (b"{nope", "not JSON"),
    (b'{"cmd": "explode"}', "field 'cmd': unknown command"),
    (b'{"cmd": ["x"]}', "field 'cmd': unknown command"),
    (b'{"cmd": "inject", "kind": "comm_lost", "params": [1]}', "field 'params' must be"),
    (b'{"cmd": "inject", "kind": "transformer_overload", "params": {"asset": "ICT1", '
     b'"factor": 1e400}}', "parameter 'factor' must be finite"),
    (b'{"cmd": "inject", "kind": "transformer_overload", "params": {"asset": "ICT1", '
     b'"factor": {"a": 1}}}', "parameter 'factor' must be a number"),
    (b'{"cmd": "inject", "kind": "comm_lost", "params": {"kind": 1}}', "multiple values"),
    (b'{"cmd": "clear", "id": ["a"]}', "field 'id' must be a string"),
    (b'{"cmd": "clear", "id": "nope-1"}', "no injection 'nope-1'"),
    (b'{"cmd": "operate", "asset": "F1_Q0", "close": "yes"}', "fields 'asset'"),
]


def test_every_malformed_line_gets_an_error_reply_on_an_open_connection(plant, caplog):
    with serving(plant) as ch, socket.create_connection((ch.host, ch.port), timeout=10) as s:
        ask = _asker(s)
        for raw, message in MALFORMED:
            r = ask(raw)
            assert r["ok"] is False and message in r["error"], (raw[:60], r)
            assert ask(b'{"cmd": "status"}')["ok"] is True  # the same connection serves on
        # Longer than the line limit: one error, the rest of that line dropped, still open.
        r = ask(b'{"cmd": "status", "pad": "' + b"x" * (200 * 1024) + b'"}')
        assert "longer than 65536 bytes" in r["error"]
        assert ask(b'{"cmd": "status"}')["ok"] is True
    assert not plant.injections
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_a_line_of_exactly_the_limit_is_served_and_one_byte_more_is_not(plant):
    with serving(plant, max_line=64) as ch, \
            socket.create_connection((ch.host, ch.port), timeout=10) as s:
        ask = _asker(s)
        ok = b'{"cmd": "status", "p": "' + b"x" * (64 - 26) + b'"}'
        assert len(ok) == 64 and ask(ok)["ok"] is True
        assert "longer than 64 bytes" in ask(ok[:-2] + b'x"}')["error"]
        assert ask(b'{"cmd": "status"}')["ok"] is True


def test_connections_beyond_the_cap_are_refused_with_an_error_line(plant):
    with serving(plant, max_connections=3) as ch:
        held = [socket.create_connection((ch.host, ch.port), timeout=10) for _ in range(3)]
        try:
            for s in held:  # each is served, so each counts
                assert _asker(s)(b'{"cmd": "status"}')["ok"] is True
            with socket.create_connection((ch.host, ch.port), timeout=10) as extra:
                f = extra.makefile("rb")
                r = json.loads(f.readline())
                assert r["ok"] is False and "too many control connections (limit 3)" in \
                    r["error"]
                assert f.readline() == b""  # and closed
            assert ch.refused == 1
            held.pop().close()
            _wait_for(lambda: ch.connections == 2)
            with ControlClient(ch.host, ch.port) as c:  # room again
                assert c.status()["seq"] >= 1
        finally:
            for s in held:
                s.close()


def test_an_idle_connection_is_told_and_closed(plant):
    with serving(plant, idle_timeout_s=0.3) as ch, \
            socket.create_connection((ch.host, ch.port), timeout=10) as s:
        f = s.makefile("rb")
        r = json.loads(f.readline())  # blocks until the channel gives up on us
        assert r["ok"] is False and "no request for 0.3 s" in r["error"]
        assert f.readline() == b""
        _wait_for(lambda: ch.connections == 0)


def test_a_non_loopback_bind_needs_an_explicit_ask_and_a_token(plant):
    with pytest.raises(ControlBindError, match="not a loopback address.*--control-allow-remote"):
        ControlChannel(plant, "0.0.0.0", 0)
    with pytest.raises(ControlBindError, match="needs a token"):
        ControlChannel(plant, "0.0.0.0", 0, allow_remote=True)
    check_bind("0.0.0.0", token="t0k3n", allow_remote=True)  # allowed (not bound here)
    for host in ("127.0.0.1", "localhost", "::1", "127.1.2.3"):
        check_bind(host, token=None, allow_remote=False)
    assert not is_loopback("") and not is_loopback("::") and not is_loopback("10.0.0.1")


def test_field_sim_refuses_a_remote_control_address_in_one_line(capsys, monkeypatch):
    from app.cli import main

    monkeypatch.delenv("GRIDTWIN_CONTROL_TOKEN", raising=False)
    args = ["field-sim", "--modbus", "off", "--mms", "off"]
    assert main([*args, "--control", "0.0.0.0:0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a loopback address" in err[0]
    assert main([*args, "--control", "0.0.0.0:0", "--control-allow-remote"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a token" in err[0]


def test_a_token_is_required_when_set(plant, monkeypatch):
    monkeypatch.delenv("GRIDTWIN_CONTROL_TOKEN", raising=False)
    with serving(plant, token="s3cret-tok") as ch:
        with socket.create_connection((ch.host, ch.port), timeout=10) as s:
            ask = _asker(s)
            assert "missing or wrong token" in ask(b'{"cmd": "status"}')["error"]
            assert "missing or wrong token" in \
                ask(b'{"cmd": "status", "token": "s3cret-toK"}')["error"]
            assert "missing or wrong token" in ask(b'{"cmd": "status", "token": 1}')["error"]
            assert "not UTF-8" in \
                ask('{"cmd": "status", "token": "\udcff"}'.encode("utf-8", "surrogatepass")
                    )["error"]  # refused before the token is looked at
            assert ask(b'{"cmd": "status", "token": "s3cret-tok"}')["ok"] is True
            r = ask(b'{"cmd": "inject", "kind": "comm_lost", "params": {"device": "F1"}}')
            assert r["ok"] is False and not plant.injections
        with ControlClient(ch.host, ch.port, token="s3cret-tok") as c:
            fid = c.inject("comm_lost", device="F1")
            assert c.clear(fid) == [fid]
        with ControlClient(ch.host, ch.port) as c, pytest.raises(ValueError, match="token"):
            c.status()
        monkeypatch.setenv("GRIDTWIN_CONTROL_TOKEN", "s3cret-tok")
        with ControlClient(ch.host, ch.port) as c:  # the client takes it from the environment
            assert c.status()["injections"] == []


def test_idle_connections_cost_no_threads(plant):
    before = threading.active_count()
    with serving(plant, max_connections=400) as ch:
        socks = []
        try:
            for _ in range(300):
                socks.append(socket.create_connection((ch.host, ch.port), timeout=10))
            _wait_for(lambda: ch.connections == 300)
            with ControlClient(ch.host, ch.port) as c:
                assert c.status()["seq"] >= 1  # and it still answers
            # the loop thread and the one request worker, whatever the connections
            assert threading.active_count() - before <= 2
        finally:
            for s in socks:
                s.close()
