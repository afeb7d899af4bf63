"""Console pages for departments: create, members (add, remove), the seal and its renewal.

Departments are :mod:`signing`'s; these views call :mod:`signing.departments` as the
``onetrip departments`` commands do, and read the seal's certificate through
:mod:`certs.listing`.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from certs import listing
from config.db import utcnow
from idp.console.gate import console, console_blueprint, provider, refusal, requires, who
from idp.i18n import translate
from idp.users import find_user
from signing import departments

bp = console_blueprint("console_departments", __name__, "/admin/departments")


def _index(error: str | None = None, form=None, status: int = 200):
    rows = departments.list_all(provider().runtime)
    page = render_template("console/departments.html", rows=rows, error=error, form=form or {})
    return page, status


@bp.get("/")
@requires("departments.read")
def index():
    return _index()


@bp.post("/")
@requires("departments.write")
def create():
    form = request.form
    code = form.get("code", "").strip()[:32]
    try:
        departments.create(
            provider().runtime,
            code,
            form.get("name", "")[:255],
            form.get("name_en", "").strip()[:255] or None,
            actor=who()["actor"],
        )
    except departments.DepartmentError as exc:
        return _index(refusal(exc), form, 400 if exc.status != 409 else 409)
    flash(translate("The department {code} is created with its seal.", code=code))
    return redirect(url_for("console_departments.show", code=code))


def _show(code: str, error: str | None = None, status: int = 200):
    runtime = provider().runtime
    try:
        dept = departments.get(runtime, code)
    except departments.DepartmentError:
        abort(404)
    found = listing.get(console().components.authority, dept["certificate_serial"])
    seal = found[0] if found else None
    days_left = (seal.not_after - utcnow()).days if seal else None
    page = render_template(
        "console/department.html", d=dept, seal=seal, days_left=days_left, error=error
    )
    return page, status


@bp.get("/<code>")
@requires("departments.read")
def show(code: str):
    return _show(code)


@bp.post("/<code>/members")
@requires("departments.write")
def add_member(code: str):
    username = request.form.get("username", "").strip().lower()[:64]
    runtime = provider().runtime
    with runtime.db.read() as session:
        user = find_user(session, username) if username else None
    if user is None:
        return _show(code, translate("There is no account {name}.", name=username), 400)
    try:
        departments.add_member(runtime, code, user.id, user.username, actor=who()["actor"])
    except departments.DepartmentError as exc:
        return _show(code, refusal(exc), 400)
    flash(translate("{name} may now sign for the department.", name=username))
    return redirect(url_for("console_departments.show", code=code))


@bp.post("/<code>/members/<username>/remove")
@requires("departments.write")
def remove_member(code: str, username: str):
    try:
        departments.remove_member(provider().runtime, code, username, actor=who()["actor"])
    except departments.DepartmentError as exc:
        return _show(code, refusal(exc), 400)
    flash(translate("{name} no longer signs for the department.", name=username))
    return redirect(url_for("console_departments.show", code=code))


@bp.post("/<code>/renew-seal")
@requires("departments.write")
def renew_seal(code: str):
    try:
        departments.renew_seal(provider().runtime, code, actor=who()["actor"])
    except departments.DepartmentError as exc:
        return _show(code, refusal(exc), 400)
    flash(translate("The department's seal is renewed."))
    return redirect(url_for("console_departments.show", code=code))
