"""The one composition function: everything Qt-free a scan pipeline needs, wired one way.

``gridtwin run`` (under the Qt pipeline and the window), ``gridtwin record`` (a plain loop,
:func:`drive`), the benchmarks and the test fixtures all build their station runtime here,
each with the options it needs, so they cannot drift apart (they did: ``record`` once started
its field-sim on the default station while polling the one it was given)::

    StationRuntime
      source      where the scans come from: the field-sim started as a child process
                  (simulate), a running station by address (Modbus + MMS), or a ready source
                  (an in-process plant for the trainer's drill, a scripted source in tests)
      historian   the time-series store and its writer (SQLite / PostgreSQL / InfluxDB), or None
      store       the configuration store: users, audit log, alarm rules, DSS versions
      audit       the audit log's writer
      accounts    users and sessions (when asked for: the HMI)
      processor   one scan: twin, sequence of events, alarms, historian (app.runtime.scan)
      sim         the field-sim child process, when this started one

:meth:`StationRuntime.close` closes what it opened, in order. Whatever :func:`compose` opened
is closed again if a later part fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy import Engine

from app.alarms.rules import RuleSet
from app.control.audit import AuditSink, DbAudit
from app.control.users import Accounts, LockoutPolicy
from app.historian import HistorianBackend, HistorianOptions
from app.runtime.scan import ScanOutput, ScanProcessor
from app.runtime.sources import FrameSource
from app.station import Station
from app.station import clock as wallclock
from app.station.frame import ScanFrame
from app.station.points import PointTable

if TYPE_CHECKING:
    from app.field.rtu.map import RegisterMap
    from app.runtime.fieldsim import FieldSimProcess
    from ml.anomaly.models import AnomalyModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldSpec:
    """Where the scans come from."""

    modbus: tuple[str, int] | None = None
    """A running station's Modbus RTU; None: start the simulated station (or use ``source``)."""
    mms: tuple[str, int] | None = None
    """Its IEC 61850 MMS server (the first IED's port), with ``modbus``."""
    period_s: float = 0.1
    speed: float = 1.0
    """The started simulator's simulated seconds per wall second."""
    seed: int | None = None
    station_file: str | None = None
    """The station file the started simulator serves (the same the HMI polls with)."""
    register_map: RegisterMap | None = None
    """A Modbus map read from CSV (``app.field.rtu.map.read_map_file``) for a real RTU."""
    source: FrameSource | None = None
    """A ready frame source: an in-process plant, a scripted source (tests)."""
    comm_loss_s: float | None = None
    """Seconds without a good reply before a device is LOST (its comm alarm); None: the
    alarm configuration's ``[communication] comm_loss_s`` (circuits/alarm_rules.toml)."""


@dataclass(frozen=True)
class StoreSpec:
    """Where history and configuration live."""

    data_dir: str | None = None
    db_url: str | None = None
    record_history: bool = True
    historian_options: HistorianOptions = field(default_factory=HistorianOptions)
    """``open_historian`` keyword arguments: retention, InfluxDB, writer settings."""


class _AuditWithoutEventCopy:
    """Alarm actions are already logged as events by the alarm service: audit them without
    a second copy in the event log."""

    def __init__(self, audit: DbAudit) -> None:
        self.audit = audit

    def record(self, *, user: str, time: dt.datetime, device: str, action: str,
               before: str, after: str, result: str, detail: str = "") -> None:
        self.audit.record(user=user, time=time, device=device, action=action, before=before,
                          after=after, result=result, detail=detail, mirror=False)


@dataclass(frozen=True)
class AnalyticsSpec:
    """Analytics on the live scan (the inference worker): which anomaly model to load."""

    model_file: str | None = None
    """One model file (``--model``), instead of the registry's active version."""
    data_dir: str | None = None
    """Where the registry's files live (and a model trained from the HMI is registered);
    default the store's."""
    db_url: str | None = None
    at_start: bool = True
    """Load the model while composing (benchmarks, tests, ``record``); False: leave it to the
    HMI, after its first live frame (``gridtwin run``: loading a torch model takes seconds,
    and the station is shown first)."""


@dataclass(frozen=True)
class AnalyticsModels:
    """The anomaly models loaded at start: none (analytics untrained), or the registry's
    active version (or one file), or a refusal in one line (``problem``)."""

    models: tuple[AnomalyModel, ...] = ()
    names: tuple[str, ...] = ()
    """Per model, what the status bar calls it (``isolation_forest v3``)."""
    description: str = ""
    problem: str | None = None
    spec: AnalyticsSpec = field(default_factory=AnalyticsSpec)
    pending: bool = False
    """Not loaded yet (``spec.at_start`` False): :func:`load_analytics` later."""


def load_analytics(station: Station, points: PointTable, spec: AnalyticsSpec, *,
                   engine: Engine | None = None) -> AnalyticsModels:
    """The active anomaly model of the registry (``engine``: the configuration store, when
    open; else the one under ``spec.data_dir``) or ``spec.model_file``. Never raises for a
    model it refuses (hash, features): that is ``problem``, one line naming the mismatch,
    and the HMI runs with analytics off."""
    from app.analytics import registry

    try:
        if spec.model_file:
            loaded = registry.load_file(spec.model_file, station, points)
        elif engine is None and spec.data_dir is None and spec.db_url is None:
            return AnalyticsModels(spec=spec)  # no store to look in
        else:
            loaded = registry.load_active(spec.data_dir, station, points, db_url=spec.db_url,
                                          engine=engine)
    except (registry.RegistryError, OSError, ValueError) as exc:
        log.error("analytics: anomaly model refused: %s", exc)
        return AnalyticsModels(problem=f"analytics: model refused — {exc}", spec=spec)
    if loaded is None:
        return AnalyticsModels(spec=spec)
    names = tuple(f"{r.kind} v{r.version}" if r.version else f"{r.kind} ({r.model_id})"
                  for r in loaded.records)
    return AnalyticsModels(loaded.models, names, loaded.describe(), spec=spec)


class AccountOptions(TypedDict, total=False):
    """How the users service is built for the HMI (``compose(..., accounts={...})``)."""

    session_timeout_min: float
    lockout: LockoutPolicy | None


@dataclass
class StationRuntime:
    station: Station
    points: PointTable
    source: FrameSource
    processor: ScanProcessor
    historian: HistorianBackend | None = None
    store: Engine | None = None
    audit: AuditSink | None = None
    accounts: Accounts | None = None
    sim: FieldSimProcess | None = None
    rules: RuleSet | None = None
    audit_log: DbAudit | None = None
    """The audit log this runtime opened (the store's), closed with it; an ``audit`` given
    to :func:`compose` is its giver's."""
    analytics: AnalyticsModels | None = None
    """The anomaly models to start the inference worker with (None: no analytics)."""
    _closed: bool = False

    def wait_field(self, timeout_s: float = 60.0) -> None:
        """Wait for a started field-sim to serve (FieldSimError with its log if it does not)."""
        if self.sim is not None:
            self.sim.wait_ready(timeout_s)

    def close(self) -> None:
        """Close the source's clients, the audit log, the stores, and last the field-sim (the
        MMS client process goes before its server). Idempotent."""
        if self._closed:
            return
        self._closed = True
        parts: tuple[tuple[Callable[[], object] | None, str], ...] = (
            (self.source.close, "frame source"),
            (self.audit_log.close if self.audit_log is not None else None, "audit log"),
            (self.historian.close if self.historian is not None else None, "historian"))
        for close, what in parts:
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing the %s failed", what)
        if self.store is not None:
            self.store.dispose()
        if self.sim is not None:
            self.sim.stop()


def compose(station: Station, points: PointTable, *, field: FieldSpec,
            store: StoreSpec | None = None, historian: HistorianBackend | None = None,
            rules: RuleSet | None = None, audit: AuditSink | None = None,
            accounts: AccountOptions | None = None,
            clock: Callable[[], dt.datetime] = wallclock.now,
            analytics: AnalyticsSpec | None = None) -> StationRuntime:
    """Build (not start) a station runtime. ``store`` None: no configuration store — the
    rules from the station's files, no audit unless ``audit`` is given (tests, benches).
    ``historian``, ``rules`` and ``audit`` given override what the store would provide.
    ``accounts``: build the users service with these keyword arguments (the HMI).
    ``analytics``: load the active anomaly model (:func:`load_analytics`)."""
    from app.runtime.fieldsim import FieldSimProcess

    sim: FieldSimProcess | None = None
    engine: Engine | None = None
    db_audit: DbAudit | None = None
    hist: HistorianBackend | None = None
    source: FrameSource | None = None
    try:
        if field.source is not None:
            source = field.source
        else:
            if field.modbus is None:
                # The station starts while the rest is built (its ports are ours to choose);
                # nothing polls it before it says it serves (wait_field).
                sim = FieldSimProcess(station=field.station_file, speed=field.speed,
                                      seed=field.seed).launch()
                modbus, mms = sim.addresses["modbus"], sim.addresses.get("mms")
            else:
                modbus, mms = field.modbus, field.mms
            from app.alarms.rules import read_settings, rule_file
            from app.runtime.sources import ProtocolFrameSource

            # How long without a good reply before "communication lost": the alarm
            # configuration's [communication] (or FieldSpec.comm_loss_s).
            comm = read_settings(rule_file(station))
            source = ProtocolFrameSource(points, modbus=modbus, mms=mms,
                                         period_s=field.period_s,
                                         register_map=field.register_map,
                                         stale_s=comm.stale_s,
                                         comm_loss_s=field.comm_loss_s or comm.comm_loss_s,
                                         recover_s=comm.recover_s)
        circuit: Path | None = None
        hist = historian
        if store is not None:
            if hist is None and store.record_history:
                from app.historian import open_historian

                hist = open_historian(station, points, data_dir=store.data_dir,
                                      db_url=store.db_url, **store.historian_options)
            engine = hist.engine if hist is not None else None
            if engine is None:
                from app.control.userdb import open_store

                engine = open_store(station.station.id, data_dir=store.data_dir,
                                    db_url=store.db_url)
            if audit is None:
                audit = db_audit = DbAudit(engine, events=hist)
            if rules is None:
                from app.alarms.rules import rules_for_station

                # Seeded on first open; a bad rule is logged and skipped, never a reason not
                # to start.
                rules = rules_for_station(station, points, engine)
            from app.historian import active_circuit

            circuit = active_circuit(station, engine, data_dir_path=store.data_dir)
        acc = None
        if accounts is not None:
            if engine is None:
                raise ValueError("accounts need a configuration store (store=StoreSpec(...))")
            acc = _accounts(station, engine, **accounts)
        processor = ScanProcessor(
            station, points, sink=hist, rules=rules,
            audit=_AuditWithoutEventCopy(db_audit) if db_audit is not None else audit,
            clock=clock, circuit_path=circuit)
        models = None
        if analytics is not None:
            if analytics.data_dir is None and store is not None:
                analytics = dataclasses.replace(analytics, data_dir=store.data_dir,
                                                db_url=analytics.db_url or store.db_url)
            models = (load_analytics(station, points, analytics, engine=engine)
                      if analytics.at_start else AnalyticsModels(spec=analytics, pending=True))
    except BaseException:
        for part in (db_audit, hist if historian is None else None):
            if part is not None:
                part.close()
        if engine is not None:
            engine.dispose()
        if source is not None and field.source is None:
            source.close()
        if sim is not None:
            sim.stop()
        raise
    return StationRuntime(station, points, source, processor, hist, engine, audit, acc, sim,
                          processor.rules, db_audit, models)


def _accounts(station: Station, engine: Engine, *, session_timeout_min: float = 15.0,
              lockout: LockoutPolicy | None = None) -> Accounts:
    from app.control.passwords import DEFAULT_POLICY
    from app.control.userdb import DbUsers

    return Accounts(DbUsers(engine), dt.timedelta(minutes=session_timeout_min),
                    lockout=lockout,
                    passwords=DEFAULT_POLICY.with_context(station.station.id,
                                                          station.station.name))


def drive(rt: StationRuntime, duration_s: float,
          on_output: Callable[[ScanFrame, ScanOutput], None] | None = None) -> int:
    """Run the scan pipeline without Qt for ``duration_s`` seconds (``gridtwin record``):
    the source's loop on this thread, each frame processed as it comes. Returns the number of
    scans; ``on_output(frame, ScanOutput)`` sees each."""
    n = [0]

    def take(frame: ScanFrame) -> None:
        out = rt.processor.process(frame)
        n[0] += 1
        rt.processor.stats.frames += 1
        rt.processor.stats.frame_times.append(time.monotonic())
        if on_output is not None:
            on_output(frame, out)

    async def go() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(duration_s, stop.set)
        await rt.source.run(take, stop)

    rt.wait_field()
    asyncio.run(go())
    return n[0]
