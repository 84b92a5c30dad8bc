"""The plant simulator's control channel: fault injection from another process.

A line-oriented JSON protocol over TCP, for the trainer's console and for tests. One request
per line, one response per line::

    {"cmd": "inject", "kind": "breaker_stuck", "params": {"asset": "F1_Q0"}}
    → {"ok": true, "id": "breaker_stuck-3"}
    {"cmd": "clear", "id": "breaker_stuck-3"}        (no id: clear all)
    {"cmd": "status"}        {"cmd": "reset_protection"}
    {"cmd": "operate", "asset": "F1_Q0", "close": false}

With a token configured every request carries it: ``{"cmd": "status", "token": "…"}``.

Every line that cannot be carried out — not UTF-8, a NUL byte, not JSON, JSON nested deeper
than :data:`MAX_DEPTH`, a number Python will not parse, not an object, an unknown command,
bad parameters, a missing or wrong token, longer than the line limit — gets
``{"ok": false, "error": "..."}`` naming what is wrong, and the connection stays open.

Limits (each configurable): at most ``max_connections`` at once (one more is answered with an
error line and closed), a connection with no complete request for ``idle_timeout_s`` is
told so and closed, a line is at most ``max_line`` bytes. One asyncio loop thread serves
every connection and one worker thread carries out the requests, so idle connections cost
no threads.

The channel binds to loopback unless told otherwise; it is not an operator path. A
non-loopback address is refused unless remote access is asked for explicitly *and* a token
is configured (``GRIDTWIN_CONTROL_TOKEN``); on loopback a token is optional but enforced
when set. Tokens are compared in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

from app.field.sim.injections import FAULT_KINDS
from app.field.sim.plant import PlantSimulator

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
MAX_DEPTH = 32
DEFAULT_MAX_CONNECTIONS = 16
DEFAULT_IDLE_TIMEOUT_S = 300.0
TOKEN_ENV = "GRIDTWIN_CONTROL_TOKEN"


class ControlBindError(ValueError):
    """The channel will not listen on that address (the message says why)."""


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address ('' and 0.0.0.0 are not)."""
    h = host.strip("[]")
    if not h:
        return False
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(h, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback
                               for i in infos)


def check_bind(host: str, *, token: str | None, allow_remote: bool) -> None:
    """Raise :class:`ControlBindError` unless the channel may listen on ``host``."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise ControlBindError(
            f"--control {host}: not a loopback address; the control channel injects faults "
            "into the station, so it listens beyond this machine only with "
            "--control-allow-remote and a token")
    if not token:
        raise ControlBindError(
            f"--control {host}: a remote control channel needs a token (--control-token or "
            f"${TOKEN_ENV})")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth_ok(obj: object, limit: int = MAX_DEPTH) -> bool:
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict | list):
            if d > limit:
                return False
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return True


def parse_request(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One line in: the request object, or None and why it is not one."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        return None, f"NUL byte at position {nul}: not a request"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: byte 0x{raw[exc.start]:02x} at position {exc.start}"
    try:
        req = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, f"not accepted: JSON nested deeper than {MAX_DEPTH} levels"
    except ValueError as exc:  # a number Python will not convert (4,300+ digits), NaN
        return None, f"not accepted: {str(exc).split(';')[0]}"
    if not isinstance(req, dict):
        return None, f"request must be a JSON object, not {type(req).__name__}"
    if not _depth_ok(req):
        return None, f"not accepted: JSON nested deeper than {MAX_DEPTH} levels"
    return req, None


def handle_request(plant: PlantSimulator, req: object) -> dict[str, Any]:
    """Carry out one request; never raises."""
    try:
        if not isinstance(req, dict):
            return {"ok": False, "error": "request must be a JSON object"}
        cmd = req.get("cmd")
        if cmd == "inject":
            kind = req.get("kind")
            if kind not in FAULT_KINDS:
                return {"ok": False, "error": f"field 'kind': unknown fault {kind!r:.60} "
                                              f"(use one of {', '.join(FAULT_KINDS)})"}
            params = req.get("params") or {}
            if not isinstance(params, dict):
                return {"ok": False, "error": "field 'params' must be an object"}
            return {"ok": True, "id": plant.inject(kind, **params)}
        if cmd == "clear":
            fid = req.get("id")
            if fid is not None and not isinstance(fid, str):
                return {"ok": False, "error": "field 'id' must be a string (or absent: all)"}
            return {"ok": True, "cleared": plant.clear(fid)}
        if cmd == "status":
            return {"ok": True, "status": plant.status()}
        if cmd == "reset_protection":
            plant.reset_protection()
            return {"ok": True}
        if cmd == "operate":
            asset, close = req.get("asset"), req.get("close")
            if not isinstance(asset, str) or not isinstance(close, bool):
                return {"ok": False, "error": "fields 'asset' (string) and 'close' (true/false) "
                                              "are required"}
            r = plant.operate(asset, close, origin="control-channel")
            return {"ok": r.ok, "add_cause": r.add_cause, "message": r.message}
        return {"ok": False, "error": f"field 'cmd': unknown command {cmd!r:.60} "
                                      "(inject, clear, status, reset_protection, operate)"}
    except (ValueError, KeyError, TypeError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        return {"ok": False, "error": str(msg)}
    except Exception as exc:  # the channel must survive anything a request does: one line
        log.error("control request %.60r failed: %s: %s", req.get("cmd"), type(exc).__name__,
                  exc)
        return {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}


def _encode(obj: dict[str, Any]) -> bytes:
    try:
        return (json.dumps(obj) + "\n").encode()
    except (TypeError, ValueError, RecursionError) as exc:
        return (json.dumps({"ok": False, "error": f"reply not encodable: {exc}"}) + "\n").encode()


class ControlChannel:
    """Serve the control channel for ``plant`` on ``host:port`` (port 0: any free port).

    Raises :class:`ControlBindError` for an address it must not listen on."""

    def __init__(self, plant: PlantSimulator, host: str = "127.0.0.1", port: int = 0, *,
                 token: str | None = None, allow_remote: bool = False,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
                 max_line: int = MAX_LINE) -> None:
        check_bind(host, token=token, allow_remote=allow_remote)
        if max_connections < 1 or not idle_timeout_s > 0 or max_line < 16:
            raise ValueError("control channel: max_connections >= 1, idle_timeout_s > 0 and "
                             "max_line >= 16 are required")
        self.plant = plant
        self._token = token.encode() if token else None
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.max_line = max_line
        self.refused = 0  # connections turned away at the cap
        self._conns: dict[asyncio.Task, asyncio.StreamWriter] = {}
        self._cap_logged = False
        self._loop = asyncio.new_event_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sim-control-req")
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._serve, host, port, backlog=128))
        except BaseException:
            self._loop.close()
            self._executor.shutdown()
            raise
        self.host, self.port = self._server.sockets[0].getsockname()[:2]
        self._thread = threading.Thread(target=self._loop.run_forever, name="sim-control",
                                        daemon=True)

    @property
    def connections(self) -> int:
        return len(self._conns)

    def start(self) -> ControlChannel:
        self._thread.start()
        log.info("control channel on %s:%d (token %s, at most %d connections, idle timeout "
                 "%g s)", self.host, self.port, "required" if self._token else "not set",
                 self.max_connections, self.idle_timeout_s)
        return self

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for w in self._conns.values():  # each session then reads the end of its stream
                w.transport.abort()
            if self._conns:
                _done, late = await asyncio.wait(list(self._conns), timeout=5)
                for t in late:
                    t.cancel()
            await self._server.wait_closed()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        else:
            self._loop.run_until_complete(close())
        self._loop.close()
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------------ connections
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._conns) >= self.max_connections:
            self.refused += 1
            if not self._cap_logged:  # one line per episode at the cap, not one a connection
                log.warning("control channel: %d connections open (the limit); refusing more",
                            self.max_connections)
                self._cap_logged = True
            try:
                await self._send(writer, {"ok": False, "error": "too many control connections "
                                          f"(limit {self.max_connections})"})
            except (ConnectionError, OSError, TimeoutError):
                pass
            await self._close(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._conns[task] = writer
        try:
            await self._session(reader, writer)
        except (ConnectionError, OSError, TimeoutError):
            pass
        except asyncio.CancelledError:  # the channel stops: end quietly (a cancelled
            pass  # client callback makes asyncio 3.11 log a traceback)
        except Exception as exc:  # never a traceback from a connection: one line
            log.error("control connection failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._conns.pop(task, None)
            if len(self._conns) < self.max_connections:
                self._cap_logged = False
            await self._close(writer)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        buf = bytearray()
        discarding = False  # the rest of an over-long line
        last = loop.time()
        while True:
            left = self.idle_timeout_s - (loop.time() - last)
            try:
                async with asyncio.timeout(max(left, 0.0)):
                    chunk = await reader.read(65536)
            except TimeoutError:
                await self._send(writer, {"ok": False, "error": f"no request for "
                                          f"{self.idle_timeout_s:g} s: closing"})
                return
            if not chunk:
                return
            buf += chunk
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    if len(buf) > self.max_line:
                        if not discarding:
                            await self._send(writer, self._too_long())
                        discarding = True
                        buf.clear()
                    break
                line = bytes(buf[:nl])
                del buf[:nl + 1]
                if discarding:
                    discarding = False
                    last = loop.time()
                    continue
                if len(line) > self.max_line:
                    await self._send(writer, self._too_long())
                    last = loop.time()
                    continue
                if not line.strip():
                    continue
                await self._send(writer, await self._reply(line))
                last = loop.time()

    def _too_long(self) -> dict[str, Any]:
        return {"ok": False, "error": f"request longer than {self.max_line} bytes"}

    async def _reply(self, line: bytes) -> dict[str, Any]:
        req, why = parse_request(line.rstrip(b"\r"))
        if req is None:
            return {"ok": False, "error": why}
        presented = req.pop("token", None)
        if self._token is not None:
            ok = isinstance(presented, str) and hmac.compare_digest(
                presented.encode("utf-8", "surrogatepass"), self._token)
            if not ok:
                return {"ok": False, "error": "field 'token': missing or wrong token"}
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, handle_request, self.plant, req)

    async def _send(self, writer: asyncio.StreamWriter, obj: dict[str, Any]) -> None:
        writer.write(_encode(obj))
        async with asyncio.timeout(self.idle_timeout_s):  # a client that never reads
            await writer.drain()

    @staticmethod
    async def _close(writer: asyncio.StreamWriter) -> None:
        try:
            writer.close()
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
        except (ConnectionError, OSError, TimeoutError):
            pass


class ControlClient:
    """Talk to a running field-sim's control channel. ``token`` defaults to
    ``$GRIDTWIN_CONTROL_TOKEN`` and is sent with every request when set."""

    def __init__(self, host: str = "127.0.0.1", port: int = 10199, timeout_s: float = 5.0,
                 *, token: str | None = None) -> None:
        self._token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        self._file = self._sock.makefile("rwb")

    def call(self, cmd: str, **fields: object) -> dict[str, Any]:
        req = {"cmd": cmd, **fields}
        if self._token:
            req["token"] = self._token
        self._file.write((json.dumps(req) + "\n").encode())
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise ConnectionError("field-sim closed the control channel")
        return json.loads(line)

    def inject(self, kind: str, **params: object) -> str:
        r = self.call("inject", kind=kind, params=params)
        if not r.get("ok"):
            raise ValueError(r.get("error"))
        return str(r["id"])

    def clear(self, injection_id: str | None = None) -> list[str]:
        r = self.call("clear", id=injection_id)
        if not r.get("ok"):
            raise ValueError(r.get("error"))
        return list(r["cleared"])

    def status(self) -> dict[str, Any]:
        r = self.call("status")
        if not r.get("ok"):
            raise ValueError(r.get("error"))
        return r["status"]

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
