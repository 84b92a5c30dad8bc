"""IEC 61850 GOOSE for the bay IEDs' protection: publishers and a subscriber on raw Ethernet.

Built on libiec61850's GOOSE publisher and receiver (the ``pyiec61850`` binding). Qt-free.

**Control blocks.** One GoCB per bay IED that holds protection relays:
``GT<bay>PROT/LLN0$GO$gcbTrip`` (e.g. ``GTL2PROT/LLN0$GO$gcbTrip``), its data set
``GT<bay>PROT/LLN0$DSTrip`` carrying :data:`PROT_DATASET`: the trip (``PTRC1.Tr.general``),
breaker-failure initiation (``RBRF1.Str.general``), the re-trip (``RBRF1.OpIn.general``), the
back-up trip of the adjacent breakers (``RBRF1.OpEx.general``), the quality and the time of
the last change. APPID ``0x1001``, ``0x1002`` … and destination MAC ``01-0C-CD-01-00-01``,
``01-0C-CD-01-00-02`` … (the GOOSE multicast range of IEC 61850-8-1 Annex B) in the
station's bay order.

**stNum / sqNum and the retransmission burst (IEC 61850-8-1 §18.1).** A change of any value
of the data set is a new state: stNum + 1, sqNum 0, sent at once. The same state is then
repeated with sqNum 1, 2, … after intervals that double from ``t_min_ms`` (2 ms) — 2, 4, 8,
… 512 ms — up to the heartbeat ``t0_ms`` (1 s), and every ``t0_ms`` after that until the
next change. Each message's timeAllowedToLive is twice the interval to the next one. The
schedule runs on the caller's clock (:meth:`GoosePublisher.advance` with the time "now"):
in a drill that is the simulated clock, so a drill at 50x sends the burst as a real IED
would, in simulated time; the frames go out as the simulation passes their instants. The
data set's ``t`` member carries that (simulated) time of the change; the frame header's
``t`` is libiec61850's wall-clock time of the change.

**Receiving.** :class:`GooseReceiver` subscribes to a set of GoCBs on one interface and
decodes each message into a :class:`GooseMessage` (goCbRef, stNum, sqNum, values, time),
queued for the consumer (:meth:`GooseReceiver.drain`, thread-safe) and passed to an optional
callback. The receiver runs libiec61850's receiver without its own thread
(``GooseReceiver_startThreadless``) and ticks it from a Python thread of ours: the binding's
callback takes the GIL, so stopping the library's thread from Python while that thread waits
for the GIL would deadlock. The binding routes every callback through one process-wide
subscriber object, so one dispatcher here serves every receiver of the process.

**Interfaces.** Raw Ethernet needs Linux, an existing interface that is up, and CAP_NET_RAW.
Each is checked before libiec61850 sees the interface (its receiver crashes on a missing
one); a refusal is one :class:`GooseInterfaceError` naming the interface and the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.station import Station

log = logging.getLogger(__name__)

#: EtherType of GOOSE.
ETHERTYPE_GOOSE = 0x88B8
#: The bay IEDs' IED-name prefix (as in :mod:`app.field.iec61850.model`) and the protection LD.
IED_PREFIX = "GT"
PROT_LD = "PROT"
APPID_BASE = 0x1000
MAC_PREFIX = (0x01, 0x0C, 0xCD, 0x01)
#: Data set members: (name, kind); kinds bool, quality (13-bit bit string), utc, float, int.
PROT_DATASET: tuple[tuple[str, str], ...] = (
    ("PTRC1.Tr.general", "bool"),
    ("RBRF1.Str.general", "bool"),
    ("RBRF1.OpIn.general", "bool"),
    ("RBRF1.OpEx.general", "bool"),
    ("PTRC1.Tr.q", "quality"),
    ("PTRC1.Tr.t", "utc"),
)
#: A libiec61850 object (a SWIG pointer).
Handle = object
#: A decoded data set value.
Value = bool | int | float | str | dt.datetime
_KINDS = ("bool", "quality", "utc", "float", "int")
QUALITY_GOOD = 0


class GooseInterfaceError(ValueError):
    """An interface GOOSE cannot use: the message names the interface and the reason."""

    def __init__(self, iface: str, reason: str) -> None:
        super().__init__(f"GOOSE on '{iface}': {reason}")
        self.iface = iface
        self.reason = reason


class GooseError(ValueError):
    """Bad GOOSE configuration or values (names the control block and the member)."""


def _lib() -> ModuleType:
    try:
        import pyiec61850
    except ImportError as exc:  # pragma: no cover - the venv has it
        raise GooseError(f"GOOSE needs libiec61850's Python binding (pyiec61850): {exc}") \
            from None
    return pyiec61850


# ============================================================================ interfaces
def check_interface(iface: str) -> None:
    """Refuse, with the reason, an interface raw GOOSE frames cannot use."""
    if not iface or len(iface) > 15 or "/" in iface or iface in (".", ".."):
        raise GooseInterfaceError(iface, "not a network interface name")
    if not hasattr(socket, "AF_PACKET"):
        raise GooseInterfaceError(iface, "raw Ethernet sockets need Linux (AF_PACKET)")
    sys_net = Path("/sys/class/net")
    if not (sys_net / iface).exists():
        have = ", ".join(sorted(os.listdir(sys_net))) if sys_net.is_dir() else "none"
        raise GooseInterfaceError(iface, f"no such network interface in this network "
                                         f"namespace (there are: {have})")
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE_GOOSE))
    except PermissionError:
        raise GooseInterfaceError(iface, f"no permission to open a raw socket on {iface} "
                                         "(needs CAP_NET_RAW)") from None
    except OSError as exc:
        raise GooseInterfaceError(iface, f"cannot open a raw socket: {exc.strerror}") from None
    try:
        s.bind((iface, 0))
    except OSError as exc:
        raise GooseInterfaceError(iface, f"cannot bind a raw socket to it: {exc.strerror}") \
            from None
    finally:
        s.close()
    try:
        state = (sys_net / iface / "operstate").read_text().strip()
    except OSError:
        state = "unknown"
    if state in ("down", "lowerlayerdown", "notpresent"):
        raise GooseInterfaceError(iface, f"the interface is {state} "
                                         f"(ip link set {iface} up; a veth needs its peer up)")


# ============================================================================ control blocks
@dataclass(frozen=True, slots=True)
class GoCb:
    """One GOOSE control block and what its messages carry."""

    ied: str
    """The IED's logical-device prefix, e.g. ``GTL2``."""
    app_id: int
    mac: tuple[int, int, int, int, int, int]
    members: tuple[tuple[str, str], ...] = PROT_DATASET
    conf_rev: int = 1
    ld: str = PROT_LD
    name: str = "gcbTrip"
    dataset: str = "DSTrip"

    def __post_init__(self) -> None:
        for name, kind in self.members:
            if kind not in _KINDS:
                raise GooseError(f"{self.gocb_ref}: data set member '{name}' has kind "
                                 f"'{kind}' (use one of {', '.join(_KINDS)})")
        if not 0 <= self.app_id <= 0x3FFF:
            raise GooseError(f"{self.gocb_ref}: appId {self.app_id:#x} outside 0x0000-0x3FFF")

    @property
    def gocb_ref(self) -> str:
        return f"{self.ied}{self.ld}/LLN0$GO${self.name}"

    @property
    def dataset_ref(self) -> str:
        return f"{self.ied}{self.ld}/LLN0${self.dataset}"

    @property
    def go_id(self) -> str:
        return f"{self.ied}{self.ld}_{self.name}"

    @property
    def mac_text(self) -> str:
        return "-".join(f"{b:02X}" for b in self.mac)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.members)


def gocb_for(index: int, ied: str, members: tuple[tuple[str, str], ...] = PROT_DATASET
             ) -> GoCb:
    """The ``index``-th (0-based) IED's control block: appId and MAC from its position."""
    n = index + 1
    return GoCb(ied, APPID_BASE + n, (*MAC_PREFIX, (n >> 8) & 0xFF, n & 0xFF), members)


def station_gocbs(station: Station) -> tuple[GoCb, ...]:
    """One protection GoCB per bay of ``station`` (an :class:`app.station.Station`) that holds
    relays, in the station's bay order."""
    with_relays = {a.bay for a in station.assets_of_type("relay")}
    bays = [b.id for b in station.bays if b.id in with_relays]
    return tuple(gocb_for(k, f"{IED_PREFIX}{bay}") for k, bay in enumerate(bays))


# ============================================================================ values
def _utc_ms(t: dt.datetime) -> int:
    if t.tzinfo is None:
        raise GooseError(f"GOOSE time {t.isoformat()} has no time zone (times are UTC)")
    return round(t.timestamp() * 1000)


class _DataSet:
    """The publisher's MmsValues in a libiec61850 LinkedList (owned here, freed on close)."""

    def __init__(self, gocb: GoCb) -> None:
        p = _lib()
        self._p = p
        self.gocb = gocb
        self.values: list[Any] = []
        self.list = p.LinkedList_create()
        for _name, kind in gocb.members:
            if kind == "bool":
                v = p.MmsValue_newBoolean(False)
            elif kind == "quality":
                v = p.MmsValue_newBitString(13)
            elif kind == "utc":
                v = p.MmsValue_newUtcTimeByMsTime(0)
            elif kind == "float":
                v = p.MmsValue_newFloat(0.0)
            else:
                v = p.MmsValue_newIntegerFromInt32(0)
            self.values.append(v)
            p.LinkedList_add(self.list, v)

    def set(self, values: Sequence[Any]) -> None:
        p = self._p
        for (name, kind), v, x in zip(self.gocb.members, self.values, values, strict=True):
            try:
                if kind == "bool":
                    p.MmsValue_setBoolean(v, bool(x))
                elif kind == "quality":
                    p.MmsValue_setBitStringFromInteger(v, int(x))
                elif kind == "utc":
                    p.MmsValue_setUtcTimeMs(v, _utc_ms(x))
                elif kind == "float":
                    p.MmsValue_setFloat(v, float(x))
                else:
                    p.MmsValue_setInt32(v, int(x))
            except (TypeError, ValueError, AttributeError) as exc:
                if isinstance(exc, GooseError):
                    raise
                raise GooseError(f"{self.gocb.gocb_ref}: member '{name}' ({kind}) cannot "
                                 f"take {x!r}") from None

    def close(self) -> None:
        if self.list is not None:
            self._p.LinkedList_destroyDeep_MmsValueDelete(self.list)
            self.list = None
            self.values = []


def _decode(p: ModuleType, v: Handle) -> Value:
    t = p.MmsValue_getType(v)
    if t == p.MMS_BOOLEAN:
        return bool(p.MmsValue_getBoolean(v))
    if t == p.MMS_BIT_STRING:
        return int(p.MmsValue_getBitStringAsInteger(v))
    if t == p.MMS_UTC_TIME:
        ms = int(p.MmsValue_getUtcTimeInMs(v))
        return dt.datetime.fromtimestamp(ms / 1000.0, dt.UTC)
    if t == p.MMS_FLOAT:
        return float(p.MmsValue_toDouble(v))
    if t in (p.MMS_INTEGER, p.MMS_UNSIGNED):
        return int(p.MmsValue_toInt64(v))
    if t in (p.MMS_VISIBLE_STRING, p.MMS_STRING):
        return str(p.MmsValue_toString(v))
    return p.MmsValue_getTypeString(v)


# ============================================================================ publishing
@dataclass(frozen=True, slots=True)
class RetransmissionPolicy:
    """The burst after a change: intervals doubling from ``t_min_ms`` up to ``t0_ms``."""

    t_min_ms: float = 2.0
    t0_ms: float = 1000.0

    def __post_init__(self) -> None:
        if not 0 < self.t_min_ms <= self.t0_ms:
            raise GooseError(f"GOOSE retransmission: need 0 < t_min_ms ({self.t_min_ms:g}) "
                             f"<= t0_ms ({self.t0_ms:g})")

    def interval_ms(self, sq_num: int) -> float:
        """The wait after the message with ``sq_num`` (0: the change itself)."""
        if sq_num >= 40:
            return self.t0_ms
        return min(self.t_min_ms * (2 ** sq_num), self.t0_ms)


@dataclass(frozen=True, slots=True)
class SentFrame:
    gocb_ref: str
    st_num: int
    sq_num: int
    at: dt.datetime
    """When it went out on the caller's clock."""
    ttl_ms: int


class GoosePublisher:
    """One GoCB's publisher on ``iface`` (libiec61850 GoosePublisher; destroyed on close)."""

    def __init__(self, iface: str, gocb: GoCb,
                 policy: RetransmissionPolicy | None = None, *, checked: bool = False) -> None:
        if not checked:
            check_interface(iface)
        p = _lib()
        self._p = p
        self.iface = iface
        self.gocb = gocb
        self.policy = policy or RetransmissionPolicy()
        params = p.CommParameters()
        params.appId = gocb.app_id
        params.vlanId = 0
        params.vlanPriority = 4
        p.CommParameters_setDstAddress(params, *gocb.mac)
        pub = p.GoosePublisher_createEx(params, iface, False)
        if pub is None:
            raise GooseInterfaceError(iface, "libiec61850 could not open its raw socket")
        self._pub = pub
        p.GoosePublisher_setGoCbRef(pub, gocb.gocb_ref)
        p.GoosePublisher_setDataSetRef(pub, gocb.dataset_ref)
        p.GoosePublisher_setGoID(pub, gocb.go_id)
        p.GoosePublisher_setConfRev(pub, gocb.conf_rev)
        self._ds = _DataSet(gocb)
        self.values: tuple[Any, ...] | None = None
        self.st_num = 0
        self.sq_num = 0
        self.sent = 0
        self.next_at: dt.datetime | None = None

    def _send(self, at: dt.datetime) -> SentFrame:
        p = self._p
        wait_ms = self.policy.interval_ms(self.sq_num)
        ttl_ms = round(2 * wait_ms)
        p.GoosePublisher_setTimeAllowedToLive(self._pub, ttl_ms)
        p.GoosePublisher_setStNum(self._pub, self.st_num)
        p.GoosePublisher_setSqNum(self._pub, self.sq_num)
        if p.GoosePublisher_publish(self._pub, self._ds.list) != 0:
            raise GooseInterfaceError(self.iface, f"sending {self.gocb.gocb_ref} failed")
        frame = SentFrame(self.gocb.gocb_ref, self.st_num, self.sq_num, at, ttl_ms)
        self.sent += 1
        self.next_at = at + dt.timedelta(milliseconds=wait_ms)
        return frame

    def change(self, values: Sequence[Any], at: dt.datetime) -> SentFrame | None:
        """A new state at ``at``: stNum + 1, sqNum 0, sent now (None when nothing changed)."""
        values = tuple(values)
        if len(values) != len(self.gocb.members):
            raise GooseError(f"{self.gocb.gocb_ref}: {len(values)} values for "
                             f"{len(self.gocb.members)} data set members")
        if values == self.values:
            return None
        self._ds.set(values)
        p = self._p
        p.GoosePublisher_increaseStNum(self._pub)  # (libiec61850 stamps the header's t)
        self.values = values
        self.st_num += 1
        self.sq_num = 0
        frame = self._send(at)
        log.debug("GOOSE %s stNum %d: %s", self.gocb.gocb_ref, self.st_num, values)
        return frame

    def advance(self, now: dt.datetime) -> list[SentFrame]:
        """Every retransmission due up to ``now`` (sqNum + 1 each)."""
        out = []
        while self.next_at is not None and self.next_at <= now:
            at = self.next_at
            self.sq_num += 1
            out.append(self._send(at))
        return out

    def close(self) -> None:
        if self._pub is not None:
            self._p.GoosePublisher_destroy(self._pub)
            self._pub = None
            self._ds.close()

    def __enter__(self) -> GoosePublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StationPublishers:
    """Every GoCB of a station on one interface, with one clock for their bursts."""

    def __init__(self, iface: str, gocbs: Iterable[GoCb],
                 policy: RetransmissionPolicy | None = None) -> None:
        check_interface(iface)
        self.iface = iface
        self.pubs: dict[str, GoosePublisher] = {}
        try:
            for g in gocbs:
                self.pubs[g.ied] = GoosePublisher(iface, g, policy, checked=True)
        except Exception:
            self.close()
            raise

    @property
    def gocbs(self) -> tuple[GoCb, ...]:
        return tuple(p.gocb for p in self.pubs.values())

    @property
    def sent(self) -> int:
        return sum(p.sent for p in self.pubs.values())

    def advance(self, now: dt.datetime, limit: int | None = None) -> list[SentFrame]:
        """Retransmissions of every GoCB due up to ``now``, in time order (at most ``limit``
        of them: the caller calls again for the rest)."""
        out: list[SentFrame] = []
        while limit is None or len(out) < limit:
            due = [p for p in self.pubs.values() if p.next_at is not None and p.next_at <= now]
            if not due:
                return out
            first = min(due, key=lambda p: p.next_at)
            out += first.advance(first.next_at)
        return out

    def change(self, ied: str, values: Sequence[Any], at: dt.datetime) -> SentFrame | None:
        """``ied``'s new state at ``at`` (after everything due before it went out)."""
        self.advance(at)
        return self.pubs[ied].change(values, at)

    def close(self) -> None:
        for p in self.pubs.values():
            p.close()


# ============================================================================ receiving
@dataclass(frozen=True, slots=True)
class GooseMessage:
    """One received GOOSE message, decoded."""

    gocb_ref: str
    st_num: int
    sq_num: int
    values: tuple[Any, ...]
    time: dt.datetime
    """The data set's time member (the change's time) if it has one, else the header's t."""
    names: tuple[str, ...] = ()
    app_id: int = 0
    ttl_ms: int = 0
    header_time: dt.datetime | None = None
    valid: bool = True
    received_ns: int = field(default=0, compare=False)
    """time.monotonic_ns() at reception (for latency figures)."""

    def value(self, name: str) -> Value:
        return self.values[self.names.index(name)]

    def named(self) -> dict[str, Any]:
        return dict(zip(self.names, self.values, strict=False))

    def as_dict(self) -> dict[str, Any]:
        vals = {k: (v.isoformat(timespec="milliseconds") if isinstance(v, dt.datetime) else v)
                for k, v in self.named().items()}
        return {"gocb": self.gocb_ref, "st_num": self.st_num, "sq_num": self.sq_num,
                "time": self.time.isoformat(timespec="milliseconds"), "values": vals,
                "ttl_ms": self.ttl_ms, "app_id": self.app_id, "valid": self.valid}


class _Dispatch:
    """The process's one GooseSubscriberForPython (the binding calls back through the last
    one created) and its handler, routing each message to the receiver that subscribed."""

    _lock = threading.Lock()
    _instance: _Dispatch | None = None

    def __init__(self) -> None:
        p = _lib()
        self._p = p
        self.routes: dict[int, tuple[GooseReceiver, GoCb]] = {}
        dispatch = self

        class _Handler(p.GooseHandler):
            def trigger(self) -> None:
                try:
                    dispatch.deliver(self._libiec61850_goose_subscriber)
                except Exception:  # an exception must not unwind into libiec61850
                    log.exception("GOOSE message dropped")

        self._handler = _Handler()
        self.sub = p.GooseSubscriberForPython()
        self.sub.setEventHandler(self._handler.__disown__())

    @classmethod
    def get(cls) -> _Dispatch:
        with cls._lock:
            if cls._instance is None:
                cls._instance = _Dispatch()
            return cls._instance

    def add(self, lib_sub: Handle, receiver: GooseReceiver, gocb: GoCb) -> None:
        self.routes[int(lib_sub)] = (receiver, gocb)
        self.sub.setLibiec61850GooseSubscriber(lib_sub)
        self.sub.subscribe()

    def remove(self, lib_sub: Handle) -> None:
        self.routes.pop(int(lib_sub), None)

    def deliver(self, lib_sub: Handle) -> None:
        route = self.routes.get(int(lib_sub))
        if route is None:
            return
        receiver, gocb = route
        p = self._p
        dv = p.GooseSubscriber_getDataSetValues(lib_sub)
        values: tuple[Any, ...] = ()
        if dv is not None:
            values = tuple(_decode(p, p.MmsValue_getElement(dv, i))
                           for i in range(p.MmsValue_getArraySize(dv)))
        header_ms = int(p.GooseSubscriber_getTimestamp(lib_sub))
        header = dt.datetime.fromtimestamp(header_ms / 1000.0, dt.UTC)
        names = gocb.names if len(gocb.names) == len(values) else ()
        t = next((v for (_, k), v in zip(gocb.members, values, strict=False) if k == "utc"),
                 header) if names else header
        msg = GooseMessage(
            str(p.GooseSubscriber_getGoCbRef(lib_sub)), int(p.GooseSubscriber_getStNum(lib_sub)),
            int(p.GooseSubscriber_getSqNum(lib_sub)), values, t, names,
            int(p.GooseSubscriber_getAppId(lib_sub)),
            int(p.GooseSubscriber_getTimeAllowedToLive(lib_sub)), header,
            bool(p.GooseSubscriber_isValid(lib_sub)), time.monotonic_ns())
        receiver._receive(msg)


class GooseReceiver:
    """Subscribes to ``gocbs`` on ``iface``; decoded messages go to :meth:`drain` (a
    thread-safe queue) and to ``callback`` (called on the receiver's thread)."""

    def __init__(self, iface: str, gocbs: Iterable[GoCb],
                 callback: Callable[[GooseMessage], None] | None = None, *,
                 poll_s: float = 0.001) -> None:
        check_interface(iface)
        p = _lib()
        self._p = p
        self.iface = iface
        self.gocbs = tuple(gocbs)
        self.callback = callback
        self.poll_s = poll_s
        self.received = 0
        self.duplicates = 0
        """Messages seen twice (the same stNum and sqNum), dropped."""
        self._last: dict[str, tuple[int, int]] = {}
        self._queue: queue.SimpleQueue[GooseMessage] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._lib_lock = threading.RLock()  # (a callback may poll)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dispatch = _Dispatch.get()
        self._subs: list[Any] = []
        self._rcv = p.GooseReceiver_create()
        p.GooseReceiver_setInterfaceId(self._rcv, iface)
        for g in self.gocbs:
            sub = p.GooseSubscriber_create(g.gocb_ref, None)  # (owned by the receiver)
            p.GooseSubscriber_setAppId(sub, g.app_id)
            p.GooseReceiver_addSubscriber(self._rcv, sub)
            self._subs.append(sub)
            self._dispatch.add(sub, self, g)
        sock = p.GooseReceiver_startThreadless(self._rcv)
        if sock is None:
            self._destroy()
            raise GooseInterfaceError(iface, "libiec61850's receiver could not open its socket")
        sock.disown()  # (the receiver owns it)
        # The socket is bound to the interface on its first read: until then it sees every
        # interface's frames. Bind it now, dropping whatever came in before.
        with self._lib_lock:
            p.GooseReceiver_tick(self._rcv)
            self._started = True

    def start(self) -> GooseReceiver:
        """Receive on a thread of ours (see the module's text for why not libiec61850's)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"goose-rx-{self.iface}",
                                            daemon=True)
            self._thread.start()
        return self

    def poll(self) -> int:
        """Handle every frame waiting now (on the caller's thread); how many there were."""
        n = 0
        with self._lib_lock:
            if self._rcv is None:
                return 0
            while self._p.GooseReceiver_tick(self._rcv):
                n += 1
        return n

    def _loop(self) -> None:
        # Every poll_s while frames come; after 0.1 s without one, every 10 poll_s (an idle
        # 1 ms poll costs ~3.5 % of a core; the first frame then waits up to 10 ms).
        idle = 0
        while not self._stop.is_set():
            if self.poll():
                idle = 0
                continue
            idle += 1
            self._stop.wait(self.poll_s if idle * self.poll_s < 0.1 else 10 * self.poll_s)

    def _receive(self, msg: GooseMessage) -> None:
        # The same (stNum, sqNum) again is the same message seen twice — on loopback a raw
        # socket sees each frame going out and coming in — not a retransmission (those
        # count sqNum up): dropped, counted.
        key = (msg.st_num, msg.sq_num)
        if self._last.get(msg.gocb_ref) == key:
            self.duplicates += 1
            return
        self._last[msg.gocb_ref] = key
        self._queue.put(msg)
        with self._cond:
            self.received += 1
            self._cond.notify_all()
        if self.callback is not None:
            self.callback(msg)

    def drain(self) -> list[GooseMessage]:
        """Every message received since the last drain, in arrival order."""
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Until ``count`` messages have been received in all (False on the timeout)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.received >= count, timeout_s)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lib_lock:
            self._destroy()

    def _destroy(self) -> None:
        if self._rcv is None:
            return
        p = self._p
        for sub in self._subs:
            self._dispatch.remove(sub)
        if getattr(self, "_started", False):
            p.GooseReceiver_stopThreadless(self._rcv)
        p.GooseReceiver_destroy(self._rcv)  # (destroys its subscribers too)
        self._rcv = None
        self._subs = []

    def __enter__(self) -> GooseReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
