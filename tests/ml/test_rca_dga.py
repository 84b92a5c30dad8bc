"""DGA interpretation (IEC 60599 three ratios, Duval Triangle 1, typical values)."""

from __future__ import annotations

import math

import pytest

from ml.rca.dga import (
    DUVAL1_LIMITS,
    METHOD_DUVAL,
    METHOD_RATIOS,
    DgaInputError,
    above_typical,
    duval_triangle_1,
    duval_zone,
    interpret,
    three_ratio,
)


def sample(h2, ch4, c2h6, c2h4, c2h2, co=200.0, co2=2000.0):
    return {"H2": h2, "CH4": ch4, "C2H6": c2h6, "C2H4": c2h4, "C2H2": c2h2, "CO": co,
            "CO2": co2}


# One sample per row of IEC 60599 Table 1, chosen inside the row.
@pytest.mark.parametrize("code,gases", [
    ("PD", sample(500, 25, 10, 1, 0)),  # CH4/H2 0.05, C2H4/C2H6 0.1
    ("D1", sample(200, 50, 10, 20, 60)),  # 3 (above D2's 2.5), 0.25, 2
    ("D2", sample(200, 140, 10, 100, 120)),  # 1.2, 0.7, 10
    ("T1", sample(20, 60, 80, 10, 0)),  # -, 3, 0.125
    ("T2", sample(30, 120, 40, 100, 2)),  # 0.02, 4, 2.5
    ("T3", sample(40, 80, 10, 200, 10)),  # 0.05, 2, 20
])
def test_three_ratio_rows(code, gases):
    d = three_ratio(gases)
    assert d.method == METHOD_RATIOS and d.code == code, d.explanation
    assert set(d.values) == {"C2H2/C2H4", "CH4/H2", "C2H4/C2H6"}
    assert "C2H2/C2H4 =" in d.explanation and d.fault in d.explanation


def test_three_ratio_boundaries_and_gaps():
    # C2H4/C2H6 = 4 is still T2; just above is T3.
    assert three_ratio(sample(10, 40, 10, 40, 1)).code == "T2"
    assert three_ratio(sample(10, 40, 10, 40.1, 1)).code == "T3"
    # CH4/H2 = 0.1 is no longer PD.
    assert three_ratio(sample(100, 9.99, 10, 1, 0)).code == "PD"
    assert three_ratio(sample(100, 10, 10, 1, 0)).code != "PD"
    # D1 and D2 rows overlap: the standard's dual attribution.
    both = three_ratio(sample(100, 30, 10, 50, 80))  # 1.6, 0.3, 5
    assert both.code == "D1/D2"
    # Outside every row: no diagnosis (e.g. C2H2/C2H4 0.3 with CH4/H2 > 1, C2H4/C2H6 > 4).
    assert three_ratio(sample(10, 40, 5, 40, 12)).code == "ND"
    # Zero denominators.
    r = three_ratio(sample(0, 10, 0, 5, 0))
    assert math.isinf(r.values["CH4/H2"]) and math.isinf(r.values["C2H4/C2H6"])
    assert three_ratio(sample(0, 0, 0, 0, 0)).code == "ND"


@pytest.mark.parametrize("pct,zone", [
    ((98.0, 1.0, 1.0), "PD"), ((97.9, 1.1, 1.0), "T1"),
    ((80.0, 19.9, 0.1), "T1"), ((79.9, 20.0, 0.1), "T2"),
    ((50.1, 49.9, 0.0), "T2"), ((50.0, 50.0, 0.0), "T3"),
    ((96.1, 0.0, 3.9), "T1"), ((96.0, 0.0, 4.0), "DT"),
    ((40.0, 45.0, 15.0), "DT"), ((36.0, 50.0, 14.0), "T3"), ((35.0, 50.0, 15.0), "DT"),
    ((64.0, 22.9, 13.1), "D1"), ((0.0, 23.0, 77.0), "D2"), ((87.0, 0.0, 13.0), "D1"),
    ((60.0, 27.0, 13.0), "D2"), ((47.1, 39.9, 13.0), "D2"), ((47.0, 40.0, 13.0), "DT"),
    ((31.0, 40.0, 29.0), "D2"), ((32.0, 40.0, 28.0), "DT"), ((21.0, 50.0, 29.0), "D2"),
    ((60.0, 30.0, 10.0), "DT"),
])
def test_duval_triangle_1_zone_limits(pct, zone):
    assert duval_zone(*pct) == zone
    d = duval_triangle_1({"H2": 0, "CH4": pct[0], "C2H6": 0, "C2H4": pct[1], "C2H2": pct[2]})
    assert d.method == METHOD_DUVAL and d.code == zone
    assert d.values["C2H4 %"] == pytest.approx(pct[1])


def test_duval_limits_are_the_published_ones():
    L = DUVAL1_LIMITS
    assert (L.pd_ch4, L.d_c2h2, L.d1_c2h4, L.d2_c2h4, L.d2_c2h2) == (98, 13, 23, 40, 29)
    assert (L.t12_c2h2, L.t1_c2h4, L.t3_c2h4, L.t3_c2h2) == (4, 20, 50, 15)


def test_typical_values_decide_whether_to_interpret():
    healthy = sample(20, 12, 9, 6, 0.3, 280, 2400)
    r = interpret(healthy)
    assert r.code == "N" and not r.warranted and r.above_typical == ()
    assert "not warranted" in r.explanation
    assert above_typical(sample(151, 12, 9, 6, 0.3)) == ("H2",)
    assert above_typical(sample(20, 12, 9, 6, 25)) == ("C2H2",)
    # A communicating OLTC puts acetylene in the main tank: its typical value is higher.
    assert above_typical(sample(20, 12, 9, 6, 25), oltc_communicating=True) == ()
    assert above_typical(healthy, typical={"H2": 10}) == ("H2",)


def test_interpretation_combines_both_methods():
    r = interpret(sample(40, 80, 10, 300, 10))
    assert r.code == "T3" and r.agreed and r.warranted and "C2H4" in r.above_typical
    assert r.ratios.code == r.duval.code == "T3"
    assert "agree" in r.explanation and r.basis == "concentrations"
    # The ratios' dual attribution is settled by the triangle.
    r = interpret(sample(100, 30, 10, 50, 80))
    assert r.ratios.code == "D1/D2" and r.code == r.duval.code == "D2"


def test_a_weak_fault_on_a_background_reads_from_the_increase():
    before = sample(20, 12, 9, 6, 0.3, 280, 2400)
    after = {**before, "H2": 20 + 300, "CH4": 12 + 15, "C2H6": 9 + 5}
    assert interpret(after).code != "PD"  # the background C2H4 hides it
    r = interpret(after, previous=before)
    assert r.code == "PD" and r.agreed and r.basis.startswith("increase")
    assert r.ppm["H2"] == pytest.approx(300)


@pytest.mark.parametrize("bad,message", [
    ({"CH4": 1, "C2H6": 1, "C2H4": 1, "C2H2": 1}, "H2 is missing"),
    ({**sample(1, 1, 1, 1, 1), "C2H4": -3}, "C2H4 = -3.0 ppm is not a concentration"),
    ({**sample(1, 1, 1, 1, 1), "CH4": "lots"}, "CH4 = 'lots' is not a number"),
    ({**sample(1, 1, 1, 1, 1), "C2H2": float("nan")}, "C2H2 = nan"),
])
def test_bad_input_names_the_gas(bad, message):
    with pytest.raises(DgaInputError, match=message):
        interpret(bad)


def test_keys_in_any_case_and_point_style():
    r = interpret({"h2_ppm": 500, "ch4": 25, "C2h6": 10, "c2h4": 1, "C2H2": 0})
    assert r.ratios.code == "PD"
