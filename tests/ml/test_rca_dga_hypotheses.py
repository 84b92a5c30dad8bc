"""Ranked DGA hypotheses for the inference worker: evidence and the action class."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ml.rca.dga import DgaInputError
from ml.rca.dga_hypotheses import IMMEDIATE, INVESTIGATE, MAINTAIN, rank_hypotheses

T0 = datetime(2001, 3, 1, tzinfo=UTC)  # arbitrary origin; no wall clock involved
QUIET = {"H2": 10, "CH4": 5, "C2H6": 5, "C2H4": 3, "C2H2": 0, "CO": 200, "CO2": 2000}


def history(step_days, *changes):
    return [(T0 + timedelta(days=step_days * k), {**QUIET, **c}) for k, c in enumerate(changes)]


def test_developing_hot_spot_is_immediate():
    hist = history(90, *({"CH4": 5 + 30 * k, "C2H6": 5 + 3 * k, "C2H4": 3 + 90 * k,
                          "H2": 10 + 5 * k} for k in range(5)))
    hyps = rank_hypotheses(hist, age_years=15, o2_n2=0.05)
    top = hyps[0]
    assert top.fault == "T3" and top.action == IMMEDIATE and top.probability > 0.9
    texts = [e.text for e in top.evidence]
    assert any(t.startswith("Duval Triangle 1: zone T3") for t in texts)
    assert any(t.startswith("DGA status 3") for t in texts)
    rate = next(e for e in top.evidence if e.text.startswith("C2H4:"))
    assert rate.values["rate_ppm_per_day"] == pytest.approx(1.0)
    assert rate.values["table4_ppm_per_day"] == pytest.approx(7 / 365.25)
    assert "increase since the previous analysis" in texts[0]
    assert top.as_dict()["evidence"][0]["values"]["share"] == pytest.approx(top.probability)


def test_quiet_unit_is_maintain():
    hyps = rank_hypotheses(history(180, {}, {}, {}), o2_n2=0.05)
    assert hyps and all(h.action == MAINTAIN for h in hyps)
    assert any("not warranted" in e.text for e in hyps[0].evidence)
    assert sum(h.probability for h in hyps) <= 1.0 + 1e-9


def test_high_but_steady_discharge_gases_investigate_or_immediate_by_fault():
    steady = {"H2": 300, "CH4": 60, "C2H6": 10, "C2H4": 100, "C2H2": 90}
    hyps = rank_hypotheses(history(120, steady, steady, steady), o2_n2=0.05)
    by = {h.fault: h for h in hyps}
    assert hyps[0].fault == "D2" and by["D2"].action == IMMEDIATE  # status 3 via C2H2 level
    assert all(h.action in (IMMEDIATE, INVESTIGATE) for h in hyps)
    assert [h.probability for h in hyps] == sorted((h.probability for h in hyps), reverse=True)


def test_single_moderate_analysis_investigate():
    hyps = rank_hypotheses([(T0, {**QUIET, "C2H4": 60, "CH4": 40})], o2_n2=0.05)
    assert hyps[0].action == INVESTIGATE


def test_bad_history():
    with pytest.raises(DgaInputError, match="timezone-aware"):
        rank_hypotheses([(datetime(2001, 1, 1), QUIET)])
