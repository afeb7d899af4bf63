"""What an officer's workspace lists: a department's inbox and history, the routes an
officer started, the routes that concern a citizen.

Plain queries over signing's own tables, one page at a time (:class:`Page`); every
listing is scoped by the department (or the user) the caller hands over, and the
workspace hands over only departments the signed-in officer is a member of. Acting on
a document goes through :mod:`signing.routes` and :mod:`signing.service`, never here.

The inbox is a department's *current* steps: a route's step whose position is the
document's ``current_step``, still pending, on a routing document. It is served by
the index on ``(department_id, state, acted_at)`` of the route steps and the primary
key of the documents, so it stays fast with tens of thousands of routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, literal, null, or_, select, union_all

from config.db import utcnow
from config.paging import Page, page_number
from config.runtime import Runtime
from signing.models import Department, Document, RouteStep, Signature

PAGE_SIZE = 20


@dataclass(frozen=True)
class InboxRow:
    id: str
    subject: str
    sender: str | None
    deadline: datetime | None
    created_at: datetime
    position: int  # from 1
    steps: int

    @property
    def overdue(self) -> bool:
        return self.deadline is not None and self.deadline < utcnow()


@dataclass(frozen=True)
class HistoryRow:
    document_id: str
    action: str  # "signed" (a single signature), "approved" or "rejected" (a route step)
    subject: str
    by: str | None
    at: datetime
    reason: str | None


@dataclass(frozen=True)
class RouteRow:
    id: str
    subject: str
    state: str
    created_at: datetime
    deadline: datetime | None
    position: int | None  # the current step, from 1; None once the route ended
    steps: int
    current_department: str | None


def _step_counts(session, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(RouteStep.document_id, func.count())
        .where(RouteStep.document_id.in_(ids))
        .group_by(RouteStep.document_id)
    ).all()
    return dict(rows)


def inbox(runtime: Runtime, department_id: int, page: int = 1) -> Page:
    """The routes waiting for department ``department_id``'s step: deadlines first (the
    nearest on top), then the oldest."""
    where = (
        RouteStep.department_id == department_id,
        RouteStep.state == "pending",
        Document.state == "routing",
    )
    joined = and_(RouteStep.document_id == Document.id, RouteStep.position == Document.current_step)
    with runtime.db.read() as session:
        total = session.scalar(
            select(func.count()).select_from(RouteStep).join(Document, joined).where(*where)
        )
        number = page_number(page, total, PAGE_SIZE)
        rows = session.execute(
            select(
                Document.id,
                func.coalesce(Document.subject, Document.filename),
                Document.created_by_name,
                Document.deadline,
                Document.created_at,
                RouteStep.position,
            )
            .select_from(RouteStep)
            .join(Document, joined)
            .where(*where)
            .order_by(Document.deadline.is_(None), Document.deadline, Document.created_at)
            .offset((number - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        counts = _step_counts(session, [r[0] for r in rows])
    return Page(
        [InboxRow(i, s, by, d, c, p + 1, counts.get(i, 0)) for i, s, by, d, c, p in rows],
        number,
        total,
        PAGE_SIZE,
    )


def _search(query: str, *columns):
    needle = query.strip()[:100].lower()
    if not needle:
        return None
    return or_(*(func.lower(c).contains(needle, autoescape=True) for c in columns))


def history(runtime: Runtime, department_id: int, query: str = "", page: int = 1) -> Page:
    """What department ``department_id`` signed, approved and rejected, newest first;
    ``query`` narrows to a document id, subject, file name or officer containing it."""
    subject = func.coalesce(Document.subject, Document.filename)
    steps = (
        select(
            RouteStep.document_id.label("document_id"),
            RouteStep.state.label("action"),
            subject.label("subject"),
            RouteStep.actor_name.label("by"),
            RouteStep.acted_at.label("at"),
            RouteStep.reason.label("reason"),
        )
        .join(Document, Document.id == RouteStep.document_id)
        .where(RouteStep.department_id == department_id, RouteStep.state != "pending")
    )
    singles = (
        select(
            Signature.document_id,
            literal("single"),
            subject,
            Document.created_by_name,
            Signature.signed_at,
            null(),
        )
        .join(Document, Document.id == Signature.document_id)
        .where(Signature.department_id == department_id, Document.state == "signed")
    )
    if (found := _search(query, Document.id, Document.filename, subject)) is not None:
        steps = steps.where(or_(found, _search(query, RouteStep.actor_name)))
        singles = singles.where(or_(found, _search(query, Document.created_by_name)))
    both = union_all(steps, singles).subquery()
    with runtime.db.read() as session:
        total = session.scalar(select(func.count()).select_from(both))
        number = page_number(page, total, PAGE_SIZE)
        rows = session.execute(
            select(both)
            .order_by(both.c.at.desc())
            .offset((number - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
    actions = {"signed": "approved", "rejected": "rejected", "single": "signed"}
    return Page(
        [HistoryRow(d, actions[a], s, by, at, r) for d, a, s, by, at, r in rows],
        number,
        total,
        PAGE_SIZE,
    )


def _routes(runtime: Runtime, where, page: int) -> Page:
    with runtime.db.read() as session:
        total = session.scalar(select(func.count(Document.id)).where(*where))
        number = page_number(page, total, PAGE_SIZE)
        current = (
            select(Department.code)
            .join(RouteStep, RouteStep.department_id == Department.id)
            .where(
                RouteStep.document_id == Document.id, RouteStep.position == Document.current_step
            )
            .scalar_subquery()
        )
        rows = session.execute(
            select(
                Document.id,
                func.coalesce(Document.subject, Document.filename),
                Document.state,
                Document.created_at,
                Document.deadline,
                Document.current_step,
                current,
            )
            .where(*where)
            .order_by(Document.created_at.desc())
            .offset((number - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        counts = _step_counts(session, [r[0] for r in rows])
    return Page(
        [
            RouteRow(i, s, st, c, d, None if p is None else p + 1, counts.get(i, 0), code)
            for i, s, st, c, d, p, code in rows
        ],
        number,
        total,
        PAGE_SIZE,
    )


def started_by(runtime: Runtime, user_id: int, page: int = 1) -> Page:
    """The routes user ``user_id`` started, newest first."""
    return _routes(runtime, (Document.created_by == user_id, Document.state != "signed"), page)


def concerning(runtime: Runtime, citizen_id: int, page: int = 1) -> Page:
    """The routes that concern citizen ``citizen_id`` (for the citizen's account page)."""
    return _routes(runtime, (Document.citizen_id == citizen_id, Document.state != "signed"), page)
