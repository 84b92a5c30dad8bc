"""Event-level evaluation arithmetic, on hand-made flags and faults."""

from __future__ import annotations

import numpy as np
import pytest

from ml.anomaly.evaluate import (
    EvaluationInputError,
    FaultInterval,
    evaluate_events,
    runs,
)

ASSETS = ("A", "B", "C")


def flags_for(t, spans):
    """flags[scan, asset] True where t falls in one of the asset's (start, end) spans."""
    f = np.zeros((len(t), len(ASSETS)), dtype=bool)
    for asset, (lo, hi) in spans:
        f[:, ASSETS.index(asset)] |= (t >= lo) & (t <= hi)
    return f


T = np.arange(0.0, 86_400.0 + 1, 60.0)  # one day, one scan a minute


def test_runs_merge_short_gaps():
    t = np.arange(10.0)
    flag = np.array([0, 1, 1, 0, 1, 0, 0, 0, 1, 1], dtype=bool)
    assert runs(t, flag) == [(1.0, 2.0, 2), (4.0, 4.0, 1), (8.0, 9.0, 2)]
    # a gap of 2 s (2 → 4) merges; 4 → 8 does not
    assert runs(t, flag, merge_gap_s=2.0) == [(1.0, 4.0, 3), (8.0, 9.0, 2)]
    assert runs(t, np.zeros(10, dtype=bool)) == []


def test_detected_missed_and_false_alarms():
    faults = [
        FaultInterval("A", "thd", 10_000, 12_000, first_alarm_s=11_000),  # detected at 10_200
        FaultInterval("B", "thd", 30_000, 31_000),  # missed
        FaultInterval("C", "sf6", 50_000, 60_000, first_alarm_s=52_000),  # detected at 50_640
    ]
    f = flags_for(T, [("A", (10_200, 11_500)),  # true
                      ("A", (70_000, 70_300)),  # false on A
                      ("C", (50_640, 60_000)),  # true (scans are on the minute)
                      ("B", (5_000, 5_100))])  # false on B
    ev = evaluate_events(T, f, ASSETS, faults, grace_s=600, merge_gap_s=120)
    assert (ev.faults, ev.detected) == (3, 2)
    assert (ev.true_episodes, ev.false_episodes) == (2, 2)
    assert ev.precision == pytest.approx(0.5)
    assert ev.recall == pytest.approx(2 / 3)
    assert ev.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert ev.detection_s == (10_200.0, None, 50_640.0)
    # 2 false alarms over 3 assets × 1 day
    assert ev.asset_days == pytest.approx(3.0)
    assert ev.false_alarms_per_asset_day == pytest.approx(2 / 3)

    thd, sf6 = ev.per_kind["thd"], ev.per_kind["sf6"]
    # thd: faults on A and B; one true episode; the false alarms on A and B both count
    assert (thd.faults, thd.detected, thd.true_episodes, thd.false_episodes) == (2, 1, 1, 2)
    assert thd.precision == pytest.approx(1 / 3) and thd.recall == pytest.approx(0.5)
    assert thd.delay_s == pytest.approx(200.0)
    assert thd.lead_times_s == (800.0,) and thd.lead_s == pytest.approx(800.0)
    # sf6: on C, no false alarm there
    assert (sf6.precision, sf6.recall, sf6.f1) == (1.0, 1.0, 1.0)
    assert sf6.lead_s == pytest.approx(1_360.0) and sf6.delay_s == pytest.approx(640.0)

    d = ev.as_dict()
    assert {"f1", "precision", "recall", "false_alarms_per_asset_day", "per_kind"} <= set(d)
    assert d["per_kind"]["thd"]["lead_times_s"] == [800.0]


def test_grace_and_overlap_rules():
    fault = FaultInterval("A", "overheat", 10_000, 12_000)
    # flagged only after the end, within the grace: detected, and the episode is true
    f = flags_for(T, [("A", (12_300, 12_500))])
    ev = evaluate_events(T, f, ASSETS, [fault], grace_s=600)
    assert ev.detected == 1 and ev.false_episodes == 0
    # beyond the grace: missed, and a false alarm
    ev = evaluate_events(T, f, ASSETS, [fault], grace_s=120)
    assert ev.detected == 0 and ev.false_episodes == 1
    # an episode running into the fault from before counts as true; detection is the first
    # flagged scan inside the fault
    f = flags_for(T, [("A", (9_000, 10_500))])
    ev = evaluate_events(T, f, ASSETS, [fault], grace_s=0)
    assert ev.true_episodes == 1 and ev.detection_s == (10_020.0,)
    # flags on another asset neither detect it nor match it
    f = flags_for(T, [("B", (10_000, 12_000))])
    ev = evaluate_events(T, f, ASSETS, [fault])
    assert ev.detected == 0 and ev.false_episodes == 1


def test_fault_on_several_assets_and_lead_with_no_alarm():
    fault = FaultInterval(("A", "B"), "voltage", 20_000, 21_000)
    f = flags_for(T, [("B", (20_100, 20_400)), ("A", (20_300, 20_900))])
    ev = evaluate_events(T, f, ASSETS, [fault])
    assert ev.detection_s == (20_100.0,)
    assert ev.true_episodes == 2 and ev.precision == 1.0
    k = ev.per_kind["voltage"]
    assert k.lead_s is None and k.detected_without_alarm == 1
    # a threshold alarm earlier than the detector: negative lead time
    late = FaultInterval(("A", "B"), "voltage", 20_000, 21_000, first_alarm_s=20_040)
    assert evaluate_events(T, f, ASSETS, [late]).per_kind["voltage"].lead_s == -60.0


def test_no_flags_no_faults():
    ev = evaluate_events(T, np.zeros((len(T), 3), dtype=bool), ASSETS, [])
    assert (ev.precision, ev.recall, ev.false_alarms_per_asset_day) == (1.0, 1.0, 0.0)
    ev = evaluate_events(T, np.zeros((len(T), 3), dtype=bool), ASSETS,
                         [FaultInterval("A", "thd", 100, 200)])
    assert ev.recall == 0.0 and ev.f1 == 0.0 and ev.per_kind["thd"].precision == 1.0


def test_duration_override_sets_asset_days():
    f = flags_for(T, [("A", (100, 200))])
    ev = evaluate_events(T, f, ASSETS, [], duration_s=2 * 86_400)
    assert ev.asset_days == pytest.approx(6.0)
    assert ev.false_alarms_per_asset_day == pytest.approx(1 / 6)


def test_bad_input_is_refused_with_one_clear_message():
    f = np.zeros((len(T), 3), dtype=bool)
    with pytest.raises(EvaluationInputError, match=r"shape \(1441, 2\); expected \(1441 scans"):
        evaluate_events(T, f[:, :2], ASSETS, [])
    with pytest.raises(EvaluationInputError, match="fault 0 \\('thd'\\) is on Z"):
        evaluate_events(T, f, ASSETS, [FaultInterval("Z", "thd", 0, 1)])
    with pytest.raises(EvaluationInputError, match="scan 2 at 1.0 follows 5.0"):
        evaluate_events(np.array([0.0, 5.0, 1.0]), f[:3], ASSETS, [])
    with pytest.raises(EvaluationInputError, match="ends .* before it starts"):
        FaultInterval("A", "thd", 10, 5)
