"""Asset health index, forecast and maintenance suggestions (ml.health), on the station's own
assets with condition data given directly (no historian: the caller's job)."""

from __future__ import annotations

import datetime as dt

import pytest

from ml.health import Condition, forecast, health_index, suggestions
from ml.health.index import END_OF_LIFE_INDEX, WORST_FACTOR_MARGIN, band_of, curve
from tests.clocks import now

AT = now()
DAY = dt.timedelta(days=1)
# A healthy DGA history (IEEE C57.104 Table 1 levels not reached, no growth).
CLEAN = {"H2": 20.0, "CH4": 10.0, "C2H6": 8.0, "C2H4": 5.0, "C2H2": 0.0, "CO": 200.0,
         "CO2": 2000.0}


def asset(station, aid):
    return next(a for a in station.assets if a.id == aid)


def dga_history(last: dict[str, float], days: int = 120, every: int = 30):
    """Monthly analyses, the last one ``last``, the earlier ones clean."""
    out = [(AT - k * DAY, dict(CLEAN)) for k in range(days, 0, -every)]
    return out + [(AT, last)]


def test_a_healthy_transformer_is_good_and_every_factor_is_explained(station):
    ict = asset(station, "ICT1")
    c = Condition(ict, AT, {"ageing_rate": [0.4], "loss_of_life_h": [9000.0],
                            "oil_moisture_ppm": [6.0], "bushing_tan_delta_pct": [0.3] * 6},
                  dga_history=dga_history(CLEAN), oltc_ops_since_overhaul=20_000)
    hi = health_index(c)
    names = {f.name for f in hi.factors}
    assert names == {"dga", "thermal", "moisture", "bushings", "oltc", "age"}
    assert hi.missing == ()
    assert abs(sum(f.weight for f in hi.factors) - 1.0) < 1e-9
    assert hi.index >= 70 and hi.band in ("Good", "Fair") and hi.capped_by is None
    dga = next(f for f in hi.factors if f.name == "dga")
    assert dga.score == 100 and "C57.104" in dga.basis
    assert suggestions(hi) == []


def test_acetylene_caps_the_index_however_young_and_cool_the_unit(station):
    ict = asset(station, "ICT1")
    bad = dict(CLEAN, C2H2=35.0, C2H4=180.0, H2=300.0)  # above Table 2: status 3
    c = Condition(ict, AT, {"ageing_rate": [0.4], "oil_moisture_ppm": [6.0],
                            "bushing_tan_delta_pct": [0.3] * 6},
                  dga_history=dga_history(bad))
    hi = health_index(c)
    dga = next(f for f in hi.factors if f.name == "dga")
    assert dga.score == 15 and dga.value == 3
    assert hi.capped_by == "dga" and hi.index == pytest.approx(15 + WORST_FACTOR_MARGIN)
    assert hi.band == "Very poor"
    work = suggestions(hi)
    assert [s.factor for s in work] == ["dga"]
    s = work[0]
    assert s.code == "ICT1:dga" and s.maintenance_type == "corrective"
    assert s.due == AT.date() + dt.timedelta(days=7)
    assert "C2H2" in s.evidence and "oil sample" in s.action


def test_a_leaking_breaker_is_scored_by_the_days_left_to_its_alarm_stage(station):
    cb = asset(station, "L1_Q0")  # rated 6.0 bar, alarm 5.2 bar
    # Losing 0.004 bar/day from 5.8 bar: the alarm stage in 0.6 / 0.004 = 150 days.
    hist = [(AT - k * DAY, 5.8 + 0.004 * k) for k in range(60, -1, -1)]
    c = Condition(cb, AT, {"sf6_pressure_bar": [5.8], "contact_wear_pct": [10.0],
                           "operations": [500.0]}, sf6_history=hist)
    hi = health_index(c)
    sf6 = next(f for f in hi.factors if f.name == "sf6")
    assert "in 150 days" in sf6.basis
    assert sf6.score == pytest.approx(curve(150, ((0, 0), (90, 35), (365, 70), (1095, 100))))
    assert sf6.score < 50
    assert [s.factor for s in suggestions(hi)] == ["sf6"]
    # The same density, no leak: full marks for the gas.
    tight = Condition(cb, AT, {"sf6_pressure_bar": [5.8]},
                      sf6_history=[(AT - k * DAY, 5.8) for k in range(30, -1, -1)])
    assert next(f for f in health_index(tight).factors if f.name == "sf6").score == 100


def test_without_condition_data_the_index_is_age_only_and_says_so(station):
    la = asset(station, "L1_LA")
    hi = health_index(Condition(la, AT))
    assert [f.name for f in hi.factors] == ["age"]
    assert hi.missing == ("arrester_leakage",)
    older = health_index(Condition(la, AT + dt.timedelta(days=3650)))
    assert older.index < hi.index


def test_the_forecast_follows_the_trend_with_a_band_and_gives_remaining_life(station):
    cb = asset(station, "L1_Q0")
    c = Condition(cb, AT, {"contact_wear_pct": [40.0]})
    now_hi = health_index(c)
    # A history falling 0.5 points a day, with noise of ±1.5 points.
    hist = [(AT - k * DAY, now_hi.index + 0.5 * k + (1.5 if k % 2 else -1.5))
            for k in range(30, 0, -1)]
    fc = forecast(now_hi, hist, c)
    assert fc.days == tuple(range(1, 31))
    assert fc.slope_per_year == pytest.approx(-0.5 * 365.25, rel=0.05)
    assert fc.index[-1] == pytest.approx(now_hi.index - 15, abs=2.0)
    assert all(lo <= m <= hi for lo, m, hi in zip(fc.lo, fc.index, fc.hi, strict=True))
    assert fc.hi[-1] - fc.lo[-1] > fc.hi[0] - fc.lo[0]  # the band widens with the horizon
    expected = (now_hi.index - END_OF_LIFE_INDEX) / 0.5 / 365.25
    assert fc.remaining_life_years == pytest.approx(expected, rel=0.05)
    assert "Theil–Sen" in fc.method


def test_a_step_is_not_a_trend(station):
    """A DGA status that went from 1 to 3 five days ago drops the index once; the forecast
    holds it there rather than running the step on to zero."""
    ict = asset(station, "ICT1")
    c = Condition(ict, AT, {"ageing_rate": [0.4]},
                  dga_history=dga_history(dict(CLEAN, C2H2=35.0, C2H4=180.0, H2=300.0)))
    now_hi = health_index(c)
    hist = [(AT - k * DAY, 90.0 if k > 5 else now_hi.index) for k in range(10, 0, -1)]
    fc = forecast(now_hi, hist, c)
    assert fc.slope_per_year == 0.0
    assert fc.index[-1] == pytest.approx(now_hi.index)
    assert fc.remaining_life_years > 1


def test_health_does_not_mend_itself_in_a_forecast(station):
    cb = asset(station, "L1_Q0")
    c = Condition(cb, AT, {"contact_wear_pct": [40.0]})
    now_hi = health_index(c)
    rising = [(AT - k * DAY, now_hi.index - 0.5 * k) for k in range(20, 0, -1)]
    fc = forecast(now_hi, rising, c)
    assert max(fc.index) <= now_hi.index


def test_with_no_history_the_forecast_is_the_age_drift(station):
    la = asset(station, "L1_LA")
    c = Condition(la, AT)
    fc = forecast(health_index(c), [], c)
    assert fc.method.startswith("age drift") and fc.slope_per_year < 0
    assert fc.hi[0] - fc.lo[0] == pytest.approx(10.0)


def test_bands_and_curves():
    assert [band_of(x) for x in (90, 75, 55, 10)] == ["Good", "Fair", "Poor", "Very poor"]
    pts = ((0.0, 100.0), (10.0, 50.0))
    assert curve(-5, pts) == 100 and curve(5, pts) == 75 and curve(50, pts) == 50


def test_a_naive_time_is_refused_with_the_asset_named(station):
    from ml.health import HealthInputError

    with pytest.raises(HealthInputError, match="ICT1"):
        health_index(Condition(asset(station, "ICT1"), dt.datetime(2026, 1, 1)))
