"""Start a route: a PDF, the departments in order, optionally the citizen it concerns, a
deadline and a note; then follow the routes I started.

The form names up to :data:`MAX_STEPS` steps, one ``<select>`` each (no JavaScript to add
rows); empty ones are skipped. The citizen is named by username and turned into an
account id by the host (signing never reads the provider's tables). The route is made by
:func:`signing.routes.create`, as ``POST /api/v1/routes`` makes it.
"""

from __future__ import annotations

from datetime import date, datetime, time

from flask import Blueprint, flash, redirect, render_template, request, url_for

from signing import departments, desk, routes
from signing.departments import DepartmentError
from signing.pdfs import PdfRefused
from signing.workspace.gate import Workspace, officer, page_number
from signing.workspace.texts import refusal, translate

MAX_STEPS = 6


def _deadline(raw: str) -> datetime | None:
    """The end of day ``raw`` (YYYY-MM-DD), UTC; None for none; ValueError if bad or past."""
    if not raw:
        return None
    day = date.fromisoformat(raw)
    if day < date.today():
        raise ValueError("past")
    return datetime.combine(day, time(23, 59, 59))


def add_views(bp: Blueprint, ws: Workspace) -> None:
    runtime = ws.runtime

    def _form(error: str | None = None, status: int = 200):
        form = request.form if request.method == "POST" else {}
        page = render_template(
            "workspace/start.html",
            departments=departments.list_all(runtime),
            steps=[form.get(f"step{n}", "") for n in range(1, MAX_STEPS + 1)],
            form=form,
            error=error,
        )
        return page, status

    @bp.get("/routes/new")
    def start_form():
        return _form()

    @bp.post("/routes/new")
    def start():
        form = request.form
        codes = [c for c in (form.get(f"step{n}", "") for n in range(1, MAX_STEPS + 1)) if c]
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return _form(translate("Choose the PDF to send along the route."), 400)
        if not codes:
            return _form(translate("Choose at least one department."), 400)
        try:
            deadline = _deadline(form.get("deadline", "").strip())
        except ValueError:
            return _form(translate("The deadline must be a date from today on."), 400)
        citizen_id = None
        if citizen := form.get("citizen", "").strip().lower()[:64]:
            citizen_id = ws.host.find_user(citizen)
            if citizen_id is None:
                return _form(translate("There is no account {name}.", name=citizen), 400)
        try:
            record = routes.create(
                runtime,
                upload.read(),
                codes,
                filename=upload.filename,
                caller=officer().caller(),
                citizen_id=citizen_id,
                stamp=form.get("stamp") == "on",
                subject=form.get("subject", "")[:201],
                note=form.get("note", "")[:2001],
                deadline=deadline,
            )
        except (DepartmentError, PdfRefused) as exc:
            return _form(refusal(exc), 413 if exc.error == "too_large" else 400)
        flash(translate("The route is started: {subject}.", subject=record["subject"]))
        return redirect(url_for("workspace.route", document_id=record["id"]))

    @bp.get("/routes/")
    def sent():
        page = desk.started_by(runtime, officer().account.user_id, page_number())
        return render_template("workspace/sent.html", page=page)
