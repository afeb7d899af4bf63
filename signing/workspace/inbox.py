"""The inbox and a route's page: what waits for my department, a preview of its pages,
approve or reject, and the route's history, final PDF and verification report.

A route's page is shown to whoever :mod:`signing.routes` lets read it (its creator and
the members of its departments); to anyone else there is no such route (404, from the
blueprint's handler of :class:`signing.departments.DepartmentError`). Approving and
rejecting are :func:`signing.routes.approve` and :func:`signing.routes.reject`, which
check that it is the officer's department's turn, that the officer is a member, and that
the document's earlier signatures are intact.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from signing import departments, desk, preview, routes, service
from signing.departments import DepartmentError
from signing.pdfs import PdfRefused, open_pdf
from signing.placement import Placement
from signing.workspace.gate import (
    Workspace,
    department,
    officer,
    page_number,
    pdf_download,
    refused,
)
from signing.workspace.texts import refusal, translate

MAX_PREVIEW_PAGES = 5
MAX_REASON = 1000


def add_views(bp: Blueprint, ws: Workspace) -> None:
    runtime = ws.runtime

    @bp.get("/<code>/")
    def inbox(code: str):
        dept = department(code)
        page = desk.inbox(runtime, dept["id"], page_number())
        return render_template("workspace/inbox.html", dept=dept, page=page)

    def _route_page(document_id: str, error: str | None = None, status: int = 200):
        caller = officer().caller()
        record = routes.status(runtime, document_id, caller)
        data = routes.document_bytes(runtime, document_id, caller)
        pages = int(open_pdf(data, len(data) + 1).root["/Pages"]["/Count"])
        current = record["current_step"]
        turn = None
        if record["state"] == "routing" and current is not None:
            turn = officer().membership(record["steps"][current]["department"])
        # The first department lays out the route's stamps: it may place them.
        placing = bool(turn and current == 0 and record["stamp"])
        page = render_template(
            "workspace/route.html",
            r=record,
            names=departments.names(runtime, [s["department"] for s in record["steps"]]),
            turn=turn,
            pages=range(min(pages, MAX_PREVIEW_PAGES)),
            page_count=pages,
            placing=placing,
            last=pages - 1,
            width=preview.WIDTH,
            height=preview.render(data, pages - 1)[1] if placing else None,
            error=error,
            reason=request.form.get("reason", "")[:MAX_REASON],
        )
        return page, status

    @bp.get("/routes/<document_id>")
    def route(document_id: str):
        return _route_page(document_id)

    @bp.get("/routes/<document_id>/pages/<int:number>.png")
    def route_page_image(document_id: str, number: int):
        data = routes.document_bytes(runtime, document_id, officer().caller())
        try:
            png, _height = preview.render(data, number)
        except PdfRefused:
            abort(404)
        return Response(png, mimetype="image/png")

    @bp.get("/routes/<document_id>/document.pdf")
    def route_document(document_id: str):
        caller = officer().caller()
        data = routes.document_bytes(runtime, document_id, caller)
        record = routes.status(runtime, document_id, caller)
        return pdf_download(data, record.get("filename"))

    @bp.get("/routes/<document_id>/report.xml")
    def route_report(document_id: str):
        data = routes.document_bytes(runtime, document_id, officer().caller())
        response = Response(service.verify_xml(runtime, data), mimetype="application/xml")
        response.headers["Content-Disposition"] = 'attachment; filename="validation-report.xml"'
        return response

    def _act(document_id: str, action):
        try:
            record = action()
        except (DepartmentError, PdfRefused) as exc:
            status = exc.status
            if status == 404:
                return refused(refusal(exc), 404)
            return _route_page(document_id, refusal(exc), status)
        return record

    def _placement(document_id: str) -> Placement | None:
        """Where the officer clicked on the route's last page, if the form says so."""
        if "spot.x" not in request.form:
            return None
        data = routes.document_bytes(runtime, document_id, officer().caller())
        last = int(open_pdf(data, len(data) + 1).root["/Pages"]["/Count"]) - 1
        spot = preview.click(
            request.form.get("spot.x"), request.form.get("spot.y"), preview.render(data, last)[1]
        )
        if spot is None:
            raise PdfRefused("invalid_place", "click on the page to place the stamp")
        return Placement(last, *spot)

    @bp.post("/routes/<document_id>/approve")
    def approve(document_id: str):
        reason = request.form.get("reason", "").strip()[:MAX_REASON] or None
        done = _act(
            document_id,
            lambda: routes.approve(
                runtime,
                document_id,
                officer().caller(),
                reason=reason,
                placement=_placement(document_id),
            ),
        )
        if not isinstance(done, dict):
            return done
        flash(translate("Approved and sealed: {subject}.", subject=done["subject"]))
        return redirect(url_for("workspace.route", document_id=document_id))

    @bp.post("/routes/<document_id>/reject")
    def reject(document_id: str):
        reason = request.form.get("reason", "").strip()
        if not reason or len(reason) > MAX_REASON:
            message = translate("A rejection needs a reason of 1 to 1000 characters.")
            return _route_page(document_id, message, 400)
        done = _act(
            document_id, lambda: routes.reject(runtime, document_id, officer().caller(), reason)
        )
        if not isinstance(done, dict):
            return done
        flash(translate("Rejected: {subject}.", subject=done["subject"]))
        return redirect(url_for("workspace.route", document_id=document_id))
