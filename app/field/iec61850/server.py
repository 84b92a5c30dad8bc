"""The bay IEDs' IEC 61850 MMS servers (libiec61850 through pyiec61850), in the field-sim.

One ``IedServer`` per bay IED (see :mod:`app.field.iec61850.model`), IED *k* listening on
``base_port + k``. Each plant snapshot is written into every IED inside one
``IedServer_lockDataModel`` / ``unlockDataModel``: values, IEC 61850 quality words (a failed
sensor reads invalid|failure, a frozen one questionable|oldData — straight from the
simulated physics) and time stamps. An IED whose bay is "not answering" has its server
stopped, so clients see the association fail; it starts again when the fault clears.

Controls: each ``CSWIn.Pos`` is select-before-operate with enhanced security. The check
handler asks the plant's bay IED (:meth:`Plant.select`, whose logic is
:mod:`app.field.sim.ied`) and refuses with its AddCause (blocked-by-interlocking, or
blocked-by-health for a breaker's SF6 lockout); operate starts the plant's operation and the command termination is sent when the new
position is reached (or a negative one with AddCause time-limit-over).

pyiec61850's blocking calls keep the GIL, so a client must never live in this process; the
HMI's MMS client runs in its own process. The same trap lies inside this process: libiec61850
runs a control's check handler (Python) from its server thread while holding the MMS model
lock, and ``IedServer_lockDataModel`` waits for that same lock. Called through SWIG it waits
holding the GIL, the handler waits for the GIL, and the whole field-sim hangs (seen about once
in a few hundred selects). So the plant thread takes and releases the model lock through
ctypes, which lets go of the GIL while it waits (:class:`_ModelLock`).
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
import threading
import time

import pyiec61850 as L

from app.field.iec61850.model import IED_NAME, Ied, build_ieds
from app.field.sim.api import Plant, PlantSnapshot
from app.station.commands import (
    ADD_CAUSE_BLOCKED_BY_HEALTH,
    ADD_CAUSE_BLOCKED_BY_INTERLOCKING,
    ADD_CAUSE_POSITION_REACHED,
)
from app.station.points import POS_CLOSED, POS_OPEN

log = logging.getLogger(__name__)

OPERATE_TIMEOUT_S = 20.0


class _ModelLock:
    """``IedServer_lockDataModel`` / ``unlockDataModel`` called through ctypes, so that the GIL
    is released while the plant thread waits for the MMS model lock (see the module notes).
    Falls back to the SWIG calls, with a warning, if the C library cannot be found."""

    def __init__(self) -> None:
        self._lock = self._unlock = None
        lib = _c_library()
        if lib is not None:
            self._lock, self._unlock = lib.IedServer_lockDataModel, lib.IedServer_unlockDataModel
            for f in (self._lock, self._unlock):
                f.argtypes, f.restype = [ctypes.c_void_p], None
        else:
            log.warning("libiec61850 not found for ctypes: controls may deadlock the field-sim")

    def lock(self, server) -> None:  # noqa: ANN001
        if self._lock is not None:
            self._lock(int(server))
        else:
            L.IedServer_lockDataModel(server)

    def unlock(self, server) -> None:  # noqa: ANN001
        if self._unlock is not None:
            self._unlock(int(server))
        else:
            L.IedServer_unlockDataModel(server)


def _c_library() -> ctypes.CDLL | None:
    """The libiec61850 that pyiec61850 has loaded (the same copy, so the same servers)."""
    paths = []
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({line.split()[-1] for line in fh if "libiec61850" in line})
    except OSError:
        pass
    here = os.path.dirname(L.__file__)
    paths += sorted(glob.glob(os.path.join(here, os.pardir, "pyiec61850.libs", "libiec61850*")))
    paths += glob.glob(os.path.join(here, "_iec61850*.so"))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.IedServer_lockDataModel, lib.IedServer_unlockDataModel  # noqa: B018
            return lib
        except (OSError, AttributeError):
            continue
    return None


_MODEL_LOCK = _ModelLock()


#: A plant's AddCause (app.station.commands) as libiec61850's constant.
_ADD_CAUSES = {
    ADD_CAUSE_BLOCKED_BY_INTERLOCKING: L.ADD_CAUSE_BLOCKED_BY_INTERLOCKING,
    ADD_CAUSE_POSITION_REACHED: L.ADD_CAUSE_POSITION_REACHED,
    ADD_CAUSE_BLOCKED_BY_HEALTH: L.ADD_CAUSE_BLOCKED_BY_HEALTH,
}


def _add_cause(cause: str) -> int:
    return _ADD_CAUSES.get(cause, L.ADD_CAUSE_UNKNOWN)


class _Check(L.CheckHandlerForPython):
    def __init__(self, owner: MmsIedServer, asset: str) -> None:
        super().__init__()
        self.owner, self.asset = owner, asset

    def trigger(self) -> int:
        try:
            act = self._libiec61850_control_action
            close = bool(L.MmsValue_getBoolean(self._libiec61850_mms_value))
            r = self.owner.plant.select(self.asset, close)
            if not r.ok:
                L.ControlAction_setAddCause(act, _add_cause(r.add_cause))
                self._libiec61850_check_handler_result = L.CONTROL_OBJECT_ACCESS_DENIED
                log.info("IED refused %s %s: %s", self.asset, "close" if close else "open",
                         r.message)
            else:
                self._libiec61850_check_handler_result = L.CONTROL_ACCEPTED
        except Exception:
            log.exception("check handler failed for %s", self.asset)
            self._libiec61850_check_handler_result = L.CONTROL_OBJECT_ACCESS_DENIED
        return 0


class _Operate(L.ControlHandlerForPython):
    """Called on operate and then again while it returns WAITING, until the position is
    reached (command termination +) or time runs out (command termination −)."""

    def __init__(self, owner: MmsIedServer, asset: str) -> None:
        super().__init__()
        self.owner, self.asset = owner, asset
        self.started: float | None = None
        self.target = 0

    def trigger(self) -> int:
        try:
            act = self._libiec61850_control_action
            plant = self.owner.plant
            if self.started is None:
                close = bool(L.MmsValue_getBoolean(self._libiec61850_mms_value))
                r = plant.operate(self.asset, close, origin="iec61850")
                if not r.ok:
                    L.ControlAction_setAddCause(act, _add_cause(r.add_cause))
                    self._libiec61850_control_handler_result = L.CONTROL_RESULT_FAILED
                    return 0
                self.started = time.monotonic()
                self.target = POS_CLOSED if close else POS_OPEN
            if plant.position(self.asset) == self.target:
                self.started = None
                self._libiec61850_control_handler_result = L.CONTROL_RESULT_OK
            elif time.monotonic() - self.started > OPERATE_TIMEOUT_S:
                self.started = None
                L.ControlAction_setAddCause(act, L.ADD_CAUSE_TIME_LIMIT_OVER)
                self._libiec61850_control_handler_result = L.CONTROL_RESULT_FAILED
            else:
                self._libiec61850_control_handler_result = L.CONTROL_RESULT_WAITING
        except Exception:
            log.exception("operate handler failed for %s", self.asset)
            self.started = None
            self._libiec61850_control_handler_result = L.CONTROL_RESULT_FAILED
        return 0


class _IedRuntime:
    """One bay IED: its model, server, attribute handles and control subscribers."""

    def __init__(self, owner: MmsIedServer, ied: Ied) -> None:
        self.ied = ied
        self.model = L.IedModel_create(IED_NAME)
        ld = L.LogicalDevice_create(ied.bay, self.model)
        nodes = {}
        for ln in ied.lns:
            nodes[ln] = L.LogicalNode_create(ln, ld)
        lln0 = nodes["LLN0"]
        for do in ("Mod", "Beh", "Health"):
            L.CDC_ENS_create(do, L.toModelNode(lln0), 0)
        L.CDC_ENS_create("PhyHealth", L.toModelNode(nodes["LPHD1"]), 0)
        if "YPTR1" in nodes:
            L.CDC_ENS_create("Health", L.toModelNode(nodes["YPTR1"]), 0)
        controls = {}
        for sw in ied.switches:
            controls[sw.asset] = L.CDC_DPC_create("Pos", L.toModelNode(nodes[sw.cswi]), 0,
                                                  L.CDC_CTL_MODEL_SBO_ENHANCED)
        made: set[tuple[str, str]] = set()
        for m in ied.members:
            if (m.ln, m.do) in made:
                continue
            made.add((m.ln, m.do))
            parent = L.toModelNode(nodes[m.ln])
            if m.cdc == "MV":
                L.CDC_MV_create(m.do, parent, 0, False)
            elif m.cdc == "WYE":
                L.CDC_WYE_create(m.do, parent, 0)
            elif m.cdc == "DPS":
                L.CDC_DPC_create(m.do, parent, 0, L.CDC_CTL_MODEL_NONE)
            elif m.cdc == "INS":
                L.CDC_INS_create(m.do, parent, 0)
        ds = L.DataSet_create("DSAll", lln0)
        for m in ied.members:
            L.DataSetEntry_create(ds, m.dataset_ref, -1, None)
        trg = L.TRG_OPT_DATA_CHANGED | L.TRG_OPT_QUALITY_CHANGED | L.TRG_OPT_INTEGRITY | \
            L.TRG_OPT_GI
        opts = L.RPT_OPT_SEQ_NUM | L.RPT_OPT_TIME_STAMP | L.RPT_OPT_REASON_FOR_INCLUSION | \
            L.RPT_OPT_DATA_SET
        L.ReportControlBlock_create("brcbAll01", lln0, f"{ied.ld}/LLN0.brcbAll", True,
                                    "DSAll", 1, trg, opts, 50, 60000)
        L.ReportControlBlock_create("urcbAll01", lln0, f"{ied.ld}/LLN0.urcbAll", False,
                                    "DSAll", 1, trg, opts, 50, 60000)
        self.server = L.IedServer_create(self.model)
        L.IedServer_setLocalIpAddress(self.server, owner.host)

        def da(ref: str):  # noqa: ANN202
            node = L.IedModel_getModelNodeByObjectReference(self.model, f"{ied.ld}/{ref}")
            if node is None:
                raise RuntimeError(f"IEC 61850 model: no attribute {ied.ld}/{ref}")
            return L.toDataAttribute(node)

        # (kind, row, value attr, q attr, t attr)
        self.updates = []
        for m in ied.members:
            base = f"{m.ln}.{m.do}"
            if m.cdc == "MV":
                self.updates.append(("f", m.rows[0], da(f"{base}.mag.f"), da(f"{base}.q"),
                                     da(f"{base}.t")))
            elif m.cdc == "WYE":
                for ph, row in zip(("phsA", "phsB", "phsC"), m.rows, strict=True):
                    self.updates.append(("f", row, da(f"{base}.{ph}.cVal.mag.f"),
                                         da(f"{base}.{ph}.q"), da(f"{base}.{ph}.t")))
            elif m.cdc == "DPS":
                self.updates.append(("dbpos", m.rows[0], da(f"{base}.stVal"), da(f"{base}.q"),
                                     da(f"{base}.t")))
            elif m.cdc == "INS":
                self.updates.append(("i", m.rows[0], da(f"{base}.stVal"), da(f"{base}.q"),
                                     da(f"{base}.t")))
        for sw in ied.switches:  # the control object's own status mirrors the switch
            base = f"{sw.cswi}.Pos"
            self.updates.append(("dbpos", sw.pos_row, da(f"{base}.stVal"), da(f"{base}.q"),
                                 da(f"{base}.t")))
        self.handlers = []
        for sw in ied.switches:
            chk, op = _Check(owner, sw.asset), _Operate(owner, sw.asset)
            sub = L.ControlSubscriberForPython()
            sub.setIedServer(self.server)
            sub.setControlObject(controls[sw.asset])
            sub.setCheckHandler(chk)
            sub.setControlHandler(op)
            # The subscriber's C++ destructor deletes the handlers it was given: hand them
            # over, or Python deletes them a second time and the process dies (a double
            # free on every server destroyed).
            chk.__disown__()
            op.__disown__()
            sub.subscribe()
            self.handlers.append((sub, chk, op))  # the subscriber (and with it the handlers)
        self.running = False

    def start(self, port: int) -> None:
        L.IedServer_start(self.server, port)
        if not L.IedServer_isRunning(self.server):
            raise OSError(f"IEC 61850 IED {self.ied.ld} could not listen on port {port}")
        self.running = True

    def stop(self) -> None:
        if self.running:
            L.IedServer_stop(self.server)
            self.running = False

    def destroy(self) -> None:
        """Stop serving, then delete the control subscribers (they unregister themselves and
        delete their handlers; no callback can come once the server has stopped), then the
        server and its model."""
        self.stop()
        self.handlers.clear()
        L.IedServer_destroy(self.server)
        L.IedModel_destroy(self.model)

    def write(self, snap: PlantSnapshot) -> None:
        v, q, t = snap.values, snap.quality, snap.t_source_ns
        s = self.server
        _MODEL_LOCK.lock(s)
        try:
            for kind, row, val, qa, ta in self.updates:
                if kind == "f":
                    L.IedServer_updateFloatAttributeValue(s, val, float(v[row]))
                elif kind == "dbpos":
                    L.IedServer_updateDbposValue(s, val, int(round(float(v[row]))))
                else:
                    L.IedServer_updateInt32AttributeValue(s, val, int(round(float(v[row]))))
                L.IedServer_updateQuality(s, qa, int(q[row]))
                L.IedServer_updateUTCTimeAttributeValue(s, ta, int(t[row]) // 1_000_000)
        finally:
            _MODEL_LOCK.unlock(s)


class MmsIedServer:
    """All bay IEDs of the station, IED *k* on ``port + k``."""

    def __init__(self, plant: Plant, host: str = "127.0.0.1", port: int = 10102) -> None:
        from app.station import Station

        self.plant = plant
        self.host, self.port = host, port
        station: Station = plant.station  # type: ignore[attr-defined]
        self.ieds = build_ieds(station, plant.points)
        self._rt = [_IedRuntime(self, ied) for ied in self.ieds]
        self._lock = threading.Lock()

    def start(self) -> None:
        for rt in self._rt:
            rt.start(self.port + rt.ied.index)
        self.update(self.plant.snapshot())
        log.info("IEC 61850: %d bay IEDs on %s:%d-%d", len(self._rt), self.host, self.port,
                 self.port + len(self._rt) - 1)

    def update(self, snap: PlantSnapshot) -> None:
        with self._lock:
            for rt in self._rt:
                lost = rt.ied.bay in snap.comm_lost
                if lost and rt.running:
                    rt.stop()
                    log.warning("IED %s stops answering (comm-loss fault)", rt.ied.ld)
                elif not lost and not rt.running:
                    rt.start(self.port + rt.ied.index)
                    log.warning("IED %s answers again", rt.ied.ld)
                if rt.running:
                    rt.write(snap)

    def stop(self) -> None:
        with self._lock:
            for rt in self._rt:
                rt.destroy()
            self._rt = []
