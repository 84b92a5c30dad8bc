"""The combined DGA diagnosis: always a fault class, a confidence, and the methods' answers."""

from __future__ import annotations

import pytest

from ml.rca.dga import DgaInputError
from ml.rca.dga_combined import FAULT_CLASSES, combine, diagnose


def sample(h2, ch4, c2h6, c2h4, c2h2, co=200.0, co2=2000.0):
    return {"H2": h2, "CH4": ch4, "C2H6": c2h6, "C2H4": c2h4, "C2H2": c2h2, "CO": co,
            "CO2": co2}


def test_three_methods_agree_full_confidence():
    d = diagnose(sample(40, 80, 10, 300, 10))
    assert (d.fault, d.duval1_zone, d.pentagon_zone, d.ratio_code) == ("T3", "T3", "T3", "T3")
    assert d.confidence == pytest.approx(1.0) and d.warranted and d.above_typical == ("C2H4",)
    assert sum(d.scores.values()) == pytest.approx(1.0) and set(d.scores) == set(FAULT_CLASSES)
    assert d.explanation.startswith("T3 (thermal fault above 700 °C), confidence 1.00")


def test_disagreement_lowers_the_confidence_and_the_majority_wins():
    # Hydrogen with a little methane: the triangle (CH4 96 %) says T1, the pentagon and the
    # ratios say PD.
    d = diagnose(sample(500, 25, 10, 1, 0))
    assert d.duval1_zone == "T1" and d.pentagon_zone == "PD" and d.ratio_code == "PD"
    assert d.fault == "PD" and 0.5 < d.confidence < 0.8
    assert "Triangle 1 T1" in d.explanation and "Pentagon 1 PD" in d.explanation


def test_dual_ratio_answer_is_settled_by_the_diagrams():
    d = diagnose(sample(100, 30, 10, 50, 80))
    assert d.ratio_code == "D1/D2" and d.fault == "D2" == d.duval1_zone == d.pentagon_zone
    assert d.scores["D1"] > 0  # the ratios' half vote


def test_triangle_dt_is_resolved_by_the_pentagon():
    # Triangle 1 DT (CH4 40 %, C2H4 45 %, C2H2 15 %); the pentagon and ratios have an answer.
    d = diagnose(sample(60, 40, 8, 45, 15))
    assert d.duval1_zone == "DT"
    assert d.fault == d.pentagon_zone != "DT"


def test_family_disagreement_votes_dt():
    score = combine({"triangle": {"DT": 0.5}, "pentagon": {"T3": 1.0}, "ratios": {"D2": 1.0}})
    # T3 1.0, D2 0.5, DT 0.5 (triangle) + 0.5 (the smaller family share): DT wins.
    assert score["DT"] == pytest.approx(1.0) and score["T3"] == pytest.approx(1.0)
    assert score["D2"] == pytest.approx(0.5)


def test_fault_always_named_even_when_not_warranted():
    d = diagnose(sample(20, 12, 9, 6, 0.3, 280, 2400))
    assert d.fault in FAULT_CLASSES and not d.warranted
    assert "interpretation not warranted" in d.explanation
    none = diagnose(sample(0, 0, 0, 0, 0))
    assert none.fault in FAULT_CLASSES and none.confidence == 0.0
    assert "no evidence" in none.explanation


def test_gases_not_measured_drop_the_methods_that_need_them():
    d = diagnose({"H2": None, "CH4": 80, "C2H6": None, "C2H4": 300, "C2H2": 10})
    assert d.duval1_zone == "T3" and d.pentagon_zone == "ND" and d.ratio_code == "ND"
    assert d.fault == "T3" and "Pentagon 1 not computable" in d.explanation
    assert diagnose({"CH4": 80}).confidence == 0.0


def test_increase_since_the_previous_analysis():
    before = sample(20, 12, 9, 6, 0.3, 280, 2400)
    after = {**before, "H2": 20 + 300, "CH4": 12 + 15, "C2H6": 9 + 5}
    d = diagnose(after, previous=before)
    assert d.fault == "PD" and d.basis.startswith("increase") and d.ppm["H2"] == pytest.approx(300)


def test_deterministic_and_bad_input():
    g = sample(60, 40, 8, 45, 15)
    assert diagnose(g).scores == diagnose(g).scores
    assert diagnose(g, draws=0).confidence > 0
    with pytest.raises(DgaInputError, match="C2H4 = 'x' is not a number"):
        diagnose({**g, "C2H4": "x"})
    with pytest.raises(DgaInputError, match="previous analysis: H2 = -1.0 ppm"):
        diagnose(g, previous={**g, "H2": -1})
    assert set(diagnose(g).as_dict()) >= {"fault", "confidence", "warranted", "duval1_zone",
                                          "pentagon_zone", "ratio_code", "explanation"}
