"""IEEE C57.104-2019 DGA status: the tables, the column choice, deltas, rates and status 1/2/3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ml.rca.dga import DgaInputError
from ml.rca.dga_ieee import (
    AGE_1_9,
    AGE_10_30,
    AGE_OVER_30,
    AGE_UNKNOWN,
    ANY_INCREASE,
    O2N2_HIGH,
    O2N2_LOW,
    PERIOD_4_9,
    PERIOD_10_24,
    TABLE1_90TH_PPM,
    TABLE2_95TH_PPM,
    TABLE3_DELTA_PPM,
    TABLE4_RATE_PPM_PER_YEAR,
    age_band,
    ieee_status,
)

# An arbitrary fixed origin: nothing here compares against the wall clock.
T0 = datetime(2001, 3, 1, tzinfo=UTC)
QUIET = {"H2": 10, "CH4": 5, "C2H6": 5, "C2H4": 3, "C2H2": 0, "CO": 200, "CO2": 2000}


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def test_tables_hold_the_guides_values():
    t1, t2 = TABLE1_90TH_PPM, TABLE2_95TH_PPM
    assert dict(t1[O2N2_LOW][AGE_UNKNOWN]) == {"H2": 80, "CH4": 90, "C2H6": 90, "C2H4": 50,
                                               "C2H2": 1, "CO": 900, "CO2": 9000}
    assert [t1[O2N2_LOW][a]["CH4"] for a in (AGE_1_9, AGE_10_30, AGE_OVER_30)] == [45, 90, 110]
    assert dict(t1[O2N2_HIGH][AGE_UNKNOWN]) == {"H2": 40, "CH4": 20, "C2H6": 15, "C2H4": 50,
                                                "C2H2": 2, "CO": 500, "CO2": 5000}
    assert dict(t2[O2N2_LOW][AGE_UNKNOWN]) == {"H2": 200, "CH4": 150, "C2H6": 175, "C2H4": 100,
                                               "C2H2": 2, "CO": 1100, "CO2": 12500}
    assert t2[O2N2_LOW][AGE_OVER_30]["C2H2"] == 4
    assert dict(t2[O2N2_HIGH][AGE_UNKNOWN]) == {"H2": 90, "CH4": 50, "C2H6": 40, "C2H4": 100,
                                                "C2H2": 7, "CO": 600, "CO2": 7000}
    assert dict(TABLE3_DELTA_PPM[O2N2_LOW]) == {"H2": 40, "CH4": 30, "C2H6": 25, "C2H4": 20,
                                                "C2H2": ANY_INCREASE, "CO": 250, "CO2": 2500}
    t4 = TABLE4_RATE_PPM_PER_YEAR
    assert dict(t4[O2N2_LOW][PERIOD_10_24]) == {"H2": 20, "CH4": 10, "C2H6": 9, "C2H4": 7,
                                                "C2H2": ANY_INCREASE, "CO": 100, "CO2": 1000}
    assert dict(t4[O2N2_HIGH][PERIOD_4_9]) == {"H2": 25, "CH4": 4, "C2H6": 3, "C2H4": 7,
                                               "C2H2": ANY_INCREASE, "CO": 100, "CO2": 1000}
    # 95th percentiles are never below 90th.
    for band in (O2N2_LOW, O2N2_HIGH):
        for age in t1[band]:
            assert all(t2[band][age][g] >= t1[band][age][g] for g in t1[band][age])


def test_age_bands():
    assert age_band(None) == AGE_UNKNOWN
    assert age_band(0.5) == age_band(9.9) == AGE_1_9
    assert age_band(10) == age_band(30) == AGE_10_30
    assert age_band(30.5) == AGE_OVER_30
    with pytest.raises(DgaInputError, match="not an age"):
        age_band(-1)


def test_one_analysis_levels_only():
    s = ieee_status([(at(0), QUIET)], o2_n2=0.05)
    assert s.status == 1 and s.o2n2_band == O2N2_LOW and s.rate_samples == 0
    assert s.gases["H2"].delta_ppm is None and s.explanation.startswith("DGA status 1")
    # Between the 90th and 95th percentile: status 2; above the 95th: status 3.
    s = ieee_status([(at(0), {**QUIET, "C2H4": 60})], o2_n2=0.05)
    assert s.status == 2 and s.gases["C2H4"].status == 2 and s.gases["C2H4"].above_table1
    assert "C2H4 60 ppm above the 90th percentile 50 ppm (Table 1)" in s.gases["C2H4"].reasons
    s = ieee_status([(at(0), {**QUIET, "C2H4": 101})], o2_n2=0.05)
    assert s.status == 3 and "set by C2H4" in s.explanation
    # Exactly on a limit is not above it.
    assert ieee_status([(at(0), {**QUIET, "C2H4": 50})], o2_n2=0.05).status == 1


def test_o2n2_and_age_pick_the_column():
    g = {**QUIET, "CH4": 60}
    assert ieee_status([(at(0), g)], o2_n2=0.05).status == 1  # sealed, age unknown: 90
    assert ieee_status([(at(0), g)], o2_n2=0.05, age_years=5).status == 2  # 1-9 years: 45
    assert ieee_status([(at(0), g)], o2_n2=0.3).status == 3  # free-breathing: 95th is 50
    # From the analysis itself when it carries O2 and N2.
    s = ieee_status([(at(0), {**g, "O2": 3000, "N2": 60000})])
    assert s.o2n2_band == O2N2_LOW and s.status == 1
    # Unknown: the stricter of the two columns, and said so.
    s = ieee_status([(at(0), g)])
    assert s.o2n2_band == "unknown" and s.status == 3
    assert any("stricter" in a for a in s.assumptions)


def test_delta_against_table3_and_acetylene_any_increase():
    hist = [(at(0), QUIET), (at(90), {**QUIET, "H2": 10 + 41})]
    s = ieee_status(hist, o2_n2=0.05)
    h2 = s.gases["H2"]
    assert h2.delta_ppm == 41 and h2.table3_ppm == 40 and h2.delta_exceeded
    assert s.status == 2 and h2.status == 2
    assert ieee_status([(at(0), QUIET), (at(90), {**QUIET, "H2": 50})], o2_n2=0.05).status == 1
    s = ieee_status([(at(0), QUIET), (at(90), {**QUIET, "C2H2": 0.5})], o2_n2=0.05)
    assert s.gases["C2H2"].delta_exceeded and s.status == 2
    assert "where any increase counts" in s.gases["C2H2"].reasons[0]


def test_rates_need_three_analyses_over_four_to_24_months():
    rising = [(at(61 * k), {**QUIET, "C2H4": 3 + 2 * k}) for k in range(3)]  # 4 months, 3 pts
    s = ieee_status(rising, o2_n2=0.05)
    c2h4 = s.gases["C2H4"]
    assert s.rate_samples == 3 and s.rate_period == PERIOD_4_9
    assert c2h4.rate_ppm_per_day == pytest.approx(2 / 61)
    assert c2h4.rate_ppm_per_year == pytest.approx(2 / 61 * 365.25)
    assert c2h4.table4_ppm_per_year == 10 and c2h4.table4_ppm_per_day == pytest.approx(10 / 365.25)
    assert c2h4.rate_exceeded and c2h4.status == 3 and s.status == 3  # 12 ppm/year > 10
    assert "ppm/day" in c2h4.reasons[0] and "Table 4, 4-9 months" in c2h4.reasons[0]
    # The same rise over a year and a half falls under the 10-24 month column.
    slow = [(at(270 * k), {**QUIET, "C2H4": 3 + 2 * k}) for k in range(3)]
    s = ieee_status(slow, o2_n2=0.05)
    assert s.rate_period == PERIOD_10_24 and not s.gases["C2H4"].rate_exceeded
    assert s.status == 1
    # Three analyses within a month: no rate, and said so.
    s = ieee_status([(at(10 * k), QUIET) for k in range(3)], o2_n2=0.05)
    assert s.rate_samples == 0 and s.gases["H2"].rate_ppm_per_day is None
    assert any("no rate" in a for a in s.assumptions)


def test_rate_window_keeps_the_newest_six_within_24_months():
    old = [(at(-2000), {**QUIET, "H2": 500})]  # years before: outside the window
    hist = old + [(at(100 * k), QUIET) for k in range(8)]
    s = ieee_status(hist, o2_n2=0.05)
    assert s.rate_samples == 6 and s.gases["H2"].rate_ppm_per_year == pytest.approx(0)
    assert s.samples == 9 and s.status == 1


def test_order_times_and_bad_input():
    hist = [(at(90), {**QUIET, "H2": 60}), (at(0), QUIET)]  # any order
    s = ieee_status(hist, o2_n2=0.05)
    assert s.latest == at(90) and s.gases["H2"].delta_ppm == 50
    ist = timezone(timedelta(hours=5, minutes=30))
    s = ieee_status([(at(0).astimezone(ist), QUIET)], o2_n2=0.05)
    assert s.latest == at(0)
    with pytest.raises(DgaInputError, match="not a timezone-aware datetime"):
        ieee_status([(datetime(2001, 3, 1), QUIET)])
    with pytest.raises(DgaInputError, match="no analysis"):
        ieee_status([])
    with pytest.raises(DgaInputError, match=r"H2 = 'x' is not a number"):
        ieee_status([(at(0), {**QUIET, "H2": "x"})])
    with pytest.raises(DgaInputError, match="two analyses at"):
        ieee_status([(at(0), QUIET), (at(0), QUIET)])
    with pytest.raises(DgaInputError, match="none of"):
        ieee_status([(at(0), {"O2": 1})])


def test_gases_not_measured_are_left_out():
    s = ieee_status([(at(0), {"H2": 10, "CH4": None, "C2H2": 0})], o2_n2=0.05)
    assert set(s.gases) == {"H2", "C2H2"} and s.status == 1
    d = s.as_dict()
    assert d["status"] == 1 and d["gases"]["H2"]["table1_ppm"] == 80
