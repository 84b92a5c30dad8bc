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

from app.field.frame import ScanFrame
from app.field.sim.plant import PlantSimulator
from app.historian.influx import InfluxHistorian

ROOT = Path(__file__).resolve().parents[2]
INFLUXD = ROOT / ".cache" / "influxdb" / "usr" / "bin" / "influxd"
T0 = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)


def _free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def influx(tmp_path_factory):
    if not INFLUXD.exists():
        subprocess.run([str(ROOT / "packaging" / "fetch-influxd.sh"), str(INFLUXD.parents[2])],
                       capture_output=True, timeout=300)
    if not INFLUXD.exists():
        pytest.skip("influxd not available (packaging/fetch-influxd.sh could not fetch it)")
    d = tmp_path_factory.mktemp("influx")
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
[monitor]
  store-enabled = false
""")
    proc = subprocess.Popen([str(INFLUXD), "-config", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http}"
    try:
        t0 = time.monotonic()
        while True:
            try:
                if httpx.get(url + "/ping", timeout=1).status_code == 204:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() - t0 < 30, "influxd did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


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
