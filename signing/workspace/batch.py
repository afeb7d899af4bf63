"""Sign a document: upload one or several PDFs, choose the level and the stamp, place the
stamp by clicking on the preview, follow the batch's progress, download the results.

Placing works without JavaScript: the preview is an ``<input type=image>``, whose click
the browser submits as ``spot.x`` and ``spot.y`` (pixels of the image as shown, which the
page shows at :data:`signing.preview.WIDTH` CSS pixels wide). The progress page reloads
itself (``<meta http-equiv=refresh>``) until the batch is done.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from signing import LEVELS, batches, preview
from signing.departments import DepartmentError
from signing.engine import DEFAULT_LEVEL
from signing.pdfs import PdfRefused
from signing.placement import Placement
from signing.workspace.gate import Workspace, department, officer, pdf_download
from signing.workspace.texts import refusal, translate


def add_views(bp: Blueprint, ws: Workspace) -> None:
    runtime = ws.runtime

    def _form(dept: dict, error: str | None = None, status: int = 200):
        form = request.form if request.method == "POST" else {}
        page = render_template(
            "workspace/sign.html",
            dept=dept,
            levels=LEVELS,
            level=form.get("level", DEFAULT_LEVEL),
            stamp=form.get("stamp", "on") == "on" if form else True,
            reason=form.get("reason", ""),
            error=error,
        )
        return page, status

    @bp.get("/<code>/sign")
    def sign_form(code: str):
        return _form(department(code))

    @bp.post("/<code>/sign")
    def sign_upload(code: str):
        dept = department(code)
        who = officer().account
        files = [
            (f.filename or "document.pdf", f.read())
            for f in request.files.getlist("files")
            if f.filename
        ]
        try:
            batch = batches.create(
                runtime,
                files,
                code=code,
                user_id=who.user_id,
                username=who.username,
                level=request.form.get("level"),
                stamp=request.form.get("stamp") == "on",
                reason=request.form.get("reason", "").strip()[:200] or None,
            )
        except batches.BatchError as exc:
            message = refusal(exc)
            if exc.filename:
                message = translate("{file}: {reason}", file=exc.filename, reason=message)
            return _form(dept, message, exc.status)
        except (PdfRefused, DepartmentError) as exc:
            return _form(dept, refusal(exc), exc.status)
        if batch.stamp:
            return redirect(url_for("workspace.batch_place", code=code, batch_id=batch.id))
        batches.start(runtime, batch, None, request.remote_addr)
        return redirect(url_for("workspace.batch", code=code, batch_id=batch.id))

    def _batch(code: str, batch_id: str) -> batches.Batch:
        department(code)
        found = batches.get(runtime, batch_id, officer().account.user_id, code)
        if found is None:
            abort(404)
        return found

    def _page(batch: batches.Batch) -> int:
        raw = request.values.get("page", "")
        last = batch.pages - 1
        return min(int(raw), last) if raw.isdigit() and len(raw) < 6 else last

    @bp.get("/<code>/batches/<batch_id>/place")
    def batch_place(code: str, batch_id: str):
        batch = _batch(code, batch_id)
        if batch.state != "new":
            return redirect(url_for("workspace.batch", code=code, batch_id=batch_id))
        page = _page(batch)
        _png, height = preview.render(batches.upload(runtime, batch, 0), page)
        return render_template(
            "workspace/place.html",
            dept=department(code),
            batch=batch,
            page=page,
            width=preview.WIDTH,
            height=height,
        )

    @bp.get("/<code>/batches/<batch_id>/pages/<int:number>.png")
    def batch_page_image(code: str, batch_id: str, number: int):
        batch = _batch(code, batch_id)
        data = batches.upload(runtime, batch, 0)
        if data is None or number >= batch.pages:
            abort(404)
        return Response(preview.render(data, number)[0], mimetype="image/png")

    @bp.post("/<code>/batches/<batch_id>/place")
    def batch_sign(code: str, batch_id: str):
        batch = _batch(code, batch_id)
        placement = None
        if "spot.x" in request.form:
            page = _page(batch)
            _png, height = preview.render(batches.upload(runtime, batch, 0), page)
            spot = preview.click(request.form.get("spot.x"), request.form.get("spot.y"), height)
            if spot is None:
                abort(400, description=translate("Click on the page to place the stamp."))
            placement = Placement(page, *spot)
        batches.start(runtime, batch, placement, request.remote_addr)
        return redirect(url_for("workspace.batch", code=code, batch_id=batch_id))

    @bp.get("/<code>/batches/<batch_id>")
    def batch(code: str, batch_id: str):
        found = _batch(code, batch_id)
        return render_template(
            "workspace/batch.html", dept=department(code), batch=found, refusal=refusal
        )

    @bp.get("/<code>/batches/<batch_id>/<int:number>.pdf")
    def batch_result(code: str, batch_id: str, number: int):
        found = _batch(code, batch_id)
        data = batches.result(runtime, found, number) if number < len(found.filenames) else None
        if data is None:
            abort(404)
        return pdf_download(data, found.filenames[number], "-signed")
