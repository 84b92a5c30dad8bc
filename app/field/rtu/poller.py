"""Poll the station RTU over Modbus TCP (runs on an asyncio loop: the Modbus front-end
process's, :mod:`app.field.rtu.frontend`, or in process for tests and benches).

One connection to the RTU (or ``connections`` of them, each polling its share of the devices
side by side: a gateway RTU serves several masters' connections at once, and the scan then
takes about 1/k of the time); per scan, every device's precomputed reads (125-register input
register blocks that never split a 32-bit value; the status from the packed copy of the
discrete inputs where the map has one, else discrete-input blocks), decoded with numpy.

**Every reply is validated** against its request by :class:`~app.field.rtu.master.
ModbusTcpMaster` — transaction id, unit id, function code, byte count against the count asked
for and the frame's length (what pymodbus's own client checks and lets through is listed
there). A reply that fails is a protocol error *of that device*, never good data.

**Faults stay with the device that made them** (each costs that unit only):

* an exception reply (0x0B: its bay is not answering): the device failed this scan; the
  connection is fine and polling goes on;
* a protocol error, a timeout, the connection dropped under its request: the device failed,
  and the connection is resynchronised — closed and reopened at once, no backoff, while the
  RTU accepts connections — before the next device is read, so nothing left in flight is
  taken for another device's reply. A device that fails twice in a row is retried with its
  own backoff (0.5 s doubling to 8 s), and read after the devices that answer, so its
  timeouts neither stretch every scan nor delay the healthy ones; at most
  :data:`TIMEOUTS_PER_SCAN` such expected timeouts are waited for per connection and scan
  (more failing devices wait for the next scan);
* the RTU itself gone (connection refused) or hung: :data:`HUNG_AFTER` timeouts in a row from
  devices that had answered their previous poll, with no reply in between, look like a hung
  RTU — or like neighbours failing together — so the device that answered last is asked
  again at once (one register): its reply blames the silent devices after all and the scan
  goes on; its silence means the RTU is not answering. Either way (refused, not answering)
  every device on that connection fails, none is blamed for it, and the connection is
  retried with backoff (0.25 s doubling to 2 s), so good data returns by itself once the RTU
  is back.

Bytes that come after a device's reply and before the next request are that device's fault
(``unsolicited``); a frame that repeats an earlier answer is skipped and held against the
device that sent it. Garbage that arrives while the next request is already out cannot be
told from a garbled reply to it: it is charged to that request's device.

What a failure does to a device's communication state and its points — hold-off, SUSPECT,
LOST after ``comm_loss_s``, hysteresis on the way back — is :mod:`app.field.commstate`'s: the
poller feeds its :class:`~app.field.commstate.CommTracker` each scan's outcome per device.
State changes are logged one line per change (however many devices change at once); a
protocol error, a timeout or a reconnect is never logged per reply but counted in
:attr:`ModbusPoller.stats` (:class:`DeviceStats` per device) and :attr:`ModbusPoller.
link_stats`. A scan never raises.

The RTU has no per-point time stamps: a value's source time is its reception time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from app.field.commstate import CommPolicy, CommTracker
from app.field.periodic import run_every
from app.field.rtu.codec import StationDecoder
from app.field.rtu.map import RESULT_ACCEPTED, DeviceMap, RegisterMap, build_register_map
from app.field.rtu.master import (
    ConnectionDropped,
    ExceptionReply,
    ModbusReplyError,
    ModbusTcpMaster,
    ProtocolError,
    ReplyTimeout,
)
from app.station import clock
from app.station import quality as Q
from app.station.commands import (
    ADD_CAUSE_BLOCKED_BY_INTERLOCKING,
    ADD_CAUSE_POSITION_REACHED,
    ADD_CAUSE_UNKNOWN,
    ControlResult,
)
from app.station.frame import CommState
from app.station.points import PointTable

log = logging.getLogger(__name__)

_RESULT_CAUSE = {2: ADD_CAUSE_BLOCKED_BY_INTERLOCKING, 3: ADD_CAUSE_UNKNOWN,
                 4: ADD_CAUSE_POSITION_REACHED, 5: ADD_CAUSE_UNKNOWN}

#: Timeouts in a row, each from a device that answered its previous poll and with no reply
#: of any kind in between, after which the RTU itself is taken as not answering.
HUNG_AFTER = 2
#: Timeouts waited for per connection and scan from devices already failing; further failing
#: devices due for a retry wait for the next scan.
TIMEOUTS_PER_SCAN = 2
#: A failing device's retry backoff (after its second failure in a row), doubling: min, max.
UNIT_BACKOFF_S = (0.5, 8.0)
#: The RTU's (a connection's) reconnect backoff when it refuses or does not answer.
LINK_BACKOFF_S = (0.25, 2.0)


@dataclass(frozen=True, slots=True)
class PartialScan:
    """One protocol's share of a scan: its rows, their values, quality and source times."""

    rows: np.ndarray
    values: np.ndarray
    quality: np.ndarray
    t_ns: np.ndarray
    comm: dict[str, CommState]


@dataclass(frozen=True, slots=True)
class RawScan:
    """A scan as polled, before any communication state is applied: values as last read,
    quality as read (``COMM_LOST`` where never read), and each device's outcome:
    ``outcome[k]`` 1 answered, 0 failed (``why[device]``), -1 not asked this scan (with, in
    ``why``, possibly the reason it could not be)."""

    rows: np.ndarray
    values: np.ndarray
    quality: np.ndarray
    t_ns: np.ndarray
    outcome: np.ndarray
    why: dict[str, str]
    stats: dict[str, DeviceStats] = field(default_factory=dict)
    links: list[LinkStats] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeviceStats:
    """One device's counters since the poller started."""

    replies_ok: int = 0  # polls answered in full and valid
    exceptions: int = 0  # Modbus exception replies (the device answered: refused)
    protocol_errors: Mapping[str, int] = field(default_factory=dict)  # by kind
    timeouts: int = 0  # no reply at all within the timeout
    disconnects: int = 0  # the connection closed under its request
    reconnects: int = 0  # resynchronisations its faults caused
    deferred: int = 0  # scans it was not asked in (its own backoff, the scan's budget)
    last_error: str = ""

    @property
    def protocol_error_count(self) -> int:
        return sum(self.protocol_errors.values())


@dataclass(frozen=True, slots=True)
class LinkStats:
    """One connection's counters: connects (resynchronisations included), refused or timed
    out connects, times the RTU was found not answering at all, and probes."""

    connects: int = 0
    connect_failures: int = 0
    hung: int = 0
    probes: int = 0  # devices asked again to tell the RTU's silence from its devices'


def default_timeout_s(period_s: float) -> float:
    """A request's timeout at a scan period: 3 periods, at least 0.3 s and at most 1 s. Long
    enough that a loaded host's late reply is not taken for a silent device (a reply takes
    ~1 ms on loopback), short enough that two expected timeouts and a probe fit in a scan's
    budget; how soon a silent device is LOST is the hold-off's business (comm_loss_s)."""
    return min(1.0, max(0.3, 3 * period_s))


def check_timing(period_s: float, timeout_s: float | None) -> None:
    """Refuse a scan period outside 0.1–5 s or a request timeout outside 0–30 s."""
    if not 0.1 <= period_s <= 5.0:
        raise ValueError(f"scan period {period_s} s outside 0.1–5 s")
    if timeout_s is not None and not 0 < timeout_s <= 30:
        raise ValueError(f"request timeout {timeout_s} s outside 0–30 s")


def track_scan(tracker: CommTracker, devices: list[str], raw: RawScan,
               slices: Mapping[str, np.ndarray], t: float | None = None) -> PartialScan:
    """Feed a raw scan's outcomes to ``tracker`` and give the scan with the states applied to
    its points' quality (see :mod:`app.field.commstate`)."""
    t = time.monotonic() if t is None else t
    tracker.begin_scan()
    for k, name in enumerate(devices):
        o = raw.outcome[k]
        if o > 0:
            tracker.observe(name, True, t=t)
        elif o == 0:
            tracker.observe(name, False, raw.why.get(name, ""), t=t)
        elif name in raw.why:
            tracker.note(name, raw.why[name])  # not asked: why, should it matter
    states = tracker.evaluate(t)
    q = tracker.quality(raw.quality, slices)
    return PartialScan(raw.rows, raw.values, q, raw.t_ns, dict(states))


class ModbusPoller:
    PROTOCOL = "modbus"

    def __init__(self, points: PointTable, host: str, port: int, *, period_s: float = 0.1,
                 timeout_s: float | None = None, devices: list[str] | None = None,
                 register_map: RegisterMap | None = None, connections: int = 1,
                 policy: CommPolicy | None = None) -> None:
        check_timing(period_s, timeout_s)
        if not 1 <= connections <= 8:
            raise ValueError(f"{connections} connections: 1 to 8")
        self.points = points
        self.host, self.port = host, port
        self.period_s = period_s
        self.timeout_s = default_timeout_s(period_s) if timeout_s is None else timeout_s
        self.map = register_map or build_register_map(points)
        self.devices = [d for d in self.map.devices if devices is None or d.device in devices]
        self.rows = np.concatenate([d.rows for d in self.devices]) if self.devices else \
            np.empty(0, np.intp)
        self._pos = {int(r): k for k, r in enumerate(self.rows)}
        n = len(self.rows)
        self.values = np.zeros(n)
        self.quality = np.full(n, Q.COMM_LOST, dtype=np.uint16)  # as read
        self.t_ns = np.zeros(n, dtype=np.int64)
        self._dev_slices = {d.device: np.asarray([self._pos[int(r)] for r in d.rows],
                                                 dtype=np.intp) for d in self.devices}
        self._names = [d.device for d in self.devices]
        self._index = {d.device: k for k, d in enumerate(self.devices)}
        self._dec = StationDecoder(self.devices)
        self._read_ok = np.zeros(len(self.devices), dtype=bool)
        self._outcome = np.full(len(self.devices), -1, dtype=np.int8)
        self._why: dict[str, str] = {}
        self._tainted: set[str] = set()  # devices that sent a stray reply this scan

        def local(rows: np.ndarray) -> np.ndarray:
            return np.asarray([self._pos[int(r)] for r in rows], dtype=np.intp)

        self._apos, self._cpos = local(self._dec.analog_rows), local(self._dec.counter_rows)
        self._spos, self._qpos = local(self._dec.status_rows), local(self._dec.quality_rows)
        self._labels = {d.device: f"{d.device} (id {d.device_id})" for d in self.devices}
        self.what = f"modbus RTU {host}:{port}"
        self.policy = policy or CommPolicy.for_period(period_s)
        self.tracker = CommTracker(self._names, self.PROTOCOL, self.policy, log=log,
                                   what=self.what, label=self._labels)
        k = min(connections, max(1, len(self.devices)))
        self._links = [_Link(ModbusTcpMaster(host, port, self.timeout_s)) for _ in range(k)]
        self._groups = _balance(self.devices, len(self._links))
        self._link_of = {d.device: k for k, g in enumerate(self._groups) for d in g}
        self._units = {d.device: _Unit() for d in self.devices}
        self._counts = {d.device: _Counts() for d in self.devices}
        self._by_unit = {d.device_id: d for d in self.devices}
        self._by_name = {d.device: d for d in self.devices}
        self.scans = 0

    @property
    def comm(self) -> dict[str, CommState]:
        """Each device's communication state after the newest scan."""
        return self.tracker.states

    @property
    def stats(self) -> dict[str, DeviceStats]:
        """Each device's counters: replies, exceptions, protocol errors by kind, timeouts,
        reconnects (a snapshot)."""
        return {name: c.freeze() for name, c in self._counts.items()}

    @property
    def link_stats(self) -> list[LinkStats]:
        return [LinkStats(x.connects, x.connect_failures, x.hung, x.probes)
                for x in self._links]

    # ------------------------------------------------------------------ connection
    async def _ensure_connected(self, link: _Link) -> bool:
        m = link.master
        if m.connected:
            return True
        if time.monotonic() < link.next_connect:
            return False
        try:
            await m.connect()
        except (OSError, TimeoutError) as exc:
            link.connect_failures += 1
            log.debug("modbus connect %s:%d: %s", self.host, self.port, exc)
            self._link_down(link, f"RTU {self.host}:{self.port} not reachable")
            return False
        link.connects += 1
        if not link.up:
            link.up = True
            link.backoff = LINK_BACKOFF_S[0]
            log.info("modbus RTU %s:%d connected%s", self.host, self.port,
                     f" (connection {self._links.index(link) + 1} of {len(self._links)})"
                     if len(self._links) > 1 else "")
        return True

    def _link_down(self, link: _Link, why: str) -> None:
        """The RTU refuses or does not answer: retry with backoff. The devices whose timeout
        or dropped connection led here (since the last reply) failed for the same cause, and
        it is not held against them."""
        link.master.close()
        link.why = why
        link.next_connect = time.monotonic() + link.backoff
        link.backoff = min(link.backoff * 2, LINK_BACKOFF_S[1])
        if why.endswith("not reachable"):
            link.up = False
        for name in link.suspects:
            if self._outcome[self._index[name]] == 0:
                self._why[name] = why
            self._unblame(self._units[name])
        link.suspects.clear()

    @property
    def _client(self) -> ModbusTcpMaster:
        return self._links[0].master

    def close(self) -> None:
        for link in self._links:
            link.master.close()

    # ------------------------------------------------------------------ scanning
    def _ok(self, d: DeviceMap) -> None:
        self._counts[d.device].replies_ok += 1
        if d.device in self._tainted:  # it sent a stray reply this scan: not good, still
            self._read_ok[self._index[d.device]] = False
            return
        self._outcome[self._index[d.device]] = 1
        u = self._units[d.device]
        u.fails, u.retry_at = 0, 0.0

    def _failed(self, d: DeviceMap, why: str, *, blame: bool = True) -> None:
        """``d`` failed this scan; with ``blame`` it counts towards its own backoff."""
        k = self._index[d.device]
        self._outcome[k] = 0
        self._read_ok[k] = False  # what it gave this scan is not used
        self._why[d.device] = why
        self._counts[d.device].last_error = why
        if blame:
            self._blame(self._units[d.device])

    def _defer(self, d: DeviceMap) -> None:
        self._counts[d.device].deferred += 1

    async def _read_device(self, d: DeviceMap, c: ModbusTcpMaster | None = None) -> None:
        """Read one device into the station buffers; decoding is done once a scan."""
        c = c or self._client
        k = self._index[d.device]
        a0, _ = self._dec.ir_slices[k]
        regs = self._dec.regs
        unit = d.device_id
        for a, n in d.ir_blocks:
            regs[a0 + a:a0 + a + n] = await c.read_input_registers(unit, a, n)
        b0, _ = self._dec.bit_slices[k]
        for a, n in (d.di_blocks if d.polls_di else ()):
            self._dec.bits[b0 + a:b0 + a + n] = await c.read_discrete_inputs(unit, a, n)
        sl = self._dev_slices[d.device]
        self.quality[sl] = Q.GOOD  # points without a quality register: good when read
        self.t_ns[sl] = clock.time_ns()
        self._read_ok[k] = True

    def _decode(self) -> None:
        """Every device read this scan, decoded at once into values and quality."""
        ok = self._read_ok
        if not ok.any():
            return
        dec = self._dec
        fl, cn, st, q = dec.decode()
        for vals, pos, devs, into in ((fl, self._apos, dec.analog_dev, self.values),
                                      (cn, self._cpos, dec.counter_dev, self.values),
                                      (st, self._spos, dec.status_dev, self.values),
                                      (q, self._qpos, dec.quality_dev, self.quality)):
            m = ok[devs]
            into[pos[m]] = vals[m]

    async def scan_raw(self) -> RawScan:
        """Read every device once (each connection its share, side by side) and say how
        each fared; no communication state applied (the front-end's answer). Never raises."""
        self._read_ok[:] = False
        self._outcome[:] = -1
        self._why = {}
        self._tainted = set()
        if len(self._links) == 1:
            await self._scan_link(self._links[0], self._groups[0])
        else:
            await asyncio.gather(*(self._scan_link(link, g)
                                   for link, g in zip(self._links, self._groups, strict=True)))
        self._decode()
        self.scans += 1
        return RawScan(self.rows, self.values.copy(), self.quality.copy(), self.t_ns.copy(),
                       self._outcome.copy(), self._why)

    async def scan_once(self) -> PartialScan:
        """Read every device once; values, quality with each device's communication state
        applied, and the states. Never raises."""
        raw = await self.scan_raw()
        return track_scan(self.tracker, self._names, raw, self._dev_slices)

    async def _scan_link(self, link: _Link, devices: list) -> None:
        try:
            await self._poll_link(link, devices)
        except Exception:  # never: but a bug here must cost a scan, not the poller
            log.exception("modbus scan of %s failed", self.what)
            link.master.close()

    async def _poll_link(self, link: _Link, devices: list) -> None:
        now = time.monotonic()
        units = self._units
        due = []
        for d in devices:
            if units[d.device].retry_at > now:
                self._defer(d)  # in its own backoff: its state follows from time
            else:
                due.append(d)
        if not due:
            return
        queue = self._order(link, due)
        expected_timeouts = 0
        i = 0
        while i < len(queue):
            d = queue[i]
            u = units[d.device]
            c = self._counts[d.device]
            if not await self._ensure_connected(link):
                for dd in queue[i:]:
                    self._failed(dd, link.why, blame=False)
                return
            if u.fails and expected_timeouts >= TIMEOUTS_PER_SCAN:
                self._defer(d)
                i += 1
                continue
            try:
                await self._read_device(d, link.master)
            except ExceptionReply as exc:
                c.exceptions += 1
                self._replied(link)
                self._failed(d, str(exc), blame=False)  # a quick answer: no backoff needed
            except ProtocolError as exc:
                self._replied(link)
                if exc.kind == "unsolicited":
                    # Bytes that came after the previous device's reply: its fault, not this
                    # device's. Read this one again on the clean connection.
                    prev = self._by_unit.get(link.master.last_unit)
                    if prev is not None:
                        self._protocol_error(prev, exc)
                    if prev is None or prev is d:
                        self._protocol_error(d, exc)
                    else:
                        continue
                else:
                    self._protocol_error(d, exc)
            except ReplyTimeout as exc:
                c.timeouts += 1
                c.reconnects += 1
                if u.fails:  # expected: it was failing already
                    expected_timeouts += 1
                    self._failed(d, f"timeout: {exc}")
                elif await self._silent(link, d, f"timeout: {exc}", queue[i + 1:]):
                    return  # the RTU itself is not answering: see _silent
            except (ConnectionDropped, OSError) as exc:
                c.disconnects += 1
                c.reconnects += 1
                link.master.close()
                link.suspects.append(d.device)  # the RTU's, if it cannot be reached again
                self._failed(d, f"connection dropped under its request ({exc})")
            except Exception as exc:  # a reply nobody foresaw must not kill the poller
                link.master.close()
                c.reconnects += 1
                self._failed(d, f"bad reply: {type(exc).__name__}: {exc}")
            else:
                self._replied(link)
                link.backoff = LINK_BACKOFF_S[0]
                link.last_ok = d.device
                self._ok(d)
            for unit, text in link.master.take_repeats():
                # A reply that came again (or late) in place of another device's: skipped
                # by the master, held against the device that sent it.
                dup = self._by_unit.get(unit)
                if dup is not None:
                    self._protocol_error(dup, ProtocolError("transaction_id", text),
                                         resync=False)
                    self._tainted.add(dup.device)
            i += 1

    def _order(self, link: _Link, due: list) -> list:
        """This scan's order on ``link``: the devices that answered their last poll first,
        the failing ones after them."""
        units = self._units
        return [d for d in due if units[d.device].fails == 0] + \
               [d for d in due if units[d.device].fails > 0]

    def _replied(self, link: _Link) -> None:
        """The RTU answered something on ``link``: it is there. Devices whose timeouts made
        it look hung are blamed after all (see :meth:`_silent`)."""
        link.silent = 0
        link.suspects.clear()
        link.hung_confirmed = False
        if link.verdict is not None:
            for name in link.verdict:
                self._blame(self._units[name])
            link.verdict = None

    async def _silent(self, link: _Link, d: DeviceMap, why: str, rest: list[DeviceMap]
                      ) -> bool:
        """A device that had answered its previous poll timed out. Alone, it is that
        device's fault. :data:`HUNG_AFTER` of them in a row with no reply of any kind in
        between look like the RTU hung — or like neighbours failing together. The device
        that answered last is asked again at once (one register): a reply blames the silent
        ones after all and the scan goes on; silence confirms the RTU is not answering —
        every device on the connection fails, none blamed, and the connection is retried
        with backoff. (With no device answered yet, the next device's poll decides.)
        Returns whether this scan of the connection stops here."""
        link.silent += 1
        if link.silent < HUNG_AFTER:
            link.suspects.append(d.device)
            self._failed(d, why)
            return False
        if not link.hung_confirmed and link.verdict is None:
            self._failed(d, why, blame=False)
            for name in link.suspects:
                self._unblame(self._units[name])
            link.verdict = [*link.suspects, d.device]
            link.suspects.clear()
            probe = self._by_name.get(link.last_ok)
            if probe is None:
                return False  # the next device's poll is the probe
            if not await self._ensure_connected(link):  # refused now: it is gone
                for name in link.verdict:
                    self._unblame(self._units[name])
                link.verdict = None
                for dd in rest:
                    self._failed(dd, link.why, blame=False)
                return True
            link.probes += 1
            try:
                await self._probe(link.master, probe)
                alive = True
            except (ExceptionReply, ProtocolError):
                alive = True  # an answer, of a kind: the RTU is there
            except (ModbusReplyError, OSError):
                alive = False
            if alive:
                self._replied(link)
                return False
            return self._hung(link, [], rest)
        return self._hung(link, [d], rest)

    def _hung(self, link: _Link, now: list, rest: list) -> bool:
        link.hung += 1
        link.hung_confirmed = True
        for name in link.verdict or ():
            self._unblame(self._units[name])
            if self._outcome[self._index[name]] == 0:
                self._why[name] = f"RTU {self.host}:{self.port} not answering"
        link.verdict = None
        self._link_down(link, f"RTU {self.host}:{self.port} not answering")
        for dd in [*now, *rest]:
            self._failed(dd, link.why, blame=False)
        return True

    @staticmethod
    async def _probe(m: ModbusTcpMaster, d: DeviceMap) -> None:
        if d.ir_blocks:
            await m.read_input_registers(d.device_id, d.ir_blocks[0][0], 1)
        elif d.di_blocks:
            await m.read_discrete_inputs(d.device_id, d.di_blocks[0][0], 1)

    @staticmethod
    def _blame(u: _Unit) -> None:
        u.fails += 1
        if u.fails >= 2:
            u.retry_at = time.monotonic() + min(UNIT_BACKOFF_S[0] * 2 ** (u.fails - 2),
                                                UNIT_BACKOFF_S[1])

    @staticmethod
    def _unblame(u: _Unit) -> None:
        u.fails = max(0, u.fails - 1)
        if u.fails < 2:
            u.retry_at = 0.0

    def _protocol_error(self, d: DeviceMap, exc: ProtocolError, *, resync: bool = True) -> None:
        c = self._counts[d.device]
        c.protocol_errors[exc.kind] = c.protocol_errors.get(exc.kind, 0) + 1
        c.reconnects += resync
        self._failed(d, f"protocol error: {exc}")

    async def run(self, emit: Callable[[PartialScan], None], stop: asyncio.Event) -> None:
        try:
            await run_every(self.period_s, self.scan_once, emit, stop)
        finally:
            self.close()

    # ------------------------------------------------------------------ controls
    async def write_command(self, asset_id: str, close: bool) -> ControlResult:
        """Pulse the device's open or close command coil; report the RTU's result code."""
        for d in self.devices:
            if asset_id in d.switches:
                break
        else:
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{asset_id} has no Modbus command")
        link = self._links[self._link_of[d.device]]
        if not await self._ensure_connected(link):
            return ControlResult(False, ADD_CAUSE_UNKNOWN, "RTU not reachable")
        open_coil, close_coil, result_hr = d.commands[d.switches.index(asset_id)]
        m, unit = link.master, d.device_id
        try:
            refused: ExceptionReply | None = None
            try:
                await m.write_coil(unit, close_coil if close else open_coil, True)
            except ExceptionReply as exc:
                refused = exc
            if result_hr < 0:  # a map without result registers: the exception says it all
                return ControlResult(refused is None, "" if refused is None else
                                     ADD_CAUSE_UNKNOWN, f"{asset_id} command "
                                     + ("accepted" if refused is None else f"refused ({refused})"))
            try:
                code = int((await m.read_holding_registers(unit, result_hr, 1))[0])
            except ExceptionReply:
                code = -1
        except ModbusReplyError as exc:
            if isinstance(exc, ProtocolError):
                self._counts[d.device].protocol_errors[exc.kind] = \
                    self._counts[d.device].protocol_errors.get(exc.kind, 0) + 1
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"command not delivered: {exc}")
        except OSError as exc:
            m.close()
            return ControlResult(False, ADD_CAUSE_UNKNOWN, f"command not delivered: {exc}")
        if refused is None and code == RESULT_ACCEPTED:
            return ControlResult(True, "", f"{asset_id} command accepted")
        return ControlResult(False, _RESULT_CAUSE.get(code, ADD_CAUSE_UNKNOWN),
                             f"{asset_id} command refused (result {code}"
                             + (f", {refused}" if refused is not None else "") + ")")


class _Unit:
    """A device's retry state: consecutive failed polls and when to ask it next."""

    __slots__ = ("fails", "retry_at")

    def __init__(self) -> None:
        self.fails = 0
        self.retry_at = 0.0


class _Counts:
    __slots__ = ("replies_ok", "exceptions", "protocol_errors", "timeouts", "disconnects",
                 "reconnects", "deferred", "last_error")

    def __init__(self) -> None:
        self.replies_ok = self.exceptions = self.timeouts = 0
        self.disconnects = self.reconnects = self.deferred = 0
        self.protocol_errors: dict[str, int] = {}
        self.last_error = ""

    def freeze(self) -> DeviceStats:
        return DeviceStats(self.replies_ok, self.exceptions, dict(self.protocol_errors),
                           self.timeouts, self.disconnects, self.reconnects, self.deferred,
                           self.last_error)


class _Link:
    """One TCP connection to the RTU, its reconnect backoff and its counters."""

    def __init__(self, master: ModbusTcpMaster) -> None:
        self.master = master
        self.backoff = LINK_BACKOFF_S[0]
        self.next_connect = 0.0
        self.up = False  # connected since it was last unreachable (for the log)
        self.why = ""
        self.silent = 0  # timeouts of devices that had answered, since the last reply
        self.suspects: list[str] = []  # devices that timed out or dropped since the last reply
        self.verdict: list[str] | None = None  # devices whose silence made the RTU look hung
        self.hung_confirmed = False  # found not answering, and nothing heard since
        self.last_ok = ""  # the device that answered last
        self.connects = self.connect_failures = self.hung = self.probes = 0


def _balance(devices: list, k: int) -> list[list]:
    """Split devices over ``k`` connections with about equal requests each, in map order."""
    cost = [d.requests() for d in devices]
    total, groups, acc = sum(cost), [[] for _ in range(k)], 0
    for d, c in zip(devices, cost, strict=True):
        groups[min(k - 1, int(acc * k / max(total, 1)))].append(d)
        acc += c
    return groups
