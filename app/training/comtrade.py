"""COMTRADE (IEEE C37.111-2013) disturbance records: a writer, and the waveforms of a played
protection sequence.

:func:`write_comtrade` writes a ``.cfg`` and a ``.dat`` (BINARY: 16-bit analogs; or ASCII),
revision year 2013, one sampling rate, start and trigger timestamps in UTC with their
``time_code,local_code`` (``0,5h30`` for a station in IST) and ``tmq_code,leapsec``.
Analog channels are written as primary values (``P``) with their CT/VT ratios.

:func:`bay_waveforms` turns the stages of a :class:`~app.training.protection.ProtectionSequence`
into sampled currents and voltages of one bay: pre-fault load current and voltage, the fault
current with the DC offset its X/R gives — at every switching instant the current is
continuous and the new steady state is reached through ``exp(-t/tau)``, which at inception
from load current zero is ``i(t) = sqrt2 I [sin(wt + a - phi) - sin(a - phi) e^(-t/tau)]`` —
and after a pole opens, zero from the current's next zero crossing on (the arc goes out at a
current zero). Voltages step between the stages' steady values (CVT transients are not
modelled).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REV_YEAR = "2013"
_INT16_MAX = 32767


@dataclass(frozen=True, slots=True, eq=False)
class AnalogChannel:
    name: str
    phase: str
    ccbm: str
    """Circuit component being monitored (the bay or bus)."""
    unit: str
    values: np.ndarray
    primary: float = 1.0
    secondary: float = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class StatusChannel:
    name: str
    phase: str
    ccbm: str
    values: np.ndarray
    normal: int = 0


def _clean(text: str) -> str:
    """A cfg field: no commas or line breaks."""
    return re.sub(r"[,\r\n]", " ", text).strip()


def _stamp(t: dt.datetime) -> str:
    t = t.astimezone(dt.UTC)
    return f"{t.day:02d}/{t.month:02d}/{t.year:04d},{t.hour:02d}:{t.minute:02d}:" \
           f"{t.second:02d}.{t.microsecond:06d}"


def utc_offset_code(offset: dt.timedelta | None) -> str:
    """C37.111-2013 time code of an offset from UTC: ``0``, ``5h30``, ``-4``."""
    if offset is None or offset == dt.timedelta(0):
        return "0"
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else ""
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h}h{m:02d}" if m else f"{sign}{h}"


def write_comtrade(stem: str | Path, *, station_name: str, rec_dev_id: str,
                   sample_rate_hz: float, start: dt.datetime, trigger: dt.datetime,
                   analogs: Sequence[AnalogChannel], statuses: Sequence[StatusChannel] = (),
                   frequency_hz: float = 50.0, fmt: str = "BINARY",
                   local_offset: dt.timedelta | None = None) -> tuple[Path, Path]:
    """Write ``stem.cfg`` and ``stem.dat``; return their paths.

    ``start`` and ``trigger`` must be timezone-aware; they are written in UTC
    (``time_code`` 0) with ``local_offset`` as the station's ``local_code``.
    """
    if start.tzinfo is None or trigger.tzinfo is None:
        raise ValueError("COMTRADE timestamps must be timezone-aware")
    if fmt not in ("BINARY", "ASCII"):
        raise ValueError(f"unknown COMTRADE data format '{fmt}' (BINARY or ASCII)")
    n = len(analogs[0].values) if analogs else len(statuses[0].values)
    for ch in (*analogs, *statuses):
        if len(ch.values) != n:
            raise ValueError(f"channel '{ch.name}' has {len(ch.values)} samples, not {n}")
    stem = Path(stem)
    cfg, dat = stem.with_suffix(".cfg"), stem.with_suffix(".dat")
    scales = []
    raw = []
    for ch in analogs:
        v = np.asarray(ch.values, dtype=float)
        peak = float(np.max(np.abs(v))) if v.size else 0.0
        a = peak / _INT16_MAX if peak > 0 else 1.0
        scales.append(a)
        raw.append(np.clip(np.rint(v / a), -_INT16_MAX, _INT16_MAX).astype(np.int16))
    lines = [f"{_clean(station_name)},{_clean(rec_dev_id)},{REV_YEAR}",
             f"{len(analogs) + len(statuses)},{len(analogs)}A,{len(statuses)}D"]
    for k, (ch, a) in enumerate(zip(analogs, scales, strict=True)):
        lines.append(f"{k + 1},{_clean(ch.name)},{_clean(ch.phase)},{_clean(ch.ccbm)},"
                     f"{_clean(ch.unit)},{a:.9g},0,0,{-_INT16_MAX},{_INT16_MAX},"
                     f"{ch.primary:g},{ch.secondary:g},P")
    for k, ch in enumerate(statuses):
        lines.append(f"{k + 1},{_clean(ch.name)},{_clean(ch.phase)},{_clean(ch.ccbm)},"
                     f"{int(ch.normal)}")
    lines += [f"{frequency_hz:g}", "1", f"{sample_rate_hz:g},{n}", _stamp(start),
              _stamp(trigger), fmt, "1",
              f"0,{utc_offset_code(local_offset)}", "0,0"]
    cfg.write_text("\r\n".join(lines) + "\r\n", encoding="ascii", newline="")
    stamps = np.rint(np.arange(n) * (1e6 / sample_rate_hz)).astype(np.int64)
    words = (len(statuses) + 15) // 16
    packed = np.zeros((n, words), dtype=np.uint16)
    for k, ch in enumerate(statuses):
        bit = (np.asarray(ch.values) != 0).astype(np.uint16) << (k % 16)
        packed[:, k // 16] |= bit
    if fmt == "BINARY":
        rec = np.zeros(n, dtype=np.dtype([("n", "<u4"), ("t", "<u4"),
                                          ("a", "<i2", (len(analogs),)),
                                          ("d", "<u2", (words,))]))
        rec["n"] = np.arange(1, n + 1)
        rec["t"] = stamps
        if analogs:
            rec["a"] = np.stack(raw, axis=1)
        if words:
            rec["d"] = packed
        dat.write_bytes(rec.tobytes())
    else:
        with dat.open("w", encoding="ascii", newline="") as f:
            for i in range(n):
                row = [str(i + 1), str(int(stamps[i]))]
                row += [str(int(r[i])) for r in raw]
                row += [str(int(ch.values[i] != 0)) for ch in statuses]
                f.write(",".join(row) + "\r\n")
    return cfg, dat


# ============================================================================ waveforms
Wave = Callable[[np.ndarray], np.ndarray]


def _steady(phasor: complex, omega: float) -> Wave:
    mag, ang = abs(phasor) * math.sqrt(2.0), np.angle(phasor)
    return lambda t: mag * np.cos(omega * t + ang)


def _next_zero(f: Wave, t0: float, period: float) -> float:
    """First zero crossing of ``f`` at or after ``t0`` (within 20 periods), to 1 us."""
    step = period / 400.0
    grid = t0 + np.arange(0, 20 * 400 + 1) * step
    y = f(grid)
    if y[0] == 0:
        return t0
    s = np.flatnonzero(np.sign(y[1:]) != np.sign(y[:-1]))
    if not len(s):
        return float(grid[-1])
    k = int(s[0])
    y0, y1 = y[k], y[k + 1]
    return float(grid[k] + step * y0 / (y0 - y1))


def current_wave(t: np.ndarray, starts: Sequence[float], phasors: Sequence[complex],
                 closed: Sequence[bool], pre_phasor: complex, tau_s: float,
                 frequency_hz: float = 50.0) -> np.ndarray:
    """Sampled current of one pole across the stages (see the module's docstring).

    ``starts[k]`` is stage k's start (s, from inception), ``phasors[k]`` its steady phasor
    (RMS, cos reference), ``closed[k]`` whether the pole is closed in it; before
    ``starts[0]`` the current is ``pre_phasor``'s.
    """
    omega = 2 * math.pi * frequency_hz
    period = 1.0 / frequency_hz
    y = np.empty_like(t)
    fn: Wave = _steady(pre_phasor, omega)
    was_closed = True
    edges = list(starts) + [math.inf]
    y[t < edges[0]] = fn(t[t < edges[0]])
    for k, tb in enumerate(starts):
        prev = fn
        if was_closed and not closed[k]:
            tz = _next_zero(prev, tb, period)
            fn = (lambda p, z: (lambda x: np.where(x < z, p(x), 0.0)))(prev, tz)
        elif not closed[k]:
            fn = _zero
        else:
            i_b = float(prev(np.array([tb]))[0])
            ss = _steady(phasors[k], omega)
            d0 = i_b - float(ss(np.array([tb]))[0])
            if tau_s > 0:
                fn = (lambda s, d, b: (lambda x: s(x) + d * np.exp(-(x - b) / tau_s)))(
                    ss, d0, tb)
            else:
                fn = ss
        was_closed = closed[k]
        m = (t >= tb) & (t < edges[k + 1])
        y[m] = fn(t[m])
    return y


def _zero(x: np.ndarray) -> np.ndarray:
    return np.zeros_like(x)


def voltage_wave(t: np.ndarray, starts: Sequence[float], phasors: Sequence[complex],
                 pre_phasor: complex, frequency_hz: float = 50.0) -> np.ndarray:
    """Sampled voltage stepping between the stages' steady values."""
    omega = 2 * math.pi * frequency_hz
    y = _steady(pre_phasor, omega)(t)
    edges = list(starts) + [math.inf]
    for k, tb in enumerate(starts):
        m = (t >= tb) & (t < edges[k + 1])
        y[m] = _steady(phasors[k], omega)(t[m])
    return y


def step_signal(t: np.ndarray, on_off: Sequence[tuple[float, float]]) -> np.ndarray:
    """A digital channel: 1 in each [on, off) interval (times in s)."""
    y = np.zeros(len(t), dtype=np.uint8)
    for on, off in on_off:
        y[(t >= on - 1e-9) & (t < off - 1e-9)] = 1
    return y


def rms_whole_cycles(values: np.ndarray, sample_rate_hz: float, end_index: int, cycles: int,
                     frequency_hz: float = 50.0) -> float:
    """RMS over ``cycles`` whole cycles of samples ending just before ``end_index``."""
    per = sample_rate_hz / frequency_hz
    n = round(per * cycles)
    seg = np.asarray(values[end_index - n:end_index], dtype=float)
    return float(np.sqrt(np.mean(seg ** 2)))
