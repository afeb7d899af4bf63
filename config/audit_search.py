"""Reading the audit log by filter: time range, actor, event and subject, newest first
for pages, oldest first for exports.

Pages are keyset-paginated on ``seq`` (``before`` a row's number), so page 1,000 of a log
of millions costs what page 1 does. Exports stream in batches, each in a read session of
its own, and are bounded: :data:`MAX_EXPORT_ROWS` rows at most, counted before the first
byte goes out, so an export is either whole or refused.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from config.audit import AuditEvent
from config.db import Database

PAGE_SIZE = 50
MAX_EXPORT_ROWS = 100_000
_BATCH = 1000
CSV_COLUMNS = ("seq", "at", "event", "actor", "subject", "client_id", "ip", "details", "hash")


@dataclass(frozen=True)
class AuditFilter:
    """``event`` matches exactly, or as a prefix when it ends with ``.`` or ``*``."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    event: str | None = None
    subject: str | None = None

    def clauses(self) -> list:
        where = []
        if self.since:
            where.append(AuditEvent.at >= self.since)
        if self.until:
            where.append(AuditEvent.at < self.until)
        if self.actor:
            where.append(AuditEvent.actor == self.actor)
        if self.subject:
            where.append(AuditEvent.subject == self.subject)
        if self.event:
            if self.event.endswith(("*", ".")):
                where.append(AuditEvent.event.startswith(self.event.rstrip("*"), autoescape=True))
            else:
                where.append(AuditEvent.event == self.event)
        return where


def page(db: Database, f: AuditFilter, before: int | None = None) -> tuple[list, int | None]:
    """Up to :data:`PAGE_SIZE` rows older than ``before``, newest first, and the ``before``
    of the next page (None on the last)."""
    where = f.clauses()
    if before is not None:
        where.append(AuditEvent.seq < before)
    with db.read() as session:
        rows = list(
            session.scalars(
                select(AuditEvent)
                .where(*where)
                .order_by(AuditEvent.seq.desc())
                .limit(PAGE_SIZE + 1)
            )
        )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (rows[-1].seq if more else None)


def count(db: Database, f: AuditFilter) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent).where(*f.clauses()))


def rows(db: Database, f: AuditFilter) -> Iterator[dict]:
    """Every matching row, oldest first, as :meth:`AuditEvent.as_dict` gives it."""
    after = 0
    while True:
        with db.read() as session:
            batch = [
                e.as_dict()
                for e in session.scalars(
                    select(AuditEvent)
                    .where(*f.clauses(), AuditEvent.seq > after)
                    .order_by(AuditEvent.seq)
                    .limit(_BATCH)
                )
            ]
        if not batch:
            return
        yield from batch
        after = batch[-1]["seq"]


def as_csv(events: Iterator[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        details = json.dumps(event["details"], ensure_ascii=False, sort_keys=True)
        writer.writerow([details if c == "details" else event[c] for c in CSV_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def as_json(events: Iterator[dict]) -> Iterator[str]:
    """A JSON array, one event per line."""
    yield "["
    for i, event in enumerate(events):
        yield ("," if i else "") + "\n" + json.dumps(event, ensure_ascii=False)
    yield "\n]\n"
