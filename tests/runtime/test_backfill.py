"""Trend backfill keeps quality: a bad stored sample is a gap, never a value."""

from __future__ import annotations

import numpy as np

from app.historian.store import Trend
from app.runtime.backfill import _Worker
from app.station import quality as Q


class FakeHistorian:
    def trend(self, tags, a, b, max_points):  # noqa: ANN001
        return [Trend("ICT1.TOP_OIL", "samples", np.array([1, 2, 3], dtype=np.int64) * 10**9,
                      np.array([60.0, 999.0, 61.0]),
                      np.array([Q.GOOD, Q.SENSOR_FAILED, Q.GOOD], dtype=np.uint16))]


def test_bad_quality_samples_come_back_as_gaps():
    w = _Worker(FakeHistorian())
    got = []
    w.done.connect(lambda tag, t, v: got.append((tag, t, v)))
    w.fetch(["ICT1.TOP_OIL"], 0.0, 10.0, 2000)
    tag, t, v = got[0]
    assert tag == "ICT1.TOP_OIL" and list(t) == [1.0, 2.0, 3.0]
    assert v[0] == 60.0 and np.isnan(v[1]) and v[2] == 61.0
