"""The solver: the twin solved from each scan's measurements (Qt-free; runs in the solver
thread, which owns its engine's OpenDSS context).

Each scan it sets, from *good* measurements only (anything else holds the last value):

* switch states from the breaker / disconnector positions (intermediate holds);
* every load from the bay meter that feeds it, compensated for the twin's own line losses
  so the bay flow matches what was measured;
* each grid equivalent's voltage from its line CVT (a good reading of 0 kV means the remote
  end is open: the infeed is taken out of service);
* OLTC taps from the tap-position indications;

then solves and computes residuals — measured minus what the twin says each electrical point
should read — so a drifting sensor or a model error stands out.

Which meter feeds which load is found from the network, not from names: the breaker whose
opening de-energises that load and the fewest others.

:meth:`SolverService.dead_points` tells the alarm engine which electrical points sit in a
de-energised section (their low alarms are suppressed by design): a voltage-like point when
its bus is dead, a flow-like point when either end of its branch is (a feeder bay whose
breaker opened reads zero current because the bay is dead, not because of a fault).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from app.field.electrical import ElectricalPoints
from app.runtime.snapshot import LiveSnapshot
from app.station import Station
from app.station import quality as Q
from app.station.frame import ScanFrame
from app.station.points import POS_CLOSED, POS_OPEN, PointTable
from app.twin import TwinEngine
from app.twin.state import TwinState

log = logging.getLogger(__name__)

#: Points read at a bus: dead with the bus.
_AT_BUS = ("voltage_kv", "voltage_angle_deg", "voltage_unbalance_pct", "frequency_hz",
           "rocof_hz_s")
#: Points read through a branch: dead when either end of the branch is.
_THROUGH_BRANCH = ("current_a", "p_mw", "q_mvar", "apparent_mva", "power_factor",
                   "current_pos_seq_a", "current_neg_seq_a", "current_zero_seq_a",
                   "current_angle_deg", "demand_current_a")


class SolverService:
    def __init__(self, station: Station, points: PointTable,
                 engine: TwinEngine | None = None, *,
                 circuit_path: str | Path | None = None) -> None:
        """``circuit_path``: the circuit to compile (the active DSS version, see
        :func:`app.historian.active_circuit`); default the station's own circuit file."""
        self.station = station
        self.points = points
        self.engine = engine or TwinEngine(circuit_path or station.circuit_path,
                                           base_frequency_hz=station.station.frequency_hz)
        e = self.engine
        self.electrical = ElectricalPoints(station, points, e)
        el = self.electrical
        tags = points.index

        # Switch positions.
        self._switch = [(tags[f"{a.id}.POS"], a.element) for a in station.switches()
                        if f"{a.id}.POS" in tags and a.element]

        # Loads ← the most specific breaker that feeds each, and that bay's P/Q meter.
        e.solve()
        breakers = [a for a in station.assets_of_type("breaker") if a.element]
        feeds: dict[int, tuple[int, int]] = {}  # load index → (breaker branch, n loads killed)
        for b in breakers:
            if not e.is_closed(b.element):
                continue
            e.set_switch(b.element, False)
            dead = ~e.energised_buses()
            e.set_switch(b.element, True)
            killed = [k for k, bus in enumerate(e.solve().load_bus) if dead[bus]]
            for k in killed:
                if k not in feeds or len(killed) < feeds[k][1]:
                    feeds[k] = (e.branch_index(b.element), len(killed))
        e.solve()
        p_rows = el.rows("p_mw")
        q_rows = el.rows("q_mvar")
        self._loads: list[tuple[int, int, int, int]] = []  # (load k, branch, p row, q row)
        for k, (br, _) in sorted(feeds.items()):
            pr = [i for i in p_rows if el.branch_of[i] == br and el.phase_of[i] < 0]
            qr = [i for i in q_rows if el.branch_of[i] == br and el.phase_of[i] < 0]
            if pr and qr:
                self._loads.append((k, br, int(pr[0]), int(qr[0])))
        unmetered = set(range(len(e.load_names))) - {x[0] for x in self._loads}
        if unmetered:
            log.warning("loads without a bay meter keep their base values: %s",
                        ", ".join(e.load_names[k] for k in sorted(unmetered)))

        # Grid equivalents ← line CVTs (line-to-line, phase AB) where each infeed enters the
        # station (the station end of its line).
        v_rows = el.rows("voltage_kv")
        self._sources: list[tuple[str, int, int]] = []  # (source, bus index, row)
        d = e.dss
        for src in e.source_names:
            bus = e.source_entry_bus(src)
            rows = [i for i in v_rows if el.bus_of[i] == bus and points.phase[i] == "AB"]
            if rows:
                self._sources.append((src, bus, int(rows[0])))
        self._source_pu = dict.fromkeys(e.source_names, 1.0)

        # OLTC taps ← tap position indications.
        self._taps: list[tuple[str, int, float, float]] = []  # (transformer, row, min, step)
        for a in station.assets_of_type("ict", "transformer"):
            tag = f"{a.id}.TAP"
            if tag in tags and a.element:
                T = d.Transformers
                T.Name(a.element.split(".", 1)[1])
                lo, hi, n = T.MinTap(), T.MaxTap(), T.NumTaps()
                self._taps.append((a.element, tags[tag], lo, (hi - lo) / n))

        self._energisation_map()
        self._hz_rows = el.rows("frequency_hz")
        self._load_comp = np.zeros(len(e.load_names), dtype=complex)  # twin bay − load
        self._seq = 0

    def _energisation_map(self) -> None:
        el, d = self.electrical, self.engine.dss
        ends: dict[int, tuple[int, int]] = {}
        rows, bus_a, bus_b = [], [], []
        for i, q in enumerate(self.points.quantity):
            br, bu = int(el.branch_of[i]), int(el.bus_of[i])
            if q in _AT_BUS and bu >= 0:
                rows.append(i)
                bus_a.append(bu)
                bus_b.append(-1)
            elif q in _THROUGH_BRANCH and br >= 0:
                if br not in ends:
                    d.Circuit.SetActiveElement(self.engine.branch_names[br])
                    names = [b.partition(".")[0] for b in d.CktElement.BusNames()]
                    ix = [self.engine.bus_index(n) for n in names[:2]]
                    ends[br] = (ix[0], ix[1] if len(ix) > 1 else -1)
                rows.append(i)
                bus_a.append(ends[br][0])
                bus_b.append(ends[br][1])
        self._ener_rows = np.asarray(rows, dtype=np.intp)
        self._ener_a = np.asarray(bus_a, dtype=np.intp)
        self._ener_b = np.asarray(bus_b, dtype=np.intp)

    def dead_points(self, state: TwinState) -> np.ndarray:
        """Per point: True where the point's section is de-energised in ``state``."""
        out = np.zeros(len(self.points), dtype=bool)
        if state is None or not len(self._ener_rows):
            return out
        en = np.asarray(state.energised, dtype=bool)
        a, b = self._ener_a, self._ener_b
        dead = ~en[a] | ((b >= 0) & ~en[np.maximum(b, 0)])
        out[self._ener_rows] = dead
        return out

    # ------------------------------------------------------------------
    def solve(self, frame: ScanFrame) -> LiveSnapshot:
        e = self.engine
        v, q = frame.values, frame.quality
        good = (q & Q.VALIDITY_MASK) == Q.GOOD

        for row, element in self._switch:
            if good[row]:
                pos = int(round(v[row]))
                if pos == POS_CLOSED:
                    e.set_switch(element, True)
                elif pos == POS_OPEN:
                    e.set_switch(element, False)

        for k, _br, pr, qr in self._loads:
            if good[pr] and good[qr]:
                s = complex(v[pr], v[qr]) - self._load_comp[k]
                e.set_load(e.load_names[k], max(s.real, 0.0), s.imag)

        for src, _bus, row in self._sources:
            if not good[row]:
                continue
            kv = float(v[row])
            if kv < 1.0:
                e.set_source_in_service(src, False)
            else:
                e.set_source_in_service(src, True)

        for element, row, lo, step in self._taps:
            if good[row]:
                tap = lo + (round(v[row]) - 1) * step
                try:
                    e.set_tap(element, round(tap, 6))
                except ValueError:
                    pass  # an implausible tap reading: keep the last one

        hz = frame.values[self._hz_rows]
        hz_ok = good[self._hz_rows] & (hz > 40)
        e.set_frequency(float(np.median(hz[hz_ok])) if hz_ok.any() else e.frequency_hz)

        state = e.solve(frame.t_acquired)
        # Grid voltages: correct each infeed towards its measured line voltage.
        changed = False
        for src, bus, row in self._sources:
            if good[row] and v[row] >= 1.0 and state.energised[bus]:
                twin_kv = float(np.nanmean(state.v_pu[bus])) * float(state.bus_base_kv[bus])
                if twin_kv > 1.0 and abs(v[row] - twin_kv) > 0.05:
                    pu = self._source_pu[src] * float(v[row]) / twin_kv
                    if 0.5 < pu < 1.5:
                        self._source_pu[src] = pu
                        e.set_source(src, pu=pu)
                        changed = True
        if changed:
            state = e.solve(frame.t_acquired)

        # Line-loss compensation for next scan: twin bay flow minus twin load.
        for k, br, _pr, _qr in self._loads:
            bay = complex(state.p_mw[br], state.q_mvar[br])
            load = complex(state.load_p_mw[k], state.load_q_mvar[k])
            if state.energised[state.load_bus[k]]:
                self._load_comp[k] = bay - load

        twin_vals = np.zeros(len(self.points))
        self.electrical.fill(twin_vals, state, e.frequency_hz)
        residual = np.full(len(self.points), np.nan)
        rr = self.electrical.residual_rows
        ok = good[rr]
        residual[rr[ok]] = v[rr[ok]] - twin_vals[rr[ok]]
        residual.setflags(write=False)
        self._seq += 1
        return LiveSnapshot(seq=self._seq, frame=frame, twin=state, residual=residual)
