"""The audit log's hash chain: a deleted, edited, inserted or reordered row is detected.

Every row appended to ``audit_log`` gets the next number of the chain (``seq``, from 1) and
``row_hash`` = HMAC-SHA-256(key, [seq, time_ms, user, device, action, before, after,
result, detail, previous row's row_hash]). :func:`verify` walks the whole table and reports
each break: a number missing (a row deleted), a hash that does not match (a row edited), a row
without a number after the chain started (a row inserted by hand), numbers out of order.

**The key** is 32 random bytes in a file of its own, ``0600``: beside a SQLite database
(``<station>.audit-key`` next to ``<station>.sqlite``), in the data directory for a server
database. Someone who can run SQL on the store but cannot read the key (a PostgreSQL
account, an SQL console on another machine) cannot forge a row: an edit is detected even if
they recompute a hash. Someone who can read the key file *and* rewrite the database — with
SQLite, whoever owns the files — can rewrite the whole log consistently; no chain kept on
the same machine stops that, and GridTwin does not claim to. Keep a copy of the head
(``gridtwin audit --verify`` prints it) elsewhere, or ship the log off the machine, if that
is the threat.

**The end of the log.** A chain alone does not show that its last rows were cut off. Two
witnesses do: the head row in ``audit_chain`` (seq and hash of the newest row, updated in the
same transaction), and an **anchor file** (``<station>.audit-anchor``, ``0600``) rewritten
after every committed batch. ``DELETE FROM audit_log WHERE audit_id > N`` is detected by
both; rewriting the head too is still caught by the anchor file, which is outside the
database. The anchor is a lower bound (several writers may each record where they got to), and
after a power cut the last committed rows may be lost from SQLite while the anchor names them:
then ``--verify`` reports them missing, which is true. A writer that finds the log no longer
holds the anchored row keeps appending (the trail goes on) but never moves the anchor again:
the evidence of the cut stays until someone who has looked into it deletes the anchor file
(the next write makes a new one).

**Rows from before the chain** (written before migration 0004) have no number; they are
reported as not covered. A row without a number after the first chained one is an error.

Appending takes the head row's lock first (an ``UPDATE``), so writers in several processes
(the HMI, ``gridtwin users``, ``gridtwin dss``) append one after another on SQLite and on
PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, Row, insert, select, update

from app.historian.db import HistorianError, data_dir, private_dir
from app.historian.models import AuditChain, AuditLog

log = logging.getLogger(__name__)

KEY_BYTES = 32
HEAD_ID = 1
FIELDS = ("time_ms", "user", "device", "action", "before", "after", "result", "detail")
MAX_PROBLEMS = 100


class AuditChainError(HistorianError):
    """The chain's key cannot be created or read (one line naming the file)."""


# ---------------------------------------------------------------------------- files
_DIRS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def use_data_dir(engine: Engine, data_dir_path: str | Path | None) -> None:
    """Remember the data directory the store was opened with (``--data-dir``): a server
    database's key and anchor live there."""
    if data_dir_path:
        _DIRS[engine] = Path(data_dir_path)


def chain_files(engine: Engine, data_dir_path: str | Path | None = None
                ) -> tuple[Path | None, Path | None]:
    """(key file, anchor file) of the store behind ``engine``; (None, None) for an in-memory
    SQLite database (a key for the process only, no anchor)."""
    u = engine.url
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:" or u.database.startswith("file:"):
            return None, None
        db = Path(u.database)
        stem = db.name[:-len(db.suffix)] if db.suffix else db.name
        return db.with_name(f"{stem}.audit-key"), db.with_name(f"{stem}.audit-anchor")
    d = Path(data_dir_path) if data_dir_path else _DIRS.get(engine) or data_dir()
    name = re.sub(r"[^A-Za-z0-9._-]+", "_",
                  f"{u.get_backend_name()}-{u.host or 'local'}-{u.port or ''}-{u.database or ''}")
    return d / f"{name}.audit-key", d / f"{name}.audit-anchor"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename), mode 0600."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_key(path: Path | None, *, create: bool = True) -> bytes | None:
    """The chain key from ``path`` (created, 0600, when missing and ``create``); None when
    it is missing and not to be created."""
    if path is None:
        return _PROCESS_KEY
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        if not create:
            return None
        try:
            private_dir(path.parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile
            return load_key(path, create=False)
        except OSError as exc:
            raise AuditChainError(f"{path}: cannot create the audit chain's key: "
                                  f"{exc.strerror}") from None
        try:
            os.write(fd, (secrets.token_hex(KEY_BYTES) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        log.info("audit chain: new key %s", path)
        return load_key(path, create=False)
    except OSError as exc:
        raise AuditChainError(f"{path}: cannot read the audit chain's key: "
                              f"{exc.strerror}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise AuditChainError(f"{path}: not an audit chain key ({KEY_BYTES * 2} hex digits "
                              "expected)")
    if path.stat().st_mode & 0o077:
        try:
            os.chmod(path, 0o600)
        except OSError:
            log.warning("%s: the audit key is readable by others and cannot be made private",
                        path)
    return key


_PROCESS_KEY = secrets.token_bytes(KEY_BYTES)


def key_id(key: bytes) -> str:
    """A short public name of a key (not the key): which key a chain was written under."""
    return hmac.new(key, b"gridtwin audit key id", hashlib.sha256).hexdigest()[:16]


def row_mac(key: bytes, prev_hash: str, seq: int, row: dict) -> str:
    """The chain hash of one row (empty and NULL texts are the same)."""
    values = [seq, int(row["time_ms"])] + [row.get(k) or "" for k in FIELDS[1:]] + [prev_hash]
    msg = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------- anchor
@dataclass(frozen=True, slots=True)
class Anchor:
    seq: int
    row_hash: str
    time_ms: int


def read_anchor(path: Path | None) -> Anchor | None:
    """The anchor file's record; None when there is none. An unreadable one raises
    :class:`AuditChainError`."""
    if path is None:
        return None
    try:
        d = json.loads(path.read_text())
        return Anchor(int(d["seq"]), str(d["row_hash"]), int(d["time_ms"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AuditChainError(f"{path}: not an audit anchor ({exc})") from None


# ---------------------------------------------------------------------------- appending
class ChainWriter:
    """Appends rows to ``audit_log`` in the chain (see the module's text)."""

    def __init__(self, engine: Engine, *, key_path: Path | None = None,
                 anchor_path: Path | None = None, data_dir_path: str | Path | None = None
                 ) -> None:
        self.engine = engine
        if key_path is None and anchor_path is None:
            key_path, anchor_path = chain_files(engine, data_dir_path)
        self.key_path, self.anchor_path = key_path, anchor_path
        self._key: bytes | None = None
        self._lock = threading.Lock()
        self._warned_key = False
        self.frozen: str | None = None  # why the anchor is no longer moved, if it is not

    @property
    def key(self) -> bytes:
        """The key, created at the first append (a store that is only read never makes one)."""
        if self._key is None:
            self._key = load_key(self.key_path)
        return self._key

    def append(self, con: Connection, rows: list[dict]) -> tuple[int, str]:
        """Append ``rows`` (dicts of :data:`FIELDS`) in the open transaction ``con``;
        returns the new head (seq, hash). :meth:`note_committed` after the commit."""
        key = self.key
        kid = key_id(key)
        c = AuditChain
        if not con.execute(update(c).where(c.chain_id == HEAD_ID)
                           .values(seq=c.seq)).rowcount:  # the lock: one writer at a time
            con.execute(insert(c).values(chain_id=HEAD_ID, seq=0, row_hash="", key_id=kid))
        head = con.execute(select(c.key_id).where(c.chain_id == HEAD_ID)).one()
        if head.key_id not in (None, kid) and not self._warned_key:
            log.error("audit chain: the log was started under key %s, this store's key "
                      "file %s is %s: rows written now will not verify (copy the key file "
                      "of the workstation that started it)", head.key_id, self.key_path, kid)
            self._warned_key = True
        a = AuditLog
        tail = con.execute(select(a.seq, a.row_hash).where(a.seq.is_not(None))
                           .order_by(a.seq.desc()).limit(1)).first()
        seq, prev = (int(tail.seq), tail.row_hash or "") if tail else (0, "")
        self._check_anchor(con, seq)
        out = []
        for r in rows:
            seq += 1
            prev = row_mac(key, prev, seq, r)
            out.append({**{k: r.get(k) for k in FIELDS}, "seq": seq, "row_hash": prev})
        con.execute(insert(a), out)
        con.execute(update(c).where(c.chain_id == HEAD_ID).values(
            seq=seq, row_hash=prev, key_id=head.key_id or kid,
            updated_ms=max(int(r["time_ms"]) for r in rows)))
        return seq, prev

    def _check_anchor(self, con: Connection, tail_seq: int) -> None:
        """Does the log still hold the row the anchor file names? If not (the end was cut
        off, or rewritten), the anchor is frozen as evidence — never moved past the gap by
        the rows appended now — and the fault is logged once."""
        if self.anchor_path is None:
            return
        try:
            an = read_anchor(self.anchor_path)
        except AuditChainError as exc:
            why = str(exc)
        else:
            if an is None:
                return
            if tail_seq < an.seq:
                why = (f"the log ends at chain number {tail_seq} but the anchor file "
                       f"recorded {an.seq}")
            else:
                h = con.execute(select(AuditLog.row_hash).where(AuditLog.seq == an.seq)
                                ).scalar()
                if h == an.row_hash:
                    return
                why = f"chain number {an.seq} is not the row the anchor file recorded"
        if self.frozen is None:
            log.error("audit log cut off or rewritten: %s; the anchor file %s is kept as "
                      "evidence (gridtwin audit --verify)", why, self.anchor_path)
        self.frozen = why

    def note_committed(self, seq: int, row_hash: str, time_ms: int) -> None:
        """Record the new head in the anchor file (only ever forwards, and never while the
        log contradicts it). A failure is logged, never raised: the rows are already safely
        in the database."""
        if self.anchor_path is None or self.frozen is not None:
            return
        with self._lock:
            try:
                old = read_anchor(self.anchor_path)
            except AuditChainError:
                old = None
            if old is not None and old.seq >= seq:
                return
            try:
                _write_private(self.anchor_path, json.dumps(
                    {"seq": seq, "row_hash": row_hash, "time_ms": time_ms}) + "\n")
            except OSError as exc:
                log.error("%s: cannot write the audit anchor: %s", self.anchor_path,
                          exc.strerror)

    def write(self, rows: list[dict]) -> None:
        """Append ``rows`` in a transaction of their own (callers outside the audit writer)."""
        with self.engine.begin() as con:
            seq, h = self.append(con, rows)
        self.note_committed(seq, h, max(int(r["time_ms"]) for r in rows))


_CHAINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CHAINS_LOCK = threading.Lock()


def chain_for(engine: Engine) -> ChainWriter:
    """The one :class:`ChainWriter` of ``engine`` (its files from :func:`use_data_dir`)."""
    with _CHAINS_LOCK:
        ch = _CHAINS.get(engine)
        if ch is None:
            ch = _CHAINS[engine] = ChainWriter(engine)
        return ch


# ---------------------------------------------------------------------------- verifying
@dataclass(frozen=True, slots=True)
class Problem:
    audit_id: int | None
    seq: int | None
    time_ms: int | None
    user: str
    action: str
    what: str


@dataclass
class Report:
    rows: int = 0
    chained: int = 0
    legacy: int = 0  # rows from before the chain (no seq)
    legacy_last_id: int | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str = ""
    head_seq: int | None = None
    anchor: Anchor | None = None
    key_file: str = ""
    anchor_file: str = ""
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, p: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(p)
        else:
            self.more_problems += 1


def verify(engine: Engine, *, key_path: Path | None = None, anchor_path: Path | None = None,
           data_dir_path: str | Path | None = None) -> Report:
    """Check the whole chain (reads the table once, in ``audit_id`` order)."""
    if key_path is None and anchor_path is None:
        key_path, anchor_path = chain_files(engine, data_dir_path)
    rep = Report(key_file=str(key_path or ""), anchor_file=str(anchor_path or ""))
    key = load_key(key_path, create=False)
    a = AuditLog
    q = select(a.audit_id, a.seq, a.row_hash, *[getattr(a, k) for k in FIELDS]
               ).order_by(a.audit_id)
    expected, prev = 1, ""
    started = False
    with engine.connect() as con:
        head = con.execute(select(AuditChain.seq, AuditChain.row_hash, AuditChain.key_id)
                           .where(AuditChain.chain_id == HEAD_ID)).first()
        for r in con.execution_options(yield_per=2000).execute(q):
            rep.rows += 1

            def bad(what: str, r: Row[tuple[object, ...]] = r) -> None:
                rep.add(Problem(r.audit_id, r.seq, r.time_ms, r.user, r.action, what))

            if r.seq is None:
                if started:
                    bad("no place in the chain, after the chain started: a row inserted "
                        "outside GridTwin's audit writer")
                elif r.row_hash is not None:
                    bad("a chain hash without a chain number: edited")
                else:
                    rep.legacy += 1
                    rep.legacy_last_id = r.audit_id
                continue
            if key is None:
                rep.add(Problem(r.audit_id, r.seq, r.time_ms, r.user, r.action,
                                f"the chain's key file {key_path} is missing: the log "
                                "cannot be checked"))
                return rep
            started = True
            rep.chained += 1
            seq = int(r.seq)
            if rep.first_seq is None:
                rep.first_seq = seq
            link_known = True
            if seq > expected:
                bad(f"{_rows(expected, seq - 1)} missing before this row: deleted")
                link_known = False
            elif seq < expected:
                bad(f"chain number {seq} out of order (expected {expected}): a row moved, "
                    "copied or renumbered")
                link_known = False
            if link_known and not hmac.compare_digest(
                    row_mac(key, prev, seq, r._mapping), r.row_hash or ""):
                bad("its content does not match its hash: edited after it was written "
                    "(or written under another key)")
            expected, prev = max(expected, seq + 1), r.row_hash or ""
            rep.last_seq, rep.last_hash = seq, prev
    if head is not None:
        rep.head_seq = int(head.seq)
        if key is not None and head.key_id not in (None, key_id(key)):
            rep.add(Problem(None, None, None, "", "", f"the chain was written under key "
                            f"{head.key_id}, but {key_path} is key {key_id(key)}"))
    last = rep.last_seq or 0
    if head is not None and int(head.seq) > last:
        rep.add(Problem(None, None, None, "", "", f"the log ends at chain number {last} but "
                        f"its head records {int(head.seq)}: "
                        f"{_rows(last + 1, int(head.seq))} cut off at the end"))
    elif head is not None and int(head.seq) < last:
        rep.add(Problem(None, None, None, "", "", f"rows after the head's chain number "
                        f"{int(head.seq)} (up to {last}): appended outside the audit writer"))
    try:
        rep.anchor = read_anchor(anchor_path)
    except AuditChainError as exc:
        rep.add(Problem(None, None, None, "", "", str(exc)))
        return rep
    if rep.anchor is not None:
        an = rep.anchor
        if an.seq > last:
            rep.add(Problem(None, None, None, "", "", f"the log ends at chain number {last} "
                            f"but the anchor file recorded {an.seq}: {_rows(last + 1, an.seq)} "
                            "missing at the end (cut off, or lost in a crash)"))
        else:
            with engine.connect() as con:
                h = con.execute(select(a.row_hash).where(a.seq == an.seq)).scalar()
            if h is not None and h != an.row_hash:
                rep.add(Problem(None, an.seq, None, "", "", f"chain number {an.seq} is not "
                                "the row the anchor file recorded: the log was rewritten"))
    elif rep.chained and anchor_path is not None:
        rep.add(Problem(None, None, None, "", "", f"the anchor file {anchor_path} is missing: "
                        "the end of the log cannot be checked"))
    return rep


def _rows(first: int, last: int) -> str:
    return f"chain number {first}" if first == last else f"chain numbers {first}–{last}"
