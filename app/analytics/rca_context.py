"""The root-cause analysis's inputs, built from the runtime (Qt-free).

``ml.rca`` takes data only; this module turns the runtime's pieces into that data:

* the **topology** (:func:`ml.rca.events.topology_from_station` on the station description),
  each bay's busbars refined from the live isolator positions when the circuit's switch ends
  are given;
* **events**: the alarm engine's transitions (:class:`app.alarms.engine.AlarmView`) and the
  frames' communication-state changes, as :class:`ml.rca.events.StationEvent`, kept in a
  rolling window; or the historian's stored events (:class:`app.historian.models.Event`);
* **recent values** and each transformer's **thermal inputs** (load, ambient, top oil, hot
  spot, WTI, coolers; bad-quality samples kept as None, never as values) from the frames;
* each transformer's **DGA history** from the gas points (one analysis a change);
* **past incidents** from the historian's event table (alarm clusters and what was recorded
  about them: ``rca`` and ``note`` events).

One :class:`RcaContextBuilder` per station runtime, owned by one thread (the inference
worker's): ``note_frame`` and ``note_alarms`` every scan, ``context`` when a trigger comes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from app.alarms.engine import AlarmRow, AlarmView
from app.historian.api import EventRow, HistorianReader
from app.historian.models import Event
from app.station.frame import ScanFrame
from app.station.model import Station
from ml.rca.engine import RcaContext
from ml.rca.events import StationEvent, Topology
from ml.rca.history import Incident
from ml.rca.result import RcaResult, Trigger

#: How much history the builder keeps (events, values, thermal samples).
DEFAULT_KEEP_S = 24 * 3600.0
#: A quiet gap this long ends one stored incident and starts the next.
INCIDENT_GAP_S = 600.0


class RcaContextBuilder:
    """Rolling inputs of the root-cause analysis for one station (see the module notes)."""

    def __init__(self, station: Station, *,
                 switch_ends: Mapping[str, tuple[str, str]] | None = None,
                 reader: HistorianReader | None = None, keep_s: float = DEFAULT_KEEP_S,
                 thermal_step_s: float = 60.0) -> None:
        raise NotImplementedError  # body follows in the next commit

    @property
    def topology(self) -> Topology:
        raise NotImplementedError

    def note_frame(self, frame: ScanFrame) -> None:
        """Take one scan: communication-state changes as events, values for the frozen-point
        check, thermal and DGA samples (bad quality → None)."""
        raise NotImplementedError

    def note_alarms(self, view: AlarmView) -> None:
        """Take one alarm view's transitions as events (new activations only)."""
        raise NotImplementedError

    def trigger_for_alarm(self, row: AlarmRow) -> Trigger:
        """The trigger for an alarm row (asset type and quantity looked up in the station)."""
        raise NotImplementedError

    def trigger_for_anomaly(self, asset: str, time: dt.datetime, *,
                            features: Mapping[str, float] | None = None,
                            severity: str | None = None, score: float | None = None,
                            key: str = "") -> Trigger:
        """The trigger for a newly flagged anomaly (``features``: its explanation's feature
        values, by feature name)."""
        raise NotImplementedError

    def load_incidents(self, *, start: dt.datetime, end: dt.datetime) -> int:
        """Read past incidents from the historian (the reader given at construction); returns
        how many. Runs on the caller's thread (a query)."""
        raise NotImplementedError

    def context(self, trigger: Trigger) -> RcaContext:
        """Everything the analysers may use for ``trigger``, from what was noted so far."""
        raise NotImplementedError


def events_from_stored(rows: Iterable[Event], station: Station) -> list[StationEvent]:
    """The historian's stored events as correlation events (rows the analysis has no kind for
    are left out)."""
    raise NotImplementedError


def incidents_from_stored(rows: Sequence[Event], station: Station, *,
                          gap_s: float = INCIDENT_GAP_S) -> list[Incident]:
    """Stored events grouped into incidents (a quiet gap of ``gap_s`` ends one), each with its
    signature and what was recorded about it."""
    raise NotImplementedError


def result_event(result: RcaResult) -> EventRow:
    """The event row recording an analysis's conclusion (``event_type`` "rca"), for the
    historian: later incidents are matched against it."""
    raise NotImplementedError
