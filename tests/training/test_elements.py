"""Relay measuring elements against their defining formulas."""

from __future__ import annotations

import cmath
import math

import pytest

from app.training.protection import elements as el

#: IEC 60255-151, Table 1: t = TMS * k / ((I/Is)^alpha - 1), written out again here.
STANDARD = {"SI": (0.14, 0.02), "VI": (13.5, 1.0), "EI": (80.0, 2.0), "LTI": (120.0, 1.0)}
MULTIPLES = (1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0)


@pytest.mark.parametrize("curve", sorted(STANDARD))
@pytest.mark.parametrize("tms", [0.05, 0.1, 0.35, 1.0])
def test_idmt_operate_time_within_1pct_of_the_standard_formula(curve, tms):
    k, alpha = STANDARD[curve]
    pickup = 400.0
    for m in MULTIPLES:
        want = tms * k / (m ** alpha - 1)
        got = el.idmt_time_s(m * pickup, pickup, tms, curve)
        assert got == pytest.approx(want, rel=0.01), (curve, tms, m)


def test_idmt_does_not_operate_at_pickup_and_is_flat_beyond_20_times():
    assert el.idmt_time_s(400.0, 400.0, 0.1, "SI") is None
    assert el.idmt_time_s(399.0, 400.0, 0.1, "SI") is None
    assert el.idmt_time_s(30 * 400.0, 400.0, 0.1, "EI") == \
        el.idmt_time_s(20 * 400.0, 400.0, 0.1, "EI")
    # Standard inverse, TMS 1, ten times setting: the textbook 2.97 s.
    assert el.idmt_time_s(10.0, 1.0, 1.0, "SI") == pytest.approx(2.971, abs=0.001)


def test_differential_dual_slope():
    # pickup 100 A; slope 0.3 up to a 1000 A knee, 0.7 above.
    assert not el.differential_operates(90, 50, 100, 0.3, 0.7, 1000)
    assert el.differential_operates(110, 50, 100, 0.3, 0.7, 1000)
    assert not el.differential_operates(290, 1000, 100, 0.3, 0.7, 1000)  # 0.3 * 1000 = 300
    assert el.differential_operates(310, 1000, 100, 0.3, 0.7, 1000)
    assert el.restraint_a(2000, 0.3, 0.7, 1000) == pytest.approx(300 + 700)
    idiff, ibias = el.differential([[1000, 0, 0], [-1000, 0, 0]])  # through current
    assert idiff[0] == 0 and ibias[0] == 1000


def test_mho_and_quad_characteristics():
    angle = 85.0
    on_line = cmath.rect(8.0, math.radians(angle))
    assert el.mho_inside(on_line, 10.0, angle)
    assert not el.mho_inside(cmath.rect(10.5, math.radians(angle)), 10.0, angle)
    assert not el.mho_inside(-on_line, 10.0, angle)          # behind the relay
    assert el.mho_inside(-on_line, 10.0, angle, reverse=True)
    # 30 degrees off the line angle the circle reaches 10 * cos(30) = 8.66 ohm.
    assert el.mho_inside(cmath.rect(8.6, math.radians(angle - 30)), 10.0, angle)
    assert not el.mho_inside(cmath.rect(8.7, math.radians(angle - 30)), 10.0, angle)
    assert el.quad_inside(complex(5.0, 5.0), 10.0, angle, 8.0)
    assert not el.quad_inside(complex(12.0, 5.0), 10.0, angle, 8.0)   # beyond R reach
    assert not el.quad_inside(complex(0.5, 10.5), 10.0, angle, 8.0)   # beyond X reach


def _faulted(faulted: str, mag: float = 5000.0, earth: bool = True) -> list[complex]:
    a = cmath.exp(2j * math.pi / 3)
    d = [0j, 0j, 0j]
    if faulted == "A":
        d = [mag * cmath.exp(-1.4j), 0.08 * mag * cmath.exp(-1.4j),
             0.08 * mag * cmath.exp(-1.4j)]
    elif faulted == "AB" and not earth:
        d = [mag * cmath.exp(-1.4j), -mag * cmath.exp(-1.4j), 0j]
    elif faulted == "AB":
        d = [mag * cmath.exp(-1.9j), mag * cmath.exp(0.2j), 0.05 * mag]
    elif faulted == "ABC":
        d = [mag * cmath.exp(-1.4j) * x for x in (1, a * a, a)]
    return d


def test_phase_selector_picks_the_faulted_loops():
    res = 1000.0
    assert el.select_loops(_faulted("A"), 6000, res, 100) == ("AG",)
    assert el.select_loops(_faulted("AB", earth=False), 0, res, 100) == ("AB",)
    assert el.select_loops(_faulted("AB"), 5000, res, 100) == ("AB", "AG", "BG")
    assert el.select_loops(_faulted("ABC"), 0, res, 100) == ("AB", "BC", "CA")
    assert el.select_loops([1, 2, 3], 0, res, 100) == ()   # no fault: nothing measured


def test_loop_impedance_of_an_earth_fault_is_the_line_impedance_to_it():
    """A relay feeding an earth fault at the end of a line (source behind it): V = Z1 I1 +
    Z1 I2 + Z0 I0 at the relay, so Va / (Ia + k0 3I0) is Z1 of the line exactly."""
    z1, z0 = complex(1.0, 10.0), complex(3.0, 30.0)
    i1 = i2 = i0 = cmath.rect(1000.0, -1.4)
    a = cmath.exp(2j * math.pi / 3)
    ia, ib, ic = i0 + i1 + i2, i0 + a * a * i1 + a * i2, i0 + a * i1 + a * a * i2
    va = z1 * i1 + z1 * i2 + z0 * i0
    vb = z0 * i0 + a * a * z1 * i1 + a * z1 * i2
    vc = z0 * i0 + a * z1 * i1 + a * a * z1 * i2
    q = el.loop_quantities([va, vb, vc], [ia, ib, ic], el.line_k0(z1, z0))
    v, i = q["AG"]
    assert v / i == pytest.approx(z1)


def test_directional_checks():
    vmem = 230e3 + 0j
    assert el.forward(vmem, cmath.rect(5000, math.radians(-80)), 85)
    assert not el.forward(vmem, cmath.rect(5000, math.radians(100)), 85)
    # Earth fault in front: 3I0 lags -3V0 by the source's zero-sequence angle.
    i = [cmath.rect(3000, math.radians(-80)), 0, 0]
    v = [-(0.5 * cmath.rect(3000, math.radians(-80)) * cmath.rect(10, math.radians(75))),
         cmath.rect(127e3, math.radians(-120)), cmath.rect(127e3, math.radians(120))]
    v0_3 = sum(v)
    v_fwd = [v[0], v[1], v[2]]
    assert el.earth_fault_forward(v_fwd, i, 75) is ((-v0_3 / sum(i) *
                                                      cmath.rect(1, math.radians(-75))).real > 0)
    assert el.earth_fault_forward(v_fwd, [-x for x in i], 75) is not \
        el.earth_fault_forward(v_fwd, i, 75)
