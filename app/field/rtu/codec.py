"""Encode a device's points into Modbus registers and bits, and back (vectorised)."""

from __future__ import annotations

import numpy as np

from app.field.points import POS_CLOSED, POS_INTERMEDIATE, POS_OPEN
from app.field.rtu.map import DeviceMap

POS_BAD = 3


def encode_registers(dm: DeviceMap, values: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """The device's input registers (uint16), big-endian word order for 32-bit values."""
    fl = np.asarray(values[dm.analog_rows], dtype=">f4").view(">u2")
    cnt = np.clip(np.round(np.nan_to_num(values[dm.counter_rows])), 0, 2**32 - 1)
    cn = np.asarray(cnt, dtype=">u4").view(">u2")
    q = np.asarray(quality[dm.rows], dtype=np.uint16)
    return np.concatenate([fl.astype(np.uint16), cn.astype(np.uint16), q])


def encode_bits(dm: DeviceMap, values: np.ndarray) -> np.ndarray:
    """The device's discrete inputs (bool), positions as open/closed contact pairs."""
    bits = np.zeros(dm.di_count, dtype=bool)
    v = np.round(np.nan_to_num(values[dm.status_rows])).astype(np.int64)
    off = dm.di_offsets
    pos = dm.pos_mask
    bits[off[~pos]] = v[~pos] >= 1
    bits[off[pos]] = (v[pos] == POS_OPEN) | (v[pos] == POS_BAD)
    bits[off[pos] + 1] = (v[pos] == POS_CLOSED) | (v[pos] == POS_BAD)
    return bits


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Bits into 16-bit registers, bit 0 of register 0 first (pymodbus's layout)."""
    n = (len(bits) + 15) // 16
    padded = np.zeros(n * 16, dtype=np.uint16)
    padded[: len(bits)] = bits
    weights = (1 << np.arange(16, dtype=np.uint32)).astype(np.uint32)
    return (padded.reshape(n, 16) * weights).sum(axis=1).astype(np.uint16)


def decode_registers(dm: DeviceMap, regs: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """(analog values, counter values, quality words) from the device's input registers."""
    regs = np.asarray(regs, dtype=np.uint16)
    na, nc = len(dm.analog_rows), len(dm.counter_rows)
    fl = regs[: 2 * na].astype(">u2").view(">f4").astype(np.float64)
    cn = regs[2 * na: 2 * (na + nc)].astype(">u2").view(">u4").astype(np.float64)
    q = regs[dm.quality_start: dm.quality_start + len(dm.rows)]
    return fl, cn, q


def decode_bits(dm: DeviceMap, bits: np.ndarray) -> np.ndarray:
    """Status values (positions as Dbpos codes) from the device's discrete inputs."""
    bits = np.asarray(bits, dtype=bool)
    off, pos = dm.di_offsets, dm.pos_mask
    out = np.zeros(len(dm.status_rows))
    out[~pos] = bits[off[~pos]]
    o, c = bits[off[pos]], bits[off[pos] + 1]
    out[pos] = np.select([o & c, c, o], [POS_BAD, POS_CLOSED, POS_OPEN], POS_INTERMEDIATE)
    return out
