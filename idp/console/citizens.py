"""Console pages for citizens' accounts: search, create, disable and enable, unlock,
temporary password, end sessions, enrol a face at the counter, export and erase. Each
action is one function of :mod:`idp.citizens` (or :mod:`idp.face_counter`), the same one
its ``onetrip users`` (or ``onetrip faces counter``) command calls."""

from __future__ import annotations

import json

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from biometrics.errors import FaceError
from idp import citizens
from idp.console.gate import (
    console,
    console_blueprint,
    page_number,
    provider,
    refusal,
    requires,
    who,
)
from idp.errors import ApiError
from idp.face_counter import enrol_at_counter
from idp.face_step import face_message
from idp.i18n import translate
from idp.users import UserError
from signing import departments

bp = console_blueprint("console_citizens", __name__, "/admin/citizens")


@bp.get("/")
@requires("citizens.read")
def index():
    query = request.args.get("q", "")
    found = citizens.search(provider(), query, page_number())
    return render_template("console/citizens.html", page=found, q=query)


@bp.route("/new", methods=["GET", "POST"])
@requires("citizens.write")
def new():
    form = request.form
    if request.method == "POST":
        try:
            user, password = citizens.create(
                provider(),
                form.get("username", "")[:64],
                name=form.get("name", "")[:255],
                email=form.get("email", "")[:255],
                phone_number=form.get("phone", "")[:64],
                **who(),
            )
        except UserError as exc:
            page = render_template("console/citizen_new.html", error=refusal(exc), form=form)
            return page, 400
        return render_template("console/temporary_password.html", user=user, password=password)
    return render_template("console/citizen_new.html", error=None, form={})


def _detail(username: str, error: str | None = None, status: int = 200):
    try:
        citizen = citizens.detail(provider(), console().faces, username)
    except UserError:
        abort(404)
    counters = departments.memberships(provider().runtime, g.operator.user_id)
    page = render_template("console/citizen.html", c=citizen, counters=counters, error=error)
    return page, status


@bp.get("/<username>")
@requires("citizens.read")
def show(username: str):
    return _detail(username)


def _change(username: str, change, done: str):
    """Run one change; back to the account's page with ``done``, or its refusal."""
    try:
        change()
    except UserError as exc:
        return _detail(username, refusal(exc), 400)
    flash(translate(done))
    return redirect(url_for("console_citizens.show", username=username))


@bp.post("/<username>/disable")
@requires("citizens.write")
def disable(username: str):
    return _change(
        username,
        lambda: citizens.set_disabled(provider(), username, True, **who()),
        "The account is disabled; its sessions ended.",
    )


@bp.post("/<username>/enable")
@requires("citizens.write")
def enable(username: str):
    return _change(
        username,
        lambda: citizens.set_disabled(provider(), username, False, **who()),
        "The account is enabled.",
    )


@bp.post("/<username>/unlock")
@requires("citizens.write")
def unlock(username: str):
    return _change(
        username,
        lambda: citizens.unlock(provider(), username, **who()),
        "The account's failed attempts are forgotten: it may sign in again.",
    )


@bp.post("/<username>/sessions")
@requires("citizens.write")
def end_sessions(username: str):
    return _change(
        username,
        lambda: citizens.end_sessions(provider(), username, **who()),
        "Every session of the account has ended.",
    )


@bp.post("/<username>/password")
@requires("citizens.write")
def temporary_password(username: str):
    try:
        password = citizens.set_temporary_password(provider(), username, **who())
        user = citizens.detail(provider(), console().faces, username).user
    except UserError as exc:
        return _detail(username, refusal(exc), 400)
    return render_template("console/temporary_password.html", user=user, password=password)


@bp.post("/<username>/counter-face")
@requires("citizens.write")
def counter_face(username: str):
    """The operator, a member of the department whose counter the citizen came to, saw
    the citizen and their papers: the photo becomes a proofed (``counter``) template."""
    photo = request.files.get("photo")
    if photo is None or not photo.filename:
        return _detail(username, translate("Choose the photo taken at the counter."), 400)
    try:
        enrol_at_counter(
            provider().runtime,
            console().faces,
            officer_id=g.operator.user_id,
            officer=g.operator.username,
            department=request.form.get("department", "")[:32],
            username=username,
            photo=photo.read(),  # bounded by the request size limit; pixels by the service
            ip=request.remote_addr,
        )
    except FaceError as exc:
        return _detail(username, face_message(exc), 400)
    except ApiError as exc:
        return _detail(username, refusal(exc), exc.status if exc.status != 404 else 400)
    flash(translate("The face is enrolled at the counter; a match now proves the citizen."))
    return redirect(url_for("console_citizens.show", username=username))


@bp.post("/<username>/export")
@requires("citizens.export")
def export(username: str):
    try:
        data = citizens.export(provider(), console().faces, username, **who())
    except UserError:
        abort(404)
    body = json.dumps(data, indent=2, ensure_ascii=False)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="onetrip-{username}.json"'},
    )


@bp.post("/<username>/erase")
@requires("citizens.erase")
def erase(username: str):
    if request.form.get("confirm", "").strip().lower() != username:
        return _detail(username, translate("Type the username to confirm the erasure."), 400)
    try:
        citizens.erase(provider(), console().faces, username, **who())
    except UserError as exc:
        return _detail(username, refusal(exc), 400)
    flash(translate("The account {name} is erased.", name=username))
    return redirect(url_for("console_citizens.index"))
