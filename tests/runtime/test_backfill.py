"""Trend backfill keeps quality: a bad stored sample is a gap, never a value."""

from __future__ import annotations

import numpy as np

from app.historian.store import Trend
from app.runtime.queries import trend_history
from app.station import quality as Q


class FakeHistorian:
    def trend(self, tags, a, b, max_points):  # noqa: ANN001
        return [Trend("ICT1.TOP_OIL", "samples", np.array([1, 2, 3], dtype=np.int64) * 10**9,
                      np.array([60.0, 999.0, 61.0]),
                      np.array([Q.GOOD, Q.SENSOR_FAILED, Q.GOOD], dtype=np.uint16))]


def test_bad_quality_samples_come_back_as_gaps():
    (tag, t, v), = trend_history(FakeHistorian(), ["ICT1.TOP_OIL"], 0.0, 10.0, 2000)
    assert tag == "ICT1.TOP_OIL" and list(t) == [1.0, 2.0, 3.0]
    assert v[0] == 60.0 and np.isnan(v[1]) and v[2] == 61.0


def test_a_failed_backfill_is_one_log_line_not_an_exception(caplog):
    class Broken:
        def trend(self, *a, **kw):  # noqa: ANN002, ANN003
            raise OSError("database is locked")

    assert trend_history(Broken(), ["ICT1.TOP_OIL"], 0.0, 10.0, 2000) == []
    assert "trend backfill failed" in caplog.text
