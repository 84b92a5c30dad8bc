"""The MMS client, run in its own process (see :mod:`app.field.iec61850.poller`).

pyiec61850's blocking calls hold the GIL: in the HMI's process a connect or read timing out
against a dead IED would freeze every thread, the GUI included, for the whole timeout. So the
client lives in a child process and talks to the poller over a pipe: ``("scan",)`` returns
every MMS point's value, quality and time stamp plus each IED's state; ``("select", asset,
close)``, ``("operate", asset, close)`` and ``("cancel", asset)`` drive select-before-operate
with enhanced security and return the AddCause of a refusal. The IED's command termination
(positive when the device got there, negative with its LastApplError AddCause when it did
not) is sent up the pipe as soon as it arrives, unasked: ``("event", ("term", asset, ok,
add_cause, detail))``.

Controls use a second association per IED, apart from the one that is scanned. The
termination handler is Python called from the library's receive thread, and the library's
blocking calls keep the GIL: a handler firing while this process waits on a request over the
*same* association would deadlock it. So the scanned association has no control objects,
and no request goes over an IED's control association while an operate there awaits its
termination (a second command to that IED meanwhile is refused, command-already-in-
execution, as a bay controller would).

Each IED is a separate association: connect (1 s timeout), prove it with one small read
(:func:`open_association`), then one data-set read per scan. A failed IED is retried with
exponential backoff, never blocking the others for long. Every library handle is checked
before use (a None passed back segfaults).

Why the probe: libiec61850 (1.5.x, and its master at the time of writing) has a race in
``MmsConnection_connectAsync``. Its connection thread is started, the association request is
sent, and only then does the calling thread set the state to CONNECTING. On loopback the
server's initiate response can arrive — and the connection thread set the state to CONNECTED
and wake ``IedConnection_connect``, which returns OK — before that late write, which then
overwrites CONNECTED with CONNECTING. The TCP connection and the server are fine, but every
later request on that connection fails at once with IED_ERROR_CONNECTION_LOST (3) without
being sent. Measured here: about 1 connect in 20 on a loaded 2-core machine, any IED, any
time (not only at start-up). The cure is a fresh connection, so :func:`open_association`
probes ``LLN0.Mod.stVal`` and reconnects straight away (a few times) when the probe fails
that way, before anyone declares the IED lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from app.field.iec61850.model import Ied

log = logging.getLogger(__name__)

#: A pyiec61850 (SWIG) handle — an IedConnection, ClientDataSet or ControlObjectClient —
#: opaque here: only ever handed back to the library's own functions.
Handle = object

_ADD_CAUSE_NAMES = {
    0: "unknown", 1: "not-supported", 2: "blocked-by-switching-hierarchy", 3: "select-failed",
    4: "invalid-position", 5: "position-reached", 6: "parameter-change-in-execution",
    7: "step-limit", 8: "blocked-by-mode", 9: "blocked-by-process",
    10: "blocked-by-interlocking", 11: "blocked-by-synchrocheck",
    12: "command-already-in-execution", 13: "blocked-by-health", 14: "1-of-n-control",
    15: "abortion-by-cancel", 16: "time-limit-over", 17: "abortion-by-trip",
    18: "object-not-selected", 19: "object-already-selected", 20: "no-access-authority",
}


def _value_and_error(result: object) -> tuple[object, object]:
    """pyiec61850 returns ``[value, error]``, but a bare error code in some failure states."""
    if isinstance(result, list | tuple) and len(result) == 2:
        return result[0], result[1]
    return None, result


#: Connections tried by :func:`open_association` before it gives up on an IED whose
#: association keeps dropping straight after connect (the race has p ≈ 0.05 a connect).
ASSOCIATION_ATTEMPTS = 5


def probe_reference(ld: str) -> str:
    """The attribute read to prove an association: every logical device has LLN0.Mod."""
    return f"{ld}/LLN0.Mod.stVal"


def _dispose(L: ModuleType, con: Handle) -> None:  # noqa: N803
    L.IedConnection_close(con)
    L.IedConnection_destroy(con)


def open_association(L: ModuleType, host: str, port: int, *,  # noqa: N803
                     timeout_ms: int = 1000, probe: str, attempts: int = ASSOCIATION_ATTEMPTS
                     ) -> tuple[Handle | None, str, int]:
    """Connect to the IED at ``host:port`` and prove the association with one read of
    ``probe`` (an ST attribute). Returns ``(connection, "", dropped)`` or ``(None, why,
    dropped)``, where ``dropped`` counts associations that connected OK but failed their first
    request (the libiec61850 connect race, see the module notes) and were replaced at once.

    A refused or timed-out connect, or a probe the server does not answer, fails straight
    away: only the "connected, then lost without a word" case is retried, and at most
    ``attempts`` times."""
    dropped = 0
    why = ""
    for _ in range(max(1, attempts)):
        con = L.IedConnection_create()
        if con is None:
            return None, "cannot create a connection", dropped
        L.IedConnection_setConnectTimeout(con, timeout_ms)
        L.IedConnection_setRequestTimeout(con, timeout_ms)
        err = L.IedConnection_connect(con, host, port)
        if err != L.IED_ERROR_OK:
            _dispose(L, con)
            return None, f"connect to {host}:{port} failed (error {err})", dropped
        _v, perr = _value_and_error(L.IedConnection_readInt32Value(con, probe, L.IEC61850_FC_ST))
        if perr not in (L.IED_ERROR_CONNECTION_LOST, L.IED_ERROR_NOT_CONNECTED,
                        L.IED_ERROR_TIMEOUT):
            # Answered (even "no such object" proves the association is alive).
            return con, "", dropped
        _dispose(L, con)
        why = f"{host}:{port}: association lost on its first request (probe {probe}: " \
              f"error {perr})"
        if perr == L.IED_ERROR_TIMEOUT:
            return None, why, dropped
        dropped += 1
        log.debug("%s; reconnecting at once", why)
    return None, f"{why}, {dropped} times in a row", dropped


class MmsClientCore:
    def __init__(self, ieds: tuple[Ied, ...], host: str, base_port: int, timeout_ms: int = 1000,
                 termination_wait_s: float = 40.0) -> None:
        import pyiec61850 as L

        self.L = L
        self.ieds = ieds
        self.host, self.base_port, self.timeout_ms = host, base_port, timeout_ms
        self.rows = np.asarray([r for ied in ieds for r in ied.rows()], dtype=np.intp)
        self._slices = {}
        k = 0
        for ied in ieds:
            n = len(ied.rows())
            self._slices[ied.bay] = slice(k, k + n)
            k += n
        self.values = np.zeros(len(self.rows))
        self.quality = np.full(len(self.rows), 2 | 128, dtype=np.uint16)  # invalid|oldData
        self.t_ns = np.zeros(len(self.rows), dtype=np.int64)
        self._con: dict[str, Handle] = {}
        self._ds: dict[str, Handle] = {}
        self._retry_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self.state: dict[str, tuple[bool, str]] = {ied.bay: (False, "not connected")
                                                   for ied in ieds}
        self._ctl: dict[str, Handle] = {}
        self._switch_ied = {sw.asset: (ied, sw) for ied in ieds for sw in ied.switches}
        #: associations replaced because they dropped straight after connect
        self.reassociations = 0
        self._ctl_con: dict[str, Handle] = {}  # bay → its control association
        # asset → (subscriber, handler), kept alive
        self._subscribers: dict[str, tuple[object, object]] = {}
        self._awaiting: dict[str, tuple[str, float]] = {}  # bay → (asset, give up at)
        # set by serve(): sends an event up the pipe
        self.on_event: Callable[[tuple[object, ...]], None] = lambda event: None
        self.termination_wait_s = termination_wait_s
        self._termination_handler = _termination_class(L)

    # ------------------------------------------------------------------ connections
    def _drop(self, bay: str, why: str) -> None:
        L = self.L
        ds = self._ds.pop(bay, None)
        if ds is not None:
            L.ClientDataSet_destroy(ds)
        con = self._con.pop(bay, None)
        if con is not None:
            L.IedConnection_close(con)
            L.IedConnection_destroy(con)
        b = min(self._backoff.get(bay, 0.25) * 2, 4.0)
        self._backoff[bay] = b
        self._retry_at[bay] = time.monotonic() + b
        self.state[bay] = (False, why)
        # The points keep the quality last read: the poller applies the IED's communication
        # state (app.field.commstate), with its hold-off, on its side.

    def _connect(self, ied: Ied) -> bool:
        L = self.L
        if ied.bay in self._con:
            return True
        if time.monotonic() < self._retry_at.get(ied.bay, 0.0):
            return False
        con, why, dropped = open_association(L, self.host, self.base_port + ied.index,
                                             timeout_ms=self.timeout_ms,
                                             probe=probe_reference(ied.ld))
        self.reassociations += dropped
        if con is None:
            self._drop(ied.bay, why)
            return False
        self._con[ied.bay] = con
        self._backoff[ied.bay] = 0.25
        return True

    # ------------------------------------------------------------------ scan
    def scan(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                            dict[str, tuple[bool, str]]]:
        for ied in self.ieds:
            if not self._connect(ied):
                continue
            try:
                self._read(ied)
                self.state[ied.bay] = (True, "")
            except _ReadError as exc:
                self._drop(ied.bay, str(exc))
            except Exception as exc:  # whatever one IED does, the others are still read
                self._drop(ied.bay, f"{type(exc).__name__}: {exc}")
        return (self.rows, self.values.copy(), self.quality.copy(), self.t_ns.copy(),
                dict(self.state))

    def _read(self, ied: Ied) -> None:
        L = self.L
        con = self._con[ied.bay]
        ds, err = _value_and_error(
            L.IedConnection_readDataSetValues(con, ied.dataset, self._ds.get(ied.bay)))
        if err != L.IED_ERROR_OK or ds is None:
            raise _ReadError(f"data-set read of {ied.dataset} failed (error {err})")
        self._ds[ied.bay] = ds
        vals = L.ClientDataSet_getValues(ds)
        if vals is None or L.ClientDataSet_getDataSetSize(ds) != len(ied.members):
            raise _ReadError(f"{ied.dataset}: unexpected data-set layout")
        sl = self._slices[ied.bay]
        k = sl.start
        get = L.MmsValue_getElement
        for i, m in enumerate(ied.members):
            el = get(vals, i)
            if el is None:
                raise _ReadError(f"{ied.dataset}: member {m.dataset_ref} missing")
            if m.cdc == "WYE":
                for p in range(3):
                    ph = get(el, p)
                    self.values[k] = L.MmsValue_toFloat(get(get(get(ph, 0), 0), 0))
                    self.quality[k] = L.Quality_fromMmsValue(get(ph, 1))
                    self.t_ns[k] = L.MmsValue_getUtcTimeInMs(get(ph, 2)) * 1_000_000
                    k += 1
                continue
            if m.cdc == "MV":
                self.values[k] = L.MmsValue_toFloat(get(get(el, 0), 0))
            elif m.cdc == "DPS":
                self.values[k] = L.Dbpos_fromMmsValue(get(el, 0))
            else:
                self.values[k] = L.MmsValue_toInt32(get(el, 0))
            self.quality[k] = L.Quality_fromMmsValue(get(el, 1))
            self.t_ns[k] = L.MmsValue_getUtcTimeInMs(get(el, 2)) * 1_000_000
            k += 1

    # ------------------------------------------------------------------ control
    def _control_connection(self, ied: Ied) -> Handle:
        """The IED's control association (connected on first use, and again after a loss)."""
        L = self.L
        con = self._ctl_con.get(ied.bay)
        if con is not None:
            if L.IedConnection_getState(con) == L.IED_STATE_CONNECTED:
                return con
            self._drop_control(ied.bay)
        # Proved like the scanned association (the libiec61850 connect race hits it alike).
        con, why, dropped = open_association(L, self.host, self.base_port + ied.index,
                                             timeout_ms=self.timeout_ms,
                                             probe=probe_reference(ied.ld))
        self.reassociations += dropped
        if con is None:
            raise ConnectionError(f"IED {ied.ld} is not answering (control association: "
                                  f"{why})")
        # Commands are rare and must not fail on a busy IED: a longer request timeout than
        # the scan's (only this association waits for it).
        L.IedConnection_setRequestTimeout(con, 3 * self.timeout_ms)
        self._ctl_con[ied.bay] = con
        return con

    def _drop_control(self, bay: str) -> None:
        L = self.L
        self._awaiting.pop(bay, None)
        for asset in [a for a, (ied, _) in self._switch_ied.items() if ied.bay == bay]:
            c = self._ctl.pop(asset, None)
            if c is not None:
                L.ControlObjectClient_destroy(c)
        con = self._ctl_con.pop(bay, None)
        if con is not None:
            L.IedConnection_close(con)
            L.IedConnection_destroy(con)

    def _control(self, asset: str) -> Handle:
        L = self.L
        if asset not in self._switch_ied:
            raise KeyError(f"{asset} has no IEC 61850 control")
        ied, sw = self._switch_ied[asset]
        c = self._ctl.get(asset)
        if c is not None and L.IedConnection_getState(self._ctl_con[ied.bay]) == \
                L.IED_STATE_CONNECTED:
            return c
        ref = f"{ied.ld}/{sw.cswi}.Pos"
        for attempt in (1, 2):
            con = self._control_connection(ied)
            # Creating it reads the control model from the IED; on a fresh association that
            # the IED drops at once (see the module notes), or a slow answer, it fails: once
            # more on a new association.
            c = L.ControlObjectClient_create(ref, con)
            if c is not None:
                break
            log.info("%s: no control object (attempt %d); reconnecting", ref, attempt)
            self._drop_control(ied.bay)
        else:
            raise ConnectionError(f"{ref}: no control object (the IED did not answer)")
        L.ControlObjectClient_setOrigin(c, "gridtwin-hmi", 3)  # orCat: remote control
        self._subscribe_termination(asset, c)
        self._ctl[asset] = c
        return c

    def _subscribe_termination(self, asset: str, c: Handle) -> None:
        L = self.L
        if asset in self._subscribers:
            sub, _ = self._subscribers[asset]
        else:
            handler = self._termination_handler(self, asset)
            sub = L.CommandTermSubscriber()
            sub.setEventHandler(handler)
            handler.__disown__()  # the subscriber deletes its handler: Python must not too
            self._subscribers[asset] = (sub, handler)
        # The library finds the handler by object reference; a recreated control object
        # (after a reconnect) is wired to the same, still living, handler.
        sub.setLibiec61850ControlObjectClient(c)
        sub.subscribe()

    def terminated(self, asset: str, c: Handle) -> None:
        """Called on the library's receive thread with the command termination."""
        err = self.L.ControlObjectClient_getLastApplError(c)
        code, error = int(getattr(err, "addCause", 0)), int(getattr(err, "error", 0))
        ok = code == 0 and error == 0
        cause = "" if ok else _ADD_CAUSE_NAMES.get(code, f"add-cause {code}")
        ied, _ = self._switch_ied[asset]
        if self._awaiting.get(ied.bay, ("",))[0] == asset:
            self._awaiting.pop(ied.bay, None)
        detail = "command termination +" if ok else \
            f"command termination − (LastApplError error {error}, AddCause {code})"
        log.info("%s: %s", asset, detail)
        self.on_event(("term", asset, ok, cause, detail))

    def _busy(self, asset: str) -> tuple[bool, str, str] | None:
        """A refusal while an operate on the same IED still awaits its termination."""
        ied, _ = self._switch_ied[asset]
        pending = self._awaiting.get(ied.bay)
        if pending is None:
            return None
        other, until = pending
        if time.monotonic() > until:  # the termination never came: stop waiting for it
            self._awaiting.pop(ied.bay, None)
            return None
        return (False, "command-already-in-execution",
                f"{other} is still executing a command on IED {ied.ld}")

    def _cause(self, c: Handle) -> str:
        err = self.L.ControlObjectClient_getLastApplError(c)
        code = getattr(err, "addCause", 0)
        return _ADD_CAUSE_NAMES.get(int(code), f"add-cause {code}")

    def _command(self, asset: str, close: bool, step: str) -> tuple[bool, str, str]:
        L = self.L
        try:
            busy = self._busy(asset) if asset in self._switch_ied else None
            if busy is not None:
                return busy
            c = self._control(asset)
        except (KeyError, ConnectionError) as exc:
            return False, "unknown", str(exc)
        v = L.MmsValue_newBoolean(close)
        ok = L.ControlObjectClient_selectWithValue(c, v) if step == "select" else \
            L.ControlObjectClient_operate(c, v, 0)
        L.MmsValue_delete(v)
        ied, _ = self._switch_ied[asset]
        if ok:
            if step == "operate":
                self._awaiting[ied.bay] = (asset, time.monotonic() + self.termination_wait_s)
            return True, "", "selected" if step == "select" else "operate accepted"
        con = self._ctl_con.get(ied.bay)
        if con is None or L.IedConnection_getState(con) != L.IED_STATE_CONNECTED:
            self._drop_control(ied.bay)
            return False, "unknown", f"{step} not answered: IED {ied.ld} connection lost"
        return False, self._cause(c), f"{step} refused"

    def select(self, asset: str, close: bool) -> tuple[bool, str, str]:
        return self._command(asset, close, "select")

    def operate(self, asset: str, close: bool) -> tuple[bool, str, str]:
        return self._command(asset, close, "operate")

    def cancel(self, asset: str) -> tuple[bool, str, str]:
        try:
            busy = self._busy(asset) if asset in self._switch_ied else None
            if busy is not None:
                return busy
            c = self._control(asset)
        except (KeyError, ConnectionError) as exc:
            return False, "unknown", str(exc)
        return bool(self.L.ControlObjectClient_cancel(c)), "", "cancelled"

    def close(self) -> None:
        for bay in list(self._ctl_con):
            self._drop_control(bay)
        for bay in list(self._con):
            self._drop(bay, "closed")


def _termination_class(L: ModuleType) -> type:  # noqa: N803
    class Termination(L.CommandTermHandler):
        def __init__(self, owner: MmsClientCore, asset: str) -> None:
            super().__init__()
            self.owner, self.asset = owner, asset

        def trigger(self) -> int:
            try:
                self.owner.terminated(self.asset, self._libiec61850_control_object_client)
            except Exception:  # never let an exception into the library's thread
                log.exception("command termination handler failed for %s", self.asset)
            return 0

    return Termination


class _ReadError(Exception):
    pass


def serve(host: str, base_port: int, station_path: str | None) -> None:
    """The child process: answer the poller's requests (length-prefixed pickles on stdin /
    stdout) until it says stop or goes away."""
    from app.field.childproc import ChildServer
    from app.field.iec61850.model import build_ieds
    from app.station import load_station
    from app.station.points import build_point_table

    server = ChildServer()  # before anything can write to stdout
    station = load_station(station_path)
    core = MmsClientCore(build_ieds(station, build_point_table(station)), host, base_port)
    core.on_event = server.event

    def handle(req: tuple) -> object:
        cmd = req[0]
        if cmd == "scan":
            return core.scan()
        if cmd == "select":
            return core.select(req[1], req[2])
        if cmd == "operate":
            return core.operate(req[1], req[2])
        if cmd == "cancel":
            return core.cancel(req[1])
        raise ValueError(f"unknown request {cmd!r}")

    try:
        server.run(handle)
    finally:
        core.close()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="GridTwin's MMS client process (internal)")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--station")
    a = ap.parse_args()
    serve(a.host, a.port, a.station)
