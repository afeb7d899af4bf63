"""The append-only, keyed, hash-chained audit log shared by every package.

Each row carries an HMAC-SHA256 of its own content and of the row before it, under the
``audit_key`` setting (kept outside the database, in ``secrets.json`` or the
environment), so deleting, reordering or editing any row breaks the chain from that row
on, and someone with the database alone cannot recompute it: ``onetrip audit verify``
finds the first broken row. Rows written before the chain was keyed (``audit_head.
keyed_from``, set by migration config_0002) keep their plain SHA-256. The database refuses
UPDATE and DELETE on the table (triggers), so tampering needs someone who can drop those
first. What a key alone cannot catch (a truncated tail, or a rewrite by whoever holds the
key) the anchors catch: :mod:`config.audit_anchor` time-stamps the head and keeps that
outside the database. Appending takes a row lock on the single ``audit_head`` row, which
serialises writers on every database.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from config.db import Base, Database, utcnow

log = logging.getLogger("onetrip.audit")

GENESIS = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(255), index=True)
    client_id: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def compute_hash(self, key: bytes | None) -> str:
        return _chain_hash(
            {c: getattr(self, c) for c in _HASHED}, prev_hash=self.prev_hash, seq=self.seq, key=key
        )

    def as_dict(self) -> dict:
        return {
            "seq": self.seq,
            "at": self.at.isoformat() + "Z",
            "event": self.event,
            "actor": self.actor,
            "subject": self.subject,
            "client_id": self.client_id,
            "ip": self.ip,
            "details": self.details or {},
            "hash": self.hash,
        }


class AuditHead(Base):
    """The newest row's sequence number and hash; one row, id 1."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    keyed_from: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=1)


_HASHED = ("at", "event", "actor", "subject", "client_id", "ip", "details")


def _chain_hash(row: dict, *, prev_hash: str, seq: int, key: bytes | None) -> str:
    """HMAC-SHA256 of the row under ``key``; plain SHA-256 for rows from before keying."""
    body = [
        seq,
        row["at"].isoformat(),
        row["event"],
        row["actor"],
        row["subject"],
        row["client_id"],
        row["ip"],
        row["details"] or {},
        prev_hash,
    ]
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if key is None:
        return hashlib.sha256(blob).hexdigest()
    return hmac.new(key, blob, hashlib.sha256).hexdigest()


_events = AuditEvent.__table__
_head = AuditHead.__table__
_lock_head = select(_head.c.seq, _head.c.hash).where(_head.c.id == 1).with_for_update()


def _entry(
    event: str,
    actor: str | None,
    subject: str | None,
    client_id: str | None,
    ip: str | None,
    details: dict,
) -> dict:
    return {
        "at": utcnow(),
        "event": event,
        "actor": actor,
        "subject": subject,
        "client_id": client_id,
        "ip": ip,
        "details": details,
    }


_set_head = (
    _head.update()
    .where(_head.c.id == 1)
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)


def _chained(
    head: tuple[int, str], entries: Sequence[dict], key: bytes | None
) -> tuple[list[dict], dict]:
    """The rows that chain ``entries`` onto the log whose newest row is ``head`` (seq,
    hash), and the head's new values."""
    if key is None:
        raise RuntimeError("the audit chain needs its key (Database(audit_key=...))")
    seq, prev_hash = head
    rows = []
    for entry in entries:
        seq += 1
        digest = _chain_hash(entry, prev_hash=prev_hash, seq=seq, key=key)
        rows.append({**entry, "seq": seq, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    return rows, {"head_seq": seq, "head_hash": prev_hash}


def _append(session: Session, entries: Sequence[dict]) -> int:
    """Chain ``entries`` onto the log under the head's row lock; returns the last seq.

    Core statements rather than ORM objects: this runs on every token grant, and the unit
    of work cost four times what the statements themselves do.
    """
    rows, head = _chained(session.execute(_lock_head).one(), entries, session.info["audit_key"])
    session.execute(_events.insert(), rows)
    session.execute(_set_head, head)
    return head["head_seq"]


def record(
    session: Session,
    event: str,
    *,
    actor: str | None = None,
    subject: str | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    **details,
) -> int:
    """Append an event inside the caller's transaction: it lands only if the action does.

    Returns the new row's sequence number.
    """
    return _append(session, [_entry(event, actor, subject, client_id, ip, details)])


class BatchedLog:
    """Appends events that accompany no write of their own, many per transaction.

    A client-credentials grant changes no row, nor does a password login: the audit event
    was the only write, and a write transaction per event cost more CPU than the whole
    rest of the grant (and a third of what a login may add to its hash). Here the
    caller only queues the event (its time taken at once); a thread of this process chains
    what has queued every ``max_delay`` seconds in one transaction. The price, stated
    plainly: an event lands up to ``max_delay`` after the answer went out, and a process
    killed outright loses at most that window. Events that go with a state change keep
    using :func:`record` inside their own transaction. Once a batch could not be written
    (the database down, its disk full), :meth:`record` writes synchronously until a write
    succeeds again, as it does beyond ``capacity`` queued events: the caller fails with the
    database (503) instead of acknowledging an event that is not in the log. Events
    queued before the failure showed wait and are written when the database takes writes.
    """

    def __init__(self, db: Database, *, max_delay: float = 0.05, capacity: int = 10_000) -> None:
        self._db = db
        self._max_delay = max_delay
        self._capacity = capacity
        self._queue: deque[dict] = deque()
        self._wake = threading.Event()
        self._write_lock = threading.Lock()
        self._thread_pid: int | None = None
        self._failing = False  # the last write failed: write synchronously until one works
        atexit.register(self.flush)

    def record(
        self,
        event: str,
        *,
        actor: str | None = None,
        subject: str | None = None,
        client_id: str | None = None,
        ip: str | None = None,
        **details,
    ) -> None:
        entry = _entry(event, actor, subject, client_id, ip, details)
        if self._failing or len(self._queue) >= self._capacity:
            self.flush()
            self._write([entry])
            return
        self._queue.append(entry)
        if self._thread_pid != os.getpid():
            self._start()
        self._wake.set()

    def flush(self) -> None:
        """Write everything queued when called, now, in this thread.

        Only that much: under steady load the queue never empties, and draining it
        "until empty" degenerated into a transaction per event or two.
        """
        with self._write_lock:
            pending = len(self._queue)
            while pending > 0:
                batch = [self._queue.popleft() for _ in range(min(pending, 1000))]
                try:
                    self._write(batch)
                except BaseException:
                    self._queue.extendleft(reversed(batch))
                    raise
                pending -= len(batch)

    def _write(self, entries: list[dict]) -> None:
        try:
            # A Core connection, no Session: a batch needs no unit of work.
            with self._db.transaction() as connection:
                head = connection.execute(_lock_head).one()
                rows, head = _chained(head, entries, self._db.audit_key)
                connection.execute(_events.insert(), rows)
                connection.execute(_set_head, head)
        except BaseException:
            self._failing = True
            raise
        self._failing = False

    def _start(self) -> None:
        # Also after a fork: the parent's thread does not exist in the child.
        self._thread_pid = os.getpid()
        self._wake = threading.Event()
        self._write_lock = threading.Lock()
        threading.Thread(target=self._run, name="audit-batches", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self._max_delay)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("audit batch not written; retrying in 1 s")
                time.sleep(1)
                self._wake.set()


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found. ``kind`` names the tampering: ``edited`` (a row's content
    does not match its keyed hash: edited, or recomputed without the key), ``relinked`` (a
    row does not link to the one before), ``missing`` (a row in the middle is gone),
    ``truncated`` (the newest rows are gone), ``rewritten`` (a row differs from what an
    anchor recorded: recomputed by someone with the key), ``unkeyed`` (the boundary of
    the keyed rows moved), ``anchors`` (the anchors file does not read); ``None`` when intact."""

    rows: int
    first_broken: int | None
    reason: str | None
    kind: str | None = None
    anchors: int = 0

    @property
    def intact(self) -> bool:
        return self.first_broken is None


def verify(session: Session, batch: int = 5000, anchors: Sequence[dict] = ()) -> ChainReport:
    """Walk the chain from the first row and report the first row that does not fit, then
    hold the chain against ``anchors`` (:func:`config.audit_anchor.read`), newest last."""
    key = session.info.get("audit_key")
    head = session.get(AuditHead, 1)
    keyed_from = head.keyed_from if head is not None else 1
    anchored = {a["seq"]: a for a in anchors}
    seen: dict[int, str] = {}
    prev, expected_seq, count = GENESIS, 1, 0
    last = 0
    while True:
        rows = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.seq > last)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return ChainReport(count, expected_seq, f"row {expected_seq} is missing", "missing")
            if row.prev_hash != prev:
                return ChainReport(count, row.seq, "does not link to the row before it", "relinked")
            if row.compute_hash(key if row.seq >= keyed_from else None) != row.hash:
                return ChainReport(
                    count,
                    row.seq,
                    "content does not match its keyed hash: edited, or recomputed without "
                    "the audit key",
                    "edited",
                )
            if row.seq in anchored:
                seen[row.seq] = row.hash
            prev, expected_seq, count, last = row.hash, row.seq + 1, count + 1, row.seq
        session.expunge_all()
    if anchors:
        found = _against_anchors(anchors, seen, count, keyed_from)
        if found is not None:
            return found
    if head is not None and (head.seq != count or head.hash != prev):
        return ChainReport(count, count + 1, "rows after this one were removed", "truncated")
    return ChainReport(count, None, None, anchors=len(anchors))


def _against_anchors(
    anchors: Sequence[dict], seen: dict[int, str], count: int, keyed_from: int
) -> ChainReport | None:
    for anchor in anchors:
        if anchor.get("keyed_from", keyed_from) != keyed_from:
            return ChainReport(
                count,
                min(keyed_from, anchor["keyed_from"]),
                f"keyed rows start at {keyed_from}, the anchor of {anchor['at']} says "
                f"{anchor['keyed_from']}",
                "unkeyed",
            )
    newest = anchors[-1]
    if newest["seq"] > count:
        return ChainReport(
            count,
            count + 1,
            f"the tail was cut: the anchor of {newest['at']} names row {newest['seq']}, "
            f"the log ends at row {count}",
            "truncated",
        )
    for anchor in anchors:
        if anchor["seq"] and seen.get(anchor["seq"]) != anchor["hash"]:
            return ChainReport(
                count,
                anchor["seq"],
                f"the chain was recomputed: row {anchor['seq']} is not the one anchored at "
                f"{anchor['at']}",
                "rewritten",
            )
    return None


def tail(session: Session, limit: int = 20) -> list[AuditEvent]:
    rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit))
    return list(reversed(rows.scalars().all()))
