"""bench.drill's speed figure runs (no timing asserted: the figure is the bench's)."""

from __future__ import annotations


def test_speed_factor_reports_its_figures():
    from bench.drill import speed_factor

    r = speed_factor("frequency-49-2", duration_s=40.0)
    assert r["scenario"] == "frequency-49-2" and r["sim_s"] == 40.0
    assert r["speed_factor"] > 0 and r["wall_s"] > 0 and r["scans"] == 41
    assert r["events_fired"][0] == "underfrequency"
