"""fault_records_for: the integrator's call."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from app.training.records import fault_records_for
from app.twin.faults import fault_study

FAULT_TIME = dt.datetime(2024, 3, 5, 6, 30, 15, 250000, tzinfo=dt.UTC)


def test_summary_is_json_with_the_fault_and_the_record(station, engine, tmp_path):
    res = fault_study(engine, ["L2_T"], ["LG"])[0]
    before = engine.switch_states()
    rec = fault_records_for(engine, station, res, fault_time=FAULT_TIME, out_dir=tmp_path,
                            stuck={"L2_Q0"})
    s = json.loads(json.dumps(rec.summary()))
    assert (s["bus"], s["fault_type"]) == ("l2_t", "LG")
    assert s["cfg"].endswith(".cfg") and s["dat"].endswith(".dat")
    assert s["cfg"] == str(rec.cfg) and rec.cfg.parent == tmp_path and rec.dat.is_file()
    assert s["stuck"] == ["L2_Q0"] and s["breaker"] == "L2_Q0" and s["bay"] == "L2"
    assert s["fault_current_ka"] == pytest.approx(res.current_ka, rel=1e-4)
    kinds = [e["kind"] for e in s["events"]]
    assert kinds[0] == "fault" and "bf_backup_trip" in kinds and "transfer_trip" in kinds
    assert all(isinstance(e["time_ms"], float) for e in s["events"])
    assert engine.switch_states() == before


def test_fault_time_must_be_aware_and_bay_can_be_chosen(station, engine, tmp_path):
    with pytest.raises(ValueError, match="timezone-aware"):
        fault_records_for(engine, station, ("F1_T", "LG"),
                          fault_time=dt.datetime(2024, 3, 5, 6, 30), out_dir=tmp_path)
    rec = fault_records_for(engine, station, ("B220_M1", "3ph"), fault_time=FAULT_TIME,
                            out_dir=tmp_path, bay="ICT1L")
    assert rec.breaker == "ICT1L_Q0" and rec.analog_channels[0] == "ICT1L IA"
    # A busbar fault: the zone's breakers all open, the record's bay among them.
    assert rec.sequence.first("breaker_open", breaker="ICT1L_Q0") is not None
    assert np.isfinite(rec.sequence.tau_s)
