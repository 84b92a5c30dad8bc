"""From the simulated physics to what the field devices read: every point's value, quality
word and source time.

:class:`Instruments` knows, once per station, where every point's value comes from: the
electrical points from the solved flow (:class:`app.field.electrical.ElectricalPoints`),
quantities derived from it (harmonics, demand, energy registers, differential and bias
currents, arrester leakage), the station's slow or static readings (weather, DC system,
panels, bushings, oil level, surge counters). The equipment models write their own points
(:mod:`app.field.sim.transformers`, :mod:`app.field.sim.switchgear`).

:meth:`Instruments.measure` then adds what instruments do to a true value: noise within the
sensor's accuracy class, clipping at the instrument range (questionable | out of range), and
the injected sensor faults — a drifting reading, a failed sensor (invalid | failure), a stuck
one (its value and time frozen: questionable | old data).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable

import numpy as np

from app.field.electrical import ElectricalPoints
from app.field.sim import profiles
from app.station import Station
from app.station import quality as Q
from app.station.points import KIND_ANALOG, PointTable
from app.twin import TwinEngine, TwinState

# Instrument accuracy: relative (fraction, 1 sigma) or absolute noise per quantity. Where the
# station file gives an instrument transformer's accuracy class (a VT's or CVT's voltages, a
# CT's currents), that wins: sigma = class / 2, so ~95 % of readings fall within the class's
# ratio-error limit (class 0.2: sigma 0.1 %; class 0.5: sigma 0.25 %).
NOISE_REL = {"voltage_kv": 0.001, "current_a": 0.001, "p_mw": 0.002, "q_mvar": 0.002,
             "apparent_mva": 0.002, "leakage_ma": 0.01, "resistive_leakage_ma": 0.02,
             "dc_current_a": 0.005, "differential_current_a": 0.02, "bias_current_a": 0.005,
             "current_pos_seq_a": 0.001, "current_neg_seq_a": 0.02,
             "current_zero_seq_a": 0.02}
_CLASS_MEASURES = {"cvt": "voltage_kv", "vt": "voltage_kv", "ct": "current_a"}

NOISE_ABS = {"frequency_hz": 0.001, "top_oil_c": 0.2, "hot_spot_c": 0.3, "winding_c": 0.3,
             "ambient_c": 0.1, "sf6_pressure_bar": 0.003, "dc_voltage_v": 0.05,
             "panel_temperature_c": 0.2, "battery_temperature_c": 0.1,
             "current_thd_pct": 0.05, "bushing_tan_delta_pct": 0.002,
             "bushing_capacitance_pf": 0.2, "humidity_pct": 0.3, "wind_speed_ms": 0.2,
             "voltage_unbalance_pct": 0.02, "oil_level_pct": 0.1, "unbalance_a": 0.005}

# Status quantities that read 1 in a healthy station (the rest default to 0).
HEALTHY_ONE = {"healthy", "trip_circuit_healthy", "remote_control", "motor_supply_ok",
               "spring_charged", "dc_supply_ok", "ac_supply_ok", "time_sync_ok",
               "vt_mcb_healthy", "charger_healthy", "dc_mcb_healthy", "lt_supply_ok"}

_ENERGY = ("energy_import_mwh", "energy_export_mwh", "energy_import_mvarh",
           "energy_export_mvarh")


def accuracy_class_pct(text: str | None) -> float | None:
    """The metering accuracy class of a nameplate string ("0.2S/5P20" → 0.2), or None."""
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*S?\s*(?:/|$)", text or "")
    return float(m.group(1)) if m else None


class Instruments:
    """Every point's reading: where it comes from, its noise, its range, its sensor faults."""

    def __init__(self, station: Station, points: PointTable, engine: TwinEngine,
                 rng: np.random.Generator) -> None:
        pt, st = points, station
        n = len(pt)
        self.points = pt
        self.rng = rng
        #: Surge counters of the lightning arresters.
        self.surges = {a.id: int(rng.integers(0, 40))
                       for a in st.assets_of_type("lightning_arrester")}
        self.electrical = ElectricalPoints(st, pt, engine)
        self.asset_of_row = [st.asset(a) for a in pt.asset]
        self._groups = self.electrical.groups
        self._defaults = np.array([1.0 if q in HEALTHY_ONE else 0.0 for q in pt.quantity])
        analog = pt.kind == KIND_ANALOG
        self._analog = analog
        self._sigma_rel = np.array([NOISE_REL.get(q, 0.0) for q in pt.quantity]) * analog
        for i, a in enumerate(self.asset_of_row):
            cls = accuracy_class_pct(a.nameplate.accuracy_class)
            if cls is not None and _CLASS_MEASURES.get(a.type) == pt.quantity[i] and analog[i]:
                self._sigma_rel[i] = cls / 100.0 / 2.0
        self._sigma_abs = np.array([NOISE_ABS.get(q, 0.0) for q in pt.quantity]) * analog
        # Per-asset scalar quantities, filled by name each step.
        self._rows_by_asset_q: dict[tuple[str, str], list[int]] = {}
        for i, (a, q) in enumerate(zip(pt.asset, pt.quantity, strict=True)):
            self._rows_by_asset_q.setdefault((a, q), []).append(i)
        # Energy registers (MWh / MVArh), demand maxima, static device constants.
        self._energy = np.zeros(n)
        for q in _ENERGY:
            rows = self._groups.get(q)
            if rows is not None:
                self._energy[rows] = rng.uniform(2e4, 4e5, size=len(rows)).round(1)
        self._demand = np.zeros(n)
        self._thd_base = rng.uniform(1.2, 3.5, size=n)
        self._bushing_c = rng.uniform(420.0, 560.0, size=n)
        self._bushing_td = rng.uniform(0.28, 0.42, size=n)
        self._panel_offset = rng.uniform(5.0, 10.0, size=n)
        self._oil_level = rng.uniform(62.0, 78.0, size=n)
        # Injected sensor faults, by injection key.
        self._frozen_by: dict[str, tuple[int, float, int]] = {}  # key → (row, value, t_ns)
        self._drift_by: dict[str, tuple[int, float, dt.datetime]] = {}  # key → (row, /h, since)
        self._failed_by: dict[str, int] = {}  # key → row
        # Injected plant effects on true values (before noise): scaled readings (a phase
        # off: ``phase_unbalance``), added negative-sequence current, rising THD.
        self._scaled_by: dict[str, tuple[np.ndarray, float]] = {}  # key → (rows, factor)
        self._neg_seq_by: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        self._thd_by: dict[str, tuple[np.ndarray, float, float, dt.datetime]] = {}

    # ------------------------------------------------------------------ look-ups
    def rows(self, asset_id: str, quantity: str) -> list[int]:
        """The point rows of one asset's quantity (several for per-phase points)."""
        return self._rows_by_asset_q.get((asset_id, quantity), [])

    def group(self, quantity: str) -> np.ndarray:
        return self._groups.get(quantity, np.empty(0, dtype=np.intp))

    def set_scalar(self, v: np.ndarray, asset_id: str, quantity: str, value: float) -> None:
        for i in self._rows_by_asset_q.get((asset_id, quantity), ()):
            v[i] = value

    def noise_sigma(self, values: np.ndarray) -> np.ndarray:
        """Each point's 1-sigma instrument noise at these (true or measured) values, in the
        point's unit: the quantity's absolute noise plus its relative noise (or the
        instrument transformer's accuracy class) times the value. 0 for status points."""
        return self._sigma_abs + self._sigma_rel * np.abs(values)

    # ------------------------------------------------------------------ true values
    def electrical_values(self, s: TwinState, dts: float, frequency_hz: float,
                          rocof_hz_s: float) -> np.ndarray:
        """A fresh value array: healthy defaults, every electrical point for state ``s``
        and what derives from the flow (harmonics, demand, energy, differential currents,
        arrester leakage)."""
        v = self._defaults.copy()
        br, bu, ph = (self.electrical.branch_of, self.electrical.bus_of,
                      self.electrical.phase_of)
        live_bus = s.energised
        rows = self.group
        self.electrical.fill(v, s, frequency_hz, rocof_hz_s)
        r = rows("voltage_unbalance_pct")
        if len(r):
            v[r] += 0.15  # the network is balanced; real buses are not quite
        i_ph = np.nan_to_num(s.i_phasor)
        i_mag = np.abs(i_ph)
        r = rows("current_thd_pct")
        if len(r):
            v[r] = np.where(i_mag[br[r], np.clip(ph[r], 0, 2)] > 1.0, self._thd_base[r], 0.0)
        r = rows("demand_current_a")
        if len(r):
            self._demand[r] = np.maximum(self._demand[r], i_mag[br[r]].mean(axis=1))
            v[r] = self._demand[r]
        # Energy registers: export = out of the busbar (P > 0), import = into it.
        if dts > 0:
            h = dts / 3600.0
            for q, src, sign in (("energy_export_mwh", s.p_mw, 1),
                                 ("energy_import_mwh", s.p_mw, -1),
                                 ("energy_export_mvarh", s.q_mvar, 1),
                                 ("energy_import_mvarh", s.q_mvar, -1)):
                r = rows(q)
                if len(r):
                    self._energy[r] += np.maximum(sign * src[br[r]], 0.0) * h
        for q in _ENERGY:
            r = rows(q)
            if len(r):
                v[r] = self._energy[r]
        # Differential / bias currents of the bay's differential relays: CT mismatch ~1 %.
        r = rows("bias_current_a")
        if len(r):
            v[r] = i_mag[br[r], np.clip(ph[r], 0, 2)]
        r = rows("differential_current_a")
        if len(r):
            v[r] = 0.01 * i_mag[br[r], np.clip(ph[r], 0, 2)]
        r = rows("unbalance_a")
        if len(r):
            v[r] = 0.02 + 0.001 * i_mag[br[r]].mean(axis=1)
        r = rows("leakage_ma")
        if len(r):
            vv = np.where(live_bus[bu[r]], np.nanmean(s.v_pu[bu[r]], axis=1), 0.0)
            v[r] = 0.55 * vv ** 6
        r = rows("resistive_leakage_ma")
        if len(r):
            vv = np.where(live_bus[bu[r]], np.nanmean(s.v_pu[bu[r]], axis=1), 0.0)
            v[r] = 0.08 * vv ** 12
        return v

    def station_values(self, v: np.ndarray, ambient_c: float, now: dt.datetime) -> None:
        """The station's own readings: surge counters, weather, DC system, panels,
        batteries, oil levels, bushings."""
        rows = self.group
        for lid, n in self.surges.items():
            self.set_scalar(v, lid, "surge_count", float(n))
        for q, val in (("ambient_c", ambient_c), ("humidity_pct", 78.0 - 1.6 * (ambient_c - 22.0)),
                       ("solar_irradiance_wm2", profiles.solar_wm2(now)),
                       ("wind_speed_ms", 2.5 + 1.5 * math.sin(now.timestamp() / 5400.0)),
                       ("rain_mm_h", 0.0)):
            r = rows(q)
            if len(r):
                v[r] = val
        for q in ("dc_voltage_v", "dc_current_a"):
            for i in rows(q):
                nominal = self.asset_of_row[i].nameplate.rated_kv * 1000
                v[i] = (nominal * (1.09 if nominal > 100 else 1.075)) if q == "dc_voltage_v" \
                    else (12.0 if nominal > 100 else 4.0)
        r = rows("panel_temperature_c")
        if len(r):
            v[r] = ambient_c + self._panel_offset[r]
        r = rows("battery_temperature_c")
        if len(r):
            v[r] = 24.0 + 0.1 * (ambient_c - 28.0)
        r = rows("oil_level_pct")
        if len(r):
            v[r] = self._oil_level[r]
        r = rows("bushing_capacitance_pf")
        if len(r):
            v[r] = self._bushing_c[r]
        r = rows("bushing_tan_delta_pct")
        if len(r):
            v[r] = self._bushing_td[r]

    # ------------------------------------------------------------------ plant effects
    def scale(self, key: str, rows: np.ndarray, factor: float) -> None:
        """Multiply the true values of ``rows`` by ``factor`` (one phase's reading off)."""
        self._scaled_by[key] = (np.asarray(rows, dtype=np.intp), float(factor))

    def add_neg_seq(self, key: str, neg_rows: np.ndarray, pos_rows: np.ndarray,
                    share: float) -> None:
        """Add ``share`` × the positive-sequence current to the negative-sequence rows."""
        self._neg_seq_by[key] = (np.asarray(neg_rows, dtype=np.intp),
                                 np.asarray(pos_rows, dtype=np.intp), float(share))

    def harmonics(self, key: str, rows: np.ndarray, thd_pct: float, ramp_s: float,
                  since: dt.datetime) -> None:
        """Raise the THD of ``rows`` (where current flows) to ``thd_pct`` over ``ramp_s``."""
        self._thd_by[key] = (np.asarray(rows, dtype=np.intp), float(thd_pct), float(ramp_s),
                             since)

    def plant_effects(self, v: np.ndarray, now: dt.datetime) -> None:
        """Apply the injected plant effects to the true values ``v`` in place."""
        for rows, factor in self._scaled_by.values():
            v[rows] *= factor
        for neg, pos, share in self._neg_seq_by.values():
            if len(neg) and len(pos):
                v[neg] += share * float(np.mean(np.abs(v[pos])))
        for rows, target, ramp_s, since in self._thd_by.values():
            el = (now - since).total_seconds()
            frac = min(1.0, max(0.0, el / ramp_s)) if ramp_s > 0 else 1.0
            base = v[rows]
            v[rows] = np.where(base > 0, np.maximum(base, base + (target - base) * frac), 0.0)

    # ------------------------------------------------------------------ measuring
    def measure(self, v: np.ndarray, now: dt.datetime, now_ns: int,
                latched: dict[int, float], sample_times: Callable[[np.ndarray], None]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """True values → (values, quality words, source times) as the instruments give
        them: ``latched`` flags override, noise, range limits, sensor faults."""
        pt = self.points
        # Latched flags (protection operations …) override computed values.
        for i, val in latched.items():
            v[i] = val
        # Instrument noise, then range limits.
        n = len(v)
        noise = self.rng.standard_normal(n)
        v = v + np.where(v != 0.0, noise * self.noise_sigma(v), 0.0)
        qual = np.zeros(n, dtype=np.uint16)
        t_ns = np.full(n, now_ns, dtype=np.int64)
        sample_times(t_ns)
        lo, hi = pt.range_lo, pt.range_hi
        over = self._analog & ~np.isnan(hi) & ((v > hi) | (v < lo))
        if over.any():
            qual[over] |= Q.QUESTIONABLE | Q.OUT_OF_RANGE
            v = np.where(over, np.clip(v, lo, hi), v)
        # Sensor faults.
        for i, rate, started in self._drift_by.values():
            v[i] += rate * (now - started).total_seconds() / 3600.0
        for i in self._failed_by.values():
            qual[i] = Q.SENSOR_FAILED
        frozen: dict[int, tuple[float, int]] = {}
        for i, val, t0 in self._frozen_by.values():
            frozen.setdefault(i, (val, t0))  # the first injection froze it
        for i, (val, t0) in frozen.items():
            v[i] = val
            t_ns[i] = t0
            qual[i] = Q.SENSOR_FROZEN
        return v, qual, t_ns

    # ------------------------------------------------------------------ sensor faults
    def freeze(self, key: str, row: int, value: float, t_ns: int) -> None:
        """Hold a point at ``value`` and source time ``t_ns`` (the first freeze wins)."""
        self._frozen_by[key] = (row, value, t_ns)

    def drift(self, key: str, row: int, rate_per_h: float, since: dt.datetime) -> None:
        """Add ``rate_per_h`` × hours since ``since`` to a point (drifts add up)."""
        self._drift_by[key] = (row, rate_per_h, since)

    def drift_rates(self, row: int) -> list[tuple[str, float]]:
        """(key, rate per hour) of every drift on a point."""
        return [(k, r) for k, (i, r, _) in self._drift_by.items() if i == row]

    @property
    def drifting(self) -> frozenset[int]:
        """The rows drifting now."""
        return frozenset(i for i, _, _ in self._drift_by.values())

    def fail(self, key: str, row: int) -> None:
        """Mark a point's sensor failed (invalid | failure)."""
        self._failed_by[key] = row

    def repair(self, key: str) -> None:
        """End one sensor fault (stuck, drifting or failed), by its key."""
        for held in (self._frozen_by, self._drift_by, self._failed_by, self._scaled_by,
                     self._neg_seq_by, self._thd_by):
            held.pop(key, None)

    def forget_injections(self) -> None:
        """No sensor fault or plant effect at all stays in force."""
        for held in (self._frozen_by, self._drift_by, self._failed_by, self._scaled_by,
                     self._neg_seq_by, self._thd_by):
            held.clear()
