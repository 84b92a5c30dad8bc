"""`gridtwin rca dga --csv FILE [--json]` through app.cli.main."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from ml.rca.dga_csv import DgaCsvError, read_dga_csv, report


def write(tmp_path, text, name="dga.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


GOOD = ("Id,H2,ch4,C2H6,c2h4,C2H2,CO,extra\n"
        "TR1 main ,40,80,10,300,10,200,ignored\n"
        "\n"
        "TR2,500,25,10,1,0,,\n"
        "TR3,100,30,10,50,80,300,\n")


def test_table_output(tmp_path, capsys):
    assert main(["rca", "dga", "--csv", str(write(tmp_path, GOOD))]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["id", "fault", "confidence", "warranted", "triangle", "1",
                                "pentagon", "1", "ratios"]
    assert lines[2].split()[:5] == ["TR1", "main", "T3", "1.000", "yes"]
    assert "TR2" in lines[3] and " PD " in lines[3]
    assert "TR3: D2 (discharges of high energy)" in out


def test_json_output(tmp_path, capsys):
    assert main(["rca", "dga", "--csv", str(write(tmp_path, GOOD)), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["TR1 main ", "TR2", "TR3"]  # the id as written
    assert list(rows[0]) == ["id", "fault", "warranted", "duval1_zone", "pentagon_zone",
                             "ratio_code", "confidence", "explanation"]
    assert rows[0]["fault"] == "T3" and rows[0]["warranted"] is True
    assert rows[1]["duval1_zone"] == "T1" and rows[1]["fault"] == "PD"
    assert rows[2]["ratio_code"] == "D1/D2" and 0 < rows[2]["confidence"] <= 1


def test_without_id_column_and_blank_cells(tmp_path, capsys):
    p = write(tmp_path, "h2,ch4,c2h6,c2h4,c2h2\n40,80,,300,10\n")
    assert main(["rca", "dga", "--csv", str(p), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert "id" not in row and row["duval1_zone"] == "T3" and row["pentagon_zone"] == "ND"
    assert read_dga_csv(p)[0].ppm["C2H6"] is None


@pytest.mark.parametrize("text,message", [
    ("h2,ch4,c2h6,c2h4,c2h2\n1,2,3,4,5\n1,2,lots,4,5\n",
     "dga.csv, line 3, column c2h6: 'lots' is not a number"),
    ("h2,ch4,c2h6,c2h4,c2h2\n1,2,3,-4,5\n", "dga.csv, line 2, column c2h4: '-4' is not a "
                                            "concentration"),
    ("h2,ch4,c2h6,c2h4\n1,2,3,4\n", "dga.csv: missing column c2h2"),
    ("H2,ch4,c2h6,c2h4,c2h2,h2\n1,2,3,4,5,6\n", "dga.csv, line 1: column h2 appears twice"),
    ("", "dga.csv: no header row"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, text, message):
    p = write(tmp_path, text)
    assert main(["rca", "dga", "--csv", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gridtwin: ") and message in err and err.count("\n") == 1
    with pytest.raises(DgaCsvError):
        report(p)


def test_missing_file(tmp_path, capsys):
    assert main(["rca", "dga", "--csv", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: cannot read" in capsys.readouterr().err


def test_line_numbers_count_quoted_newlines(tmp_path):
    p = write(tmp_path, 'id,h2,ch4,c2h6,c2h4,c2h2\n"a\nb",1,2,3,4,5\nc,1,2,x,4,5\n')
    with pytest.raises(DgaCsvError, match="line 4, column c2h6"):
        read_dga_csv(p)
