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
    4096 operatorBlocked).
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
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from app.field.points import KIND_ANALOG, KIND_COUNTER, KIND_STATUS, PointTable

MAX_REGS = 125  # per read (Modbus limit)
MAX_BITS = 2000

RESULT_NONE, RESULT_ACCEPTED, RESULT_INTERLOCK, RESULT_REFUSED = 0, 1, 2, 3
RESULT_POSITION_REACHED, RESULT_NO_RESPONSE = 4, 5

FUNCTIONS = {"ir": "04 input register", "di": "02 discrete input", "coil": "01/05 coil",
             "hr": "03 holding register"}


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
    role: str = "value"  # value / quality / open / close / result


@dataclass(frozen=True, slots=True)
class DeviceMap:
    device: str
    device_id: int
    rows: np.ndarray  # point rows of this device
    analog_rows: np.ndarray
    counter_rows: np.ndarray
    status_rows: np.ndarray
    pos_mask: np.ndarray  # per status row: is a double-point position
    ir_count: int
    di_count: int
    quality_start: int
    switches: tuple[str, ...]  # asset ids with command coils, in coil order
    ir_blocks: tuple[tuple[int, int], ...]  # (address, count) reads
    di_blocks: tuple[tuple[int, int], ...]
    di_offsets: np.ndarray  # first bit of each status row


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
        return self.devices[device_id - 1]

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


def _blocks(total: int, limit: int) -> tuple[tuple[int, int], ...]:
    return tuple((a, min(limit, total - a)) for a in range(0, total, limit))


def build_register_map(points: PointTable) -> RegisterMap:
    entries: list[Entry] = []
    devices = []
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
        qstart = addr
        for r in rows:
            entries.append(Entry(points.tags[r], "", did, "ir", addr, "uint16", 1, "", 1.0,
                                 int(r), "quality"))
            addr += 1
        ir_count = addr
        bit = 0
        offsets = []
        for r in status:
            offsets.append(bit)
            if pos_q[r]:
                entries.append(Entry(points.tags[r], "", did, "di", bit, "dbpos", 2, "", 1.0,
                                     int(r)))
                bit += 2
            else:
                entries.append(Entry(points.tags[r], "", did, "di", bit, "bool", 1, "", 1.0,
                                     int(r)))
                bit += 1
        di_count = bit
        switches = tuple(points.asset[r] for r in status if pos_q[r])
        for j, sw in enumerate(switches):
            entries.append(Entry(f"{sw}.CMD_OPEN", "", did, "coil", 2 * j, "bool", 1, "",
                                 1.0, -1, "open"))
            entries.append(Entry(f"{sw}.CMD_CLOSE", "", did, "coil", 2 * j + 1, "bool", 1, "",
                                 1.0, -1, "close"))
            entries.append(Entry(f"{sw}.CMD_RESULT", "", did, "hr", j, "uint16", 1, "", 1.0,
                                 -1, "result"))
        devices.append(DeviceMap(
            dev.id, did, rows, analog, counter, status, pos_q[status], ir_count, di_count,
            qstart, switches, _blocks_aligned(ir_count, len(analog) + len(counter)),
            _blocks(di_count, MAX_BITS), np.asarray(offsets, dtype=np.intp)))
    m = RegisterMap(tuple(devices), tuple(entries))
    validate(m)
    return m


def _blocks_aligned(ir_count: int, n_words32: int) -> tuple[tuple[int, int], ...]:
    """125-register reads that never split a 32-bit value across two reads."""
    blocks, a = [], 0
    end32 = 2 * n_words32
    while a < ir_count:
        n = min(MAX_REGS, ir_count - a)
        if a < end32 and (a + n) < end32 and (a + n) % 2:
            n -= 1
        blocks.append((a, n))
        a += n
    return tuple(blocks)


def validate(m: RegisterMap) -> None:
    """Refuse duplicate addresses and overlapping multi-register values, naming the point."""
    taken: dict[tuple[int, str, int], tuple[str, int]] = {}
    for e in m.entries:
        for k in range(e.length):
            key = (e.device_id, e.table, e.address + k)
            if key in taken:
                other, start = taken[key]
                what = "has the same address as" if start == e.address else "overlaps"
                raise MapError(f"point {e.point} ({e.table} {e.address}, device {e.device_id}) "
                               f"{what} {other}")
            taken[key] = (e.point, e.address)


def load_map_csv(text: str) -> list[Entry]:
    """Read a map in the CSV form (e.g. edited for a real RTU) and validate it."""
    rows = list(csv.DictReader(io.StringIO(text)))
    table_of = {v: k for k, v in FUNCTIONS.items()}
    entries = []
    for n, r in enumerate(rows, start=2):
        try:
            t = r["type"]
            entries.append(Entry(r["point"], r["unit"], int(r["device_id"]),
                                 table_of[r["function"]], int(r["address"]), t,
                                 {"float32": 2, "uint32": 2, "dbpos": 2}.get(t, 1),
                                 r["word_order"], float(r["scale"]), role=r.get("role", "value")))
        except (KeyError, ValueError) as exc:
            raise MapError(f"line {n}: point {r.get('point', '?')}: bad field: {exc}") from None
    validate(RegisterMap((), tuple(entries)))
    return entries


def write_modbus_map_csv(points: PointTable, stream: TextIO) -> None:
    build_register_map(points).to_csv(stream)
