"""The station description: the shipped file loads, and wrong files are refused clearly."""

from __future__ import annotations

import dataclasses
import re

import pytest
from pydantic import ValidationError

from app.station import StationFileError, load_station

SEED_TYPES = {"ict", "transformer", "breaker", "isolator", "earth_switch", "busbar", "ct", "cvt",
              "lightning_arrester", "reactor", "capacitor_bank", "feeder", "relay", "line"}


def test_shipped_station_has_the_seed_equipment(station):
    assert len(station.assets) >= 76
    assert SEED_TYPES <= {a.type for a in station.assets}
    assert len(station.assets_of_type("ict")) == 2
    assert {a.nameplate.rated_mva for a in station.assets_of_type("ict")} == {315}
    assert {a.nameplate.rated_mva for a in station.assets_of_type("transformer")} == {50}
    caps = sorted(a.nameplate.rated_mva for a in station.assets_of_type("capacitor_bank"))
    assert caps == [8, 10]
    reactors = sorted(a.nameplate.rated_mva for a in station.assets_of_type("reactor"))
    assert reactors == [30, 50]


def test_every_asset_is_complete(station):
    ln = {"breaker": "XCBR", "isolator": "XSWI", "earth_switch": "XSWI", "ict": "YPTR",
          "transformer": "YPTR", "ct": "TCTR", "cvt": "TVTR"}
    for a in station.assets:
        assert a.nameplate.maker and a.nameplate.rated_kv > 0, a.id
        assert a.points, f"{a.id} has no measurement points"
        if a.type in ln:
            assert a.logical_node == ln[a.type], a.id
        if a.is_switch:
            assert a.element and a.element.startswith("Line."), a.id
    for p in station.asset("ICT1").points:
        assert p.unit or p.kind != "analog", p.name
    assert station.asset("ICT1").point("HOT_SPOT").unit == "degC"


def test_station_is_immutable(station):
    a = station.asset("L1_Q0")
    with pytest.raises(ValidationError):
        a.name = "renamed"
    assert isinstance(station.assets, tuple) and isinstance(a.points, tuple)
    with pytest.raises((ValidationError, TypeError, dataclasses.FrozenInstanceError)):
        a.nameplate.rated_kv = 1.0


def test_every_element_and_bus_exists_in_the_circuit(station, engine):
    station.check_circuit(engine.element_names, engine.bus_names)  # does not raise


def test_voltage_bands_follow_the_grid_code(station):
    assert (station.band_for(400).min_kv, station.band_for(400).max_kv) == (380, 420)
    assert (station.band_for(220).min_kv, station.band_for(220).max_kv) == (198, 245)
    assert station.band_for(132) is None


# -------------------------------------------------------------------- refusals
def _edit(path, old, new, count=1):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def test_wrong_value_names_file_asset_and_field(station_copy):
    _edit(station_copy, 'nameplate = { rated_kv = 420, maker = "Siemens"',
          'nameplate = { rated_kv = "four hundred", maker = "Siemens"')
    with pytest.raises(StationFileError) as ei:
        load_station(station_copy)
    msg = str(ei.value)
    assert str(station_copy) in msg
    assert "asset 'L1_Q0'" in msg and "field 'nameplate.rated_kv'" in msg
    assert "four hundred" in msg
    assert re.search(r"line \d+", msg)
    assert ei.value.asset == "L1_Q0" and ei.value.field == "nameplate.rated_kv"


def test_unknown_field_is_refused(station_copy):
    _edit(station_copy, 'id = "ICT1"\n', 'id = "ICT1"\ncolour = "red"\n')
    with pytest.raises(StationFileError, match=r"asset 'ICT1': field 'colour'"):
        load_station(station_copy)


def test_missing_field_is_refused(station_copy):
    _edit(station_copy, 'id = "ICT2"\ntype = "ict"\n', 'id = "ICT2"\n')
    with pytest.raises(StationFileError, match=r"asset 'ICT2': field 'type': Field required"):
        load_station(station_copy)


def test_bad_point_limits_name_the_point(station_copy):
    _edit(station_copy, '{ name = "SF6", unit = "bar", kind = "analog", '
                        'quantity = "sf6_pressure_bar", lo = 5.2, hi = 7.5',
          '{ name = "SF6", unit = "bar", kind = "analog", '
          'quantity = "sf6_pressure_bar", lo = 8.2, hi = 7.5')
    with pytest.raises(StationFileError, match=r"asset 'L1_Q0': field 'points\[SF6\]'.*lo"):
        load_station(station_copy)


def test_duplicate_asset_id_is_refused(station_copy):
    _edit(station_copy, 'id = "L2_Q0"', 'id = "L1_Q0"')
    with pytest.raises(StationFileError, match=r"asset 'L1_Q0': field 'id': .*twice"):
        load_station(station_copy)


def test_unknown_bay_is_refused(station_copy):
    _edit(station_copy, 'id = "ICT1"\ntype = "ict"\nname = "ICT-1: 315 MVA 400/220 kV '
                        'interconnecting transformer"\nbay = "ICT1H"',
          'id = "ICT1"\ntype = "ict"\nname = "ICT-1: 315 MVA 400/220 kV '
          'interconnecting transformer"\nbay = "NOWHERE"')
    with pytest.raises(StationFileError, match=r"asset 'ICT1': field 'bay': bay 'NOWHERE'"):
        load_station(station_copy)


def test_toml_syntax_error_names_the_line(station_copy):
    text = station_copy.read_text().splitlines()
    text[20] = "this is = = not toml"
    station_copy.write_text("\n".join(text))
    with pytest.raises(StationFileError) as ei:
        load_station(station_copy)
    assert ei.value.line == 21 and str(station_copy) in str(ei.value)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(StationFileError, match="cannot read"):
        load_station(tmp_path / "absent.toml")


def test_asset_pointing_at_a_missing_element_is_refused(station_copy):
    from app.twin import open_station

    _edit(station_copy, 'element = "Transformer.ICT2"', 'element = "Transformer.ICT9"')
    with pytest.raises(StationFileError) as ei:
        open_station(station_copy)
    msg = str(ei.value)
    assert "asset 'ICT2'" in msg and "field 'element'" in msg and "Transformer.ICT9" in msg
    assert str(station_copy.resolve()) in msg
    line = station_copy.read_text().splitlines()[ei.value.line - 1]
    assert line == 'id = "ICT2"'


def test_asset_pointing_at_a_missing_bus_is_refused(station_copy):
    from app.twin import open_station

    _edit(station_copy, 'bus = "B400_M1"', 'bus = "B400_M9"')
    with pytest.raises(StationFileError, match=r"asset 'B400_M1': field 'bus'.*B400_M9"):
        open_station(station_copy)


def test_contingency_must_open_breakers(station_copy):
    _edit(station_copy, 'open = ["ICT1H_Q0", "ICT1L_Q0"]', 'open = ["ICT1H_Q1"]')
    with pytest.raises(StationFileError, match="ICT1H_Q1.*not a breaker"):
        load_station(station_copy)


@pytest.mark.parametrize("asset, old, new, why", [
    ("L1_Q0", 'element = "Line.L1_Q0"', 'element = "Transformer.ICT1"', "switch element"),
    ("L1_Q0", 'element = "Line.L1_Q0"', 'element = "Line.F1_LINE"', "not a switch"),
    ("ICT2", 'element = "Transformer.ICT2"', 'element = "Reactor.BR4"', "Transformer"),
    ("BR4_R", 'element = "Reactor.BR4"', 'element = "Capacitor.CB1"', "Reactor"),
    ("CB1_C", 'element = "Capacitor.CB1"', 'element = "Reactor.BR2"', "Capacitor"),
    ("IND1_LOAD", 'element = "Load.IND1_LOAD"', 'element = "Transformer.TR1"', "Line or a Load"),
    ("L1_LINE", 'element = "Line.L1_LINE"', 'element = "Line.L1_Q0"', "real line"),
])
def test_asset_mapped_to_the_wrong_kind_of_element_is_refused(station_copy, asset, old, new,
                                                               why):
    from app.twin import open_station

    _edit(station_copy, old, new)
    with pytest.raises(StationFileError) as ei:
        open_station(station_copy)
    msg = str(ei.value)
    assert f"asset '{asset}'" in msg and "field 'element'" in msg and why in msg
    assert new.split('"')[1] in msg and str(station_copy.resolve()) in msg
    assert station_copy.read_text().splitlines()[ei.value.line - 1] == f'id = "{asset}"'


def test_bus_device_naming_an_element_is_refused(station, station_copy):
    from app.twin import open_station

    _edit(station_copy, 'id = "L1_CVT"\n', 'id = "L1_CVT"\nelement = "Line.L1_Q9"\n')
    with pytest.raises(StationFileError, match=r"asset 'L1_CVT': field 'element': a cvt "
                                               r"maps to a bus"):
        open_station(station_copy)


def _line_of(path, needle, nth=1):
    hits = [no for no, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return hits[nth - 1]


def test_a_duplicate_asset_is_reported_at_its_line(station_copy):
    _edit(station_copy, 'id = "L2_Q0"', 'id = "L1_Q0"')
    first, second = _line_of(station_copy, 'id = "L1_Q0"'), \
        _line_of(station_copy, 'id = "L1_Q0"', 2)
    with pytest.raises(StationFileError) as exc:
        load_station(station_copy)
    assert str(exc.value) == (f"{station_copy}, line {second}: asset 'L1_Q0': field 'id': "
                              f"asset id is used twice (first on line {first})")
    assert exc.value.line == second


def test_an_unknown_bay_is_reported_at_its_line(station_copy):
    text = station_copy.read_text()
    k = text.index('id = "ICT1"\n')
    k = text.index('bay = "ICT1H"', k)
    station_copy.write_text(text[:k] + 'bay = "NOWHERE"' + text[k + len('bay = "ICT1H"'):])
    with pytest.raises(StationFileError) as exc:
        load_station(station_copy)
    line = _line_of(station_copy, 'bay = "NOWHERE"')
    assert str(exc.value) == (f"{station_copy}, line {line}: asset 'ICT1': field 'bay': "
                              "bay 'NOWHERE' is not in [[bays]]")


def test_a_duplicate_bay_is_reported_at_its_line(station_copy):
    _edit(station_copy, 'id = "L2"\n', 'id = "L1"\n')
    with pytest.raises(StationFileError, match=r"line \d+: field 'bays': bay 'L1' is listed "
                                               "twice") as exc:
        load_station(station_copy)
    assert exc.value.line == _line_of(station_copy, 'id = "L1"\n'.strip(), 2)
