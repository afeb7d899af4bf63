"""Routes (envelopes): one PDF that a list of departments approve and sign in order.

The first signature certifies the document (DocMDP, form filling and signatures allowed),
each later one is an approval signature in its own incremental update, so earlier
signatures stay valid. When the last department signs, the document is extended to
B-LTA (validation data for every signature plus a document time-stamp).

Each step signs in memory first and then commits, in one transaction, the new PDF
version, the step's state, the signature row and the audit event; the transaction also
re-checks that the step is still current (a concurrent approval loses and changes
nothing).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from config import audit, metrics
from config.db import utcnow
from config.runtime import Runtime
from signing import departments
from signing.departments import DepartmentError
from signing.models import Blob, Department, Document, RouteStep, Signature
from signing.pdfs import open_pdf, sha256
from signing.service import engine, find_document, new_document_id


class RouteError(DepartmentError):
    """A refused route operation (same shape as department errors)."""


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
    user_id: int | None,
    actor: str | None = None,
    level: str = "B-LT",
    stamp: bool = False,
) -> dict:
    """Start a route: the PDF waits for the first department's approval.

    ``stamp`` holds for the whole route: the first (certifying) signature lays out
    every department's signature field, visible or not, for the others to fill.
    """
    if not codes:
        raise RouteError("invalid_request", "a route needs at least one department")
    if len(set(codes)) != len(codes):
        raise RouteError("invalid_request", "a department appears twice in the route")
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
                created_by=user_id,
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
            actor=actor,
            subject=document_id,
            departments=codes,
            sha256=digest,
        )
    return status(runtime, document_id)


def _field(code: str, position: int) -> str:
    return f"OneTrip_step{position + 1}_{code}"


def _current(session, document_id: str) -> tuple[Document, RouteStep, Department]:
    doc = session.get(Document, document_id)
    if doc is None or doc.state == "signed":
        raise RouteError("not_found", f"no route {document_id}", 404)
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
    username: str,
    *,
    reason: str | None = None,
    client_id: str | None = None,
) -> dict:
    """The current department's member approves: its seal signs; the next one is current."""
    with runtime.db.read() as session:
        doc, step, dept = _current(session, document_id)
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
    _dept_id, user_id = departments.require_member(runtime, code, username)
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
        )
    )
    final = asyncio.run(eng.extend_to_lta(signed)) if is_last else signed
    with runtime.db.write() as session:
        doc, step, dept = _current(session, document_id)
        if (doc.current_step, doc.blob_sha256) != expected:
            raise RouteError("conflict", "the route moved on meanwhile; reload it", 409)
        now = utcnow()
        digest = _store_blob(session, final)
        step.state, step.actor_id, step.acted_at, step.reason = "signed", user_id, now, reason
        session.add(
            Signature(
                document_id=document_id,
                department_id=dept.id,
                user_id=user_id,
                client_id=client_id,
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
            actor=username,
            subject=document_id,
            client_id=client_id,
            department=code,
            step=step.position,
            sha256=digest,
            completed=is_last,
        )
    metrics.signature(level if is_last else "B-LT")
    return status(runtime, document_id)


def reject(runtime: Runtime, document_id: str, username: str, reason: str) -> dict:
    """The current department's member rejects with a reason; the route ends."""
    reason = (reason or "").strip()
    if not reason:
        raise RouteError("invalid_request", "a rejection needs a reason")
    with runtime.db.read() as session:
        _doc, _step, dept = _current(session, document_id)
        code = dept.code
    _dept_id, user_id = departments.require_member(runtime, code, username)
    with runtime.db.write() as session:
        doc, step, _dept = _current(session, document_id)
        now = utcnow()
        step.state, step.actor_id, step.acted_at, step.reason = "rejected", user_id, now, reason
        doc.state, doc.current_step, doc.updated_at = "rejected", None, now
        audit.record(
            session,
            "signing.route.reject",
            actor=username,
            subject=document_id,
            department=code,
            step=step.position,
            reason=reason,
        )
    return status(runtime, document_id)


def status(runtime: Runtime, document_id: str) -> dict:
    """The route's state, its steps with who acted when, and every signature."""
    record = find_document(runtime, document_id)
    if record is None:
        raise RouteError("not_found", f"no route {document_id}", 404)
    from idp.models import User

    with runtime.db.read() as session:
        rows = session.execute(
            select(RouteStep, Department.code, User.username)
            .join(Department, Department.id == RouteStep.department_id)
            .outerjoin(User, User.id == RouteStep.actor_id)
            .where(RouteStep.document_id == document_id)
            .order_by(RouteStep.position)
        ).all()
        current = session.get(Document, document_id).current_step
    record["current_step"] = current
    record["steps"] = [
        {
            "position": step.position,
            "department": code,
            "state": step.state,
            "by": username,
            "at": step.acted_at.isoformat() + "Z" if step.acted_at else None,
            "reason": step.reason,
        }
        for step, code, username in rows
    ]
    return record


def document_bytes(runtime: Runtime, document_id: str) -> bytes:
    with runtime.db.read() as session:
        doc = session.get(Document, document_id)
        if doc is None or doc.blob_sha256 is None:
            raise RouteError("not_found", f"no route {document_id}", 404)
        return session.get(Blob, doc.blob_sha256).data
