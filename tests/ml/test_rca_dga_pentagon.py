"""Duval Pentagon 1: the published zones, the centroid, and points known to lie in each zone."""

from __future__ import annotations

import math

import pytest

from ml.rca.dga import (
    METHOD_PENTAGON,
    PENTAGON1_ZONES,
    DgaInputError,
    duval_pentagon_1,
    pentagon_centroid,
    pentagon_percentages,
    pentagon_zone,
)


def gases(h2, c2h6, ch4, c2h4, c2h2):
    return {"H2": h2, "C2H6": c2h6, "CH4": ch4, "C2H4": c2h4, "C2H2": c2h2}


def test_zone_polygons_are_the_published_ones():
    z = PENTAGON1_ZONES
    assert z["PD"] == ((0, 33), (-1, 33), (-1, 24.5), (0, 24.5))
    assert z["D1"] == ((0, 40), (38, 12), (32, -6.1), (4, 16), (0, 1.5))
    assert z["D2"] == ((4, 16), (32, -6.1), (24.3, -30), (0, -3), (0, 1.5))
    assert z["T3"] == ((0, -3), (24.3, -30), (23.5, -32.4), (1, -32.4), (-6, -4))
    assert z["T2"] == ((-6, -4), (1, -32.4), (-22.5, -32.4))
    assert z["T1"] == ((-6, -4), (-22.5, -32.4), (-23.5, -32.4), (-35, 3), (0, 1.5), (0, -3))
    assert z["S"] == ((0, 1.5), (-35, 3.1), (-38, 12.4), (0, 40), (0, 33), (-1, 33), (-1, 24.5),
                      (0, 24.5))


def _area(poly):
    return 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1)
                         in zip(poly, poly[1:] + poly[:1], strict=True)))


def test_zones_tile_the_pentagon():
    # The seven zones cover the regular pentagon of radius 40 but for the published rounding:
    # their areas add up to its area within 1 %.
    pentagon = 2.5 * 40 ** 2 * math.sin(math.radians(72))
    assert sum(_area(p) for p in PENTAGON1_ZONES.values()) == pytest.approx(pentagon, rel=0.01)


@pytest.mark.parametrize("xy,zone", [
    ((-0.5, 28.0), "PD"), ((15.0, 15.0), "D1"), ((10.0, -5.0), "D2"), ((8.0, -20.0), "T3"),
    ((-8.0, -20.0), "T2"), ((-20.0, -5.0), "T1"), ((-20.0, 15.0), "S"),
    ((-3.0, -3.0), "T1"), ((-1.0, -5.0), "T3"), ((2.0, 0.0), "D2"), ((2.0, 10.0), "D1"),
    ((-0.5, 34.0), "S"), ((-0.5, 24.0), "S"),
])
def test_points_inside_each_zone(xy, zone):
    assert pentagon_zone(*xy) == zone


def test_edges_gaps_and_the_rim():
    assert pentagon_zone(0.0, 0.0) == "D2"  # D2/T1 shared edge x = 0: D2 comes first
    assert pentagon_zone(-3.0, -3.5) == "T3"  # T3/T1 edge (0, -3)-(-6, -4): T3 comes first
    assert pentagon_zone(0.0, 36.0) == "S"  # D1/S edge: S comes first
    assert pentagon_zone(0.0, 28.0) == "PD"  # PD/S edge
    # At x = -20 T1's edge towards (-35, 3) is at y 2.357 and S's towards (-35, 3.1) at 2.414:
    # a point in that hairline gap goes to the nearer of the two.
    assert pentagon_zone(-20.0, 2.37) == "T1" and pentagon_zone(-20.0, 2.40) == "S"
    assert pentagon_zone(-20.0, 2.0) == "T1" and pentagon_zone(-20.0, 3.0) == "S"
    # Inside the true pentagon but outside the rounded vertex (38, 12): nearest zone, D1.
    assert pentagon_zone(37.8, 12.2) == "D1"


def test_centroid_one_gas_alone_and_the_axes():
    for gas, deg in (("H2", 90), ("C2H6", 162), ("CH4", 234), ("C2H4", 306), ("C2H2", 18)):
        pct = dict.fromkeys(("H2", "C2H6", "CH4", "C2H4", "C2H2"), 0.0)
        pct[gas] = 100.0
        x, y = pentagon_centroid(pct)
        assert math.hypot(x, y) == pytest.approx(100 / 3, rel=1e-6)
        assert math.degrees(math.atan2(y, x)) % 360 == pytest.approx(deg, abs=1e-6)


def test_centroid_matches_an_independent_implementation():
    # H2 31, C2H6 130, CH4 192, C2H4 31, C2H2 0 ppm: centroid (-17.29, -9.09), zone T1, as
    # in the tests of the open-source dga-diagtool (T. Mellin), computed independently.
    d = duval_pentagon_1(gases(31, 130, 192, 31, 0))
    assert d.values["x"] == pytest.approx(-17.29, abs=0.02)
    assert d.values["y"] == pytest.approx(-9.09, abs=0.02)
    assert d.code == "T1" and d.method == METHOD_PENTAGON


@pytest.mark.parametrize("g,zone", [
    (gases(900, 5, 60, 0, 0), "PD"),  # hydrogen with a little methane: corona
    (gases(100, 0, 0, 0, 0), "S"),  # hydrogen alone sits above the PD box
    (gases(200, 10, 20, 10, 120), "D1"),  # acetylene-rich, ethylene poor
    (gases(150, 10, 60, 150, 120), "D2"),  # acetylene with ethylene
    (gases(40, 10, 80, 300, 10), "T3"),  # ethylene dominant
    (gases(10, 40, 120, 100, 1), "T2"),
    (gases(10, 130, 190, 30, 0), "T1"),  # methane and ethane
    (gases(60, 80, 20, 2, 0), "S"),  # ethane-rich stray gassing
])
def test_gas_compositions_land_in_their_zone(g, zone):
    d = duval_pentagon_1(g)
    assert d.code == zone, d.explanation
    assert set(d.values) == {"H2 %", "C2H6 %", "CH4 %", "C2H4 %", "C2H2 %", "x", "y"}
    assert sum(v for k, v in d.values.items() if k.endswith("%")) == pytest.approx(100)
    assert f"zone {zone}" in d.explanation


def test_no_gas_and_bad_input():
    assert duval_pentagon_1(gases(0, 0, 0, 0, 0)).code == "ND"
    assert pentagon_percentages(gases(0, 0, 0, 0, 0))["H2 %"] == 0.0
    with pytest.raises(DgaInputError, match="C2H4 is missing"):
        duval_pentagon_1({"H2": 1, "C2H6": 1, "CH4": 1, "C2H2": 1})
    with pytest.raises(DgaInputError, match="H2 = -1.0 ppm"):
        duval_pentagon_1(gases(-1, 1, 1, 1, 1))
