"""The station's oil-filled plant as the simulator keeps it: ICTs, 220/33 kV transformers and
shunt reactors.

For each: the IEC 60076-7 thermal model (:mod:`app.field.sim.thermal`) driven by its loading
and the ambient temperature, the dissolved gases in its oil (:mod:`app.field.sim.dga`, with
any developing fault injected), and for the 220/33 kV transformers the OLTC's automatic
voltage control. :meth:`Transformers.write` turns their state into the points they serve
(loading, temperatures, tap, gases, moisture …).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import zlib
from collections.abc import Callable

import numpy as np

from app.field.sim.dga import GASES, DgaModel
from app.field.sim.thermal import ThermalModel, ThermalParams
from app.station import Asset, Station
from app.twin import TwinEngine, TwinState

#: ``guard(asset_id, failed_quantity_or_None, model) -> bool``: notes an integrator's outcome
#: (the plant logs a model that stops being finite once) and says whether it was finite.
Guard = Callable[..., bool]
#: ``set_scalar(values, asset_id, quantity, value)``: writes one asset's quantity.
SetScalar = Callable[[np.ndarray, str, str, float], None]

AVR_BAND_PU = 0.0125
AVR_DELAY_S = 30.0
TAP_TRAVEL_S = 5.0


def finite_flow(state: TwinState) -> bool:
    """Whether a power flow's flows and totals are finite numbers (a diverged one is not)."""
    return math.isfinite(state.totals.losses_mw) and bool(np.isfinite(state.p_mw).all())


class Transformers:
    """Thermal state, dissolved gases and tap control of every transformer and reactor."""

    def __init__(self, station: Station, engine: TwinEngine, rng: np.random.Generator,
                 ambient_c: float) -> None:
        self.station = station
        self.engine = engine
        self.transformers = list(station.assets_of_type("ict", "transformer"))
        self.reactors = list(station.assets_of_type("reactor"))
        s0 = engine.solve()
        self.thermal: dict[str, ThermalModel] = {}
        self.dga: dict[str, DgaModel] = {}
        for a in self.transformers:
            k = s0.transformer_loading(a.element) / 100.0
            self.thermal[a.id] = ThermalModel(k=k, ambient_c=ambient_c)
            self.dga[a.id] = DgaModel(rng, aged=1.0 + 0.3 * rng.random())
        for a in self.reactors:
            # Shunt reactors run continuously at rated current: designed for lower rises
            # (IEC 60076-6): top-oil 40 K, winding gradient 18 K, hot-spot factor 1.2.
            params = ThermalParams(delta_theta_or_k=40.0, gr_k=18.0, H=1.2, R=1.0)
            self.thermal[a.id] = ThermalModel(params, k=self._reactor_k(a, s0),
                                              ambient_c=ambient_c)
            self.dga[a.id] = DgaModel(rng)
        self.tap_moving_until: dict[str, dt.datetime] = {}
        #: Tap-changer operations since the last overhaul, written to a ``tap_operations``
        #: counter point where the station file has one: a start from the unit's name (not
        #: the random stream, which every other model's start depends on), one per tap move.
        self.tap_ops = {a.id: 2_000 + zlib.crc32(a.id.encode()) % 40_000
                        for a in self.transformers}
        self._avr_timer = dict.fromkeys(self.thermal, 0.0)
        #: Whose OLTC is under automatic voltage control (the 220/33 kV transformers').
        self.avr = {a.id: a.type == "transformer" for a in self.transformers}
        #: Transformers whose cooling stage is lost (``cooling_failure``): injection id by
        #: transformer; their fans/pumps read stopped.
        self.cooling_lost: dict[str, str] = {}
        self._cooling_params: dict[str, ThermalParams] = {}

    # ------------------------------------------------------------------ stepping
    def avr_step(self, state: TwinState, dts: float, now: dt.datetime) -> bool:
        """OLTC automatic voltage control of the 220/33 kV transformers (30 s delay).
        Returns whether a tap moved (the flow must then be solved again)."""
        changed = False
        if not finite_flow(state):
            return False  # a diverged flow measures nothing: the relay holds its tap
        for a in self.transformers:
            if not self.avr[a.id]:
                continue
            lv_bus = self._lv_bus(a)
            if lv_bus is None or not state.energised[lv_bus]:
                self._avr_timer[a.id] = 0.0
                continue
            pu = float(np.nanmean(state.v_pu[lv_bus]))
            if abs(pu - 1.0) <= AVR_BAND_PU:
                self._avr_timer[a.id] = 0.0
                continue
            self._avr_timer[a.id] += dts
            if self._avr_timer[a.id] < AVR_DELAY_S:
                continue
            self._avr_timer[a.id] = 0.0
            tap = self.engine.tap(a.element)
            step = 0.2 / 16
            new = tap + step if pu < 1.0 else tap - step
            try:
                self.engine.set_tap(a.element, round(new, 6))
            except ValueError:
                continue  # at the end stop
            self.tap_moving_until[a.id] = now + dt.timedelta(seconds=TAP_TRAVEL_S)
            self.tap_ops[a.id] += 1
            changed = True
        return changed

    def step(self, state: TwinState, dts: float, ambient_c: float, now_ns: int,
             guard: Guard) -> None:
        """Advance every thermal and gas model ``dts`` seconds at this state's loadings."""
        for a in self.transformers:
            k = state.transformer_loading(a.element) / 100.0
            guard(a.id, self.thermal[a.id].step(dts, k, ambient_c))
            guard(a.id, self.dga[a.id].step(dts, self.thermal[a.id].hot_spot_c, now_ns), "dga")
        for a in self.reactors:
            guard(a.id, self.thermal[a.id].step(dts, self._reactor_k(a, state), ambient_c))
            guard(a.id, self.dga[a.id].step(dts, self.thermal[a.id].hot_spot_c, now_ns), "dga")

    def lose_cooling(self, key: str, asset_id: str, capacity_pct: float) -> None:
        """A cooling stage of ``asset_id`` lost: the thermal model runs at ONAN time
        constants (IEC 60076-7 Table 4: oil 210 min, winding 10 min) with its rating down
        to ``capacity_pct`` % of the full-cooling rating; its fans/pumps read stopped."""
        th = self.thermal[asset_id]
        self._cooling_params[asset_id] = th.p
        th.p = dataclasses.replace(th.p, tau_o_min=210.0, tau_w_min=10.0)
        th.rating_factor = capacity_pct / 100.0
        self.cooling_lost[asset_id] = key

    def restore_cooling(self, asset_id: str) -> None:
        """The cooling of ``asset_id`` back in service."""
        th = self.thermal[asset_id]
        th.p = self._cooling_params.pop(asset_id, th.p)
        th.rating_factor = 1.0
        self.cooling_lost.pop(asset_id, None)

    def forget_dga_faults(self) -> None:
        """Stop every injected fault's gas generation (the gas already made stays)."""
        for model in self.dga.values():
            model.clear()

    # ------------------------------------------------------------------ their points
    def write(self, v: np.ndarray, set_scalar: SetScalar, s: TwinState, ambient_c: float,
              now: dt.datetime) -> None:
        """Write every transformer's and reactor's own points into ``v``."""
        ok = set_scalar
        for a in self.transformers:
            th, dg = self.thermal[a.id], self.dga[a.id]
            ti = s.transformer_ix[a.element.lower()]
            ok(v, a.id, "loading_pct", float(s.transformer_loading_pct[ti]))
            ok(v, a.id, "losses_kw", float(s.transformer_losses_kw[ti]))
            ok(v, a.id, "top_oil_c", th.top_oil_c)
            ok(v, a.id, "hot_spot_c", th.hot_spot_c)
            ok(v, a.id, "winding_c", th.hot_spot_c - 3.0)
            ok(v, a.id, "ambient_c", ambient_c)
            ok(v, a.id, "ageing_rate", th.ageing_rate)
            ok(v, a.id, "loss_of_life_h", th.loss_of_life_h)
            tap = float(s.tap_pu[ti])
            steps = 32 if (a.nameplate.rated_mva or 0) > 100 else 16
            ok(v, a.id, "tap_position", round((tap - 0.9) / (0.2 / steps)) + 1)
            running = th.top_oil_c > 60 and a.id not in self.cooling_lost
            ok(v, a.id, "cooler_running", 1.0 if running else 0.0)
            ok(v, a.id, "avr_auto", 1.0 if self.avr[a.id] else 0.0)
            moving = self.tap_moving_until.get(a.id)
            ok(v, a.id, "tap_changer_moving", 1.0 if moving and moving > now else 0.0)
            ok(v, a.id, "tap_operations", float(self.tap_ops[a.id]))
            for gname, ppm in zip(GASES, dg.sampled, strict=True):
                ok(v, a.id, f"gas_{gname}_ppm", float(ppm))
            ok(v, a.id, "tdcg_ppm", dg.tdcg_ppm())
            ok(v, a.id, "oil_moisture_ppm", dg.moisture_ppm + 0.05 * (th.top_oil_c - 50))
        for a in self.reactors:
            th, dg = self.thermal[a.id], self.dga[a.id]
            ok(v, a.id, "top_oil_c", th.top_oil_c)
            ok(v, a.id, "winding_c", th.hot_spot_c - 3.0)
            for gname, ppm in zip(GASES, dg.sampled, strict=True):
                ok(v, a.id, f"gas_{gname}_ppm", float(ppm))

    def write_sample_times(self, t_ns: np.ndarray,
                           rows: Callable[[str, str], list[int]]) -> None:
        """Gas readings carry the time their oil sample was analysed, not the scan's."""
        for gname in GASES:
            for a_id, dg in self.dga.items():
                for i in rows(a_id, f"gas_{gname}_ppm"):
                    t_ns[i] = dg.sample_time_ns

    # ------------------------------------------------------------------ helpers
    def _lv_bus(self, a: Asset) -> int | None:
        d = self.engine.dss
        d.Circuit.SetActiveElement(a.element)
        buses = d.CktElement.BusNames()
        if len(buses) < 2:
            return None
        return self.engine.bus_index(buses[1].partition(".")[0])

    def _reactor_k(self, a: Asset, state: TwinState) -> float:
        """Load factor of a shunt reactor: its current over rated current."""
        i = state.branch_index(a.element)
        kv = self.station.bay(a.bay).voltage_kv
        rated_a = (a.nameplate.rated_mva or 1.0) * 1e3 / (math.sqrt(3) * kv)
        return float(np.nanmean(state.i_a[i])) / rated_a if state.closed[i] else 0.0
