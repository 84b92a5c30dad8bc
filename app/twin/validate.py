"""Validate a circuit version before it may become the active model.

The historian stores circuit versions but may not import the twin; whoever activates a
version passes :func:`validate_circuit_text` in. It compiles the text in a scratch engine (its
own OpenDSS context, so the live model is untouched), solves it, and refuses with OpenDSS's
own message when the text is wrong or the network does not converge.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.twin.engine import CircuitError, TwinEngine


@dataclass(frozen=True, slots=True)
class CircuitSummary:
    buses: int
    branches: int
    converged: bool
    load_mw: float
    losses_mw: float


def validate_circuit_text(text: str, *, name: str = "circuit.dss",
                          base_frequency_hz: float = 50.0) -> CircuitSummary:
    """Compile and solve ``text``; raise :class:`CircuitError` (OpenDSS's message, prefixed
    with ``name``) if it is not a usable, converging circuit."""
    if not text.strip():
        raise CircuitError(name, "the circuit text is empty")
    with tempfile.TemporaryDirectory(prefix="gridtwin-dss-") as tmp:
        path = Path(tmp) / Path(name).name
        path.write_text(text, encoding="utf-8")
        try:
            engine = TwinEngine(path, base_frequency_hz=base_frequency_hz)
        except CircuitError as exc:
            raise CircuitError(name, exc.dss_message) from None
        state = engine.solve()
    if not state.converged:
        raise CircuitError(name, "the power flow does not converge")
    return CircuitSummary(len(state.bus_names), len(state.branch_names), state.converged,
                          state.totals.load_mw, state.totals.losses_mw)
