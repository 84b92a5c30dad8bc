"""Swinging-door compression, vectorised across every point of a scan.

What industrial historians do: keep a sample only when the straight line from the last kept
sample (the pivot) to the newest one would no longer pass within the point's compression
deviation of every sample in between (the "doors" have closed); then the previous sample is
archived and becomes the new pivot. Status
points and counters are kept on every change. A quality change is always kept (both the last
sample before it and the first after it), and a heartbeat keeps one sample at least every
``max_gap_s`` so a flat line still shows it was being scanned.

Reconstruction is linear interpolation between kept samples for analogs (step for status
and counters) and is within the deviation of every original sample.

A sample without a value (NaN, as a bad-quality reading delivers it) is stored as NaN, never
as a made-up number; the door's arithmetic treats it as 0 (its quality change is kept anyway).

The newest sample of each point is *held* until a later one decides whether it is needed;
:meth:`SwingingDoor.held_samples` gives them so the writer can persist them with every batch.

All state is numpy arrays over the point table: one call per scan costs tens of
microseconds for 2,500 points, with Python work only for the samples kept.
"""

from __future__ import annotations

import numpy as np

from app.station.points import KIND_ANALOG, PointTable

#: Default compression deviation: this fraction of the point's instrument range.
DEVIATION_OF_RANGE = 0.005


def deviations(points: PointTable, fraction: float = DEVIATION_OF_RANGE) -> np.ndarray:
    """Per point: analogs get ``fraction`` of their range (or of 100 units if none); status
    and counters 0 (every change kept)."""
    rng = points.range_hi - points.range_lo
    dev = np.where(np.isfinite(rng) & (rng > 0), rng * fraction, 100.0 * fraction)
    return np.where(points.kind == KIND_ANALOG, dev, 0.0)


class SwingingDoor:
    def __init__(self, deviation: np.ndarray, max_gap_s: float = 600.0) -> None:
        n = len(deviation)
        self.dev = np.asarray(deviation, dtype=float)
        self.step = self.dev == 0.0
        self.max_gap = int(max_gap_s * 1e9)
        self.a_t = np.zeros(n, dtype=np.int64)  # pivot (last archived)
        self.a_v = np.zeros(n)
        self.a_q = np.zeros(n, dtype=np.uint16)
        self.h_t = np.zeros(n, dtype=np.int64)  # held (last received)
        self.h_v = np.zeros(n)
        self.h_q = np.zeros(n, dtype=np.uint16)
        self.h_s = np.zeros(n)  # held value as stored (NaN kept); h_v is the arithmetic one
        self.s_hi = np.full(n, np.inf)
        self.s_lo = np.full(n, -np.inf)
        self.started = np.zeros(n, dtype=bool)
        self.held = np.zeros(n, dtype=bool)  # a held sample not yet archived

    def update(self, t_ns: np.ndarray, v: np.ndarray, q: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Feed one sample per point; return the kept samples (rows, t, v, q)."""
        t_ns = np.asarray(t_ns, dtype=np.int64)
        v_in = np.asarray(v, dtype=float)
        finite = np.isfinite(v_in)
        v_st = np.where(finite, v_in, np.nan)  # what is stored: no value is NaN
        v = np.where(finite, v_in, 0.0)  # what the door computes with
        q = np.asarray(q, dtype=np.uint16)
        fresh = t_ns > self.h_t  # a point whose source time did not move is not a new sample
        first = ~self.started & fresh
        out_r, out_t, out_v, out_q = [], [], [], []

        def keep(mask: np.ndarray, tt: np.ndarray, vv: np.ndarray, qq: np.ndarray) -> None:
            idx = np.flatnonzero(mask)
            if len(idx):
                out_r.append(idx)
                out_t.append(tt[idx])
                out_v.append(vv[idx])
                out_q.append(qq[idx])

        # Quality changes: close the old segment with the held sample, keep the new one.
        qchg = self.started & fresh & (q != self.h_q)
        keep(qchg & self.held, self.h_t, self.h_s, self.h_q)
        # Status and counters: every change.
        chg = self.started & fresh & self.step & ~qchg & (v != self.a_v)
        # Heartbeat: nothing kept for too long.
        beat = self.started & fresh & ~qchg & ~chg & ((t_ns - self.a_t) > self.max_gap) & \
            self.held
        keep(beat, self.h_t, self.h_s, self.h_q)
        self._pivot(beat, self.h_t, self.h_v, self.h_q)

        # Analogs: the segment from the pivot may extend to the new sample only if that
        # line stays within the deviation of every sample since the pivot, i.e. its slope
        # lies in the feasible interval [s_lo, s_hi] the doors have swung to so far.
        an = self.started & fresh & ~self.step & ~qchg
        dt = np.maximum(t_ns - self.a_t, 1).astype(float)
        slope = (v - self.a_v) / dt
        closed = an & self.held & ((slope < self.s_lo) | (slope > self.s_hi))
        keep(closed, self.h_t, self.h_s, self.h_q)
        self._pivot(closed, self.h_t, self.h_v, self.h_q)
        dt = np.maximum(t_ns - self.a_t, 1).astype(float)
        up = (v + self.dev - self.a_v) / dt
        lo = (v - self.dev - self.a_v) / dt
        self.s_hi = np.where(an, np.minimum(self.s_hi, up), self.s_hi)
        self.s_lo = np.where(an, np.maximum(self.s_lo, lo), self.s_lo)

        # First samples, quality changes and status changes are kept as they arrive.
        now = first | qchg | chg
        keep(now, t_ns, v_st, q)
        self._pivot(now, t_ns, v, q)
        self.started |= first

        # Everything fresh becomes the held sample (already kept if it was pivoted now).
        self.h_t = np.where(fresh, t_ns, self.h_t)
        self.h_v = np.where(fresh, v, self.h_v)
        self.h_q = np.where(fresh, q, self.h_q)
        self.h_s = np.where(fresh, v_st, self.h_s)
        self.held = np.where(fresh, ~now, self.held)
        if not out_r:
            e = np.empty(0)
            return e.astype(np.intp), e.astype(np.int64), e, e.astype(np.uint16)
        return (np.concatenate(out_r), np.concatenate(out_t), np.concatenate(out_v),
                np.concatenate(out_q))

    def _pivot(self, mask: np.ndarray, t: np.ndarray, v: np.ndarray, q: np.ndarray) -> None:
        self.a_t = np.where(mask, t, self.a_t)
        self.a_v = np.where(mask, v, self.a_v)
        self.a_q = np.where(mask, q, self.a_q)
        self.s_hi = np.where(mask, np.inf, self.s_hi)
        self.s_lo = np.where(mask, -np.inf, self.s_lo)

    def held_samples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The samples held (received, not yet archived): rows, t, v, q. Nothing changes."""
        idx = np.flatnonzero(self.held)
        return idx, self.h_t[idx], self.h_s[idx], self.h_q[idx]

    def flush(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Keep every held sample (at shutdown, so the tail of each series is stored)."""
        out = self.held_samples()
        self._pivot(self.held, self.h_t, self.h_v, self.h_q)
        self.held[:] = False
        return out


def pack_block(t_ns: np.ndarray, v: np.ndarray, q: np.ndarray) -> bytes:
    """A compressed block: delta-encoded times, float64 values, quality words (zlib)."""
    import zlib

    t = np.asarray(t_ns, dtype=np.int64)
    d = np.diff(t, prepend=t[:1]).astype(np.int64)
    d[0] = t[0]
    raw = (np.int32(len(t)).tobytes() + d.tobytes()
           + np.asarray(v, dtype=np.float64).tobytes() + np.asarray(q, dtype=np.uint16).tobytes())
    return zlib.compress(raw, 6)


def unpack_block(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import zlib

    raw = zlib.decompress(data)
    n = int(np.frombuffer(raw[:4], dtype=np.int32)[0])
    o = 4
    d = np.frombuffer(raw[o:o + 8 * n], dtype=np.int64)
    o += 8 * n
    v = np.frombuffer(raw[o:o + 8 * n], dtype=np.float64)
    o += 8 * n
    q = np.frombuffer(raw[o:o + 2 * n], dtype=np.uint16)
    return np.cumsum(d), v.copy(), q.copy()
