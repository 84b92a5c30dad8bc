"""The plant simulator's local control channel: fault injection from another process.

A line-oriented JSON protocol on a loopback TCP port, for the trainer's console and for
tests. One request per line, one response per line::

    {"cmd": "inject", "kind": "breaker_stuck", "params": {"asset": "F1_Q0"}}
    → {"ok": true, "id": "breaker_stuck-3"}
    {"cmd": "clear", "id": "breaker_stuck-3"}        (no id: clear all)
    {"cmd": "status"}        {"cmd": "reset_protection"}
    {"cmd": "operate", "asset": "F1_Q0", "close": false}

A bad request gets ``{"ok": false, "error": "..."}`` naming the field; it never stops the
server. The channel binds to 127.0.0.1 unless told otherwise: it is not an operator path.
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
from typing import Any

from app.field.sim.plant import FAULT_KINDS, PlantSimulator

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024


def handle_request(plant: PlantSimulator, req: Any) -> dict[str, Any]:
    """Carry out one request; never raises."""
    try:
        if not isinstance(req, dict):
            return {"ok": False, "error": "request must be a JSON object"}
        cmd = req.get("cmd")
        if cmd == "inject":
            kind = req.get("kind")
            if kind not in FAULT_KINDS:
                return {"ok": False, "error": f"field 'kind': unknown fault {kind!r} "
                                              f"(use one of {', '.join(FAULT_KINDS)})"}
            params = req.get("params") or {}
            if not isinstance(params, dict):
                return {"ok": False, "error": "field 'params' must be an object"}
            return {"ok": True, "id": plant.inject(kind, **params)}
        if cmd == "clear":
            return {"ok": True, "cleared": plant.clear(req.get("id"))}
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
        return {"ok": False, "error": f"field 'cmd': unknown command {cmd!r} "
                                      "(inject, clear, status, reset_protection, operate)"}
    except (ValueError, KeyError, TypeError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        return {"ok": False, "error": str(msg)}
    except Exception as exc:  # the channel must survive anything a request does
        log.exception("control request failed: %r", req)
        return {"ok": False, "error": f"internal error: {exc}"}


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        plant: PlantSimulator = self.server.plant  # type: ignore[attr-defined]
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            if not line:
                return
            if len(line) > MAX_LINE:
                self._send({"ok": False, "error": f"request longer than {MAX_LINE} bytes"})
                return
            if not line.strip():
                continue
            try:
                req = json.loads(line)
            except json.JSONDecodeError as exc:
                self._send({"ok": False, "error": f"not JSON: {exc.msg} at column {exc.colno}"})
                continue
            self._send(handle_request(plant, req))

    def _send(self, obj: dict[str, Any]) -> None:
        self.wfile.write((json.dumps(obj) + "\n").encode())


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ControlChannel:
    """Serve the control channel for ``plant`` on ``host:port`` (port 0: any free port)."""

    def __init__(self, plant: PlantSimulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.plant = plant  # type: ignore[attr-defined]
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="sim-control",
                                        daemon=True)

    def start(self) -> ControlChannel:
        self._thread.start()
        log.info("control channel on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class ControlClient:
    """Talk to a running field-sim's control channel."""

    def __init__(self, host: str = "127.0.0.1", port: int = 10199, timeout_s: float = 5.0
                 ) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        self._file = self._sock.makefile("rwb")

    def call(self, cmd: str, **fields: Any) -> dict[str, Any]:
        self._file.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise ConnectionError("field-sim closed the control channel")
        return json.loads(line)

    def inject(self, kind: str, **params: Any) -> str:
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
        return self.call("status")["status"]

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
