"""The historian on a real PostgreSQL server: same schema, same behaviour."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import text

from app.field.frame import ScanFrame
from app.field.sim.plant import PlantSimulator
from app.historian import open_historian
from app.historian.dss_versions import DssVersionStore
from app.twin.validate import validate_circuit_text

T0 = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)


def test_postgres_store_end_to_end(postgres_url, station):
    plant = PlantSimulator(station, seed=6, start=T0)
    h = open_historian(station, plant.points, db_url=postgres_url, flush_s=0.1,
                       queue_size=5000)
    try:
        assert h.engine.dialect.name == "postgresql"
        for _ in range(600):
            s = plant.step(0.1)
            h.submit(ScanFrame(s.seq, s.timestamp, plant.points, s.values, s.quality,
                               s.t_source_ns, {}))
        t0 = time.monotonic()
        while not (h.status.frames == 600 and h.status.pending_samples == 0):
            assert time.monotonic() - t0 < 30 and h.status.ok, h.status
            time.sleep(0.05)
        h._write_hourly()
        h.compact(older_than_ns=int((T0 + dt.timedelta(seconds=30)).timestamp() * 1e9))
        tr = h.trend(["ICT1.HOT_SPOT"], T0, s.timestamp)[0]
        assert tr.source == "samples" and len(tr.t_ns) > 2
        assert h.value_at("ICT1.HOT_SPOT", T0 + dt.timedelta(seconds=30)) is not None
        h.add_events([{"event_type": "state", "asset_id": "F1_Q0", "severity": "medium",
                       "message": "F1_Q0.POS closed → open", "time_ms": 1}])
        assert [e.asset_id for e in h.events(text_contains="CLOSED")] == ["F1_Q0"]
        with h.engine.connect() as c:
            assert c.execute(text("SELECT COUNT(*) FROM assets")).scalar() == len(station.assets)
            assert c.execute(text("SELECT COUNT(*) FROM ts_rollup WHERE period='d'")).scalar() > 0
    finally:
        h.close()
    store = DssVersionStore(h.engine)
    store.add(station.circuit_path.read_text(), created_by="eng")
    assert store.activate(1, by="eng", validate=validate_circuit_text).is_active
    # A second open migrates nothing and keeps the data.
    h2 = open_historian(station, plant.points, db_url=postgres_url)
    try:
        assert h2.value_at("ICT1.HOT_SPOT", T0 + dt.timedelta(seconds=30)) is not None
    finally:
        h2.close()

