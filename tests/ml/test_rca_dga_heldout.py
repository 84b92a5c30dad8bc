"""Held-out check on the IEC TC 10 inspected cases (Duval & dePablo 2001).

Runs when ml/rca/data/iec_tc10_holdout.csv is present (see ml/rca/data/README.md): nothing in
the combined diagnosis is fitted or tuned on these cases, and it must name the inspected fault
more often than Duval Triangle 1 alone.
"""

from __future__ import annotations

import pytest

from ml.rca.dga_eval import HELDOUT_TC10, evaluate, read_cases


def test_combined_beats_triangle_1_on_the_iec_tc10_cases():
    if not HELDOUT_TC10.exists():
        pytest.skip(f"{HELDOUT_TC10} not transcribed yet (see ml/rca/data/README.md)")
    ev = evaluate(read_cases(HELDOUT_TC10))
    print(f"IEC TC 10: {ev.cases} cases; Triangle 1 {ev.accuracy('triangle1'):.1%}, "
          f"Pentagon 1 {ev.accuracy('pentagon1'):.1%}, ratios {ev.accuracy('ratios'):.1%}, "
          f"combined {ev.accuracy('combined'):.1%}")
    assert ev.correct["combined"] > ev.correct["triangle1"]
