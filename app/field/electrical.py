"""What each electrical point reads, given a solved :class:`TwinState`.

Shared by the plant simulator (which adds instrument noise and serves the result as the field's
truth) and the runtime's solver (which compares the twin solved from measurements with what was
measured: the residuals). Resolution is done once per station: each point row gets the branch
(at terminal 1, the bay breaker for bay instruments), the bus, and the phase it reads.

Sign convention: power is positive out of the busbar into the bay (terminal 1 of every bay
element is on the busbar side).
"""

from __future__ import annotations

import math

import numpy as np

from app.station import Station
from app.station.bays import bay_breakers
from app.station.points import POS_CLOSED, POS_OPEN, PointTable
from app.twin import TwinEngine, TwinState

_PHASE_CODE = {"A": 0, "B": 1, "C": 2, "N": 3, "AB": 4, "BC": 5, "CA": 6}
_A = np.exp(2j * np.pi / 3)

#: Quantities whose twin counterpart is meaningful for residuals (measured − twin).
RESIDUAL_QUANTITIES = ("p_mw", "q_mvar", "current_a", "voltage_kv", "apparent_mva")


class ElectricalPoints:
    """Map a TwinState onto the point table's electrical points (vectorised)."""

    def __init__(self, station: Station, points: PointTable, engine: TwinEngine) -> None:
        self.points = points
        n = len(points)
        bay_breaker = bay_breakers(station)
        branch = np.full(n, -1, dtype=np.intp)
        bus = np.full(n, -1, dtype=np.intp)
        phase = np.full(n, -1, dtype=np.intp)  # 0..2 A..C, 3 N, 4 AB, 5 BC, 6 CA, -1 none
        groups: dict[str, list[int]] = {}
        d = engine.dss
        assets = {a.id: a for a in station.assets}
        for i, (aid, q) in enumerate(zip(points.asset, points.quantity, strict=True)):
            a = assets[aid]
            groups.setdefault(q, []).append(i)
            if points.phase[i] is not None:
                phase[i] = _PHASE_CODE[points.phase[i]]
            br = None
            if a.element and a.element.split(".")[0].lower() in (
                    "line", "transformer", "reactor", "capacitor"):
                br = engine.branch_index(a.element)
            elif a.bay in bay_breaker:
                br = engine.branch_index(bay_breaker[a.bay].element)
            if br is not None:
                branch[i] = br
            b = a.bus
            if b is None and br is not None:
                d.Circuit.SetActiveElement(engine.branch_names[br])
                b = d.CktElement.BusNames()[0].partition(".")[0]
            if b is not None:
                bus[i] = engine.bus_index(b)
        self.branch_of = branch
        self.bus_of = bus
        self.phase_of = phase
        self.groups = {q: np.asarray(r, dtype=np.intp) for q, r in groups.items()}
        rr = [self.groups[q] for q in RESIDUAL_QUANTITIES if q in self.groups]
        self.residual_rows = np.sort(np.concatenate(rr)) if rr else np.empty(0, np.intp)

    def rows(self, quantity: str) -> np.ndarray:
        return self.groups.get(quantity, np.empty(0, dtype=np.intp))

    def fill(self, v: np.ndarray, s: TwinState, frequency_hz: float,
             rocof_hz_s: float = 0.0) -> None:
        """Write every electrical point's reading for state ``s`` into ``v`` (in place)."""
        br, bu, ph = self.branch_of, self.bus_of, self.phase_of
        rows = self.rows
        live_bus = s.energised
        vph = s.v_kv_ln * np.exp(1j * np.radians(np.nan_to_num(s.v_angle_deg)))
        s_ph = np.nan_to_num(s.s_phase_mva)
        i_ph = np.nan_to_num(s.i_phasor)
        i_mag = np.abs(i_ph)

        def per_phase_or_total(q: str, total: np.ndarray, per: np.ndarray) -> None:
            r = rows(q)
            if not len(r):
                return
            b, p = br[r], ph[r]
            ok = b >= 0
            out = np.zeros(len(r))
            tot = ok & (p < 0)
            out[tot] = total[b[tot]]
            sel = ok & (p >= 0) & (p <= 2)
            out[sel] = per[b[sel], p[sel]]
            v[r] = out

        per_phase_or_total("p_mw", s.p_mw, s_ph.real)
        per_phase_or_total("q_mvar", s.q_mvar, s_ph.imag)
        r = rows("current_a")
        if len(r):
            b, p = br[r], ph[r]
            out = np.zeros(len(r))
            ok = b >= 0
            sel = ok & (p >= 0) & (p <= 2)
            out[sel] = i_mag[b[sel], p[sel]]
            neu = ok & (p == 3)
            out[neu] = np.abs(i_ph[b[neu]].sum(axis=1))
            tot = ok & (p < 0)
            out[tot] = i_mag[b[tot]].mean(axis=1)
            v[r] = out
        r = rows("apparent_mva")
        if len(r):
            b = br[r]
            v[r] = np.where(b >= 0, np.abs(s.p_mw[b] + 1j * s.q_mvar[b]), 0.0)
        r = rows("power_factor")
        if len(r):
            b, p = br[r], ph[r]
            sp = np.where((p >= 0) & (p <= 2), s_ph[b, np.clip(p, 0, 2)],
                          s.p_mw[b] + 1j * s.q_mvar[b])
            mag = np.abs(sp)
            v[r] = np.where(mag > 1e-6, sp.real / np.where(mag > 0, mag, 1), 1.0)
        for q, k in (("current_zero_seq_a", 0), ("current_pos_seq_a", 1),
                     ("current_neg_seq_a", 2)):
            r = rows(q)
            if len(r):
                ia, ib, ic = i_ph[br[r]].T
                if k == 0:
                    seq = (ia + ib + ic) / 3
                elif k == 1:
                    seq = (ia + _A * ib + _A * _A * ic) / 3
                else:
                    seq = (ia + _A * _A * ib + _A * ic) / 3
                v[r] = np.abs(seq)
        r = rows("current_angle_deg")
        if len(r):
            v[r] = np.where(i_mag[br[r], 0] > 1e-3, np.degrees(np.angle(i_ph[br[r], 0])), 0.0)
        r = rows("voltage_kv")
        if len(r):
            b, p = bu[r], ph[r]
            out = np.zeros(len(r))
            sel = (p >= 0) & (p <= 2)
            out[sel] = np.abs(vph[b[sel], p[sel]])
            for code, (x, y) in ((4, (0, 1)), (5, (1, 2)), (6, (2, 0))):
                m = p == code
                out[m] = np.abs(vph[b[m], x] - vph[b[m], y])
            tot = p < 0
            out[tot] = np.abs(vph[b[tot]]).mean(axis=1) * math.sqrt(3)
            v[r] = np.where(live_bus[b], out, 0.0)
        r = rows("voltage_angle_deg")
        if len(r):
            v[r] = np.where(live_bus[bu[r]], np.nan_to_num(s.v_angle_deg[bu[r], 0]), 0.0)
        r = rows("voltage_unbalance_pct")
        if len(r):
            va, vb, vc = vph[bu[r]].T
            v1 = np.abs(va + _A * vb + _A * _A * vc) / 3
            v2 = np.abs(va + _A * _A * vb + _A * vc) / 3
            v[r] = np.where(v1 > 1e-6, 100 * v2 / np.where(v1 > 0, v1, 1), 0.0)
        r = rows("frequency_hz")
        if len(r):
            v[r] = np.where(live_bus[bu[r]], frequency_hz, 0.0)
        r = rows("rocof_hz_s")
        if len(r):
            v[r] = np.where(live_bus[bu[r]], rocof_hz_s, 0.0)
        r = rows("energised")
        if len(r):
            v[r] = live_bus[bu[r]].astype(float)
        r = rows("position")
        if len(r):
            v[r] = np.where(s.closed[br[r]], POS_CLOSED, POS_OPEN)
