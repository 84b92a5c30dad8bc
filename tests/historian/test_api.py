"""Both historian backends satisfy the Protocols their users hold them by
(app.historian.api): the SQL store here, InfluxDB in test_influx.py (it needs influxd)."""

from __future__ import annotations

import io

import pytest

from app.historian import HistorianBackend, HistorianReader, HistorianWriter, open_historian
from app.historian.influx import InfluxHistorian
from app.historian.store import Historian
from app.station.points import build_point_table
from tests.protocols import protocol_members, protocol_problems


def test_the_backend_protocol_is_the_writer_and_the_reader():
    members = set(protocol_members(HistorianBackend))
    assert set(protocol_members(HistorianWriter)) | set(protocol_members(HistorianReader)) \
        == members
    assert {"submit", "submit_events", "status", "close", "trend", "value_at", "events",
            "engine", "config_store", "export_trend_csv", "export_events_csv"} <= members


def test_the_sql_historian_satisfies_both(tmp_path, station):
    h = open_historian(station, build_point_table(station), data_dir=tmp_path,
                       start_writer=False)
    try:
        assert isinstance(h, Historian)
        assert protocol_problems(h, HistorianBackend) == []
        assert h.config_store is h and h.engine is not None  # events and config: itself
    finally:
        h.close()


def test_the_influx_historian_has_every_member_with_the_same_parameters():
    """Checked on the class here (an instance needs a server: test_influx.py checks one);
    ``config_store`` is an attribute each instance sets."""
    assert protocol_problems(InfluxHistorian, HistorianBackend) == [
        "InfluxHistorian.config_store: missing"]
    for name in ("status", "engine"):
        assert isinstance(getattr(InfluxHistorian, name), property)


def test_the_checker_finds_what_is_missing():
    class HalfWriter:
        status = None

        def submit(self, frame: object, when: float) -> None:  # one required parameter more
            pass

        def close(self) -> None:  # no timeout_s
            pass

    problems = protocol_problems(HalfWriter(), HistorianWriter)
    assert "HalfWriter.submit_events: missing or not a method" in problems
    assert "HalfWriter.close: no parameter 'timeout_s'" in problems
    assert "HalfWriter.submit: requires 'when', which the Protocol does not pass" in problems


@pytest.mark.parametrize("backend", [Historian, InfluxHistorian])
def test_the_csv_exports_need_no_instance(backend, station):
    """Both backends export with the same static functions (the Influx one no longer calls
    the SQL one's method with itself)."""
    buf = io.StringIO()
    backend.export_trend_csv([], buf)
    backend.export_events_csv([], buf)
    assert buf.getvalue().splitlines()[0].startswith("time_utc,point,source")
