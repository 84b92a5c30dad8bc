"""The station RTU's Modbus register map, generated from the point table.

The RTU is a gateway to its bays: **one Modbus device id (unit id) per bay**, numbered 1..N in
the station file's bay order. Within each device (addresses are 0-based on the wire; mbpoll
and most HMIs show them +1):

input registers (function 04)
    every analog point as an IEEE-754 float32 in two registers, **big-endian word order
    ("ABCD": high word first)**; then every counter as an unsigned 32-bit integer, same word
    order; then one quality register per point of the device (all kinds, in point order): the
    IEC 61850 quality word (validity in bits 0–1: 0 good, 1 reserved, 2 invalid,
    3 questionable; 4 overflow, 8 outOfRange, 16 badReference, 32 oscillatory, 64 failure,
    128 oldData, 256 inconsistent, 512 inaccurate, 1024 substituted, 2048 test,
    4096 operatorBlocked); then the device's discrete inputs again, **packed 16 to a
    register** (register k bit j = discrete input 16k + j; map row ``DI_PACKED``, role
    ``packed``), as many RTUs offer: a master reads a device's whole state with input-register
    reads alone, one request fewer per device and scan.
discrete inputs (function 02)
    every status point, one bit — except a switch position, which is a double point of two
    bits: "open" contact then "closed" contact (both 0 = intermediate, both 1 = bad state).
coils (functions 01 / 05 / 15)
    per switching device two command coils: "open" then "close"; writing 1 executes (the
    bay's own interlocks apply).
holding registers (function 03)
    per switching device the result of its last command: 0 none, 1 accepted, 2 refused by
    interlock, 3 refused (other cause), 4 position already reached, 5 device not answering.
    A refused command is also answered with exception 04 (server device failure).

A device whose bay is not answering replies to everything with exception 0x0B (gateway
target device failed to respond). ``gridtwin modbus-map`` prints this map as CSV.

The poller works from the same map read back from CSV (:func:`load_map_csv`,
:func:`read_map_file`; ``gridtwin record --map FILE.csv``), e.g. edited for a real RTU: any
addresses, word order ``big-endian (ABCD)`` or ``little-endian (CDAB)`` per 32-bit value, a
scale per value (engineering value = raw × scale), quality registers optional. A map whose
values collide (a duplicate address, an overlapping float), names a point the station does
not have, or gives a point the wrong type is refused at load, naming the point and the line.
Whichever way a map is made, :func:`map_from_entries` turns it into the per-device read plan
the poller runs, so a generated map and its CSV poll identically.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from app.station.points import KIND_ANALOG, KIND_COUNTER, KIND_STATUS, PointTable

MAX_REGS = 125  # per read (Modbus limit)
MAX_BITS = 2000
MAX_ADDRESS = 65535

RESULT_NONE, RESULT_ACCEPTED, RESULT_INTERLOCK, RESULT_REFUSED = 0, 1, 2, 3
RESULT_POSITION_REACHED, RESULT_NO_RESPONSE = 4, 5

FUNCTIONS = {"ir": "04 input register", "di": "02 discrete input", "coil": "01/05 coil",
             "hr": "03 holding register"}
WORD_ORDERS = {"big-endian (ABCD)": False, "little-endian (CDAB)": True}
_LENGTH = {"float32": 2, "uint32": 2, "dbpos": 2, "uint16": 1, "bool": 1}
_ROLES = ("value", "quality", "packed", "open", "close", "result")
PACKED_POINT = "DI_PACKED"  # the map row of a device's packed discrete inputs
_COMMAND_SUFFIX = {"open": ".CMD_OPEN", "close": ".CMD_CLOSE", "result": ".CMD_RESULT"}


class MapError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Entry:
    point: str
    unit: str
    device_id: int
    table: str  # "ir", "di", "coil", "hr"
    address: int
    type: str  # float32, uint32, uint16, bool, dbpos
    length: int  # registers or bits
    word_order: str = ""
    scale: float = 1.0
    row: int = -1  # point-table row (-1 for controls)
    role: str = "value"  # value / quality / packed / open / close / result
    line: int = 0  # line of the CSV it was read from (0: generated)

    def where(self) -> str:
        at = f"{self.table} {self.address}, device {self.device_id}"
        return f"line {self.line}: point {self.point} ({at})" if self.line else \
            f"point {self.point} ({at})"


@dataclass(frozen=True, slots=True)
class DeviceMap:
    """One unit id's read plan: which registers and bits hold which point rows."""

    device: str  # the bay it serves (or "unit N" when a unit mixes bays)
    device_id: int
    rows: np.ndarray  # point rows of this device (values read)
    analog_rows: np.ndarray
    counter_rows: np.ndarray
    status_rows: np.ndarray
    pos_mask: np.ndarray  # per status row: is a double-point position
    ir_count: int  # input registers spanned (highest address + 1)
    di_count: int
    switches: tuple[str, ...]  # asset ids with command coils
    ir_blocks: tuple[tuple[int, int], ...]  # (address, count) reads
    di_blocks: tuple[tuple[int, int], ...]
    di_offsets: np.ndarray  # first bit of each status row
    analog_addr: np.ndarray  # first register of each analog (float32)
    counter_addr: np.ndarray  # first register of each counter (uint32)
    analog_swap: np.ndarray  # CDAB word order
    counter_swap: np.ndarray
    analog_scale: np.ndarray
    counter_scale: np.ndarray
    quality_rows: np.ndarray  # rows that have a quality register …
    quality_addr: np.ndarray  # … and where it is
    commands: tuple[tuple[int, int, int], ...]  # per switch: (open coil, close coil, result hr)
    packed_addr: int = -1  # first input register of the packed discrete inputs (-1: none) …
    packed_words: int = 0  # … and how many (16 inputs each)

    @property
    def polls_di(self) -> bool:
        """Whether the status must be read as discrete inputs (no packed copy mapped)."""
        return self.packed_addr < 0 and self.di_count > 0

    def requests(self) -> int:
        """Reads per scan of this device."""
        return len(self.ir_blocks) + (len(self.di_blocks) if self.polls_di else 0)


@dataclass(frozen=True, slots=True)
class RegisterMap:
    devices: tuple[DeviceMap, ...]
    entries: tuple[Entry, ...]

    def device(self, bay: str) -> DeviceMap:
        for d in self.devices:
            if d.device == bay:
                return d
        raise KeyError(f"no Modbus device for bay '{bay}'")

    def by_id(self, device_id: int) -> DeviceMap:
        for d in self.devices:
            if d.device_id == device_id:
                return d
        raise KeyError(f"no Modbus device with unit id {device_id}")

    def entry(self, point: str, role: str = "value") -> Entry:
        for e in self.entries:
            if e.point == point and e.role == role:
                return e
        raise KeyError(f"no register for {point} ({role})")

    def to_csv(self, stream: TextIO | None = None) -> str:
        out = stream or io.StringIO()
        w = csv.writer(out)
        w.writerow(["point", "unit", "device_id", "function", "address", "type", "word_order",
                    "scale", "role"])
        for e in self.entries:
            w.writerow([e.point, e.unit, e.device_id, FUNCTIONS[e.table], e.address, e.type,
                        e.word_order, e.scale, e.role])
        return out.getvalue() if stream is None else ""


def _blocks(spans: Iterable[tuple[int, int]], limit: int) -> tuple[tuple[int, int], ...]:
    """Reads of at most ``limit`` covering ``(address, length)`` spans: contiguous spans are
    read together, a value is never split across two reads, and unmapped gaps are not read
    (a real RTU may refuse them)."""
    blocks: list[list[int]] = []
    for a, n in sorted(spans):
        if blocks:
            b = blocks[-1]
            if a == b[0] + b[1] and b[1] + n <= limit:
                b[1] += n
                continue
            if a < b[0] + b[1]:
                continue  # inside the previous (validated maps do not overlap)
        blocks.append([a, n])
    return tuple((a, n) for a, n in blocks)


def build_register_map(points: PointTable) -> RegisterMap:
    """The station RTU's map, generated from the point table (see the module notes)."""
    entries: list[Entry] = []
    pos_q = np.array([q == "position" for q in points.quantity])
    for k, dev in enumerate(points.devices):
        did = k + 1
        rows = np.asarray(dev.points, dtype=np.intp)
        kinds = points.kind[rows]
        analog = rows[kinds == KIND_ANALOG]
        counter = rows[kinds == KIND_COUNTER]
        status = rows[kinds == KIND_STATUS]
        addr = 0
        for r in analog:
            entries.append(Entry(points.tags[r], points.unit[r], did, "ir", addr, "float32", 2,
                                 "big-endian (ABCD)", 1.0, int(r)))
            addr += 2
        for r in counter:
            entries.append(Entry(points.tags[r], points.unit[r], did, "ir", addr, "uint32", 2,
                                 "big-endian (ABCD)", 1.0, int(r)))
            addr += 2
        for r in rows:
            entries.append(Entry(points.tags[r], "", did, "ir", addr, "uint16", 1, "", 1.0,
                                 int(r), "quality"))
            addr += 1
        bit = 0
        for r in status:
            t = "dbpos" if pos_q[r] else "bool"
            entries.append(Entry(points.tags[r], "", did, "di", bit, t, _LENGTH[t], "", 1.0,
                                 int(r)))
            bit += _LENGTH[t]
        if bit:
            entries.append(Entry(PACKED_POINT, "", did, "ir", addr, "uint16", (bit + 15) // 16,
                                 "", 1.0, -1, "packed"))
        switches = tuple(points.asset[r] for r in status if pos_q[r])
        for j, sw in enumerate(switches):
            entries.append(Entry(f"{sw}.CMD_OPEN", "", did, "coil", 2 * j, "bool", 1, "",
                                 1.0, -1, "open"))
            entries.append(Entry(f"{sw}.CMD_CLOSE", "", did, "coil", 2 * j + 1, "bool", 1, "",
                                 1.0, -1, "close"))
            entries.append(Entry(f"{sw}.CMD_RESULT", "", did, "hr", j, "uint16", 1, "", 1.0,
                                 -1, "result"))
    return map_from_entries(entries, points)


def map_from_entries(entries: Iterable[Entry], points: PointTable) -> RegisterMap:
    """Validate ``entries`` against the station and build each unit's read plan."""
    entries = _size_packed(tuple(entries))
    validate(RegisterMap((), entries))
    first: dict[tuple[int, str], Entry] = {}
    for e in entries:
        if e.role not in ("value", "quality"):
            continue
        other = first.setdefault((e.row, e.role), e)
        if other is not e:
            raise MapError(f"{e.where()}: the point's {e.role} is already mapped at "
                           f"{other.where()}")
    unit_of = {e.row: e.device_id for e in entries if e.role == "value"}
    for e in entries:
        if e.role == "quality" and unit_of.get(e.row) != e.device_id:
            raise MapError(f"{e.where()}: a quality register must be in the unit that serves "
                           "the point's value")
    by_unit: dict[int, list[Entry]] = {}
    for e in entries:
        by_unit.setdefault(e.device_id, []).append(e)
    devices = [_device_map(did, es, points) for did, es in sorted(by_unit.items())]
    return RegisterMap(tuple(devices), entries)


def _size_packed(entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """A packed entry spans 1 register per 16 of its unit's discrete inputs (the CSV does not
    say how many): size it, and refuse a second one in a unit or one with no inputs to pack."""
    extent: dict[int, int] = {}
    for e in entries:
        if e.table == "di":
            extent[e.device_id] = max(extent.get(e.device_id, 0), e.address + e.length)
    out, seen = [], {}
    for e in entries:
        if e.role == "packed":
            if e.device_id in seen:
                raise MapError(f"{e.where()}: unit {e.device_id} has its packed discrete "
                               f"inputs at {seen[e.device_id].where()} already")
            if not extent.get(e.device_id):
                raise MapError(f"{e.where()}: unit {e.device_id} has no discrete inputs to "
                               "pack")
            seen[e.device_id] = e
            e = Entry(e.point, e.unit, e.device_id, e.table, e.address, e.type,
                      (extent[e.device_id] + 15) // 16, e.word_order, e.scale, -1, e.role,
                      e.line)
        out.append(e)
    return tuple(out)


def _device_map(did: int, es: list[Entry], points: PointTable) -> DeviceMap:
    def arr(x: npt.ArrayLike, dtype: npt.DTypeLike = np.intp) -> np.ndarray:
        return np.asarray(x, dtype=dtype)

    vals = [e for e in es if e.role == "value"]
    ana = [e for e in vals if e.table == "ir" and e.type == "float32"]
    cnt = [e for e in vals if e.table == "ir" and e.type == "uint32"]
    sts = [e for e in vals if e.table == "di"]
    qua = [e for e in es if e.role == "quality"]
    rows = [e.row for e in vals]
    bays = {points.device_of[r] for r in rows}
    device = bays.pop() if len(bays) == 1 else f"unit {did}"
    cmds: dict[str, dict[str, int]] = {}
    for e in es:
        if e.role in _COMMAND_SUFFIX:
            cmds.setdefault(e.point[: -len(_COMMAND_SUFFIX[e.role])], {})[e.role] = e.address
    switches = tuple(sw for sw, c in cmds.items() if "open" in c and "close" in c)
    ir = [(e.address, e.length) for e in es if e.table == "ir"]
    di = [(e.address, e.length) for e in es if e.table == "di"]
    packed = next((e for e in es if e.role == "packed"), None)
    return DeviceMap(
        device=device, device_id=did, rows=arr(rows),
        analog_rows=arr([e.row for e in ana]), counter_rows=arr([e.row for e in cnt]),
        status_rows=arr([e.row for e in sts]), pos_mask=arr([e.type == "dbpos" for e in sts],
                                                            bool),
        ir_count=max((a + n for a, n in ir), default=0),
        di_count=max((a + n for a, n in di), default=0),
        switches=switches, ir_blocks=_blocks(ir, MAX_REGS), di_blocks=_blocks(di, MAX_BITS),
        di_offsets=arr([e.address for e in sts]),
        analog_addr=arr([e.address for e in ana]), counter_addr=arr([e.address for e in cnt]),
        analog_swap=arr([WORD_ORDERS[e.word_order] for e in ana], bool),
        counter_swap=arr([WORD_ORDERS[e.word_order] for e in cnt], bool),
        analog_scale=arr([e.scale for e in ana], float),
        counter_scale=arr([e.scale for e in cnt], float),
        quality_rows=arr([e.row for e in qua]), quality_addr=arr([e.address for e in qua]),
        commands=tuple((cmds[sw]["open"], cmds[sw]["close"], cmds[sw].get("result", -1))
                       for sw in switches),
        packed_addr=packed.address if packed else -1,
        packed_words=packed.length if packed else 0)


def validate(m: RegisterMap) -> None:
    """Refuse duplicate addresses and overlapping multi-register values, naming the point."""
    taken: dict[tuple[int, str, int], Entry] = {}
    for e in m.entries:
        for k in range(e.length):
            key = (e.device_id, e.table, e.address + k)
            if key in taken:
                other = taken[key]
                what = "has the same address as" if other.address == e.address else "overlaps"
                raise MapError(f"{e.where()} {what} {other.point}"
                               + (f" (line {other.line})" if other.line else ""))
            taken[key] = e


def _check_entry(e: Entry, points: PointTable) -> Entry:
    """An entry read from CSV, checked against the station; returns it with its row."""
    if e.role not in _ROLES:
        raise MapError(f"{e.where()}: role {e.role!r} is not one of {', '.join(_ROLES)}")
    if e.type not in _LENGTH:
        raise MapError(f"{e.where()}: type {e.type!r} is not one of {', '.join(_LENGTH)}")
    if not 0 <= e.address <= MAX_ADDRESS - e.length + 1:
        raise MapError(f"{e.where()}: address outside 0–{MAX_ADDRESS}")
    if not 1 <= e.device_id <= 247:
        raise MapError(f"{e.where()}: unit id outside 1–247")
    if e.role in _COMMAND_SUFFIX:
        sw = e.point[: -len(_COMMAND_SUFFIX[e.role])]
        if not e.point.endswith(_COMMAND_SUFFIX[e.role]) or f"{sw}.POS" not in points.index:
            raise MapError(f"{e.where()}: a {e.role} command must be named "
                           f"SWITCH{_COMMAND_SUFFIX[e.role]} for a switch of the station")
        want = {"open": ("coil", "bool"), "close": ("coil", "bool"),
                "result": ("hr", "uint16")}[e.role]
        if (e.table, e.type) != want:
            raise MapError(f"{e.where()}: a {e.role} command is a {FUNCTIONS[want[0]]} of "
                           f"type {want[1]}")
        return e
    if e.role == "packed":
        if e.point != PACKED_POINT or (e.table, e.type) != ("ir", "uint16"):
            raise MapError(f"{e.where()}: packed discrete inputs are a row named "
                           f"{PACKED_POINT}, {FUNCTIONS['ir']}, type uint16")
        return e
    if e.point not in points.index:
        raise MapError(f"{e.where()}: the station has no such point")
    row = points.index[e.point]
    kind = int(points.kind[row])
    if e.role == "quality":
        ok = (e.table, e.type) == ("ir", "uint16")
        need = "a uint16 input register"
    elif kind == KIND_ANALOG:
        ok = (e.table, e.type) == ("ir", "float32")
        need = "a float32 input register"
    elif kind == KIND_COUNTER:
        ok = (e.table, e.type) == ("ir", "uint32")
        need = "a uint32 input register"
    else:
        pos = points.quantity[row] == "position"
        ok = (e.table, e.type) == ("di", "dbpos" if pos else "bool")
        need = "two discrete inputs (dbpos)" if pos else "a discrete input (bool)"
    if not ok:
        raise MapError(f"{e.where()}: {e.type} in {FUNCTIONS[e.table]} does not fit; this "
                       f"point needs {need}")
    if e.type in ("float32", "uint32") and e.word_order not in WORD_ORDERS:
        raise MapError(f"{e.where()}: word order {e.word_order!r} is not "
                       f"{' or '.join(WORD_ORDERS)}")
    if not np.isfinite(e.scale) or e.scale == 0:
        raise MapError(f"{e.where()}: scale {e.scale} must be a non-zero number")
    return Entry(e.point, e.unit, e.device_id, e.table, e.address, e.type, e.length,
                 e.word_order, e.scale, row, e.role, e.line)


def parse_map_csv(text: str) -> list[Entry]:
    """The entries of a map in the CSV form, each with its line (not yet checked)."""
    reader = csv.DictReader(io.StringIO(text))
    need = {"point", "unit", "device_id", "function", "address", "type", "word_order", "scale"}
    missing = need - set(reader.fieldnames or ())
    if missing:
        raise MapError(f"line 1: the header lacks {', '.join(sorted(missing))}")
    table_of = {v: k for k, v in FUNCTIONS.items()}
    entries = []
    for r in reader:
        n = reader.line_num
        point = (r.get("point") or "").strip()
        try:
            t = r["type"].strip()
            fn = r["function"].strip()
            if fn not in table_of:
                raise ValueError(f"function {fn!r} (use one of {', '.join(FUNCTIONS.values())})")
            entries.append(Entry(point, r["unit"] or "", int(r["device_id"]), table_of[fn],
                                 int(r["address"]), t, _LENGTH.get(t, 1),
                                 (r["word_order"] or "").strip(), float(r["scale"] or 1.0),
                                 role=(r.get("role") or "value").strip(), line=n))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise MapError(f"line {n}: point {point or '?'}: bad field: {exc}") from None
    return entries


def load_map_csv(text: str, points: PointTable) -> RegisterMap:
    """Read a map in the CSV form (e.g. edited for a real RTU), check it against the station
    and build the read plan the poller runs. Bad maps raise :class:`MapError` naming the
    line and the point."""
    return map_from_entries([_check_entry(e, points) for e in parse_map_csv(text)], points)


def read_map_file(path: str | Path, points: PointTable) -> RegisterMap:
    """:func:`load_map_csv` of a file; errors name the file too. A map that maps no point's
    value (a header and nothing else, or only quality or command rows) would poll nothing and
    show every point invalid: it is refused."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MapError(f"{p}: cannot read the map: {exc}") from None
    try:
        m = load_map_csv(text, points)
    except MapError as exc:
        raise MapError(f"{p}: {exc}") from None
    if not any(e.role == "value" for e in m.entries):
        what = "has no rows after its header" if not m.entries else \
            f"maps no point's value ({len(m.entries)} rows, none with role 'value')"
        raise MapError(f"{p}: the map {what}: nothing to poll")
    return m


def write_modbus_map_csv(points: PointTable, stream: TextIO) -> None:
    build_register_map(points).to_csv(stream)
