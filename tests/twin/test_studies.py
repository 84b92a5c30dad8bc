"""Studies on the live state: fault levels and N-1 from the solver's newest state."""

from __future__ import annotations

import threading

import pytest

from app.twin.faults import Cancelled
from app.twin.studies import live_contingencies, live_fault_levels


def test_fault_levels_follow_the_live_switching(station, engine):
    base = {f.asset_id: f for f in live_fault_levels(station, engine.solve())}
    assert base["B400_M1"].ka["3ph"] == pytest.approx(45.0, rel=0.03)
    assert base["B220_M1"].ka["3ph"] == pytest.approx(11.1, rel=0.05)
    # ICT-2 out of service on both sides: the 220 kV fault level falls, 400 kV hardly moves.
    for e in ("Line.ICT2H_Q0", "Line.ICT2L_Q0"):
        engine.set_switch(e, False)
    live = {f.asset_id: f for f in live_fault_levels(station, engine.solve())}
    assert live["B220_M1"].ka["3ph"] < 0.7 * base["B220_M1"].ka["3ph"]
    assert live["B400_M1"].ka["3ph"] == pytest.approx(base["B400_M1"].ka["3ph"], rel=0.05)
    assert all(f.energised for f in live.values())


def test_contingencies_start_from_the_live_state_and_report_progress(station, engine):
    engine.set_switch("Line.ICT2H_Q0", False)
    engine.set_switch("Line.ICT2L_Q0", False)
    seen = []
    res = live_contingencies(station, engine.solve(), progress=lambda d, t: seen.append((d, t)))
    base, rest = res[0], {r.outage: r for r in res[1:]}
    assert base.outage == "base case" and seen[-1][0] == seen[-1][1] == len(rest)
    # With ICT-2 already out, losing ICT-1 leaves the 220 kV side without a source.
    assert rest["ICT1"].load_lost_mw > 100
    assert engine.is_closed("Line.ICT1H_Q0")  # the live engine is not touched


def test_a_study_stops_when_cancelled(station, engine):
    flag = threading.Event()
    flag.set()
    with pytest.raises(Cancelled):
        live_fault_levels(station, engine.solve(), cancel=flag)
