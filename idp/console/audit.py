"""Console pages for the audit log: a filtered, paginated view, chain verification (what
``onetrip audit verify`` runs) and export of a filtered range as CSV or JSON, streamed
and bounded (:mod:`config.audit_search`). Exports are themselves audited."""

from __future__ import annotations

from datetime import datetime

from flask import Response, render_template, request, stream_with_context

from config import audit as audit_log
from config import audit_anchor, audit_search
from idp.console.gate import console_blueprint, provider, requires, who
from idp.i18n import translate

bp = console_blueprint("console_audit", __name__, "/admin/audit")


def _filter(args) -> tuple[audit_search.AuditFilter, dict, str | None]:
    """The filter of the form's fields, the fields as given, and what was wrong with them."""
    given = {
        k: (args.get(k) or "").strip()[:255]
        for k in ("since", "until", "actor", "event", "subject")
    }
    moments, error = {}, None
    for key in ("since", "until"):
        if given[key]:
            try:
                moments[key] = datetime.fromisoformat(given[key]).replace(tzinfo=None)
            except ValueError:
                error = translate("Times are written 2026-12-01T08:30 (UTC).")
    f = audit_search.AuditFilter(
        since=moments.get("since"),
        until=moments.get("until"),
        actor=given["actor"] or None,
        event=given["event"] or None,
        subject=given["subject"] or None,
    )
    return f, given, error


def _page(report=None, error: str | None = None, status: int = 200):
    f, given, bad = _filter(request.args)
    raw = request.args.get("before", "")
    before = int(raw) if raw.isdigit() and len(raw) < 19 else None
    provider().runtime.audit.flush()  # this node's batched events (logins, grants) too
    rows, next_before = audit_search.page(provider().db, f, before) if not bad else ([], None)
    page = render_template(
        "console/audit.html",
        rows=rows,
        next_before=next_before,
        given=given,
        report=report,
        error=bad or error,
    )
    return page, 400 if bad else status


@bp.get("/")
@requires("audit.read")
def index():
    return _page()


@bp.post("/verify")
@requires("audit.read")
def verify():
    p = provider()
    p.runtime.audit.flush()
    with p.db.read() as session:
        report = audit_anchor.verify(session, p.settings.audit_anchors_path)
    return _page(report=report)


@bp.get("/export")
@requires("audit.export")
def export():
    f, given, bad = _filter(request.args)
    fmt = request.args.get("format", "csv")
    if bad or fmt not in ("csv", "json"):
        return _page(error=bad or translate("Export as CSV or JSON."), status=400)
    p = provider()
    p.runtime.audit.flush()
    total = audit_search.count(p.db, f)
    if total > audit_search.MAX_EXPORT_ROWS:
        message = translate(
            "{total} rows match; an export holds at most {limit}. Narrow the range.",
            total=total,
            limit=audit_search.MAX_EXPORT_ROWS,
        )
        return _page(error=message, status=400)
    with p.db.write() as session:
        audit_log.record(
            session,
            "audit.export",
            **who(),
            rows=total,
            format=fmt,
            filter={k: v for k, v in given.items() if v},
        )
    events = audit_search.rows(p.db, f)
    body = audit_search.as_csv(events) if fmt == "csv" else audit_search.as_json(events)
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    return Response(
        stream_with_context(body),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="onetrip-audit.{fmt}"'},
    )
