"""A Modbus map file that would poll nothing is refused in one line (issue 11)."""

from __future__ import annotations

import pytest

from app.field.rtu.map import MapError, build_register_map, read_map_file
from app.station.points import build_point_table


@pytest.fixture(scope="module")
def points(station):
    return build_point_table(station)


def test_a_header_only_map_is_refused(points, tmp_path):
    header = build_register_map(points).to_csv().splitlines()[0]
    f = tmp_path / "rtu.csv"
    f.write_text(header + "\n")
    with pytest.raises(MapError) as exc:
        read_map_file(f, points)
    assert str(exc.value) == f"{f}: the map has no rows after its header: nothing to poll"


def test_a_map_of_command_rows_only_is_refused(points, tmp_path):
    lines = build_register_map(points).to_csv().splitlines()
    commands = [x for x in lines[1:] if x.endswith((",open", ",close", ",result"))][:3]
    assert commands
    f = tmp_path / "rtu.csv"
    f.write_text("\n".join([lines[0], *commands]) + "\n")
    with pytest.raises(MapError, match="maps no point's value .3 rows, none with role "
                                       "'value'.: nothing to poll"):
        read_map_file(f, points)


def test_the_full_map_still_reads(points, tmp_path):
    f = tmp_path / "rtu.csv"
    f.write_text(build_register_map(points).to_csv())
    assert len(read_map_file(f, points).entries) > 2500
