"""The historian on a real PostgreSQL server: same schema, same behaviour."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest
from sqlalchemy import text

from app.field.sim.plant import PlantSimulator
from app.historian import open_historian
from app.historian.dss_versions import DssVersionStore
from app.station.frame import ScanFrame
from app.twin.validate import validate_circuit_text
from tests.clocks import hours_ago

T0 = hours_ago(6)


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    """A server store's audit-chain key and anchor live in the data directory: a temporary
    one here, never the user's."""
    monkeypatch.setenv("GRIDTWIN_DATA_DIR", str(tmp_path))


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
            assert c.execute(text("SELECT COUNT(*) FROM ts_tail")).scalar() > 0
    finally:
        h.close()
    with h.engine.connect() as c:  # rollups merged across batches: one count per frame
        assert c.execute(text("SELECT MAX(count) FROM ts_rollup WHERE period='h'")).scalar() \
            == 600
        assert c.execute(text("SELECT COUNT(*) FROM ts_tail")).scalar() == 0
    store = DssVersionStore(h.engine)
    store.add(station.circuit_path.read_text(), created_by="eng")
    assert store.activate(1, by="eng", validate=validate_circuit_text).is_active
    # A second open migrates nothing and keeps the data.
    h2 = open_historian(station, plant.points, db_url=postgres_url)
    try:
        assert h2.value_at("ICT1.HOT_SPOT", T0 + dt.timedelta(seconds=30)) is not None
    finally:
        h2.close()



def test_postgres_schema_matches_the_models(postgres_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.historian.db import create_db_engine, migrate
    from app.historian.models import Base

    eng = create_db_engine(postgres_url)
    migrate(eng)
    with eng.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []
    eng.dispose()


def test_postgres_restart_adds_to_the_hour(postgres_url, station):
    """The rollup merge (LEAST/GREATEST upsert) on PostgreSQL: two runs in one hour."""
    plant = PlantSimulator(station, seed=6, start=T0)
    row = plant.points.row("B220_M1.V")
    s = plant.step(0.1)
    hour = hours_ago(5)
    for start, value in ((hour, 100.0), (hour + dt.timedelta(minutes=20), 300.0)):
        h = open_historian(station, plant.points, db_url=postgres_url, flush_s=0.05,
                           queue_size=1000)
        try:
            for k in range(100):
                t = start + dt.timedelta(seconds=k)
                v = s.values.copy()
                v[row] = value
                h.submit(ScanFrame(k, t, plant.points, v, s.quality,
                                   np.full(len(v), int(t.timestamp() * 1e9)), {}))
            t0 = time.monotonic()
            while not (h.status.frames == 100 and h.status.pending_samples == 0 and not h._acc):
                assert time.monotonic() - t0 < 30 and h.status.ok, h.status
                time.sleep(0.05)
        finally:
            h.close()
    pid = int(h._ids[row])
    with h.engine.connect() as c:
        r = c.execute(text("SELECT vmin, vmax, vmean, count FROM ts_rollup WHERE point_id=:p "
                           "AND period='h' AND t_ns=:t"),
                      {"p": pid, "t": int(hour.timestamp() * 1e9)}).all()
    # The count-weighted merge moves the mean's last bit with the batch split (see the SQLite
    # twin of this test): compare it as a float.
    assert len(r) == 1
    assert r[0][:2] == (100.0, 300.0) and r[0][3] == 200
    assert r[0][2] == pytest.approx(200.0, rel=1e-12)


def test_alarm_rules_seed_on_postgres_with_the_range_condition(postgres_url, station):
    """The seed's 'range' rule did not fit alarm_rules.condition on PostgreSQL (SQLite does
    not enforce lengths), so the store fell back to the rule file there."""
    from app.alarms.rules import rules_for_station
    from app.historian.db import create_db_engine, migrate
    from app.station.points import build_point_table

    eng = create_db_engine(postgres_url)
    migrate(eng)
    try:
        with eng.begin() as c:
            c.execute(text("DELETE FROM alarm_rules"))
        rs = rules_for_station(station, build_point_table(station), eng)
        assert rs.problems == () and rs.source.startswith("postgresql"), rs.source
        with eng.connect() as c:
            cond = c.execute(text("SELECT condition FROM alarm_rules "
                                  "WHERE rule_id = 'SEED-VOLTAGE'")).scalar()
        assert cond == "range"
    finally:
        eng.dispose()


def test_postgres_audit_chain_two_writers_and_tampering(postgres_url, tmp_path):
    """The chain on PostgreSQL: two writers (separate engines) append in turn under the
    head's row lock; a deleted and an edited row are found; the key is in the data dir."""
    from app.control.audit import DbAudit
    from app.control.userdb import open_store
    from app.historian.audit_chain import chain_files
    from app.station import clock

    engines = [open_store("pgtest", db_url=postgres_url, data_dir=str(tmp_path))
               for _ in range(2)]
    with engines[0].begin() as c:  # the session's server: start from an empty log
        c.execute(text("DELETE FROM audit_log"))
        c.execute(text("UPDATE audit_chain SET seq = 0, row_hash = '', key_id = NULL"))
    audits = [DbAudit(e) for e in engines]
    try:
        key, anchor = chain_files(engines[0])
        assert key.parent == tmp_path and key.name.startswith("postgresql-127.0.0.1-")
        now = clock.now()
        for i in range(20):
            audits[i % 2].record(user="op", time=now, device="F1_Q0", action="select open",
                                 result="selected", detail=f"n={i}")
        for a in audits:
            assert a.flush()
        rep = audits[0].verify()
        assert rep.ok and rep.chained == 20 and rep.last_seq == 20
        with engines[0].begin() as c:
            ids = [r[0] for r in c.execute(text("SELECT audit_id FROM audit_log "
                                                "ORDER BY seq"))]
            c.execute(text("DELETE FROM audit_log WHERE audit_id = :i"), {"i": ids[5]})
            c.execute(text("UPDATE audit_log SET result = 'refused' WHERE audit_id = :i"),
                      {"i": ids[10]})
        problems = audits[1].verify().problems
        assert [(p.seq, p.what.split(":")[0]) for p in problems] == [
            (7, "chain number 6 missing before this row"),
            (11, "its content does not match its hash")]
    finally:
        for a in audits:
            a.close()
        for e in engines:
            e.dispose()
