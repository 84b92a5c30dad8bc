"""The InfluxDB backend against a real influxd 1.6 (Debian's package, unpacked by
packaging/fetch-influxd.sh) on 127.0.0.1 with a temporary configuration."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from app.field.sim.plant import PlantSimulator
from app.historian.influx import InfluxHistorian
from app.station.frame import ScanFrame
from tests.clocks import hours_ago

ROOT = Path(__file__).resolve().parents[2]
INFLUXD = ROOT / ".cache" / "influxdb" / "usr" / "bin" / "influxd"
T0 = hours_ago(6)


def _free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_influxd(d: Path, *, auth: bool = False):
    http, bind = _free(), _free()
    cfg = d / "influxdb.conf"
    cfg.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{bind}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  auth-enabled = {"true" if auth else "false"}
[monitor]
  store-enabled = false
""")
    proc = subprocess.Popen([str(INFLUXD), "-config", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http}"
    t0 = time.monotonic()
    while True:
        try:
            if httpx.get(url + "/ping", timeout=1).status_code == 204:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() - t0 > 30:
            proc.terminate()
            proc.wait(15)
            raise AssertionError("influxd did not start")
        time.sleep(0.1)


def _need_influxd() -> None:
    if not INFLUXD.exists():
        subprocess.run([str(ROOT / "packaging" / "fetch-influxd.sh"), str(INFLUXD.parents[2])],
                       capture_output=True, timeout=300)
    if not INFLUXD.exists():
        pytest.skip("influxd not available (packaging/fetch-influxd.sh could not fetch it)")


@pytest.fixture(scope="module")
def influx(tmp_path_factory):
    _need_influxd()
    proc, url = _start_influxd(tmp_path_factory.mktemp("influx"))
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture(scope="module")
def influx_auth(tmp_path_factory):
    """An influxd with auth-enabled and one admin user (admin / s3cret)."""
    _need_influxd()
    proc, url = _start_influxd(tmp_path_factory.mktemp("influx-auth"), auth=True)
    try:
        r = httpx.post(url + "/query", params={
            "q": "CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES"})
        assert r.status_code == 200, r.text
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def frames(plant, n):
    for _ in range(n):
        s = plant.step(0.1)
        yield ScanFrame(s.seq, s.timestamp, plant.points, s.values, s.quality, s.t_source_ns,
                        {})


def points_in(url, db, auth=None):
    r = httpx.get(url + "/query", params={"db": db, "q": "SELECT COUNT(q) FROM gt"}, auth=auth)
    series = r.json()["results"][0].get("series")
    return series[0]["values"][0][1] if series else 0


def wait_for(cond, timeout=30.0, what=""):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"condition not met in time: {what}"
        time.sleep(0.05)


def test_influx_backend_ingests_and_queries(influx, station):
    plant = PlantSimulator(station, seed=8, start=T0)
    h = InfluxHistorian(influx, plant.points, flush_s=0.2)
    try:
        for _ in range(300):
            s = plant.step(0.1)
            h.submit(ScanFrame(s.seq, s.timestamp, plant.points, s.values, s.quality,
                               s.t_source_ns, {}))
    finally:
        h.close()
    assert h.status.ok and h.status.frames == 300 and h.status.samples_written > 2531
    h2 = InfluxHistorian(influx, plant.points)
    try:
        tr = h2.trend(["ICT1.HOT_SPOT", "B400_M1.V"], T0, s.timestamp, max_points=100)
        assert all(0 < len(x.t_ns) <= 100 for x in tr)
        assert 380 < tr[1].value.mean() < 420
        v, q, t = h2.value_at("B400_M1.V", s.timestamp)
        assert 380 < v < 420 and q == 0 and t <= s.timestamp
    finally:
        h2.close()


def test_influx_going_away_degrades_without_blocking(influx, station, caplog):
    from app.historian.db import HistorianError

    plant = PlantSimulator(station, seed=8, start=T0)
    dead = f"http://127.0.0.1:{_free()}"
    with pytest.raises(HistorianError, match=f"InfluxDB {dead} not reachable"):
        InfluxHistorian(dead, plant.points)
    h = InfluxHistorian(influx, plant.points, flush_s=0.1)
    try:
        h._http = httpx.Client(base_url=dead, timeout=1)  # the server is gone
        t0 = time.monotonic()
        for _ in range(20):
            s = plant.step(0.1)
            h.submit(ScanFrame(s.seq, s.timestamp, plant.points, s.values, s.quality,
                               s.t_source_ns, {}))
        assert time.monotonic() - t0 < 1.0  # submitting never waited on the network
        while h.status.ok:
            assert time.monotonic() - t0 < 20
            time.sleep(0.05)
        assert "not reachable" in h.status.last_error and h._thread.is_alive()
        assert h.status.pending_samples > 0
    finally:
        h.close()


def test_a_malformed_line_is_dropped_once_and_the_rest_kept(influx, station, caplog):
    """HTTP 400 is final: the bad line is dropped with one log line naming it, never retried,
    the good lines of the same batch are stored."""
    class WithABadLine(InfluxHistorian):
        injected = False

        def _to_lines(self, *a):  # noqa: ANN002
            out = super()._to_lines(*a)
            if out and not self.injected:
                self.injected = True
                out.insert(1, "gt,point=BROKEN v=1.0,q=0i not-a-timestamp")
            return out

    plant = PlantSimulator(station, seed=9, start=T0)
    h = WithABadLine(influx, plant.points, database="bad400", flush_s=0.1)
    try:
        for f in frames(plant, 30):
            h.submit(f)
        wait_for(lambda: h.status.frames == 30 and h.status.pending_samples == 0, what="flush")
        assert h.status.ok and h.status.rejected_samples == 1
        logged = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
        assert len(logged) == 1 and "not-a-timestamp" in logged[0]
    finally:
        h.close()
    assert points_in(influx, "bad400") == h.status.samples_written > 2531


def test_held_lines_are_bounded_while_degraded(influx, station):
    plant = PlantSimulator(station, seed=8, start=T0)
    h = InfluxHistorian(influx, plant.points, database="bounded", flush_s=0.1,
                        max_pending=2000)
    try:
        h._http.close()
        h._http = httpx.Client(base_url=f"http://127.0.0.1:{_free()}", timeout=1)  # gone
        for f in frames(plant, 40):
            h.submit(f)
        wait_for(lambda: h.status.frames == 40 and not h.status.ok, what="degraded")
        # The first scan alone is 2,531 lines (every point's first sample): the oldest go.
        assert len(h._lines) == h.status.pending_samples == 2000
        assert h.status.lost_samples >= 2531 - 2000
    finally:
        h.close()


def test_a_missing_database_is_waited_for_not_dropped(influx, station):
    """InfluxDB 2.x cannot CREATE DATABASE: with create_database=False the database must
    exist. Until it does the writes fail (degraded, lines held); once it exists they land."""
    plant = PlantSimulator(station, seed=8, start=T0)
    h = InfluxHistorian(influx, plant.points, database="later", create_database=False,
                        flush_s=0.1)
    try:
        for f in frames(plant, 10):
            h.submit(f)
        wait_for(lambda: not h.status.ok, what="degraded")
        assert "database not found" in h.status.last_error and h.status.pending_samples > 0
        httpx.post(influx + "/query", params={"q": "CREATE DATABASE later"})
        wait_for(lambda: h.status.ok and h.status.pending_samples == 0, what="recovered")
    finally:
        h.close()
    assert points_in(influx, "later") == h.status.samples_written > 0


def test_credentials(influx_auth, influx, station):
    from app.historian.db import HistorianError

    plant = PlantSimulator(station, seed=8, start=T0)
    with pytest.raises(HistorianError, match="credentials refused"):
        InfluxHistorian(influx_auth, plant.points)
    with pytest.raises(HistorianError, match="credentials refused"):
        InfluxHistorian(influx_auth, plant.points, username="admin", password="wrong")
    h = InfluxHistorian(influx_auth, plant.points, username="admin", password="s3cret",
                        flush_s=0.1)
    try:
        for f in frames(plant, 20):
            h.submit(f)
        wait_for(lambda: h.status.frames == 20 and h.status.pending_samples == 0)
        assert h.status.ok
        assert len(h.trend(["B400_M1.V"], T0, T0 + dt.timedelta(seconds=3))[0].t_ns) > 0
    finally:
        h.close()
    assert points_in(influx_auth, "gridtwin", auth=("admin", "s3cret")) == \
        h.status.samples_written
    # A 2.x token goes as "Authorization: Token …" (1.6 without auth ignores it).
    h = InfluxHistorian(influx, plant.points, token="tok-123")
    try:
        assert h._http.headers["Authorization"] == "Token tok-123"
    finally:
        h.close()


def test_record_and_history_with_influx(influx, tmp_path, capsys):
    """`gridtwin record --influx`: time series in InfluxDB, events and configuration in the
    SQLite store; `gridtwin history --influx` reads them back."""
    import csv

    from app.cli import main

    d = str(tmp_path)
    assert main(["record", "--duration", "3", "--data-dir", d, "--influx", influx,
                 "--influx-db", "rec"]) == 0
    out = capsys.readouterr().out
    assert "historian: ok" in out and f"{influx} db=rec" in out
    assert points_in(influx, "rec") > 2531
    assert main(["history", "trend", "B220_M1.V", "--last", "10m", "--data-dir", d,
                 "--influx", influx, "--influx-db", "rec", "--csv",
                 str(tmp_path / "t.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert rows and all(200 < float(r["value"]) < 240 for r in rows)
    assert (tmp_path / "GT-KA-400.sqlite").exists()  # the configuration store


def test_an_influx_historian_satisfies_the_backend_protocol(influx, station):
    """The instance, config_store included (app.historian.api; test_api.py checks the SQL
    store)."""
    from app.historian import HistorianBackend
    from tests.protocols import protocol_problems

    h = InfluxHistorian(influx, PlantSimulator(station, seed=1).points, flush_s=0.2)
    try:
        assert protocol_problems(h, HistorianBackend) == []
        assert h.config_store is None and h.engine is None  # no SQL store given
    finally:
        h.close()
