"""An engine put in another engine's operating point (studies on the live state)."""

from __future__ import annotations

import numpy as np

from app.twin import TwinEngine


def test_a_scratch_engine_reproduces_the_live_state(station, engine):
    """The live engine after switching, loads, taps and an infeed change; a fresh engine of
    the same circuit set from its state solves to the same voltages and flows."""
    live = engine
    live.set_switch("Line.F1_Q0", False)
    live.set_switch("Line.BS3_Q0", True)
    live.set_load(live.load_names[0], 22.0, 7.0)
    t = live.transformer_names[2]
    live.set_tap(t, 1.05)
    src = live.source_names[1]
    live.set_source_in_service(src, False)
    live.set_frequency(49.8)
    state = live.solve()

    scratch = TwinEngine(station.circuit_path)
    scratch.apply_state(state)
    got = scratch.solve()
    assert (got.closed == state.closed).all() and not got.branch("Line.F1_Q0").closed
    assert np.array_equal(got.energised, state.energised)
    assert np.allclose(got.v_pu, state.v_pu, equal_nan=True, atol=1e-6)
    assert np.allclose(got.p_mw, state.p_mw, atol=1e-3)
    assert got.tap_pu[2] == 1.05 and not got.source_in_service[1]
    assert got.frequency_hz == 49.8 and np.array_equal(got.load_set, state.load_set)


def test_restoring_an_engine_to_its_own_state_undoes_poles_and_loads(engine):
    before = engine.solve()
    engine.set_poles("Line.F2_Q0", "A")
    engine.set_poles("Line.L1_LINE", "ABC", terminal=2)
    engine.set_load(engine.load_names[1], 1.0, 0.5)
    assert not np.allclose(engine.solve().p_mw, before.p_mw, atol=1e-3)
    engine.apply_state(before)
    after = engine.solve()
    # Within the power flow's own tolerance (a re-solve alone moves currents ~1e-5 relative).
    assert np.allclose(after.i_a, before.i_a, equal_nan=True, rtol=1e-4, atol=1e-3)
    assert (after.closed == before.closed).all()


def test_a_state_of_another_circuit_is_refused(station, engine, tmp_path):
    import pytest

    dss = tmp_path / "small.dss"
    dss.write_text(station.circuit_path.read_text().replace(
        "New Load.COM2_LOAD", "! New Load.COM2_LOAD"))
    other = TwinEngine(dss)
    with pytest.raises(ValueError, match="another circuit"):
        engine.apply_state(other.solve())
