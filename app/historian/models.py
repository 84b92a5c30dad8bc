"""SQLAlchemy 2 models: the configuration store and the time-series tables.

Configuration (the seed's tables, kept close to their columns): assets, users, events,
alarm_rules, maintenance_schedule, dss_versions, ml_models; plus points and the audit log
(hash-chained, with its head in ``audit_chain``).

Time series:

* ``ts_recent`` — archived samples (after compression) of the last minutes, one row each,
  written every second by the writer thread so a crash loses at most the last batch;
* ``ts_tail`` — per point, the newest sample the compressor still holds (not yet archived),
  upserted with every batch, so the end of every series is on disk too; promoted into
  ``ts_recent`` when the historian next opens;
* ``ts_block`` — older archived samples packed per point into compressed blocks (times
  delta-encoded, values and quality words, zlib);
* ``ts_rollup`` — hourly and daily min / max / mean / count per point, from every raw
  good sample (not the compressed ones), merged into the stored rows with every batch.

``point_id`` is the point's permanent id (``points.point_id``), never its row in the point
table: a tag keeps its id for ever, a new tag gets a new one, and a tag no longer in the
station file is marked retired (``retired_at``) and keeps its history. A value is NULL when
the sample had none (NaN of a bad-quality reading).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Asset(Base):
    __tablename__ = "assets"
    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(64))  # the bay
    commissioned_date: Mapped[str | None] = mapped_column(String(10))
    manufacturer: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    rated_voltage_kv: Mapped[float | None] = mapped_column(Float)
    rated_current_a: Mapped[float | None] = mapped_column(Float)
    rated_power_mva: Mapped[float | None] = mapped_column(Float)
    # "operational", or "retired" once the asset is no longer in the station file
    status: Mapped[str] = mapped_column(String(32), default="operational")
    created_at: Mapped[str | None] = mapped_column(String(32))


class Point(Base):
    __tablename__ = "points"
    point_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # permanent id of the tag
    tag: Mapped[str] = mapped_column(String(96), unique=True)
    asset_id: Mapped[str] = mapped_column(String(64), ForeignKey("assets.asset_id"))
    kind: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[str] = mapped_column(String(48))
    unit: Mapped[str] = mapped_column(String(16))
    deviation: Mapped[float] = mapped_column(Float)  # compression deviation (eng. units)
    retired_at: Mapped[str | None] = mapped_column(String(32))  # UTC ISO; NULL: in service


class User(Base):
    __tablename__ = "users"
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[str | None] = mapped_column(String(32))
    last_login: Mapped[str | None] = mapped_column(String(32))
    # Lock-out after failed logins (app.control.users.LockoutPolicy), kept here so that a
    # restart does not reset it: consecutive failures, the last one, and the lock's end
    # (UTC ISO; NULL: not locked for a time).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failed_at: Mapped[str | None] = mapped_column(String(32))
    locked_until: Mapped[str | None] = mapped_column(String(32))


class Event(Base):
    __tablename__ = "events"
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_type: Mapped[str] = mapped_column(String(16))  # alarm, state, quality, comm, control…
    asset_id: Mapped[str | None] = mapped_column(String(64))
    tag: Mapped[str | None] = mapped_column(String(96))
    severity: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    time_ms: Mapped[int] = mapped_column(BigInteger)  # UTC, milliseconds since the epoch
    before: Mapped[str | None] = mapped_column(String(64))
    after: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str | None] = mapped_column(String(48))
    value: Mapped[float | None] = mapped_column(Float)
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (Index("ix_events_time", "time_ms"), Index("ix_events_asset", "asset_id"),)


class AlarmRule(Base):
    __tablename__ = "alarm_rules"
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_type: Mapped[str | None] = mapped_column(String(32))
    parameter: Mapped[str] = mapped_column(String(96))
    condition: Mapped[str] = mapped_column(String(8))  # >, <, >=, <=, ==, range
    threshold_value: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(10))
    deadband: Mapped[float] = mapped_column(Float, default=0.0)
    on_delay_s: Mapped[float] = mapped_column(Float, default=0.0)
    off_delay_s: Mapped[float] = mapped_column(Float, default=0.0)
    priority: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[str | None] = mapped_column(String(32))


class MaintenanceSchedule(Base):
    __tablename__ = "maintenance_schedule"
    schedule_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(64), ForeignKey("assets.asset_id"))
    maintenance_type: Mapped[str] = mapped_column(String(16))  # preventive/corrective/predictive
    scheduled_date: Mapped[str | None] = mapped_column(String(10))
    completed_date: Mapped[str | None] = mapped_column(String(10))
    performed_by: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)


class DssVersion(Base):
    __tablename__ = "dss_versions"
    version_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version_number: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)


class MlModel(Base):
    __tablename__ = "ml_models"
    __table_args__ = (Index("ix_ml_models_version", "version"),)
    model_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_type: Mapped[str] = mapped_column(String(32))
    asset_type: Mapped[str | None] = mapped_column(String(32))
    model_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    training_date: Mapped[str | None] = mapped_column(String(32))
    accuracy_score: Mapped[float | None] = mapped_column(Float)
    feature_importance: Mapped[str | None] = mapped_column(Text)  # JSON
    # The model registry (app.analytics.registry, migration 0005): a version groups the
    # models trained together (one row per model kind); the file lives in the data folder
    # and is checked against its SHA-256 before it is loaded.
    version: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(64))  # "simulate 6h seed 0", "historian"
    window_start: Mapped[str | None] = mapped_column(String(40))  # ISO, UTC
    window_end: Mapped[str | None] = mapped_column(String(40))
    feature_fingerprint: Mapped[str | None] = mapped_column(String(64))
    features: Mapped[str | None] = mapped_column(Text)  # JSON: class -> [feature name]
    metrics: Mapped[str | None] = mapped_column(Text)  # JSON
    file_path: Mapped[str | None] = mapped_column(Text)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[str | None] = mapped_column(String(40))
    is_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class AuditLog(Base):
    __tablename__ = "audit_log"
    audit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    user: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(96))
    action: Mapped[str] = mapped_column(String(48))
    before: Mapped[str | None] = mapped_column(String(64))
    after: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(48))
    detail: Mapped[str | None] = mapped_column(Text)
    # The hash chain (app.historian.audit_chain): the row's place in the chain, from 1, and
    # HMAC-SHA-256 of its content and the previous row's hash. NULL in rows written before
    # the chain started (migration 0004).
    seq: Mapped[int | None] = mapped_column(BigInteger)
    row_hash: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (Index("ix_audit_log_seq", "seq", unique=True),)


class AuditChain(Base):
    """The audit chain's head: one row, updated with every appended batch. Appending takes
    its row lock first, so writers in several processes chain one after the other."""

    __tablename__ = "audit_chain"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)  # of the newest chained row (0: none yet)
    row_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(16))  # which key the chain is under
    updated_ms: Mapped[int | None] = mapped_column(BigInteger)


class TsRecent(Base):
    __tablename__ = "ts_recent"
    point_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    t_ns: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[int] = mapped_column(Integer)


class TsTail(Base):
    __tablename__ = "ts_tail"
    point_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    t_ns: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[int] = mapped_column(Integer)


class TsBlock(Base):
    __tablename__ = "ts_block"
    point_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    t_start_ns: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    t_end_ns: Mapped[int] = mapped_column(BigInteger)
    n: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class TsRollup(Base):
    __tablename__ = "ts_rollup"
    point_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(1), primary_key=True)  # "h" or "d"
    t_ns: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # bucket start
    vmin: Mapped[float] = mapped_column(Float)
    vmax: Mapped[float] = mapped_column(Float)
    vmean: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)
