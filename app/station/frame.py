"""One scan of the field, as the pollers deliver it.

A :class:`ScanFrame` holds, for every row of the point table, the value, its IEC 61850
quality word and its source timestamp, plus each device's communication state. Arrays are
read-only so a frame can be shared by the solver, historian, alarms and GUI threads.

Communication states (:class:`Comm`; the rules that move a device between them, with their
hold-off and hysteresis, are in :mod:`app.field.commstate`):

* ``CONNECTING`` — not answered yet since start-up (points invalid|oldData);
* ``OK`` — answering; its points carry the quality the device gives them;
* ``SUSPECT`` — no good reply for a while (default 1 s), or answering again but not yet for
  long enough: the last values are kept, questionable|oldData. Not OK: no control, and no
  value in it is trusted (IL-0), but not yet an alarm;
* ``LOST`` — no good reply for ``comm_loss_s`` (default 3 s), or answering again but not yet
  for ``recover_s``: points invalid|oldData, one "communication lost" alarm for the device.

A bay polled over two paths (RTU and IED) has the state of its worst path; ``protocol`` then
names the paths that are not OK, ``last_error`` says why each is not, and ``paths`` holds each
path's own :class:`CommState`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import numpy as np

from app.station import quality as Q
from app.station.points import PointTable


class Comm(Enum):
    OK = "ok"
    SUSPECT = "suspect"
    LOST = "lost"
    CONNECTING = "connecting"


@dataclass(frozen=True, slots=True)
class CommState:
    device: str
    protocol: str
    state: Comm
    since: dt.datetime
    last_error: str = ""
    paths: tuple[CommState, ...] = ()
    """Each path's own state (the RTU's, then the IED's) as the protocol frame source gives
    it; a single-path device has itself; empty from sources without paths (the training
    simulator)."""


@dataclass(frozen=True, slots=True, eq=False)
class ScanFrame:
    seq: int
    t_acquired: dt.datetime
    """When the scan completed on the poller (UTC)."""
    points: PointTable
    values: np.ndarray  # float64 (npoints,)
    quality: np.ndarray  # uint16 (npoints,)
    t_source_ns: np.ndarray  # int64 (npoints,) source timestamp, ns since the Unix epoch (UTC)
    comm: Mapping[str, CommState]

    def value(self, tag: str) -> tuple[float, int, dt.datetime]:
        """(value, quality word, source time) of one point."""
        i = self.points.row(tag)
        t = dt.datetime.fromtimestamp(int(self.t_source_ns[i]) / 1e9, dt.UTC)
        return float(self.values[i]), int(self.quality[i]), t

    def good(self) -> np.ndarray:
        return Q.good_mask(self.quality)


def frozen_arrays(values: np.ndarray, quality: np.ndarray, t_ns: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.array(values, dtype=np.float64)
    q = np.array(quality, dtype=np.uint16)
    t = np.array(t_ns, dtype=np.int64)
    for a in (v, q, t):
        a.setflags(write=False)
    return v, q, t
