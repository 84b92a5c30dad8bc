"""The debrief: HTML with the timeline plot and the verdicts, a well-formed PDF, results
stored per trainee."""

from __future__ import annotations

import datetime as dt
import re
import zlib

import pytest

from app.training.debrief import render_pdf, store_result, trainee_results, write_report
from app.training.drill import DrillEngine
from app.training.scenario import load_actions, load_scenario

SC = """\
[scenario]
id = "ov-short"
title = "Overvoltage (short)"
duration_s = 60
scan_s = 2.0

[initial]
time_of_day = "23:30"
open = ["BR4_Q0"]

[[event]]
id = "ov"
kind = "inject"
at_s = 10
fault = "overvoltage"
params = { pu = 1.15 }

[[expect]]
id = "reactor-in"
action = "close"
asset = "BR4_Q0"
after = "ov"
within_s = 30
"""


@pytest.fixture
def result(station, tmp_path):
    (tmp_path / "sc.toml").write_text(SC, encoding="utf-8")
    (tmp_path / "a.toml").write_text('trainee = "meera"\n[[action]]\nat_s = 20\n'
                                     'action = "close"\nasset = "BR4_Q0"\n[[action]]\n'
                                     'at_s = 30\naction = "open"\nasset = "F3_Q0"\n',
                                     encoding="utf-8")
    sc = load_scenario(tmp_path / "sc.toml", station)
    return DrillEngine(station, sc, day=dt.date(2025, 1, 15), out_dir=tmp_path / "out",
                       script=load_actions(tmp_path / "a.toml")).run()


def test_html_holds_plot_score_actions_soe_and_alarms(result, tmp_path):
    paths = write_report(result, tz="Asia/Kolkata")
    html = open(paths["html"], encoding="utf-8").read()
    assert "<svg" in html and "<polyline" in html and "B400_M1.V" in html
    assert "Score 90 / 100" in html  # one correct (100) less one wrong action (10)
    assert "close BR4_Q0 (correct)" in html and "open F3_Q0 (wrong)" in html
    assert "Sequence of events" in html and "ov: overvoltage" in html
    assert "B400_M1.V &gt; 420 kV" in html  # the alarm it raised
    # Times in the SOE are the station's local time with milliseconds: 23:30:10.000 IST.
    assert "23:30:10.000" in html
    assert open(paths["json"], encoding="utf-8").read().startswith("{")


def test_pdf_is_well_formed(result):
    pdf = render_pdf(result)
    assert pdf.startswith(b"%PDF-1.4")
    xref = int(re.search(rb"startxref\n(\d+)\n%%EOF", pdf).group(1))
    assert pdf[xref:xref + 4] == b"xref"
    entries = re.findall(rb"(\d{10}) 00000 n ", pdf[xref:])
    for k, off in enumerate(entries, 1):
        assert pdf[int(off):].startswith(f"{k} 0 obj".encode())
    text = b"".join(zlib.decompress(m) for m in re.findall(
        rb"/FlateDecode >>\nstream\n(.*?)\nendstream", pdf, re.S))
    assert b"(Score 90 / 100) Tj" in text and b"close | BR4_Q0 | correct" in text


def test_results_are_stored_per_trainee(result, tmp_path):
    root = tmp_path / "drills"
    store_result(result, root)
    store_result(result, root)
    rows = trainee_results(root, "meera")
    assert len(rows) == 2 and rows[0]["scenario"] == "ov-short" and rows[0]["score"] == 90.0
    assert trainee_results(root, "nobody") == []
