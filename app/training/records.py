"""Disturbance records of a fault for the trainer's drills.

:func:`fault_records_for` plays a fault on the twin through the station's protection
(:class:`~app.training.protection.StationProtection`) and writes the faulted bay's COMTRADE
record; it returns the events, the record's paths and a JSON-able summary. Qt-free; the
caller gives the fault's time (timezone-aware), nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.station import Station
from app.training.comtrade import (
    AnalogChannel,
    StatusChannel,
    current_wave,
    step_signal,
    voltage_wave,
    write_comtrade,
)
from app.training.protection import (
    FaultScenario,
    ProtectionEvent,
    ProtectionSequence,
    ProtectionSettings,
    StationProtection,
    load_protection,
)
from app.twin.engine import TwinEngine
from app.twin.faults import FaultResult, FaultType

log = logging.getLogger(__name__)

PH = ("A", "B", "C")
#: Events after which the record keeps running for the recorder's post-trip time.
_SWITCHING = ("breaker_open", "breaker_close", "remote_open", "remote_close")


@dataclass(frozen=True, slots=True, eq=False)
class FaultRecord:
    """One fault's protection events and its COMTRADE record."""

    bus: str
    fault_type: FaultType
    bay: str
    breaker: str
    cfg: Path
    dat: Path
    sample_rate_hz: int
    sequence: ProtectionSequence
    analog_channels: tuple[str, ...]
    status_channels: tuple[str, ...]

    @property
    def events(self) -> tuple[ProtectionEvent, ...]:
        return self.sequence.events

    def summary(self) -> dict[str, Any]:
        out = {"bus": self.bus, "fault_type": self.fault_type, "cfg": str(self.cfg),
               "dat": str(self.dat), "bay": self.bay, "breaker": self.breaker,
               "sample_rate_hz": self.sample_rate_hz,
               "analog_channels": list(self.analog_channels),
               "status_channels": list(self.status_channels)}
        seq = self.sequence.summary()
        for k in ("bus", "fault_type"):
            seq.pop(k)
        out.update(seq)
        return out


def fault_records_for(
    engine: TwinEngine,
    station: Station,
    fault: FaultResult | tuple[str, FaultType],
    *,
    fault_time: dt.datetime,
    out_dir: str | Path,
    stuck: Collection[str] = (),
    permanent: bool = True,
    rf_ohm: float | None = None,
    settings: ProtectionSettings | None = None,
    bay: str | None = None,
) -> FaultRecord:
    """Play ``fault`` (a fault study result, or a ``(bus, fault type)`` pair) on the solved
    ``engine`` with ``stuck`` breakers (asset ids) failing to open; write the COMTRADE record
    of the faulted bay (``bay``, else the one chosen by :func:`recorded_breaker`) into
    ``out_dir``. The engine is left as it was."""
    if fault_time.tzinfo is None:
        raise ValueError("fault_time must be timezone-aware")
    if isinstance(fault, FaultResult):
        bus, ftype, rf = fault.bus, fault.type, fault.rf_ohm
    else:
        bus, ftype = fault
        rf = 0.0
    if rf_ohm is not None:
        rf = rf_ohm
    settings = settings or load_protection(station)
    prot = StationProtection(station, settings, engine)
    seq = prot.simulate(FaultScenario(bus, ftype, rf, frozenset(stuck), permanent))
    breaker = recorded_breaker(prot, seq, bay)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rec = _write_record(prot, seq, breaker, fault_time, out)
    log.info("disturbance record of %s fault at %s: %s (%d events)", ftype, bus, rec.cfg.name,
             len(seq.events))
    return rec


def recorded_breaker(prot: StationProtection, seq: ProtectionSequence,
                     bay: str | None = None) -> str:
    """The breaker whose bay the record shows: ``bay``'s breaker; else a stuck breaker that
    was commanded; else, of the breakers the first trip commanded, the one carrying the most
    fault current."""
    if bay is not None:
        for b in prot.breakers.values():
            if b.bay == bay:
                return b.id
        raise ValueError(f"bay '{bay}' has no breaker")
    stuck = [e.breaker for e in seq.of_kind("breaker_stuck")]
    if stuck:
        return stuck[0]
    first = seq.first("trip")
    cmds = [e.breaker for e in seq.events if e.kind == "open_command" and first is not None
            and e.time_us == first.time_us]
    s0 = seq.stages[0].phasors
    cands = cmds or list(prot.breakers)
    return max(cands, key=lambda b: float(np.abs(s0.breaker(prot.breakers[b].element)[1])
                                          .max()))


def _intervals(seq: ProtectionSequence, on: str, off: Collection[str], source: str,
               end_s: float, breaker: str | None = None) -> list[tuple[float, float]]:
    out, since = [], None
    for e in seq.events:
        if e.source != source and not (breaker and e.breaker == breaker and e.kind == on):
            continue
        if e.kind == on and since is None:
            since = e.time_s
        elif e.kind in off and since is not None:
            out.append((since, e.time_s))
            since = None
    if since is not None:
        out.append((since, end_s + 1))
    return out


def _write_record(prot: StationProtection, seq: ProtectionSequence, breaker: str,
                  fault_time: dt.datetime, out: Path) -> FaultRecord:
    st, s = prot.station, prot.settings.recorder
    brk = prot.breakers[breaker]
    fs = s.sample_rate_hz
    pre_s = s.pre_fault_ms / 1000.0
    switching = [e.time_s for e in seq.events if e.kind in _SWITCHING and
                 e.time_s <= s.max_duration_s]
    last = max(switching, default=max((e.time_s for e in seq.events
                                       if e.time_s <= s.max_duration_s), default=0.0))
    end_s = min(s.max_duration_s, last + s.post_trip_ms / 1000.0)
    n = int(math.floor((end_s + pre_s) * fs)) + 1
    t = -pre_s + np.arange(n) / fs
    stages = seq.stages
    starts = [x.start_us / 1e6 for x in stages]
    f_hz = st.station.frequency_hz
    initially = prot.engine.is_closed(brk.element)

    # ---- analogs
    i_pre = stages[0].phasors.breaker(brk.element)[0]
    currents = []
    for k, ph in enumerate(PH):
        closed = [initially and ph not in x.open_poles.get(breaker, "") for x in stages]
        currents.append(current_wave(t, starts, [x.phasors.breaker(brk.element)[1][k]
                                                  for x in stages], closed, i_pre[k],
                                     seq.tau_s, f_hz))
    ct = next((a for a in st.assets_of_type("ct") if (a.element or "").lower() ==
               brk.element.lower()), None)
    ct_p, ct_s = _ratio(ct.nameplate.ratio if ct else None)
    analogs = [AnalogChannel(f"{brk.bay} I{ph}", ph, brk.bay, "A", currents[k], ct_p, ct_s)
               for k, ph in enumerate(PH)]
    analogs.append(AnalogChannel(f"{brk.bay} IN", "N", brk.bay, "A",
                                 currents[0] + currents[1] + currents[2], ct_p, ct_s))
    vt_buses = []
    vt = next((a for a in st.assets_of_type("cvt") if a.bay == brk.bay and a.bus), None)
    if vt is not None:
        vt_buses.append((brk.bay, vt.bus.lower(), vt))
    busbar = next((bb for bb, zone in prot.busbar_zones().items()
                   if any(b == breaker for b, _ in zone)), None)
    if busbar is not None:
        bb_bus = st.asset(busbar).bus.lower()
        bb_vt = next((a for a in st.assets_of_type("cvt") if (a.bus or "").lower() == bb_bus),
                     None)
        vt_buses.append((busbar, bb_bus, bb_vt))
    for label, bus, vt_asset in vt_buses:
        v_pre = stages[0].phasors.voltages(bus)[0]
        vp, vs = _ratio(vt_asset.nameplate.model if vt_asset else None, volts=True)
        for k, ph in enumerate(PH):
            v = voltage_wave(t, starts, [x.phasors.voltages(bus)[1][k] for x in stages],
                             v_pre[k], f_hz) / 1000.0
            analogs.append(AnalogChannel(f"{label} V{ph}", ph, label, "kV", v, vp, vs))

    # ---- digitals
    relays = [r for r in prot.settings.relays
              if st.asset(r.id).bay == brk.bay or any(
                  e.kind == "open_command" and e.breaker == breaker and e.detail == f"by {r.id}"
                  for e in seq.events)]
    statuses = []
    for r in relays:
        picks = _intervals(seq, "pickup", ("dropoff",), r.id, end_s)
        trips = _intervals(seq, "trip", ("dropoff",), r.id, end_s)
        if not picks and not trips:
            continue
        statuses.append(StatusChannel(f"{r.id} PICKUP", "", brk.bay, step_signal(t, picks)))
        statuses.append(StatusChannel(f"{r.id} TRIP", "", brk.bay, step_signal(t, trips)))
    for ph in PH:
        closed = np.zeros(n, dtype=np.uint8)
        for j, x in enumerate(stages):
            on = initially and ph not in x.open_poles.get(breaker, "")
            hi = starts[j + 1] if j + 1 < len(stages) else math.inf
            closed[(t >= starts[j]) & (t < hi)] = on
        closed[t < starts[0]] = initially
        statuses.append(StatusChannel(f"{breaker} 52a {ph}", ph, brk.bay, closed, normal=1))
    bf = [(e.time_s, end_s + 1) for e in seq.of_kind("bf_backup_trip") if e.breaker == breaker]
    if bf or breaker in seq.scenario.stuck:
        statuses.append(StatusChannel(f"{breaker} BF OP", "", brk.bay, step_signal(t, bf)))
    ar = [(e.time_s, e.time_s + 0.1) for e in seq.of_kind("reclose_command")
          if breaker in e.breaker.split(",")]
    if ar:
        statuses.append(StatusChannel(f"{breaker} 79 CLOSE", "", brk.bay, step_signal(t, ar)))

    stamp = fault_time.astimezone(dt.UTC)
    stem = out / (f"{stamp:%Y%m%dT%H%M%S}{stamp.microsecond // 1000:03d}Z_{st.station.id}_"
                  f"{brk.bay}_{seq.stages[0].phasors.bus}_{seq.scenario.fault_type}")
    try:
        local = stamp.astimezone(zoneinfo.ZoneInfo(st.station.timezone)).utcoffset()
    except zoneinfo.ZoneInfoNotFoundError:
        local = None
    rec_dev = next((r.id for r in relays if st.asset(r.id).bay == brk.bay), f"DR_{brk.bay}")
    cfg, dat = write_comtrade(stem, station_name=st.station.name, rec_dev_id=rec_dev,
                              sample_rate_hz=fs, start=stamp - dt.timedelta(seconds=pre_s),
                              trigger=stamp, analogs=analogs, statuses=statuses,
                              frequency_hz=f_hz, fmt=s.format, local_offset=local)
    return FaultRecord(bus=seq.stages[0].phasors.bus, fault_type=seq.scenario.fault_type,
                       bay=brk.bay, breaker=breaker, cfg=cfg, dat=dat, sample_rate_hz=fs,
                       sequence=seq, analog_channels=tuple(a.name for a in analogs),
                       status_channels=tuple(x.name for x in statuses))


def _ratio(text: str | None, volts: bool = False) -> tuple[float, float]:
    """(primary, secondary) of a CT's "2000/1 A" or a VT's "400/sqrt3 kV / 110/sqrt3 V"."""
    if not text:
        return 1.0, 1.0
    if volts:
        import re
        m = re.search(r"([\d.]+)/sqrt3 kV / ([\d.]+)/sqrt3 V", text)
        return (float(m.group(1)) * 1000, float(m.group(2))) if m else (1.0, 1.0)
    head = text.replace("A", "").strip().split("/")
    try:
        return float(head[0]), float(head[1])
    except (IndexError, ValueError):
        return 1.0, 1.0
