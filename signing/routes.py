"""Routes (envelopes): one PDF that a list of departments approve and sign in order.

The first signature certifies the document (DocMDP, form filling and signatures allowed),
each later one is an approval signature in its own incremental update, so earlier
signatures stay valid. When the last department signs, the document is extended to
B-LTA (validation data for every signature plus a document time-stamp).

Each step signs in memory first and then commits, in one transaction, the new PDF
version, the step's state, the signature row and the audit event; the transaction also
re-checks that the step is still current (a concurrent approval loses and changes
nothing).

A route is private: only its creator, the members of its departments and the citizen it
concerns (if any) may read its status or document or act on it; anyone else is told
there is no such route (404), so a document id reveals nothing. Every read is audited.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from config import audit, metrics
from config.db import utcnow
from config.runtime import Runtime
from signing import departments
from signing.departments import DepartmentError
from signing.models import Blob, Department, Document, Member, RouteStep, Signature
from signing.pdfs import open_pdf, sha256
from signing.placement import Placement
from signing.service import engine, find_document, new_document_id


class RouteError(DepartmentError):
    """A refused route operation (same shape as department errors)."""


@dataclass(frozen=True)
class Caller:
    """Who acts: the provider's user id and name (from the access token) and the client."""

    user_id: int | None
    username: str | None = None
    client_id: str | None = None
    ip: str | None = None


def _readable(session, doc: Document | None, caller: Caller) -> bool:
    """Whether ``caller`` may see route ``doc``: creator, citizen, or a member of one of
    its departments (a single signature, state ``signed``, is no route)."""
    if doc is None or doc.state == "signed" or caller.user_id is None:
        return False
    if caller.user_id in (doc.created_by, doc.citizen_id):
        return True
    member = session.execute(
        select(Member.user_id)
        .join(RouteStep, RouteStep.department_id == Member.department_id)
        .where(RouteStep.document_id == doc.id, Member.user_id == caller.user_id)
        .limit(1)
    ).first()
    return member is not None


def _visible(session, document_id: str, caller: Caller) -> Document:
    doc = session.get(Document, document_id)
    if not _readable(session, doc, caller):
        raise RouteError("not_found", f"no route {document_id}", 404)
    return doc


def _store_blob(session, data: bytes) -> str:
    digest = sha256(data)
    if session.get(Blob, digest) is None:
        session.add(Blob(sha256=digest, size=len(data), data=data))
        session.flush()
    return digest


def create(
    runtime: Runtime,
    data: bytes,
    codes: list[str],
    *,
    filename: str,
    caller: Caller,
    citizen_id: int | None = None,
    level: str = "B-LT",
    stamp: bool = False,
    subject: str | None = None,
    note: str | None = None,
    deadline: datetime | None = None,
) -> dict:
    """Start a route: the PDF waits for the first department's approval.

    ``stamp`` holds for the whole route: the first (certifying) signature lays out
    every department's signature field, visible or not, for the others to fill.
    ``citizen_id`` names the citizen the document concerns, who may follow it.
    ``subject`` (else the file name), ``note`` and ``deadline`` are what the departments'
    inboxes show.
    """
    if not codes:
        raise RouteError("invalid_request", "a route needs at least one department")
    if len(set(codes)) != len(codes):
        raise RouteError("invalid_request", "a department appears twice in the route")
    subject = (subject or "").strip() or None
    if subject is not None and len(subject) > 200:
        raise RouteError("invalid_request", "a subject has at most 200 characters")
    if note is not None and len(note) > 2000:
        raise RouteError("invalid_request", "a note has at most 2000 characters")
    open_pdf(data, runtime.settings.max_upload_bytes)
    document_id = new_document_id()
    with runtime.db.write() as session:
        ids = [departments.department_id(session, code) for code in codes]
        digest = _store_blob(session, data)
        now = utcnow()
        session.add(
            Document(
                id=document_id,
                filename=filename[:255],
                state="routing",
                current_step=0,
                level=level,
                stamp=stamp,
                sha256=digest,
                blob_sha256=digest,
                created_by=caller.user_id,
                created_by_name=caller.username,
                citizen_id=citizen_id,
                subject=subject,
                note=(note or "").strip() or None,
                deadline=deadline,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        for position, dept_id in enumerate(ids):
            session.add(
                RouteStep(
                    document_id=document_id,
                    position=position,
                    department_id=dept_id,
                    state="pending",
                )
            )
        audit.record(
            session,
            "signing.route.create",
            actor=caller.username,
            subject=document_id,
            client_id=caller.client_id,
            ip=caller.ip,
            departments=codes,
            sha256=digest,
        )
    return _status(runtime, document_id)


def _field(code: str, position: int) -> str:
    return f"OneTrip_step{position + 1}_{code}"


def _current(session, document_id: str, caller: Caller) -> tuple[Document, RouteStep, Department]:
    doc = _visible(session, document_id, caller)
    if doc.state != "routing":
        raise RouteError("route_closed", f"route {document_id} is {doc.state}", 409)
    step = session.execute(
        select(RouteStep).where(
            RouteStep.document_id == document_id, RouteStep.position == doc.current_step
        )
    ).scalar_one()
    return doc, step, session.get(Department, step.department_id)


def approve(
    runtime: Runtime,
    document_id: str,
    caller: Caller,
    *,
    reason: str | None = None,
    placement: Placement | None = None,
) -> dict:
    """The current department's member approves: its seal signs; the next one is current.

    ``placement`` (first step of a stamped route only) puts the route's stamps where the
    officer clicked, this department's first and the later ones beneath it; the later
    steps fill the fields the first one laid out, so they need (and take) none."""
    with runtime.db.read() as session:
        doc, step, dept = _current(session, document_id, caller)
        data = session.get(Blob, doc.blob_sha256).data
        expected = (doc.current_step, doc.blob_sha256)
        code, level, stamp = dept.code, doc.level, doc.stamp
        codes = list(
            session.execute(
                select(Department.code)
                .join(RouteStep, RouteStep.department_id == Department.id)
                .where(RouteStep.document_id == document_id)
                .order_by(RouteStep.position)
            ).scalars()
        )
        total = len(codes)
    departments.require_member(runtime, code, caller.user_id)
    eng = engine(runtime)
    is_last = step.position == total - 1
    names = [_field(c, n) for n, c in enumerate(codes)]
    signed, field = asyncio.run(
        eng.sign(
            data,
            departments.seal(runtime, code),
            level="B-LT" if level in ("B-LT", "B-LTA") else level,
            stamp=stamp,
            reason=reason,
            certify=step.position == 0,
            document_id=document_id,
            field_name=names[step.position],
            prepare=tuple(names[1:]) if step.position == 0 else (),
            placement=placement if step.position == 0 else None,
        )
    )
    final = asyncio.run(eng.extend_to_lta(signed)) if is_last else signed
    with runtime.db.write() as session:
        doc, step, dept = _current(session, document_id, caller)
        if (doc.current_step, doc.blob_sha256) != expected:
            raise RouteError("conflict", "the route moved on meanwhile; reload it", 409)
        now = utcnow()
        digest = _store_blob(session, final)
        step.state, step.acted_at, step.reason = "signed", now, reason
        step.actor_id, step.actor_name = caller.user_id, caller.username
        session.add(
            Signature(
                document_id=document_id,
                department_id=dept.id,
                user_id=caller.user_id,
                client_id=caller.client_id,
                field_name=field,
                level=level if is_last else "B-LT",
                certification=step.position == 0,
                sha256=digest,
                signed_at=now,
            )
        )
        doc.blob_sha256 = doc.sha256 = digest
        doc.updated_at = now
        if is_last:
            doc.state, doc.current_step = "completed", None
        else:
            doc.current_step = step.position + 1
        audit.record(
            session,
            "signing.route.approve",
            actor=caller.username,
            subject=document_id,
            client_id=caller.client_id,
            ip=caller.ip,
            department=code,
            step=step.position,
            sha256=digest,
            completed=is_last,
        )
    metrics.signature(level if is_last else "B-LT")
    return _status(runtime, document_id)


def reject(runtime: Runtime, document_id: str, caller: Caller, reason: str) -> dict:
    """The current department's member rejects with a reason; the route ends."""
    reason = (reason or "").strip()
    if not reason:
        raise RouteError("invalid_request", "a rejection needs a reason")
    with runtime.db.read() as session:
        _doc, _step, dept = _current(session, document_id, caller)
        code = dept.code
    departments.require_member(runtime, code, caller.user_id)
    with runtime.db.write() as session:
        doc, step, _dept = _current(session, document_id, caller)
        now = utcnow()
        step.state, step.acted_at, step.reason = "rejected", now, reason
        step.actor_id, step.actor_name = caller.user_id, caller.username
        doc.state, doc.current_step, doc.updated_at = "rejected", None, now
        audit.record(
            session,
            "signing.route.reject",
            actor=caller.username,
            subject=document_id,
            client_id=caller.client_id,
            ip=caller.ip,
            department=code,
            step=step.position,
            reason=reason,
        )
    return _status(runtime, document_id)


def status(runtime: Runtime, document_id: str, caller: Caller) -> dict:
    """The route's state, its steps with who acted when, and every signature (audited)."""
    _audited_read(runtime, document_id, caller, "status")
    return _status(runtime, document_id)


def _audited_read(runtime: Runtime, document_id: str, caller: Caller, what: str) -> Document:
    with runtime.db.write() as session:
        doc = _visible(session, document_id, caller)
        audit.record(
            session,
            "signing.route.read",
            actor=caller.username,
            subject=document_id,
            client_id=caller.client_id,
            ip=caller.ip,
            part=what,
        )
        session.expunge(doc)
    return doc


def _status(runtime: Runtime, document_id: str) -> dict:
    record = find_document(runtime, document_id, private=True)
    if record is None:
        raise RouteError("not_found", f"no route {document_id}", 404)
    with runtime.db.read() as session:
        rows = session.execute(
            select(RouteStep, Department.code)
            .join(Department, Department.id == RouteStep.department_id)
            .where(RouteStep.document_id == document_id)
            .order_by(RouteStep.position)
        ).all()
        doc = session.get(Document, document_id)
    record["current_step"] = doc.current_step
    record["subject"] = doc.subject or doc.filename
    record["note"] = doc.note
    record["deadline"] = doc.deadline.isoformat() + "Z" if doc.deadline else None
    record["sender"] = doc.created_by_name
    record["stamp"] = doc.stamp
    record["steps"] = [
        {
            "position": step.position,
            "department": code,
            "state": step.state,
            "by": step.actor_name,
            "at": step.acted_at.isoformat() + "Z" if step.acted_at else None,
            "reason": step.reason,
        }
        for step, code in rows
    ]
    return record


def document_bytes(runtime: Runtime, document_id: str, caller: Caller) -> bytes:
    """The route's newest PDF version (audited)."""
    doc = _audited_read(runtime, document_id, caller, "document")
    with runtime.db.read() as session:
        return session.get(Blob, doc.blob_sha256).data
