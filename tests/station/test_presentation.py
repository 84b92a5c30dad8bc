"""The displays' vocabulary in the station file: a description for every point, state texts
for every status point, one unit spelling on screen; bad entries refused with file and line."""

from __future__ import annotations

import pickle

import pytest

from app.station import StationFileError, load_station
from app.station.points import KIND_ANALOG, KIND_STATUS, UNIT_TEXT, build_point_table

from .test_loader import _edit, _line_of


@pytest.fixture(scope="module")
def points(station):
    return build_point_table(station)


def test_every_point_has_a_description_and_every_status_point_state_texts(station, points):
    assert station.quantities
    for r, tag in enumerate(points.tags):
        assert points.description[r] and points.description[r] != points.quantity[r], tag
        if points.kind[r] == KIND_STATUS:
            assert points.states[r] is not None and len(points.states[r]) >= 2, tag
        else:
            assert points.states[r] is None, tag
    # Every label is unique within its asset: two trip circuits, three zones are told apart.
    labels = [points.label(r) for r in range(len(points))]
    assert len(set(labels)) == len(labels), [x for x in labels if labels.count(x) > 1][:5]


@pytest.mark.parametrize(("tag", "value", "text"), [
    ("F1_Q0.POS", 1, "Open"), ("F1_Q0.POS", 2, "Closed"), ("F1_Q0.POS", 0, "Intermediate"),
    ("F1_Q0.POS", 3, "Invalid"), ("F1_Q0.LR", 0, "Local"), ("F1_Q0.LR", 1, "Remote"),
    ("F1_Q0.SPRING", 1, "Charged"), ("F1_Q0.SPRING", 0, "Discharged"),
    ("ICT1.PRV", 0, "Normal"), ("ICT1.PRV", 1, "Operated"), ("ICT1.OSR", 1, "Operated"),
    ("L1_Q1.MOTOR", 1, "Healthy"), ("L1_Q1.MOTOR", 0, "Failed"),
    ("ICT1.HOT_SPOT", 98.25, "98.25 °C"), ("F1_Q0.OPCNT", 1234, "1,234"),
    ("F1_Q0.LR", 7, "state 7"), ("F1_CT.P", 4.954e-08, "0 MW"), ("F1_CT.P", -1234.5, "-1,234 MW"),
])
def test_values_read_as_the_operator_says_them(points, tag, value, text):
    assert points.value_text(points.row(tag), value) == text


def test_one_unit_spelling_on_screen_with_the_stored_codes_unchanged(station, points):
    assert station.asset("ICT1").point("HOT_SPOT").unit == "degC"  # stored code stable
    shown = set(points.unit_text)
    assert not shown & {"degC", "MVAr", "MVArh", "deg", "W/m2"}
    assert {"°C", "Mvar", "kV", "MW"} <= shown
    assert all(UNIT_TEXT.get(u, u) == s for u, s in zip(points.unit, points.unit_text,
                                                        strict=True))
    r = points.row("ICT1.HOT_SPOT")
    assert points.label(r) == "ICT1 — Hot-spot temperature (°C)"


def test_descriptions_say_the_phase_and_which_one(points):
    assert points.label(points.row("F1_Q0.TCS2")) == "F1_Q0 — Trip circuit 2 supervision"
    phased = [points.description[r] for r in range(len(points))
              if points.kind[r] == KIND_ANALOG and points.phase[r] == "A"]
    assert phased and all(d.endswith(", phase A") for d in phased)


def test_the_table_pickles_with_its_texts(points):
    again = pickle.loads(pickle.dumps(points))
    assert again.states == points.states and again.unit_text == points.unit_text


# -------------------------------------------------------------------- refusals
def test_states_on_an_analog_point_name_the_point(station_copy):
    _edit(station_copy, 'quantity = "sf6_pressure_bar", lo = 5.2',
          'quantity = "sf6_pressure_bar", states = ["a", "b"], lo = 5.2')
    with pytest.raises(StationFileError) as ei:
        load_station(station_copy)
    msg = str(ei.value)
    assert str(station_copy) in msg and "line " in msg
    assert "asset 'L1_Q0'" in msg and "points[SF6]" in msg and "state texts" in msg


def test_a_status_quantity_without_states_is_refused_at_the_point(station_copy):
    _edit(station_copy, 'id = "spring_charged"\ndescription = "Closing spring"\n'
                        'states = ["Discharged", "Charged"]\n',
          'id = "spring_charged"\ndescription = "Closing spring"\n')
    with pytest.raises(StationFileError) as ei:
        load_station(station_copy)
    assert ei.value.asset == "L1_Q0" and ei.value.field == "points[SPRING]"
    assert ei.value.line == _line_of(station_copy, '{ name = "SPRING"')
    assert "state texts" in str(ei.value)


def test_a_quantity_missing_from_the_table_is_refused(station_copy):
    _edit(station_copy, '[[quantities]]\nid = "surge_count"\ndescription = "Surge counter"\n',
          '')
    with pytest.raises(StationFileError, match=r"quantity 'surge_count' is not in"):
        load_station(station_copy)


def test_a_quantity_listed_twice_is_reported_at_its_line(station_copy):
    _edit(station_copy, 'id = "trip"\ndescription = "Trip"', 'id = "pickup"\ndescription = "Trip"')
    with pytest.raises(StationFileError) as ei:
        load_station(station_copy)
    assert "quantity 'pickup' is listed twice" in str(ei.value)
    assert ei.value.line == _line_of(station_copy, 'id = "pickup"', 2)


def test_a_position_needs_a_text_per_dbpos_code(station_copy):
    _edit(station_copy, 'states = ["Intermediate", "Open", "Closed", "Invalid"]',
          'states = ["Open", "Closed"]')
    with pytest.raises(StationFileError, match=r"line \d+: field 'quantities.states': a switch "
                                               r"position needs 4 state texts"):
        load_station(station_copy)


def test_an_empty_state_text_is_refused(station_copy):
    _edit(station_copy, 'states = ["Local", "Remote"]', 'states = ["Local", " "]')
    with pytest.raises(StationFileError, match=r"a state text is empty"):
        load_station(station_copy)
