"""The disturbance-record viewer on a record a fault sequence wrote: its channels, the cursors'
readout against the file, hiding a channel, and a bad file named in a message box."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.training.comtrade import read_comtrade, rms_whole_cycles
from app.training.records import fault_records_for
from app.ui.records import RecordViewer, open_record_viewer

FAULT_TIME = dt.datetime(2024, 3, 5, 6, 30, 15, 250000, tzinfo=dt.UTC)


@pytest.fixture
def record(station, engine, tmp_path):
    return fault_records_for(engine, station, ("F1_R", "LG"), fault_time=FAULT_TIME,
                             out_dir=tmp_path)


def test_viewer_shows_every_channel_grouped_by_unit(qtbot, record):
    v = open_record_viewer(None, record.cfg, timezone="Asia/Kolkata")
    qtbot.addWidget(v)
    rec = read_comtrade(record.cfg)
    assert v.windowTitle() == f"Disturbance record — {record.cfg.name}"
    # One plot for the currents, one for the voltages, one for the status channels.
    labels = [p.getAxis("left").labelText for p in v.plots]
    assert labels == ["Current (A)", "Voltage (kV)", "Status"]
    assert v.table.rowCount() == len(rec.analogs) + len(rec.statuses)
    assert [v.table.item(r, 0).text() for r in range(v.table.rowCount())] == \
        [*record.analog_channels, *record.status_channels]
    assert "F1_21" in v.header.text() and "12:00:15.250 IST" in v.header.text()
    # The time axis is ms from the trigger: the record starts 100 ms before it.
    assert v.t_ms[0] == pytest.approx(-100.0)


def test_cursor_readout_is_the_files_value_and_rms(qtbot, record):
    v = RecordViewer(read_comtrade(record.cfg))
    qtbot.addWidget(v)
    rec = v.record
    fs = rec.sample_rate_hz
    t1 = rec.trigger_s + 0.150  # in the fault, the DC offset decayed
    with qtbot.waitSignal(v.cursors_moved):
        v.set_cursor(1, t1)
    i = int(round(t1 * fs))
    ia = rec.analogs[0].values
    assert float(v.table.item(0, 4).text().replace(",", "")) == pytest.approx(ia[i], rel=5e-3,
                                                                              abs=0.6)
    rms = rms_whole_cycles(ia, fs, i + 1, 1)
    assert float(v.table.item(0, 5).text().replace(",", "")) == pytest.approx(rms, rel=5e-3)
    # The faulted phase's RMS rose between C1 (before the fault) and C2.
    assert float(v.table.item(0, 6).text().replace(",", "")) > 1000
    # Status: the relay's trip is 0 before the fault and 1 in it (at C2, 150 ms in).
    trip_row = len(rec.analogs) + [s.name for s in rec.statuses].index("F1_21 TRIP")
    assert v.table.item(trip_row, 2).text() == "0"
    assert v.table.item(trip_row, 4).text() == str(
        int(rec.statuses[trip_row - len(rec.analogs)].values[i]))
    assert "Δt = " in v.dt_label.text()
    c1, c2 = v.cursors_s
    assert c2 - c1 == pytest.approx(0.150 + 0.1 / 50, abs=1 / fs)


def test_clicking_a_plot_moves_c1_and_shift_click_c2(qtbot, record):
    v = RecordViewer(read_comtrade(record.cfg))
    qtbot.addWidget(v)
    v.show()
    qtbot.waitExposed(v)
    v.set_cursor(0, 0.0)
    before = v.cursors_s
    # Dragging a line (its position changing) moves the cursor in every plot.
    v.cursor_lines[1][0].setValue(50.0)
    assert v.cursors_s[0] == pytest.approx(v.record.trigger_s + 0.050, abs=1e-3)
    assert v.cursor_lines[0][0].value() == pytest.approx(50.0, abs=0.5)
    assert v.cursors_s[1] == before[1]


def test_unticking_a_channel_hides_its_trace(qtbot, record):
    v = RecordViewer(read_comtrade(record.cfg))
    qtbot.addWidget(v)
    item = v.channels.item(0)
    item.setCheckState(Qt.CheckState.Unchecked)
    assert not v.curves[("a", 0)].isVisible()
    item.setCheckState(Qt.CheckState.Checked)
    assert v.curves[("a", 0)].isVisible()


def test_a_bad_record_is_one_message_naming_file_line_and_field(qtbot, record, monkeypatch):
    lines = record.cfg.read_text().splitlines()
    lines[1] = "16,10A,5D"  # 16 is not 10 + 5
    record.cfg.write_text("\r\n".join(lines) + "\r\n")
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    assert open_record_viewer(None, record.cfg) is None
    assert len(shown) == 1 and str(record.cfg) in shown[0] and "line 2: field 1 (TT)" in shown[0]


def test_main_window_file_menu_opens_a_record(qtbot, station, plant, record, tmp_path,
                                              monkeypatch):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QFileDialog

    from app.ui.main_window import MainWindow

    window = MainWindow(station, plant.points, yard3d=False, data_dir=str(tmp_path),
                        settings=QSettings(str(tmp_path / "hmi.ini"),
                                           QSettings.Format.IniFormat))
    qtbot.addWidget(window)

    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(record.cfg), "COMTRADE records (*.cfg *.CFG)"))
    act = next(a for m in window.menuBar().actions() if m.text() == "&File"
               for a in m.menu().actions() if "disturbance record" in a.text())
    act.trigger()
    v = window._record_viewer
    assert isinstance(v, RecordViewer) and v.isVisible()
    assert np.isfinite(v.record.analogs[0].values).all()
    v.close()
