"""IEEE C57.104-2019 DGA status of a transformer from its dated oil analyses.

IEEE Std C57.104-2019 (clause 6 and its Figure 2) judges each gas three ways and puts the unit
in DGA status 1, 2 or 3:

* **levels** of the latest analysis against Table 1 (90th percentile of the guide's
  population) and Table 2 (95th percentile). Both tables depend on the O2/N2 ratio of the oil
  (≤ 0.2: a sealed or membrane-preserved tank; > 0.2: free-breathing) and, where the guide
  tabulates it, on the transformer's age (unknown, 1–9, 10–30, more than 30 years);
* **delta**: the change since the previous analysis against Table 3 (95th percentile of the
  absolute change between consecutive samples), by O2/N2 ratio;
* **rate**: the least-squares slope over 3 to 6 analyses spanning 4 to 24 months, against
  Table 4 (95th percentile rates, ppm/year, by O2/N2 ratio and by whether the samples span
  4–9 or 10–24 months).

For acetylene Tables 3 and 4 give no number: *any* increase (or increasing rate) counts.

Per gas (the Figure 2 logic):

* status 3 when the level is above Table 2, or the rate is above Table 4;
* status 1 when the level is not above Table 1, the delta not above Table 3 and the rate (where
  there is one) not above Table 4;
* status 2 otherwise.

The transformer's status is the highest of its gases. With one analysis only the levels count;
with two, levels and delta; with three or more in the window, all three.

The table values (:data:`TABLE1_90TH_PPM`, :data:`TABLE2_95TH_PPM`, :data:`TABLE3_DELTA_PPM`,
:data:`TABLE4_RATE_PPM_PER_YEAR`) are those of IEEE Std C57.104-2019 Tables 1–4, cross-checked
here against independent public reproductions of the tables; where reproductions differed the
majority reading was taken (Table 1, H2, O2/N2 ≤ 0.2: 75 ppm for 1–30 years; Table 3,
O2/N2 > 0.2: C2H6 7, CO2 1750). Rates are kept in ppm/year as the guide prints them and reported
in ppm/day as well (÷ 365.25).

Our choices where the guide leaves the caller to decide (all documented on the result):

* O2/N2 unknown: each limit is the lower of the two columns (the stricter reading);
* age below one year counts as 1–9 years;
* "months" are 30.44 days (365.25 / 12).

Times are timezone-aware datetimes passed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from ml.rca.dga import DgaInputError

#: The gases the guide tabulates.
IEEE_GASES = ("H2", "CH4", "C2H6", "C2H4", "C2H2", "CO", "CO2")
ANY_INCREASE = 0.0
"""Tables 3 and 4 for C2H2: any increase counts (a limit of 0 compared with ``>``)."""

O2N2_LOW = "O2/N2 <= 0.2"
O2N2_HIGH = "O2/N2 > 0.2"
AGE_UNKNOWN, AGE_1_9, AGE_10_30, AGE_OVER_30 = "unknown", "1-9", "10-30", ">30"
AGE_BANDS = (AGE_UNKNOWN, AGE_1_9, AGE_10_30, AGE_OVER_30)
PERIOD_4_9, PERIOD_10_24 = "4-9 months", "10-24 months"
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
RATE_MIN_SAMPLES, RATE_MAX_SAMPLES = 3, 6
RATE_MIN_MONTHS, RATE_MAX_MONTHS = 4.0, 24.0


def _rows(*cols: Mapping[str, float]) -> Mapping[str, Mapping[str, float]]:
    return MappingProxyType(dict(zip(AGE_BANDS, (MappingProxyType(dict(c)) for c in cols),
                                     strict=True)))


def _gases(h2: float, ch4: float, c2h6: float, c2h4: float, c2h2: float, co: float,
           co2: float) -> Mapping[str, float]:
    """The IEEE C57.104 gases' figures (ppm), by name."""
    return MappingProxyType(dict(zip(IEEE_GASES, (h2, ch4, c2h6, c2h4, c2h2, co, co2),
                                     strict=True)))


#: Table 1: 90th percentile gas levels, ppm, by O2/N2 band then age band.
TABLE1_90TH_PPM = MappingProxyType({
    O2N2_LOW: _rows(_gases(80, 90, 90, 50, 1, 900, 9000),
                    _gases(75, 45, 30, 20, 1, 900, 5000),
                    _gases(75, 90, 90, 50, 1, 900, 10000),
                    _gases(100, 110, 150, 90, 1, 900, 10000)),
    O2N2_HIGH: _rows(_gases(40, 20, 15, 50, 2, 500, 5000),
                     _gases(40, 20, 15, 25, 2, 500, 3500),
                     _gases(40, 20, 15, 60, 2, 500, 5500),
                     _gases(40, 20, 15, 60, 2, 500, 5500)),
})
#: Table 2: 95th percentile gas levels, ppm, by O2/N2 band then age band.
TABLE2_95TH_PPM = MappingProxyType({
    O2N2_LOW: _rows(_gases(200, 150, 175, 100, 2, 1100, 12500),
                    _gases(200, 100, 70, 40, 2, 1100, 7000),
                    _gases(200, 150, 175, 95, 2, 1100, 14000),
                    _gases(200, 200, 250, 175, 4, 1100, 14000)),
    O2N2_HIGH: _rows(_gases(90, 50, 40, 100, 7, 600, 7000),
                     _gases(90, 60, 30, 80, 7, 600, 5000),
                     _gases(90, 60, 40, 125, 7, 600, 8000),
                     _gases(90, 30, 40, 125, 7, 600, 8000)),
})
#: Table 3: 95th percentile of the absolute change between consecutive analyses, ppm.
TABLE3_DELTA_PPM = MappingProxyType({
    O2N2_LOW: _gases(40, 30, 25, 20, ANY_INCREASE, 250, 2500),
    O2N2_HIGH: _gases(25, 10, 7, 20, ANY_INCREASE, 175, 1750),
})
#: Table 4: 95th percentile rates of change, ppm/year, by O2/N2 band then sampling period.
TABLE4_RATE_PPM_PER_YEAR = MappingProxyType({
    O2N2_LOW: MappingProxyType({
        PERIOD_4_9: _gases(50, 15, 15, 10, ANY_INCREASE, 200, 1750),
        PERIOD_10_24: _gases(20, 10, 9, 7, ANY_INCREASE, 100, 1000)}),
    O2N2_HIGH: MappingProxyType({
        PERIOD_4_9: _gases(25, 4, 3, 7, ANY_INCREASE, 100, 1000),
        PERIOD_10_24: _gases(10, 3, 2, 5, ANY_INCREASE, 80, 800)}),
})

STATUS_TEXT = MappingProxyType({
    1: "DGA status 1: gas levels low, no sign of active gassing",
    2: "DGA status 2: gas levels intermediate or possible gassing — sample more often",
    3: "DGA status 3: gas levels high or probable active gassing — diagnose the fault",
})


@dataclass(frozen=True, slots=True)
class GasStatus:
    """One gas: what it was compared with and what that gave."""

    gas: str
    status: int
    level_ppm: float
    table1_ppm: float
    table2_ppm: float
    delta_ppm: float | None = None
    """Latest minus previous analysis (None with one analysis, or gas not in the previous)."""
    table3_ppm: float | None = None
    rate_ppm_per_year: float | None = None
    table4_ppm_per_year: float | None = None
    reasons: tuple[str, ...] = ()

    @property
    def rate_ppm_per_day(self) -> float | None:
        return None if self.rate_ppm_per_year is None else self.rate_ppm_per_year / DAYS_PER_YEAR

    @property
    def table4_ppm_per_day(self) -> float | None:
        t4 = self.table4_ppm_per_year
        return None if t4 is None else t4 / DAYS_PER_YEAR

    @property
    def above_table1(self) -> bool:
        return self.level_ppm > self.table1_ppm

    @property
    def above_table2(self) -> bool:
        return self.level_ppm > self.table2_ppm

    @property
    def delta_exceeded(self) -> bool:
        return (self.delta_ppm is not None and self.table3_ppm is not None
                and self.delta_ppm > self.table3_ppm)

    @property
    def rate_exceeded(self) -> bool:
        return (self.rate_ppm_per_year is not None and self.table4_ppm_per_year is not None
                and self.rate_ppm_per_year > self.table4_ppm_per_year)

    def as_dict(self) -> dict[str, object]:
        return {"gas": self.gas, "status": self.status, "level_ppm": self.level_ppm,
                "table1_ppm": self.table1_ppm, "table2_ppm": self.table2_ppm,
                "delta_ppm": self.delta_ppm, "table3_ppm": self.table3_ppm,
                "rate_ppm_per_day": self.rate_ppm_per_day,
                "table4_ppm_per_day": self.table4_ppm_per_day,
                "rate_ppm_per_year": self.rate_ppm_per_year,
                "table4_ppm_per_year": self.table4_ppm_per_year, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class IeeeStatus:
    """The transformer's DGA status from its history."""

    status: int
    gases: Mapping[str, GasStatus]
    latest: datetime
    samples: int
    o2n2_band: str
    """O2N2_LOW, O2N2_HIGH, or "unknown" (then the stricter of the two columns)."""
    age_band: str
    rate_samples: int
    """Analyses the rates were fitted over (0: no rate; the window needs 3–6 in 4–24 months)."""
    rate_period: str | None
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def explanation(self) -> str:
        """The status and the gases that set it (each gas's reasons are on ``gases``)."""
        by = [g.gas for g in self.gases.values() if g.status == self.status]
        text = STATUS_TEXT[self.status]
        return text + (f"; set by {', '.join(by)}" if self.status > 1 else "")

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "explanation": self.explanation,
                "latest": self.latest.isoformat(), "samples": self.samples,
                "o2n2_band": self.o2n2_band, "age_band": self.age_band,
                "rate_samples": self.rate_samples, "rate_period": self.rate_period,
                "assumptions": list(self.assumptions),
                "gases": {k: v.as_dict() for k, v in self.gases.items()}}


# ----------------------------------------------------------------------------- helpers
def age_band(age_years: float | None) -> str:
    if age_years is None:
        return AGE_UNKNOWN
    if not math.isfinite(age_years) or age_years < 0:
        raise DgaInputError(f"transformer age {age_years!r} years is not an age")
    if age_years < 10:
        return AGE_1_9
    return AGE_10_30 if age_years <= 30 else AGE_OVER_30


def _limits(band: str, age: str) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    if band != "unknown":
        return (dict(TABLE1_90TH_PPM[band][age]), dict(TABLE2_95TH_PPM[band][age]),
                dict(TABLE3_DELTA_PPM[band]))
    pick = [dict(TABLE1_90TH_PPM[O2N2_LOW][age]), dict(TABLE2_95TH_PPM[O2N2_LOW][age]),
            dict(TABLE3_DELTA_PPM[O2N2_LOW])]
    other = [TABLE1_90TH_PPM[O2N2_HIGH][age], TABLE2_95TH_PPM[O2N2_HIGH][age],
             TABLE3_DELTA_PPM[O2N2_HIGH]]
    for mine, theirs in zip(pick, other, strict=True):
        for gas in mine:
            mine[gas] = min(mine[gas], theirs[gas])
    return pick[0], pick[1], pick[2]


def _rate_limits(band: str, period: str) -> dict[str, float]:
    if band != "unknown":
        return dict(TABLE4_RATE_PPM_PER_YEAR[band][period])
    lo, hi = TABLE4_RATE_PPM_PER_YEAR[O2N2_LOW][period], TABLE4_RATE_PPM_PER_YEAR[O2N2_HIGH][period]
    return {g: min(lo[g], hi[g]) for g in IEEE_GASES}


def _slope_per_day(days: Sequence[float], ppm: Sequence[float]) -> float:
    n = len(days)
    mx, my = sum(days) / n, sum(ppm) / n
    sxx = sum((d - mx) ** 2 for d in days)
    return sum((d - mx) * (p - my) for d, p in zip(days, ppm, strict=True)) / sxx


def _check_history(history: Sequence[tuple[datetime, Mapping[str, float]]]
                   ) -> list[tuple[datetime, dict[str, float]]]:
    if not history:
        raise DgaInputError("DGA history: no analysis given")
    out = []
    for k, item in enumerate(history):
        try:
            when, ppm = item
        except (TypeError, ValueError):
            raise DgaInputError(f"DGA history item {k}: expected (time, {{gas: ppm}})") from None
        if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
            raise DgaInputError(f"DGA history item {k}: time {when!r} is not a timezone-aware "
                                "datetime")
        if not isinstance(ppm, Mapping):
            raise DgaInputError(f"DGA history item {k} ({when.isoformat()}): expected a mapping "
                                f"of gas to ppm, got {type(ppm).__name__}")
        gases: dict[str, float] = {}
        for key, raw in ppm.items():
            gas = str(key).strip().upper().removesuffix("_PPM")
            if raw is None:
                continue  # not measured
            try:
                v = float(raw)
            except (TypeError, ValueError):
                raise DgaInputError(f"DGA history item {k} ({when.isoformat()}): {gas} = {raw!r} "
                                    "is not a number") from None
            if not math.isfinite(v) or v < 0:
                raise DgaInputError(f"DGA history item {k} ({when.isoformat()}): {gas} = {v!r} "
                                    "ppm is not a concentration")
            gases[gas] = v
        out.append((when, gases))
    out.sort(key=lambda t: t[0])
    for (t0, _), (t1, _) in zip(out, out[1:], strict=False):
        if t0 == t1:
            raise DgaInputError(f"DGA history: two analyses at {t0.isoformat()}")
    return out


def o2n2_ratio(ppm: Mapping[str, float]) -> float | None:
    """O2/N2 of an analysis that has both (None otherwise)."""
    by = {str(k).strip().upper().removesuffix("_PPM"): v for k, v in ppm.items()}
    o2, n2 = by.get("O2"), by.get("N2")
    if o2 is None or n2 is None or float(n2) <= 0:
        return None
    return float(o2) / float(n2)


# ----------------------------------------------------------------------------- status
def ieee_status(history: Sequence[tuple[datetime, Mapping[str, float]]], *,
                age_years: float | None = None, o2_n2: float | None = None) -> IeeeStatus:
    """The IEEE C57.104-2019 DGA status from dated analyses (any order; see the module notes).

    ``history``: (aware datetime, {gas: ppm}) pairs; a gas missing or None is not measured.
    ``o2_n2``: the oil's O2/N2 ratio; by default that of the latest analysis carrying O2 and N2,
    else unknown. ``age_years``: the transformer's age (None: unknown)."""
    samples = _check_history(history)
    latest_t, latest = samples[-1]
    assumptions: list[str] = []
    if o2_n2 is None:
        for _t, g in reversed(samples):
            o2_n2 = o2n2_ratio(g)
            if o2_n2 is not None:
                break
    if o2_n2 is None:
        band = "unknown"
        assumptions.append("O2/N2 unknown: each limit is the stricter of the guide's two "
                           "O2/N2 columns")
    elif not math.isfinite(o2_n2) or o2_n2 < 0:
        raise DgaInputError(f"O2/N2 ratio {o2_n2!r} is not a ratio")
    else:
        band = O2N2_LOW if o2_n2 <= 0.2 else O2N2_HIGH
    age = age_band(age_years)
    if age == AGE_UNKNOWN:
        assumptions.append("age unknown: the guide's age-unknown column of Tables 1 and 2")
    t1, t2, t3 = _limits(band, age)

    # Rate window: the newest 3–6 analyses no more than 24 months before the latest.
    window = [(t, g) for t, g in samples
              if (latest_t - t).total_seconds() / 86400 <= RATE_MAX_MONTHS * DAYS_PER_MONTH]
    window = window[-RATE_MAX_SAMPLES:]
    span_months = (latest_t - window[0][0]).total_seconds() / 86400 / DAYS_PER_MONTH
    period = None
    t4: dict[str, float] = {}
    if len(window) >= RATE_MIN_SAMPLES and span_months >= RATE_MIN_MONTHS:
        period = PERIOD_4_9 if span_months < 10 else PERIOD_10_24
        t4 = _rate_limits(band, period)
    elif len(samples) >= RATE_MIN_SAMPLES:
        assumptions.append(f"no rate: the newest analyses within 24 months ({len(window)}) "
                           f"span {span_months:.1f} months; Table 4 needs 3–6 over 4–24 months")

    previous = samples[-2][1] if len(samples) > 1 else None
    gases: dict[str, GasStatus] = {}
    for gas in IEEE_GASES:
        if gas not in latest:
            continue
        level = latest[gas]
        reasons = []
        delta = None
        if previous is not None and gas in previous:
            delta = level - previous[gas]
        rate = None
        if period is not None:
            pts = [(t, g[gas]) for t, g in window if gas in g]
            if len(pts) >= RATE_MIN_SAMPLES:
                days = [(t - pts[0][0]).total_seconds() / 86400 for t, _ in pts]
                rate = _slope_per_day(days, [v for _, v in pts]) * DAYS_PER_YEAR
        gs = GasStatus(gas, 1, level, t1[gas], t2[gas], delta, t3[gas] if delta is not None
                       else None, rate, t4.get(gas) if rate is not None else None)
        status = 1
        if gs.above_table2:
            status = 3
            reasons.append(f"{gas} {level:g} ppm above the 95th percentile {t2[gas]:g} ppm "
                           "(Table 2)")
        elif gs.above_table1:
            status = 2
            reasons.append(f"{gas} {level:g} ppm above the 90th percentile {t1[gas]:g} ppm "
                           "(Table 1)")
        if gs.rate_exceeded:
            status = 3
            lim = t4[gas]
            limit = ("where any increase counts" if lim == ANY_INCREASE
                     else f"above {lim / DAYS_PER_YEAR:.3g} ppm/day ({lim:g} ppm/year)")
            reasons.append(f"{gas} rising {rate / DAYS_PER_YEAR:.3g} ppm/day ({rate:.3g} "
                           f"ppm/year over {len(pts)} analyses), {limit} (Table 4, {period})")
        if gs.delta_exceeded:
            status = max(status, 2)
            lim = t3[gas]
            limit = "where any increase counts" if lim == ANY_INCREASE else f"above {lim:g} ppm"
            reasons.append(f"{gas} up {delta:g} ppm since the previous analysis, {limit} "
                           "(Table 3)")
        gases[gas] = GasStatus(gs.gas, status, gs.level_ppm, gs.table1_ppm, gs.table2_ppm,
                               gs.delta_ppm, gs.table3_ppm, gs.rate_ppm_per_year,
                               gs.table4_ppm_per_year, tuple(reasons))
    if not gases:
        raise DgaInputError(f"DGA analysis of {latest_t.isoformat()}: none of "
                            f"{', '.join(IEEE_GASES)} measured")
    overall = max(g.status for g in gases.values())
    return IeeeStatus(overall, MappingProxyType(gases), latest_t, len(samples), band, age,
                      len(window) if period else 0, period, tuple(assumptions))
