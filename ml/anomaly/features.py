"""Per-asset anomaly features from one scan: named, unit-carrying, vectorised.

:class:`FeatureExtractor` is built once from the station and its point table. It groups the
station's assets into *asset classes* and gives each class a fixed feature vector
(:data:`CLASS_FEATURES`): the same names, units and order on every station, so a model
trained on one station (or federated over many) scores another.

================  ===============================================================  ==========
class             scored assets (and the instruments their features come from)     example
================  ===============================================================  ==========
``transformer``   ICTs and power transformers (own points, the bay's CT)            ICT1, TR1
``bay``           lines and feeders (own points, the bay's CT and CVT); bays with   F1_LINE,
                  a CT and no other scored asset (couplers, sections, transformer   BC4_CT
                  LV bays), scored as their CT
``busbar``        busbars (own points, the CVT on the same bus)                     B400_M1
``breaker``       circuit breakers (own points)                                     L1_Q0
``reactor``       shunt reactors (own points, the bay's CT)                         BR4_R
``capacitor_bank`` capacitor banks (own points, the bay's CT)                       CB1_C
================  ===============================================================  ==========

Every feature is documented in :data:`CLASS_FEATURES` (name, unit, resolution, meaning). The
names carry the unit (``_pct``, ``_c``, ``_ppm_day`` …); ``resolution`` is the smallest change
that means something in that unit (a scale floor for the models).

**Quality.** A value whose IEC 61850 validity is not *good*, or that is flagged old, test or
operator-blocked, is never used: it becomes NaN, and so does every feature computed from it.
Per unit and feature, :class:`ClassFeatures` says whether the feature is *available* (the
asset has the instruments, the state makes it meaningful — a current imbalance needs current,
a model temperature needs the caller's model value) and whether it is *valid* (available and
computed from good values). Models impute missing features, leave them out of explanations,
and lower their confidence (:mod:`ml.anomaly.models`). A unit the extractor cannot score at
all (de-energised, switched out, no load) carries a reason instead.

**Rates** need history: the caller owns one :class:`FeatureHistory` per live stream (made by
:meth:`FeatureExtractor.new_history`) and passes it with every scan, in time order. Rates are
least-squares slopes of bucket means over a window, not scan-to-scan differences:

* fast (per minute): 10 s buckets over 5 minutes — loading and temperatures (not voltage:
  a normal OLTC tap step makes a voltage rate spike for a whole window; the voltage level
  feature carries voltage deviation);
* slow (per day): 2 min buckets over 1 hour — SF6 density, contact wear, bushing tan δ;
* DGA (ppm/day): each new oil sample (a new source time on the gas points) over the last
  24 hours, needing two samples at least 4 hours apart.

A rate is NaN (missing) until its window holds three buckets spanning 40 % of it, when its
newest bucket is older than a quarter of the window, and whenever the quantity itself is
missing in this scan (a rate of something not seen now — comm lost, sensor failed — is not
fed as good).

**Model values** (``extra``): per asset, the caller may pass the IEC 60076-7 thermal model's
temperatures for the actual load and ambient (``extra={"ICT1": {"hot_spot_model_c": 78.2,
"top_oil_model_c": 61.0}}``); the measured-minus-model features are available only then.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from app.station import Station
from app.station import quality as Q
from app.station.frame import ScanFrame
from app.station.model import Asset
from app.station.points import KIND_ANALOG, PointTable

ASSET_CLASSES = ("transformer", "bay", "busbar", "breaker", "reactor", "capacitor_bank")

#: Keys of the caller's per-asset model values (``extra``).
EXTRA_HOT_SPOT_MODEL = "hot_spot_model_c"
EXTRA_TOP_OIL_MODEL = "top_oil_model_c"

GASES = ("h2", "ch4", "c2h6", "c2h4", "c2h2", "co", "co2")
#: Resolution of each gas level: about what an on-line DGA monitor resolves (ppm); a healthy
#: unit's slow, normal accumulation stays within a few of these over weeks.
_GAS_RES = {"h2": 5.0, "ch4": 2.0, "c2h6": 2.0, "c2h4": 2.0, "c2h2": 0.5, "co": 10.0,
            "co2": 50.0}

#: Values with any of these flags are not used even when their validity is good.
UNUSABLE_FLAGS = Q.OLD_DATA | Q.TEST | Q.OPERATOR_BLOCKED

#: A unit carries load when its mean phase current is at least this share of its rating
#: (and at least ``MIN_CURRENT_A``): below it imbalance, THD and PF mean nothing.
LOADED_FRACTION = 0.02
MIN_CURRENT_A = 2.0
#: Below this share of nominal voltage a bus or bay is de-energised.
DEAD_PU = 0.2

FAST_BUCKET_S, FAST_WINDOW_S = 10.0, 300.0
SLOW_BUCKET_S, SLOW_WINDOW_S = 120.0, 3600.0
DGA_WINDOW_S, DGA_MIN_SPAN_S, DGA_RING = 86_400.0, 4 * 3600.0, 48
#: A rate needs this many buckets spanning this share of its window, the newest of them
#: within this share of the window of now.
MIN_BUCKETS, MIN_SPAN_FRACTION, MAX_AGE_FRACTION = 3, 0.4, 0.25


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    unit: str
    resolution: float
    """The smallest meaningful change, in ``unit`` (a floor for scales)."""
    doc: str
    relative: bool = True
    """Judged against each asset's own normal (its training distribution): True for levels
    that differ between healthy assets (a coupler's power factor, a bus's usual voltage,
    a breaker's SF6 filling); False for quantities that accumulate in healthy service (gas
    levels, contact wear) and for rates, judged against the class."""


def _f(name: str, unit: str, resolution: float, doc: str, relative: bool | None = None
       ) -> Feature:
    if relative is None:
        relative = not any(w in name for w in ("_rate_", "_trend_"))
    return Feature(name, unit, resolution, doc, relative)


_V_DEV = _f("voltage_dev_pct", "%", 0.1,
            "mean phase-to-neutral voltage against the bay's nominal (kV/√3): (V/Vn − 1)·100; "
            "from phase-to-phase voltages when no phase voltage is measured")
_V_UNB = _f("voltage_unbalance_pct", "%", 0.05,
            "largest phase voltage deviation from the three-phase mean, % of the mean")
_LOADING = _f("loading_pct", "%", 0.5, "mean phase current, % of the rated current")
_I_IMB = _f("current_imbalance_pct", "%", 0.2,
            "largest phase current deviation from the three-phase mean, % of the mean "
            "(available when loaded)")
_I_NEG = _f("current_neg_seq_pct", "%", 0.2,
            "negative- over positive-sequence current (CT's I2/I1), % (available when loaded)")
_THD = _f("thd_max_pct", "%", 0.1, "worst phase current THD, % (available when loaded)")
_PF = _f("power_factor_abs", "", 0.005,
         "|power factor| of the bay (sign is flow direction) (available when loaded)")
_V_RES = _f("voltage_residual_pct", "%", 0.05,
            "mean of measured − twin over the unit's voltage points, % of nominal")
_I_RES = _f("current_residual_pct", "%", 0.2,
            "mean of measured − twin over the unit's current points, % of rated current")
_P_RES = _f("p_residual_pct", "%", 0.2,
            "active power measured − twin, % of the rated MVA (√3·Vn·Ir)")
_Q_RES = _f("q_residual_pct", "%", 0.2, "reactive power measured − twin, % of the rated MVA")
_LOAD_RATE = _f("loading_rate_pct_min", "%/min", 0.1,
                "rate of change of loading_pct over 5 minutes")
_TOP_OIL = _f("top_oil_c", "degC", 0.5, "top-oil temperature")
_TOP_RISE = _f("top_oil_rise_k", "K", 0.5, "top-oil temperature over ambient")
_TOP_EXC = _f("top_oil_excess_c", "degC", 0.5,
              "measured − IEC 60076-7 model top-oil temperature for the actual load "
              "(available when the caller gives top_oil_model_c)")
_TOP_RATE = _f("top_oil_rate_c_min", "degC/min", 0.02,
               "rate of change of top-oil temperature over 5 minutes")
_WINDING = _f("winding_c", "degC", 0.5, "winding temperature indicator (WTI)")


def _gas_features() -> tuple[Feature, ...]:
    lv = tuple(_f(f"gas_{g}_ppm", "ppm", _GAS_RES[g], f"dissolved {g.upper()} (last oil sample)",
                  relative=False) for g in GASES)
    rt = tuple(_f(f"gas_{g}_rate_ppm_day", "ppm/day", _GAS_RES[g] / 2,
                  f"{g.upper()} generation rate over the oil samples of the last 24 h")
               for g in GASES)
    return lv + rt


#: The fixed feature vector of each asset class, in order.
CLASS_FEATURES: Mapping[str, tuple[Feature, ...]] = MappingProxyType({
    "transformer": (
        _f("loading_pct", "%", 0.5, "transformer loading, % of rated MVA"),
        _TOP_OIL,
        _f("hot_spot_c", "degC", 0.5, "winding hot-spot temperature"),
        _WINDING,
        _TOP_RISE,
        _f("hot_spot_excess_c", "degC", 0.5,
           "measured − IEC 60076-7 model hot-spot temperature for the actual load "
           "(available when the caller gives hot_spot_model_c)"),
        _TOP_EXC,
        _f("hot_spot_rate_c_min", "degC/min", 0.05,
           "rate of change of hot-spot temperature over 5 minutes"),
        _TOP_RATE,
        _LOAD_RATE,
        _V_DEV,
        _I_IMB,
        _I_NEG,
        _THD,
        _I_RES,
        *_gas_features(),
        _f("oil_moisture_ppm", "ppm", 0.2, "water in oil"),
        _f("bushing_tan_delta_max_pct", "%", 0.01,
           "worst bushing dissipation factor (tan δ) of the on-line bushing monitor"),
        _f("bushing_tan_delta_rate_pct_day", "%/day", 0.01,
           "rate of change of the worst bushing tan δ over 1 hour"),
    ),
    "bay": (_V_DEV, _V_UNB, _LOADING, _I_IMB, _I_NEG, _THD, _PF, _V_RES, _I_RES, _P_RES,
            _LOAD_RATE),
    "busbar": (
        _V_DEV, _V_UNB,
        _f("voltage_neg_seq_pct", "%", 0.02, "negative-sequence voltage unbalance (CVT's V2)"),
        _f("frequency_dev_hz", "Hz", 0.005, "frequency − the station's nominal frequency"),
        _f("rocof_hz_s", "Hz/s", 0.005, "rate of change of frequency"),
        _V_RES,
    ),
    "breaker": (
        _f("sf6_pressure_bar", "bar", 0.005, "SF6 gas density (pressure at 20 °C)"),
        _f("sf6_trend_bar_day", "bar/day", 0.01, "SF6 density trend over 1 hour"),
        _f("contact_wear_pct", "%", 0.1, "contact wear, % of the wear allowance",
           relative=False),
        _f("contact_wear_rate_pct_day", "%/day", 0.01, "contact wear trend over 1 hour"),
    ),
    "reactor": (
        _f("loading_pct", "%", 0.5, "mean phase current, % of the rated current (MVAr)"),
        _I_IMB, _THD, _V_DEV, _TOP_OIL, _WINDING, _TOP_RISE, _TOP_EXC, _TOP_RATE, _Q_RES,
        *_gas_features(),
    ),
    "capacitor_bank": (
        _f("output_pct", "%", 0.5, "|reactive output|, % of the rated MVAr"),
        _V_DEV, _I_IMB,
        _f("neutral_unbalance_pct", "%", 0.05,
           "neutral unbalance current, % of the mean phase current"),
        _THD, _Q_RES,
    ),
})

# Raw inputs ("slots") by name: the (quantity, phase) keys looked up in a unit's source
# assets, first source that has any of them wins. "*" takes every point of the quantity.
_PH = ("A", "B", "C")
_SLOTS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "v_ln": tuple(("voltage_kv", p) for p in _PH),
    "v_ll": tuple(("voltage_kv", p) for p in ("AB", "BC", "CA")),
    "v": (("voltage_kv", None),),
    "i_ph": tuple(("current_a", p) for p in _PH),
    "i_1": (("current_pos_seq_a", None),),
    "i_2": (("current_neg_seq_a", None),),
    "thd": tuple(("current_thd_pct", p) for p in _PH),
    "pf": (("power_factor", None),),
    "p": (("p_mw", None),),
    "q": (("q_mvar", None),),
    "hz": (("frequency_hz", None),),
    "rocof": (("rocof_hz_s", None),),
    "v2": (("voltage_unbalance_pct", None),),
    "loading": (("loading_pct", None),),
    "top_oil": (("top_oil_c", None),),
    "hot_spot": (("hot_spot_c", None),),
    "winding": (("winding_c", None),),
    "ambient": (("ambient_c", None),),
    "gas": tuple((f"gas_{g}_ppm", None) for g in GASES),
    "moisture": (("oil_moisture_ppm", None),),
    "tan_delta": (("bushing_tan_delta_pct", "*"),),
    "sf6": (("sf6_pressure_bar", None),),
    "wear": (("contact_wear_pct", None),),
    "unbal": (("unbalance_a", None),),
}

#: Rate features: (class, source feature, rate feature, window, seconds per rate unit).
_RATES = (
    ("transformer", "hot_spot_c", "hot_spot_rate_c_min", "fast", 60.0),
    ("transformer", "top_oil_c", "top_oil_rate_c_min", "fast", 60.0),
    ("transformer", "loading_pct", "loading_rate_pct_min", "fast", 60.0),
    ("transformer", "bushing_tan_delta_max_pct", "bushing_tan_delta_rate_pct_day", "slow",
     86_400.0),
    ("bay", "loading_pct", "loading_rate_pct_min", "fast", 60.0),
    ("breaker", "sf6_pressure_bar", "sf6_trend_bar_day", "slow", 86_400.0),
    ("breaker", "contact_wear_pct", "contact_wear_rate_pct_day", "slow", 86_400.0),
    ("reactor", "top_oil_c", "top_oil_rate_c_min", "fast", 60.0),
)
_DGA_CLASSES = ("transformer", "reactor")


def feature_names(cls: str) -> tuple[str, ...]:
    return tuple(f.name for f in CLASS_FEATURES[cls])


def spec_fingerprint() -> str:
    """sha256 over every class's feature names and units (what a model must match)."""
    h = hashlib.sha256()
    for cls in ASSET_CLASSES:
        h.update(cls.encode())
        for f in CLASS_FEATURES[cls]:
            h.update(f"{f.name}|{f.unit};".encode())
    return h.hexdigest()


def usable_mask(quality: np.ndarray) -> np.ndarray:
    """Values that may be fed to a model: validity good and not old, test or blocked."""
    q = np.asarray(quality)
    return ((q & Q.VALIDITY_MASK) == Q.GOOD) & ((q & UNUSABLE_FLAGS) == 0)


@dataclass(frozen=True, slots=True)
class Unit:
    """One scored asset."""

    asset: str
    cls: str
    bay: str
    nominal_kv: float
    """The bay's nominal system voltage (line-to-line)."""
    rated_a: float
    """Rated current used for loading and residual percentages (NaN when unknown)."""
    sources: tuple[str, ...]
    """Assets whose points feed its features, in precedence order."""


@dataclass(frozen=True, slots=True, eq=False)
class ClassFeatures:
    """One asset class's features for one scan (read-only arrays)."""

    cls: str
    assets: tuple[str, ...]
    values: np.ndarray
    """(units, features) float64; NaN where missing."""
    available: np.ndarray
    """(units, features) bool: the feature applies (instruments present, state allows)."""
    reasons: tuple[str | None, ...]
    """Why a unit cannot be scored at all this scan (de-energised …), else None."""

    @property
    def valid(self) -> np.ndarray:
        return self.available & np.isfinite(self.values)

    def row(self, asset_id: str) -> int:
        try:
            return self.assets.index(asset_id)
        except ValueError:
            raise KeyError(f"asset '{asset_id}' is not in class {self.cls}") from None


@dataclass(frozen=True, slots=True, eq=False)
class FeatureLayout:
    """Where every scored unit's features sit in a frame's padded matrix: unit k is row k,
    its class's features in columns 0 … d−1 (the rest NaN, not available). Units of a class
    are contiguous, classes in :data:`ASSET_CLASSES` order. One per extractor."""

    assets: tuple[str, ...]
    classes: tuple[str, ...]
    """The class of each row."""
    slices: Mapping[str, slice]
    """Rows of each class."""
    width: Mapping[str, int]
    """Feature count of each class."""

    @property
    def max_width(self) -> int:
        return max(self.width.values())


@dataclass(frozen=True, slots=True, eq=False)
class FeatureFrame:
    """Every scored unit's features for one scan: padded matrices over all units (what the
    models score in one pass) and, per class, views of them."""

    t_s: float
    """Scan time, seconds since the Unix epoch (UTC)."""
    classes: Mapping[str, ClassFeatures]
    layout: FeatureLayout
    values: np.ndarray
    """(units, max features) float64, NaN where missing or padding; read-only."""
    available: np.ndarray
    """(units, max features) bool; read-only."""
    reasons: tuple[str | None, ...]
    """Per unit: why the extractor cannot score it this scan, else None."""
    scorable: np.ndarray
    """Per unit: ``reasons[k] is None`` (read-only bool array)."""

    def of(self, asset_id: str) -> tuple[ClassFeatures, int]:
        for cf in self.classes.values():
            if asset_id in cf.assets:
                return cf, cf.assets.index(asset_id)
        raise KeyError(f"asset '{asset_id}' is not scored")


class _Window:
    """Least-squares slope of bucket means over a sliding time window, per column."""

    def __init__(self, n: int, bucket_s: float, window_s: float) -> None:
        self.bucket_s, self.window_s = bucket_s, window_s
        nb = int(round(window_s / bucket_s)) + 1
        self.ring_y = np.full((nb, n), np.nan)
        self.ring_t = np.full(nb, np.nan)
        self.pos = 0
        self.cur_b: int | None = None
        self.cur_sum = np.zeros(n)
        self.cur_cnt = np.zeros(n)
        self.cur_tsum = 0.0
        self.cur_tcnt = 0
        self.last_t = -math.inf
        self.rate = np.full(n, np.nan)  # per second

    def push(self, t: float, y: np.ndarray) -> np.ndarray:
        if t < self.last_t:  # time went backwards: start again
            self.__init__(len(self.cur_sum), self.bucket_s, self.window_s)
        self.last_t = t
        b = int(t // self.bucket_s)
        if self.cur_b is not None and b != self.cur_b:
            self._close(t)
        self.cur_b = b
        ok = np.isfinite(y)
        self.cur_sum += np.where(ok, y, 0.0)
        self.cur_cnt += ok
        self.cur_tsum += t
        self.cur_tcnt += 1
        return self.rate

    def _close(self, t_now: float) -> None:
        with np.errstate(invalid="ignore", divide="ignore"):
            self.ring_y[self.pos] = np.where(self.cur_cnt > 0, self.cur_sum / self.cur_cnt,
                                             np.nan)
        self.ring_t[self.pos] = self.cur_tsum / max(self.cur_tcnt, 1)
        self.pos = (self.pos + 1) % len(self.ring_t)
        self.cur_sum[:] = 0.0
        self.cur_cnt[:] = 0.0
        self.cur_tsum, self.cur_tcnt = 0.0, 0
        self.rate = _slope(self.ring_t, self.ring_y, t_now - self.window_s,
                           MIN_BUCKETS, MIN_SPAN_FRACTION * self.window_s,
                           fresh_after=t_now - MAX_AGE_FRACTION * self.window_s)


def _slope(t: np.ndarray, y: np.ndarray, t_from: float, min_n: int, min_span: float,
           fresh_after: float = -math.inf) -> np.ndarray:
    """Per column of ``y`` (rows at times ``t``, one time per row or per element):
    least-squares slope over rows since ``t_from`` with a finite value; NaN with fewer than
    ``min_n``, a span below ``min_span``, or no value after ``fresh_after``."""
    tt = t[:, None] if t.ndim == 1 else t
    m = np.isfinite(y) & (np.isfinite(tt) & (tt >= t_from))
    n = m.sum(0)
    tz = np.where(m, tt - t_from, 0.0)
    yz = np.where(m, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tm = tz.sum(0) / n
        ym = yz.sum(0) / n
        dt_ = np.where(m, tz - tm, 0.0)
        sxx = (dt_ * dt_).sum(0)
        sxy = (dt_ * (yz - ym)).sum(0)
        slope = sxy / sxx
        newest = np.where(m, tz, -np.inf).max(0)
        span = newest - np.where(m, tz, np.inf).min(0)
    ok = (n >= min_n) & (span >= min_span) & (sxx > 0) & (newest + t_from >= fresh_after)
    return np.where(ok, slope, np.nan)


class _DgaWindow:
    """Per gas point: the last oil samples (time, ppm) and their ppm/day slope."""

    def __init__(self, n: int) -> None:
        self.t = np.full((n, DGA_RING), np.nan)
        self.y = np.full((n, DGA_RING), np.nan)
        self.pos = np.zeros(n, dtype=np.intp)
        self.last_src = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        self.last_val = np.full(n, np.nan)
        self.rate = np.full(n, np.nan)  # per second

    def push(self, t_s: float, vals: np.ndarray, t_src_ns: np.ndarray | None) -> np.ndarray:
        ok = np.isfinite(vals)
        if t_src_ns is not None:
            new = ok & (t_src_ns != self.last_src)
        else:
            new = ok & (vals != self.last_val)
        if not new.any():
            return self.rate
        rows = np.nonzero(new)[0]
        if t_src_ns is not None:
            self.last_src[rows] = t_src_ns[rows]
            ts = t_src_ns[rows] / 1e9
            # An unknown (0) or implausible source time: the scan's time.
            ts = np.where((t_src_ns[rows] > 0) & (np.abs(ts - t_s) < 30 * 86_400), ts, t_s)
        else:
            ts = np.full(len(rows), t_s)
        self.last_val[rows] = vals[rows]
        p = self.pos[rows]
        self.t[rows, p] = ts
        self.y[rows, p] = vals[rows]
        self.pos[rows] = (p + 1) % DGA_RING
        sub_t, sub_y = self.t[rows].T, self.y[rows].T
        latest = np.nanmax(sub_t, axis=0)
        # Slope per row over its own last 24 h: shift each column's times to its window.
        shifted = sub_t - (latest - DGA_WINDOW_S)[None, :]
        self.rate[rows] = _slope(shifted, np.where(shifted >= 0, sub_y, np.nan), 0.0, 2,
                                 DGA_MIN_SPAN_S)
        return self.rate


class FeatureHistory:
    """What rates need from earlier scans; the caller keeps one per live stream."""

    def __init__(self, n_fast: int, n_slow: int, n_dga: int) -> None:
        self.fast = _Window(n_fast, FAST_BUCKET_S, FAST_WINDOW_S)
        self.slow = _Window(n_slow, SLOW_BUCKET_S, SLOW_WINDOW_S)
        self.dga = _DgaWindow(n_dga)

    def copy(self) -> FeatureHistory:
        """An independent copy (to branch a stream, e.g. to replay a what-if)."""
        return copy.deepcopy(self)


#: Every feature name of every class, once: the columns of the per-scan feature bank.
_BANK: tuple[str, ...] = tuple(dict.fromkeys(
    n for cls in ASSET_CLASSES for n in feature_names(cls)))
_BCOL = {n: j for j, n in enumerate(_BANK)}
#: Classes whose units are "de-energised" below DEAD_PU, and the idle reason of the others.
_DEAD_CLASSES = ("bay", "busbar", "transformer")
_IDLE_REASON = {"bay": "no load (bay open or idle)", "reactor": "switched out",
                "capacitor_bank": "switched out"}


@dataclass(frozen=True, slots=True, eq=False)
class _ClassPlan:
    cls: str
    start: int
    stop: int
    """The class's units are units[start:stop] of the extractor."""
    assets: tuple[str, ...]
    names: tuple[str, ...]
    cols: np.ndarray
    """Bank column of each feature."""
    struct: np.ndarray
    """(units, features): the unit has the instruments for the feature."""


class FeatureExtractor:
    """Maps a scan to per-asset features; built once per station and point table.

    Thread-safe for concurrent :meth:`extract` calls with different histories (it holds
    no per-scan state). One scan of the whole station is one pass of vectorised numpy over
    every scored unit at once (a "bank" of every feature name), then sliced per class.
    """

    def __init__(self, station: Station, points: PointTable) -> None:
        self.station = station
        self.points = points
        self._n = len(points)
        self._freq_nominal_hz = float(station.station.frequency_hz)
        self._row_of: dict[tuple[str, str, str | None], int] = {}
        self._rows_of_q: dict[tuple[str, str], list[int]] = {}
        analog = points.kind == KIND_ANALOG
        for i, (a, q, ph) in enumerate(zip(points.asset, points.quantity, points.phase,
                                           strict=True)):
            if not analog[i]:
                continue
            self._row_of.setdefault((a, q, ph), i)
            self._rows_of_q.setdefault((a, q), []).append(i)
        found = self._units(station)
        units = [u for cls in ASSET_CLASSES for u in found if u.cls == cls]
        self.units: tuple[Unit, ...] = tuple(units)
        self._unit_index = {u.asset: k for k, u in enumerate(units)}
        self._resolve_slots()
        self._unit_constants()
        needs = self._needs()
        self.plans: dict[str, _ClassPlan] = {}
        for cls in ASSET_CLASSES:
            ks = [k for k, u in enumerate(units) if u.cls == cls]
            if not ks:
                continue
            cols = np.array([_BCOL[n] for n in feature_names(cls)], dtype=np.intp)
            struct = needs[ks[0]:ks[-1] + 1][:, cols]
            struct.setflags(write=False)
            self.plans[cls] = _ClassPlan(cls, ks[0], ks[-1] + 1, tuple(units[k].asset for k in ks),
                                         feature_names(cls), cols, struct)
        self._build_rates()
        self._build_layout()

    # ------------------------------------------------------------------ set-up
    def _units(self, st: Station) -> list[Unit]:
        by_bay: dict[str, list] = {}
        for a in st.assets:
            by_bay.setdefault(a.bay, []).append(a)
        env = [a.id for a in st.assets if a.type == "station"
               and any(p.quantity == "ambient_c" for p in a.points)]
        units: list[Unit] = []
        claimed: set[str] = set()

        def bay_kv(a: Asset) -> float:
            try:
                return float(st.bay(a.bay).voltage_kv)
            except KeyError:
                return float(a.nameplate.rated_kv)

        def instruments(bay: str, *types: str) -> list[str]:
            return [x.id for t in types for x in by_bay.get(bay, []) if x.type == t]

        def ct_rated(bay: str) -> float:
            for x in by_bay.get(bay, []):
                if x.type == "ct" and x.nameplate.rated_a:
                    return float(x.nameplate.rated_a)
            return math.nan

        def shunt_rated_a(a: Asset) -> float:
            mva = a.nameplate.rated_mva
            return mva * 1000.0 / (math.sqrt(3.0) * bay_kv(a)) if mva else math.nan

        for a in st.assets:
            kv = bay_kv(a)
            if a.type in ("ict", "transformer"):
                units.append(Unit(a.id, "transformer", a.bay, kv, shunt_rated_a(a),
                                  (a.id, *instruments(a.bay, "ct"), *env)))
                claimed.add(a.bay)
            elif a.type in ("line", "feeder"):
                rated = float(a.nameplate.rated_a) if a.nameplate.rated_a else ct_rated(a.bay)
                units.append(Unit(a.id, "bay", a.bay, kv, rated,
                                  (a.id, *instruments(a.bay, "cvt", "ct"))))
                claimed.add(a.bay)
            elif a.type == "busbar":
                cvts = [x.id for x in st.assets if x.type == "cvt" and x.bus == a.bus]
                units.append(Unit(a.id, "busbar", a.bay, kv, math.nan, (a.id, *cvts)))
            elif a.type == "breaker":
                units.append(Unit(a.id, "breaker", a.bay, kv, float(a.nameplate.rated_a or
                                                                    math.nan), (a.id,)))
            elif a.type == "reactor":
                units.append(Unit(a.id, "reactor", a.bay, kv, shunt_rated_a(a),
                                  (a.id, *instruments(a.bay, "ct"), *env)))
                claimed.add(a.bay)
            elif a.type == "capacitor_bank":
                units.append(Unit(a.id, "capacitor_bank", a.bay, kv, shunt_rated_a(a),
                                  (a.id, *instruments(a.bay, "ct"))))
                claimed.add(a.bay)
        for b in st.bays:
            if b.id in claimed:
                continue
            for ct in (x for x in by_bay.get(b.id, []) if x.type == "ct"):
                units.append(Unit(ct.id, "bay", b.id, float(b.voltage_kv),
                                  float(ct.nameplate.rated_a or math.nan),
                                  (ct.id, *instruments(b.id, "cvt"))))
                break
        return units

    def _resolve(self, sources: Sequence[str], keys: tuple[tuple[str, str | None], ...]
                 ) -> list[int]:
        for a in sources:
            if keys[0][1] == "*":
                rows = self._rows_of_q.get((a, keys[0][0]), [])
                if rows:
                    return list(rows)
                continue
            rows = [self._row_of.get((a, q, ph), -1) for q, ph in keys]
            if any(r >= 0 for r in rows):
                return rows
        return []

    def _resolve_slots(self) -> None:
        sentinel = self._n
        self._slot: dict[str, np.ndarray] = {}
        for slot, keys in _SLOTS.items():
            found = [self._resolve(u.sources, keys) for u in self.units]
            width = max(1, max(len(f) for f in found)) if keys[0][1] == "*" else len(keys)
            arr = np.full((len(self.units), width), sentinel, dtype=np.intp)
            for k, rows in enumerate(found):
                for j, r in enumerate(rows):
                    if r >= 0:
                        arr[k, j] = r
            self._slot[slot] = arr

    def _has(self, slot: str) -> np.ndarray:
        return (self._slot[slot] != self._n).any(axis=1)

    def _has_all(self, slot: str) -> np.ndarray:
        return (self._slot[slot] != self._n).all(axis=1)

    def _unit_constants(self) -> None:
        us = self.units
        self._nominal_kv = np.array([u.nominal_kv for u in us])
        self._rated_a = np.array([u.rated_a for u in us])
        self._v_ln_nom = self._nominal_kv / math.sqrt(3.0)
        self._rated_mva = math.sqrt(3.0) * self._nominal_kv * self._rated_a / 1000.0
        self._i_min = np.maximum(MIN_CURRENT_A, LOADED_FRACTION * np.nan_to_num(self._rated_a))
        cls = np.array([u.cls for u in us])
        self._dead_class = np.isin(cls, _DEAD_CLASSES)
        self._idle_reason = [_IDLE_REASON.get(u.cls) for u in us]
        self._idle_class = np.array([r is not None for r in self._idle_reason], dtype=bool)
        self._transformer = cls == "transformer"
        self._has_loading_point = self._has("loading")

    def _needs(self) -> np.ndarray:
        """(units, bank columns): which features each unit can ever have, from the
        instruments it has."""
        h, ha = self._has, self._has_all
        has_v = h("v_ln") | h("v_ll") | h("v")
        has_i3 = ha("i_ph")
        rated = np.isfinite(self._rated_a)
        needs: dict[str, np.ndarray] = {
            "voltage_dev_pct": has_v,
            "voltage_unbalance_pct": ha("v_ln"),
            "loading_pct": self._has_loading_point | (has_i3 & rated),
            "loading_rate_pct_min": self._has_loading_point | (has_i3 & rated),
            "current_imbalance_pct": has_i3,
            "current_neg_seq_pct": h("i_1") & h("i_2"),
            "thd_max_pct": h("thd"), "power_factor_abs": h("pf"),
            "voltage_residual_pct": has_v, "current_residual_pct": has_i3 & rated,
            "p_residual_pct": h("p") & rated, "q_residual_pct": h("q") & rated,
            "voltage_neg_seq_pct": h("v2"), "frequency_dev_hz": h("hz"),
            "rocof_hz_s": h("rocof"),
            "top_oil_c": h("top_oil"), "top_oil_rate_c_min": h("top_oil"),
            "top_oil_rise_k": h("top_oil") & h("ambient"),
            "top_oil_excess_c": h("top_oil"),
            "hot_spot_c": h("hot_spot"), "hot_spot_rate_c_min": h("hot_spot"),
            "hot_spot_excess_c": h("hot_spot"),
            "winding_c": h("winding"), "oil_moisture_ppm": h("moisture"),
            "bushing_tan_delta_max_pct": h("tan_delta"),
            "bushing_tan_delta_rate_pct_day": h("tan_delta"),
            "sf6_pressure_bar": h("sf6"), "sf6_trend_bar_day": h("sf6"),
            "contact_wear_pct": h("wear"), "contact_wear_rate_pct_day": h("wear"),
            "output_pct": h("q") & rated,
            "neutral_unbalance_pct": h("unbal") & has_i3,
        }
        gas = self._slot["gas"] != self._n
        for k, g in enumerate(GASES):
            needs[f"gas_{g}_ppm"] = gas[:, k]
            needs[f"gas_{g}_rate_ppm_day"] = gas[:, k]
        out = np.zeros((len(self.units), len(_BANK)), dtype=bool)
        for name, j in _BCOL.items():
            out[:, j] = needs[name]
        return out

    def _resolve(self, sources: Sequence[str], keys: tuple[tuple[str, str | None], ...]
                 ) -> list[int]:
        for a in sources:
            if keys[0][1] == "*":
                rows = self._rows_of_q.get((a, keys[0][0]), [])
                if rows:
                    return list(rows)
                continue
            rows = [self._row_of.get((a, q, ph), -1) for q, ph in keys]
            if any(r >= 0 for r in rows):
                return rows
        return []

    def _build_rates(self) -> None:
        rows = {"fast": [], "slow": []}
        src = {"fast": [], "slow": []}
        dst = {"fast": [], "slow": []}
        per = {"fast": [], "slow": []}
        for cls, s, d, win, p in _RATES:
            for k, u in enumerate(self.units):
                if u.cls == cls:
                    rows[win].append(k)
                    src[win].append(_BCOL[s])
                    dst[win].append(_BCOL[d])
                    per[win].append(p)
        self._rate = {w: (np.array(rows[w], dtype=np.intp), np.array(src[w], dtype=np.intp),
                          np.array(dst[w], dtype=np.intp), np.array(per[w]))
                      for w in ("fast", "slow")}
        # DGA: every gas point of the units that have one, and where each sits in that list.
        gas = self._slot["gas"]
        dga_rows: list[int] = []
        idx = np.full(gas.shape, -1, dtype=np.intp)
        for (k, j), r in np.ndenumerate(gas):
            if r != self._n and self.units[k].cls in _DGA_CLASSES:
                idx[k, j] = len(dga_rows)
                dga_rows.append(int(r))
        self._dga_rows = np.asarray(dga_rows, dtype=np.intp)
        self._dga_idx = idx
        self._gas_rate_cols = np.array([_BCOL[f"gas_{g}_rate_ppm_day"] for g in GASES])

    def _build_layout(self) -> None:
        plans = self.plans.values()
        width = max(len(p.names) for p in plans)
        nb = len(_BANK)  # the bank's extra, all-NaN / never-available column
        cols = np.full((len(self.units), width), nb, dtype=np.intp)
        struct = np.zeros((len(self.units), width), dtype=bool)
        for p in plans:
            cols[p.start:p.stop, :len(p.cols)] = p.cols
            struct[p.start:p.stop, :len(p.cols)] = p.struct
        self._pad_rows = np.arange(len(self.units))[:, None]
        self._pad_cols = cols
        self._pad_struct = struct
        self.layout = FeatureLayout(
            tuple(u.asset for u in self.units), tuple(u.cls for u in self.units),
            MappingProxyType({c: slice(p.start, p.stop) for c, p in self.plans.items()}),
            MappingProxyType({c: len(p.names) for c, p in self.plans.items()}))

    # ------------------------------------------------------------------ public
    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.plans)

    def assets_of(self, cls: str) -> tuple[str, ...]:
        return self.plans[cls].assets

    def class_of(self, asset_id: str) -> str:
        try:
            return self.units[self._unit_index[asset_id]].cls
        except KeyError:
            raise KeyError(f"asset '{asset_id}' is not scored") from None

    def new_history(self) -> FeatureHistory:
        return FeatureHistory(len(self._rate["fast"][0]), len(self._rate["slow"][0]),
                              len(self._dga_rows))

    def extract(self, frame: ScanFrame, residual: np.ndarray | None = None,
                extra: Mapping[str, Mapping[str, float]] | None = None,
                history: FeatureHistory | None = None) -> FeatureFrame:
        """Features of one scan. ``residual``: per point measured − twin (NaN where none);
        ``extra``: per asset model values (see the module doc); ``history``: the stream's
        :class:`FeatureHistory` (updated in place), or None for no rates."""
        return self.extract_arrays(frame.values, frame.quality, frame.t_acquired.timestamp(),
                                   t_source_ns=frame.t_source_ns, residual=residual,
                                   extra=extra, history=history)

    def extract_arrays(self, values: np.ndarray, quality: np.ndarray, t_s: float, *,
                       t_source_ns: np.ndarray | None = None,
                       residual: np.ndarray | None = None,
                       extra: Mapping[str, Mapping[str, float]] | None = None,
                       history: FeatureHistory | None = None) -> FeatureFrame:
        """:meth:`extract` from bare arrays (a historian window, a simulator snapshot)."""
        n = self._n
        if len(values) != n or len(quality) != n:
            raise ValueError(f"scan has {len(values)} values and {len(quality)} quality words;"
                             f" the point table has {n} points")
        usable = usable_mask(quality)
        v = np.empty(n + 1)
        v[:n] = np.where(usable, values, np.nan)
        v[n] = np.nan
        r = np.full(n + 1, np.nan)
        if residual is not None:
            if len(residual) != n:
                raise ValueError(f"residual has {len(residual)} values; the point table has "
                                 f"{n} points")
            r[:n] = np.where(usable, residual, np.nan)
        with np.errstate(all="ignore"):
            B, A, why, scorable = self._bank(v, r, extra or {})
            if history is not None:
                self._rates(B, v, float(t_s), t_source_ns, history)
        X = B[self._pad_rows, self._pad_cols]
        avail = self._pad_struct & A[self._pad_rows, self._pad_cols]
        X[~avail] = np.nan
        X.setflags(write=False)
        avail.setflags(write=False)
        classes = {}
        for cls, p in self.plans.items():
            d = len(p.names)
            classes[cls] = ClassFeatures(cls, p.assets, X[p.start:p.stop, :d],
                                         avail[p.start:p.stop, :d], tuple(why[p.start:p.stop]))
        scorable.setflags(write=False)
        return FeatureFrame(float(t_s), MappingProxyType(classes), self.layout, X, avail,
                            tuple(why), scorable)

    # ------------------------------------------------------------------ the bank
    def _bank(self, v: np.ndarray, r: np.ndarray, extra: Mapping
              ) -> tuple[np.ndarray, np.ndarray, list[str | None], np.ndarray]:
        """Every feature of every unit (NaN where not computed), where it applies, and why
        a unit cannot be scored (with the mask of those that can)."""
        S = self._slot
        nu = len(self.units)
        B = np.full((nu, len(_BANK) + 1), np.nan)  # + a padding column: NaN, never available
        A = np.ones((nu, len(_BANK) + 1), dtype=bool)
        A[:, -1] = False
        c = _BCOL
        vnom, rated, rated_mva = self._v_ln_nom, self._rated_a, self._rated_mva

        # Voltage: phase-to-neutral if measured, else phase-to-phase.
        vln = v[S["v_ln"]]
        kv = _mean(vln)
        kv_ll = _mean(v[S["v_ll"]])
        kv_ll = np.where(np.isnan(kv_ll), v[S["v"]][:, 0], kv_ll)
        kv = np.where(np.isnan(kv), kv_ll / math.sqrt(3.0), kv)
        B[:, c["voltage_dev_pct"]] = (kv / vnom - 1.0) * 100.0
        B[:, c["voltage_unbalance_pct"]] = _dev_pct(vln)
        res_ln = _mean(r[S["v_ln"]]) / vnom
        res_ll = _mean(r[S["v_ll"]])
        res_ll = np.where(np.isnan(res_ll), r[S["v"]][:, 0], res_ll) / self._nominal_kv
        B[:, c["voltage_residual_pct"]] = np.where(np.isnan(res_ln), res_ll, res_ln) * 100.0

        # Currents: loading, and what needs load to mean anything.
        i3 = v[S["i_ph"]]
        im = _mean(i3)
        loaded = ~(im < self._i_min)  # unknown current: the features apply (and are NaN)
        ld_point = v[S["loading"]][:, 0]
        B[:, c["loading_pct"]] = np.where(self._has_loading_point, ld_point,
                                          im / rated * 100.0)
        for name, x in (("current_imbalance_pct", _dev_pct(i3)),
                        ("current_neg_seq_pct", v[S["i_2"]][:, 0] / v[S["i_1"]][:, 0] * 100.0),
                        ("thd_max_pct", _max(v[S["thd"]])),
                        ("power_factor_abs", np.abs(v[S["pf"]][:, 0])),
                        ("neutral_unbalance_pct", v[S["unbal"]][:, 0] / im * 100.0)):
            B[:, c[name]] = x
            A[:, c[name]] = loaded
        B[:, c["current_residual_pct"]] = _mean(r[S["i_ph"]]) / rated * 100.0
        B[:, c["p_residual_pct"]] = r[S["p"]][:, 0] / rated_mva * 100.0
        B[:, c["q_residual_pct"]] = r[S["q"]][:, 0] / rated_mva * 100.0
        B[:, c["output_pct"]] = np.abs(v[S["q"]][:, 0]) / rated_mva * 100.0

        # Busbar quantities.
        B[:, c["voltage_neg_seq_pct"]] = v[S["v2"]][:, 0]
        B[:, c["frequency_dev_hz"]] = v[S["hz"]][:, 0] - self._freq_nominal_hz
        B[:, c["rocof_hz_s"]] = v[S["rocof"]][:, 0]

        # Thermal, against the caller's model where given.
        top = v[S["top_oil"]][:, 0]
        hs = v[S["hot_spot"]][:, 0]
        B[:, c["top_oil_c"]] = top
        B[:, c["hot_spot_c"]] = hs
        B[:, c["winding_c"]] = v[S["winding"]][:, 0]
        B[:, c["top_oil_rise_k"]] = top - v[S["ambient"]][:, 0]
        hs_model = np.full(nu, np.nan)
        top_model = np.full(nu, np.nan)
        for asset, d in extra.items():
            k = self._unit_index.get(asset)
            if k is None or not d:
                continue
            x = d.get(EXTRA_HOT_SPOT_MODEL)
            hs_model[k] = np.nan if x is None else float(x)
            x = d.get(EXTRA_TOP_OIL_MODEL)
            top_model[k] = np.nan if x is None else float(x)
        B[:, c["hot_spot_excess_c"]] = hs - hs_model
        A[:, c["hot_spot_excess_c"]] = ~np.isnan(hs_model)
        B[:, c["top_oil_excess_c"]] = top - top_model
        A[:, c["top_oil_excess_c"]] = ~np.isnan(top_model)

        # Oil and health.
        gas = v[S["gas"]]
        for k, g in enumerate(GASES):
            B[:, c[f"gas_{g}_ppm"]] = gas[:, k]
        B[:, c["oil_moisture_ppm"]] = v[S["moisture"]][:, 0]
        B[:, c["bushing_tan_delta_max_pct"]] = _max(v[S["tan_delta"]])
        B[:, c["sf6_pressure_bar"]] = v[S["sf6"]][:, 0]
        B[:, c["contact_wear_pct"]] = v[S["wear"]][:, 0]

        # Units that cannot be scored at all this scan.
        dead = self._dead_class & (kv < DEAD_PU * vnom)
        idle = self._idle_class & (im < self._i_min)
        out = self._transformer & (ld_point < 1.0) & ~(im >= self._i_min)
        why: list[str | None] = [None] * nu
        blocked = dead | idle | out
        for k in np.nonzero(blocked)[0]:
            why[k] = ("de-energised" if dead[k] else self._idle_reason[k] if idle[k]
                      else "out of service (no load)")
        return B, A, why, ~blocked

    # ------------------------------------------------------------------ rates
    def _rates(self, B: np.ndarray, v: np.ndarray, t_s: float, t_src: np.ndarray | None,
               h: FeatureHistory) -> None:
        for win, w in (("fast", h.fast), ("slow", h.slow)):
            rows, src, dst, per = self._rate[win]
            now = B[rows, src]
            rate = w.push(t_s, now) * per
            B[rows, dst] = np.where(np.isnan(now), np.nan, rate)
        if len(self._dga_rows):
            ts = None if t_src is None else np.asarray(t_src)[self._dga_rows]
            gas = v[self._dga_rows]
            rate = np.where(np.isnan(gas), np.nan, h.dga.push(t_s, gas, ts) * 86_400.0)
            B[:, self._gas_rate_cols] = np.append(rate, np.nan)[self._dga_idx]


# ---------------------------------------------------------------------- helpers
# (called inside np.errstate(all="ignore"): an all-NaN row gives NaN quietly)
def _mean(a: np.ndarray) -> np.ndarray:
    """Row means over the non-NaN values; NaN for a row with none."""
    m = ~np.isnan(a)
    return np.where(m, a, 0.0).sum(1) / m.sum(1)


def _max(a: np.ndarray) -> np.ndarray:
    """Row maxima over the non-NaN values; NaN for a row with none."""
    return np.fmax.reduce(a, axis=1)


def _dev_pct(a: np.ndarray) -> np.ndarray:
    """Largest deviation from the row mean, % of the mean; NaN unless every column is a
    number and the mean is positive."""
    m = a.mean(1)
    d = np.abs(a - m[:, None]).max(1) / m * 100.0
    return np.where(m > 0, d, np.nan)
