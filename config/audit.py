"""The append-only, hash-chained audit log shared by every package.

Each row carries the SHA-256 of its own content and of the row before it, so deleting,
reordering or editing any row breaks the chain from that row on; ``onetrip audit verify``
finds the first broken row. The database refuses UPDATE and DELETE on the table
(triggers), so tampering needs someone who can drop those first. Appending takes a row
lock on the single ``audit_head`` row, which serialises writers on every database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from config.db import Base, utcnow

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

    def compute_hash(self) -> str:
        body = [
            self.seq,
            self.at.isoformat(),
            self.event,
            self.actor,
            self.subject,
            self.client_id,
            self.ip,
            self.details or {},
            self.prev_hash,
        ]
        blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

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


def record(
    session: Session,
    event: str,
    *,
    actor: str | None = None,
    subject: str | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    **details,
) -> AuditEvent:
    """Append an event inside the caller's transaction: it lands only if the action does."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    row = AuditEvent(
        seq=head.seq + 1,
        at=utcnow(),
        event=event,
        actor=actor,
        subject=subject,
        client_id=client_id,
        ip=ip,
        details=details,
        prev_hash=head.hash,
    )
    row.hash = row.compute_hash()
    head.seq, head.hash = row.seq, row.hash
    session.add(row)
    return row


@dataclass(frozen=True)
class ChainReport:
    rows: int
    first_broken: int | None
    reason: str | None

    @property
    def intact(self) -> bool:
        return self.first_broken is None


def verify(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the chain from the first row and report the first row that does not fit."""
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
                return ChainReport(count, expected_seq, f"row {expected_seq} is missing")
            if row.prev_hash != prev:
                return ChainReport(count, row.seq, "does not link to the row before it")
            if row.compute_hash() != row.hash:
                return ChainReport(count, row.seq, "content does not match its hash")
            prev, expected_seq, count, last = row.hash, row.seq + 1, count + 1, row.seq
        session.expunge_all()
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.hash != prev):
        return ChainReport(count, count + 1, "rows after this one were removed")
    return ChainReport(count, None, None)


def tail(session: Session, limit: int = 20) -> list[AuditEvent]:
    rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit))
    return list(reversed(rows.scalars().all()))
