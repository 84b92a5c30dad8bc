"""What the GUI receives every scan: one immutable :class:`LiveSnapshot`.

The runtime's workers build it (poller → ScanFrame, solver → TwinState and residuals) and hand
it to the GUI thread through a Qt signal. Widgets (single-line diagram, trends, 3D yard, alarm
list) subscribe and paint what changed; none of them owns state or polls.

Qt-free on purpose: tests and benchmarks build snapshots without a display.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from app.station.frame import ScanFrame
from app.twin.state import TwinState


@dataclass(frozen=True, slots=True, eq=False)
class LiveSnapshot:
    seq: int
    frame: ScanFrame
    """Measured values, IEC 61850 quality and source times of every point."""
    twin: TwinState | None
    """The twin solved from this scan's measurements (None before the first solve)."""
    residual: np.ndarray | None = None
    """Per point: measured − twin, where the twin has a counterpart (NaN elsewhere)."""

    @property
    def t_acquired(self) -> dt.datetime:
        """Field acquisition time of the scan (the start of scan-to-screen latency)."""
        return self.frame.t_acquired
