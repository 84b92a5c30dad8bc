"""Protection settings file: the shipped one loads and follows the cited practice; a wrong one
is refused in one line naming file, line, relay and field."""

from __future__ import annotations

import pytest

from app.training.protection.settings import ProtectionFileError, load_protection
from tests.conftest import ROOT

SETTINGS = ROOT / "circuits" / "protection.toml"


def test_shipped_settings_cover_every_relay_of_the_station(station):
    s = load_protection(station)
    assert {r.id for r in s.relays} == {a.id for a in station.assets_of_type("relay")}
    assert s.recorder.sample_rate_hz == 4000 and s.recorder.format == "BINARY"


def test_shipped_distance_and_breaker_failure_times_follow_cea_practice(station):
    s = load_protection(station)
    for r in s.relays:
        if r.distance:
            z = {x.name: x for x in r.distance.zones}
            assert z["Z1"].time_s == 0 and z["Z1"].reach_pct == 80
            assert z["Z2"].time_s == 0.35 and z["Z2"].reach_pct == 120
            assert 0.8 <= z["Z3"].time_s <= 1.0
            assert z["Z4"].direction == "reverse"
        if r.breaker_failure:
            assert r.breaker_failure.backup_s == 0.2
        if r.autoreclose:
            assert r.autoreclose.dead_time_1p_s == 1.0 and r.autoreclose.reclaim_s == 25
    # One auto-reclose per breaker: main-2 follows main-1's.
    assert s.relay("L1_21M1").autoreclose and not s.relay("L1_21M2").autoreclose


def _broken(tmp_path, old: str, new: str, count: int = 1):
    text = SETTINGS.read_text()
    assert old in text
    path = tmp_path / "protection.toml"
    path.write_text(text.replace(old, new, count))
    return path, path.read_text().splitlines()


def _line_of(lines: list[str], needle: str, after: str | None = None) -> int:
    start = 0
    if after is not None:
        start = next(k for k, s in enumerate(lines) if after in s)
    return next(k for k, s in enumerate(lines) if k >= start and needle in s) + 1


def test_wrong_ct_ratio_names_file_line_relay_and_field(station, tmp_path):
    path, lines = _broken(tmp_path, 'id = "F2_21"\nct = "F2_CT"\nct_ratio = "1600/1"',
                          'id = "F2_21"\nct = "F2_CT"\nct_ratio = "800/1"')
    with pytest.raises(ProtectionFileError) as err:
        load_protection(station, path)
    line = _line_of(lines, 'ct_ratio = "800/1"')
    assert str(err.value) == (f"{path}, line {line}: relay 'F2_21': field 'ct_ratio': 800/1 "
                              "differs from F2_CT's nameplate ratio 1600/1 A")
    assert "\n" not in str(err.value) and isinstance(err.value, ValueError)


def test_bad_zone_names_the_zone_and_its_line(station, tmp_path):
    path, lines = _broken(tmp_path, '{ name = "Z2", reach_pct = 120, time_s = 0.35 }',
                          '{ name = "Z2", reach_pct = 120, reach_ohm = 9, time_s = 0.35 }')
    with pytest.raises(ProtectionFileError) as err:
        load_protection(station, path)
    line = _line_of(lines, "reach_ohm = 9")
    assert str(err.value).startswith(f"{path}, line {line}: relay 'L1_21M1': "
                                     "field 'distance.zones[Z2]': ")
    assert "exactly one of reach_pct and reach_ohm" in str(err.value)


def test_unknown_field_and_out_of_range_values(station, tmp_path):
    path, lines = _broken(tmp_path, "tms = 0.1, curve = \"VI\"", "tms = 0.1, curve = \"XI\"")
    with pytest.raises(ProtectionFileError) as err:
        load_protection(station, path)
    assert f", line {_line_of(lines, 'XI')}: relay 'CB1_51': " \
           "field 'overcurrent.idmt.curve'" in str(err.value)

    path, lines = _broken(tmp_path, "backup_s = 0.2", "backup_sec = 0.2")
    with pytest.raises(ProtectionFileError) as err:
        load_protection(station, path)
    assert f"line {_line_of(lines, 'backup_sec')}: relay 'BB400_87B': " \
           "field 'breaker_failure.backup_sec': Extra inputs are not permitted" \
        in str(err.value)

    path, lines = _broken(tmp_path, "backup_s = 0.2\n", "\n")
    with pytest.raises(ProtectionFileError) as err:
        load_protection(station, path)
    header = _line_of(lines, "[relays.breaker_failure]")
    assert str(err.value) == (f"{path}, line {header}: relay 'BB400_87B': "
                              "field 'breaker_failure.backup_s': Field required")

    path, lines = _broken(tmp_path, "idmt = { pickup_a = 1000, tms = 0.1",
                          "idmt = { pickup_a = 9000, tms = 0.1")
    with pytest.raises(ProtectionFileError, match="9000 A is outside the relay's range "
                       "60-4800 A") as err:
        load_protection(station, path)
    assert f"line {_line_of(lines, 'pickup_a = 9000')}: relay 'TR1L_51'" in str(err.value)


def test_references_to_the_station_are_checked(station, tmp_path):
    path, lines = _broken(tmp_path, 'breakers = ["F3_Q0"]', 'breakers = ["F3_Q1"]')
    with pytest.raises(ProtectionFileError) as err:
        load_protection(station, path)
    assert str(err.value) == (f"{path}, line {_line_of(lines, 'F3_Q1')}: relay 'F3_21': "
                              "field 'breakers': 'F3_Q1' is a isolator, not a breaker")

    path, _ = _broken(tmp_path, 'id = "CB2_51"', 'id = "CB9_51"')
    with pytest.raises(ProtectionFileError, match="relay 'CB9_51': field 'id': 'CB9_51' is "
                       "not an asset of the station"):
        load_protection(station, path)


def test_toml_syntax_error_names_its_line(station, tmp_path):
    path, lines = _broken(tmp_path, "retrip_s = 0.05", "retrip_s = = 0.05")
    with pytest.raises(ProtectionFileError) as err:
        load_protection(station, path)
    assert str(err.value).startswith(f"{path}, line {_line_of(lines, 'retrip_s = =')}: "
                                     "not valid TOML")
