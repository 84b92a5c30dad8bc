"""COMTRADE (IEEE C37.111-2013) disturbance records: a writer, and the waveforms of a played
protection sequence.

:func:`write_comtrade` writes a ``.cfg`` and a ``.dat`` (BINARY: 16-bit analogs; or ASCII),
revision year 2013, one sampling rate, start and trigger timestamps in UTC with their
``time_code,local_code`` (``0,5h30`` for a station in IST) and ``tmq_code,leapsec``.
Analog channels are written as primary values (``P``) with their CT/VT ratios.

:func:`read_comtrade` reads a record back — ours or another recorder's: revision 1991, 1999
or 2013, ASCII, BINARY, BINARY32 or FLOAT32 data, values in primary units — for the HMI's
record viewer. A file it cannot read is one :class:`ComtradeError` naming the file, the line
and the field.

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


# ============================================================================ reading
class ComtradeError(ValueError):
    """A record that cannot be read: the message names the file, the line and the field."""


@dataclass(frozen=True, slots=True, eq=False)
class ComtradeRecord:
    """A record as read: times in seconds from the first sample, channels in primary units."""

    cfg: Path
    dat: Path
    station_name: str
    rec_dev_id: str
    rev_year: str
    frequency_hz: float
    start: dt.datetime | None
    trigger: dt.datetime | None
    data_format: str
    time_s: np.ndarray
    analogs: tuple[AnalogChannel, ...]
    """Values in primary units (``primary``/``secondary``: the cfg's ratio, for reference)."""
    statuses: tuple[StatusChannel, ...]

    @property
    def trigger_s(self) -> float:
        """The trigger on the record's time axis (0 when the cfg has no trigger time)."""
        if self.start is None or self.trigger is None:
            return 0.0
        return (self.trigger - self.start).total_seconds()

    @property
    def sample_rate_hz(self) -> float:
        if len(self.time_s) < 2:
            return 0.0
        return float((len(self.time_s) - 1) / (self.time_s[-1] - self.time_s[0]))


_FORMATS = {"ASCII": None, "BINARY": "<i2", "BINARY32": "<i4", "FLOAT32": "<f4"}


def _parse_stamp(text: str) -> dt.datetime | None:
    """``dd/mm/yyyy,hh:mm:ss.ssssss`` (C37.111-1999/2013; 1991's ``mm/dd/yy`` too), UTC."""
    m = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{2,4})\s*,\s*(\d{1,2}):(\d{1,2}):"
                     r"(\d{1,2})(?:\.(\d+))?\s*", text)
    if not m:
        raise ValueError("not dd/mm/yyyy,hh:mm:ss.ssssss")
    a, b, y, hh, mm, ss, frac = m.groups()
    day, month = (int(a), int(b)) if len(y) == 4 else (int(b), int(a))
    year = int(y) if len(y) == 4 else 1900 + int(y) + (100 if int(y) < 70 else 0)
    if day == 0 and month == 0:
        return None  # "unknown" in 1991 records
    us = int((frac or "0")[:6].ljust(6, "0"))
    return dt.datetime(year, month, day, int(hh), int(mm), int(ss), us, tzinfo=dt.UTC)


def read_comtrade(cfg: str | Path, dat: str | Path | None = None) -> ComtradeRecord:
    """Read ``cfg`` and its ``.dat`` (beside it, unless given). Raises :class:`ComtradeError`
    naming the file, line and field of the first thing it cannot read."""
    cfg = Path(cfg)
    dat = Path(dat) if dat is not None else cfg.with_suffix(".dat")
    if not dat.exists():
        for alt in (cfg.with_suffix(".DAT"), cfg.with_suffix(".dat")):
            if alt.exists():
                dat = alt
                break
    try:
        text = cfg.read_bytes().decode("latin-1")
    except OSError as exc:
        raise ComtradeError(f"{cfg}: cannot read ({exc.strerror or exc})") from None
    lines = text.splitlines()
    pos = 0

    def take(what: str) -> tuple[int, list[str]]:
        nonlocal pos
        if pos >= len(lines):
            raise ComtradeError(f"{cfg}: line {pos + 1}: {what} missing (the file ends)")
        pos += 1
        return pos, [f.strip() for f in lines[pos - 1].split(",")]

    def num(line: int, fields: list[str], k: int, what: str, kind: type = float) -> float:
        try:
            return kind(fields[k])
        except (IndexError, ValueError):
            got = fields[k] if k < len(fields) else "nothing"
            raise ComtradeError(f"{cfg}: line {line}: field {k + 1} ({what}): "
                                f"'{got}' is not a number") from None

    ln, f = take("station name, recording device, revision year")
    station_name, rec_dev = (f + ["", ""])[:2]
    rev_year = f[2] if len(f) > 2 and f[2] else "1991"
    ln, f = take("channel counts")
    total = int(num(ln, f, 0, "TT, total channels", int))
    try:
        n_a = int(f[1].upper().rstrip("A"))
        n_d = int(f[2].upper().rstrip("D"))
    except (IndexError, ValueError):
        raise ComtradeError(f"{cfg}: line {ln}: fields 2-3 (##A,##D): expected counts like "
                            f"'6A,4D', got '{','.join(f[1:3])}'") from None
    if n_a + n_d != total:
        raise ComtradeError(f"{cfg}: line {ln}: field 1 (TT): {total} channels is not "
                            f"{n_a} analog + {n_d} digital")
    gains: list[tuple[float, float, float, float, bool]] = []
    analog_meta: list[tuple[str, str, str, str]] = []
    for _ in range(n_a):
        ln, f = take("an analog channel")
        if len(f) < 10:
            raise ComtradeError(f"{cfg}: line {ln}: an analog channel needs at least 10 "
                                f"fields, has {len(f)}")
        a = num(ln, f, 5, "a, the multiplier")
        b = num(ln, f, 6, "b, the offset")
        prim = num(ln, f, 10, "primary") if len(f) > 12 and f[10] else 1.0
        sec = num(ln, f, 11, "secondary") if len(f) > 12 and f[11] else 1.0
        secondary = len(f) > 12 and f[12].upper() == "S"
        gains.append((a, b, prim, sec, secondary))
        analog_meta.append((f[1], f[2], f[3], f[4]))
    status_meta: list[tuple[str, str, str, int]] = []
    for _ in range(n_d):
        ln, f = take("a status channel")
        if len(f) < 2:
            raise ComtradeError(f"{cfg}: line {ln}: a status channel needs its name")
        normal = int(num(ln, f, 4, "y, the normal state", int)) if len(f) > 4 and f[4] else 0
        status_meta.append((f[1], f[2] if len(f) > 2 else "", f[3] if len(f) > 3 else "",
                            normal))
    ln, f = take("line frequency")
    freq = num(ln, f, 0, "lf, line frequency")
    ln, f = take("number of sampling rates")
    nrates = int(num(ln, f, 0, "nrates", int))
    rates: list[tuple[float, int]] = []
    for _ in range(max(nrates, 1)):
        ln, f = take("a sampling rate")
        rates.append((num(ln, f, 0, "samp, the rate in Hz"),
                      int(num(ln, f, 1, "endsamp, the last sample", int))))
    stamps: list[dt.datetime | None] = []
    for what in ("the first sample's time", "the trigger time"):
        ln, f = take(what)
        try:
            stamps.append(_parse_stamp(",".join(f)))
        except ValueError as exc:
            raise ComtradeError(f"{cfg}: line {ln}: {what}: {exc}") from None
    ft = "ASCII"
    timemult = 1.0
    if pos < len(lines):
        ln, f = take("the data file type")
        ft = f[0].upper()
        if ft not in _FORMATS:
            raise ComtradeError(f"{cfg}: line {ln}: field 1 (ft): '{f[0]}' is not ASCII, "
                                "BINARY, BINARY32 or FLOAT32")
    if pos < len(lines) and lines[pos].strip():
        ln, f = take("timemult")
        timemult = num(ln, f, 0, "timemult") or 1.0

    # ---- the data
    try:
        raw_dat = dat.read_bytes()
    except OSError as exc:
        raise ComtradeError(f"{dat}: cannot read ({exc.strerror or exc})") from None
    words = (n_d + 15) // 16
    if ft == "ASCII":
        rows = []
        for k, line in enumerate(raw_dat.decode("latin-1").splitlines()):
            if not line.strip() or line.strip() == "\x1a":
                continue
            parts = line.split(",")
            if len(parts) < 2 + n_a + n_d:
                raise ComtradeError(f"{dat}: line {k + 1}: {len(parts)} fields, expected "
                                    f"{2 + n_a + n_d} (n, timestamp, {n_a} analog, {n_d} "
                                    "status)")
            try:
                rows.append([float(x) if x.strip() else math.nan
                             for x in parts[:2 + n_a + n_d]])
            except ValueError:
                bad = next(j for j, x in enumerate(parts) if not _is_num(x))
                raise ComtradeError(f"{dat}: line {k + 1}: field {bad + 1}: "
                                    f"'{parts[bad].strip()}' is not a number") from None
        arr = np.array(rows, dtype=float).reshape(-1, 2 + n_a + n_d)
        stamp_us = arr[:, 1]
        raw_a = arr[:, 2:2 + n_a]
        dig = arr[:, 2 + n_a:].astype(np.uint8)
        missing = np.zeros_like(raw_a, dtype=bool)
    else:
        dtype = np.dtype([("n", "<u4"), ("t", "<u4"), ("a", _FORMATS[ft], (n_a,)),
                          ("d", "<u2", (words,))])
        if len(raw_dat) % dtype.itemsize:
            raise ComtradeError(f"{dat}: {len(raw_dat)} bytes is not a whole number of "
                                f"{dtype.itemsize}-byte samples for {n_a} analog and {n_d} "
                                f"status channels in {ft} (line {ln} of {cfg.name})")
        rec = np.frombuffer(raw_dat, dtype=dtype)
        stamp_us = rec["t"].astype(float)
        raw_a = rec["a"].astype(float).reshape(len(rec), n_a)
        missing = {"BINARY": rec["a"] == -32768,
                   "BINARY32": rec["a"] == -2 ** 31}.get(ft, np.isnan(raw_a))
        missing = np.asarray(missing).reshape(len(rec), n_a)
        dig = np.zeros((len(rec), n_d), dtype=np.uint8)
        for k in range(n_d):
            dig[:, k] = (rec["d"][:, k // 16] >> (k % 16)) & 1
    n = len(stamp_us)
    if n == 0:
        raise ComtradeError(f"{dat}: no samples")
    if nrates > 0 and rates[0][0] > 0:
        t = np.empty(n)
        start_i, t0 = 0, 0.0
        for rate, end in rates:
            stop = min(n, end)
            t[start_i:stop] = t0 + np.arange(stop - start_i) / rate
            if stop > start_i:
                t0 = t[stop - 1] + 1.0 / rate
            start_i = stop
        if start_i < n:
            t[start_i:] = t0 + np.arange(n - start_i) / rates[-1][0]
    else:
        t = (stamp_us - stamp_us[0]) * timemult * 1e-6
    analogs = []
    for k, ((name, ph, ccbm, unit), (a, b, prim, sec, secondary)) in enumerate(
            zip(analog_meta, gains, strict=True)):
        v = raw_a[:, k] * a + b
        if secondary and sec:
            v = v * (prim / sec)
        v = np.where(missing[:, k], np.nan, v)
        analogs.append(AnalogChannel(name, ph, ccbm, unit, v, prim, sec))
    statuses = tuple(StatusChannel(name, ph, ccbm, dig[:, k].copy(), normal)
                     for k, (name, ph, ccbm, normal) in enumerate(status_meta))
    return ComtradeRecord(cfg, dat, station_name, rec_dev, rev_year, freq, stamps[0], stamps[1],
                          ft, t, tuple(analogs), statuses)


def _is_num(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return not text.strip()
    return True


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
