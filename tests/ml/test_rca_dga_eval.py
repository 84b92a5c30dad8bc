"""The evaluation harness for labelled, inspected DGA cases."""

from __future__ import annotations

import pytest

from ml.rca.dga_csv import DgaCsvError
from ml.rca.dga_eval import evaluate, read_cases

# Constructed for this test (not published cases): one analysis inside each method's zone.
CONSTRUCTED = ("h2,ch4,c2h6,c2h4,c2h2,fault,source\n"
               "40,80,10,300,10,T3,constructed for the harness test\n"
               "100,30,10,50,80,D2,constructed for the harness test\n"
               "60,40,8,45,15,T1/T2,constructed for the harness test\n")


def test_harness_scores_each_method(tmp_path):
    p = tmp_path / "cases.csv"
    p.write_text(CONSTRUCTED)
    cases = read_cases(p)
    assert [c.fault for c in cases] == ["T3", "D2", "T1/T2"] and cases[0].line == 2
    ev = evaluate(cases, draws=20)
    assert ev.cases == 3
    assert ev.correct["triangle1"] == 2  # the third is DT: not a named fault
    assert ev.correct["ratios"] == 1  # D1/D2 and ND do not count
    assert ev.accuracy("triangle1") == pytest.approx(2 / 3)
    assert set(ev.correct) == {"triangle1", "pentagon1", "ratios", "combined"}


@pytest.mark.parametrize("text,message", [
    ("h2,ch4,c2h6,c2h4,c2h2,fault\n1,2,3,4,5,T1\n", "missing column source"),
    ("h2,ch4,c2h6,c2h4,c2h2,fault,source\n1,2,3,4,5,T1,\n", "line 2, column source"),
    ("h2,ch4,c2h6,c2h4,c2h2,fault,source\n1,2,3,4,5,X9,paper\n", "line 2, column fault"),
])
def test_cases_must_be_labelled_and_sourced(tmp_path, text, message):
    p = tmp_path / "cases.csv"
    p.write_text(text)
    with pytest.raises(DgaCsvError, match=message):
        read_cases(p)
