"""The RCA benchmark: milliseconds per :func:`ml.rca.engine.analyse` call on the reference
station, for ``gridtwin bench ml`` (``bench/ml.py`` calls :func:`bench_rca` and prints or
returns its figures; target ``rca_ms`` ≤ 100).

Each call analyses one alarm with a full context: the station's topology, a window of events
(a stuck-breaker sequence among unrelated alarms), a transformer's 24 h thermal history at one
sample a minute, its DGA history and a few hundred past incidents.
"""

from __future__ import annotations


def bench_rca(*, calls: int = 200, seed: int = 0, incidents: int = 300) -> dict[str, float]:
    """Time ``calls`` analyses; returns ``{"rca_ms": median, "rca_p99_ms": 99th percentile,
    "rca_max_ms": …, "rca_calls": calls}`` (milliseconds of wall time per analysis)."""
    raise NotImplementedError  # body follows in the next commit
